//! Slot layout (SPEC §3.2). Executables are symlinks to image programs because `/run` may be
//! mounted noexec. The hermes-owned `supervise/` skeleton is what lets hermes control a slot:
//! s6-supervise reuses existing `supervise/`, `event/` and `control` (EEXIST) and then skips
//! its root-only chown/chmod.

use crate::paths;
use nix::sys::stat::Mode;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Targets of the slot's `run`, `finish` and `log/run` links.
#[derive(Debug, Clone)]
pub struct Template {
    pub run: PathBuf,
    pub finish: PathBuf,
    pub log_run: PathBuf,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            run: PathBuf::from(paths::GATEWAY_RUN),
            finish: PathBuf::from(paths::GATEWAY_FINISH),
            log_run: PathBuf::from(paths::GATEWAY_LOG_RUN),
        }
    }
}

/// s6-supervise SIGKILLs a gateway that ignores SIGTERM after this many ms, so a stuck
/// gateway cannot stall `docker stop` (10 s grace).
pub const TIMEOUT_KILL_MS: &str = "3000\n";
/// s6's default finish budget is 5 s; with `timeout-kill` and the final grace it would overrun
/// Docker's 10 s stop grace, so a finish script gets 2 s.
const TIMEOUT_FINISH_MS: &str = "2000\n";

/// Writes a complete slot into `dir` (which must not exist). `down` is added unless `start`.
pub fn build(dir: &Path, start: bool, tpl: &Template) -> io::Result<()> {
    // Strict: a slot (or staging dir) that already exists is never built over.
    mkdir_new(dir, 0o755)?;
    write_file(&dir.join("type"), b"longrun\n", 0o644)?;
    symlink(&tpl.run, dir.join("run"))?;
    symlink(&tpl.finish, dir.join("finish"))?;
    write_file(&dir.join("timeout-kill"), TIMEOUT_KILL_MS.as_bytes(), 0o644)?;
    write_file(
        &dir.join("timeout-finish"),
        TIMEOUT_FINISH_MS.as_bytes(),
        0o644,
    )?;
    if !start {
        write_file(&dir.join("down"), b"", 0o644)?;
    }
    let log = dir.join("log");
    mkdir_new(&log, 0o755)?;
    symlink(&tpl.log_run, log.join("run"))?;
    // Regression `no-supervise-skeleton`: slots published without it, so s6-supervise (root)
    // creates root-only `supervise/` dirs. Regression `no-log-skeleton`: seeded for the slot
    // but not for its `log/`.
    if !cfg!(feature = "regress-no-supervise-skeleton") {
        seed_skeleton(dir)?;
        if !cfg!(feature = "regress-no-log-skeleton") {
            seed_skeleton(&log)?;
        }
    }
    Ok(())
}

/// `event/` 03730, `supervise/` 0755, `supervise/event/` 03730, `supervise/control` FIFO 0660,
/// all owned by the caller (hermes at runtime). Modes are set explicitly: the umask would
/// otherwise strip group bits s6 needs.
///
/// Idempotent: an existing skeleton (dirs and FIFO of the right type) is kept and its modes
/// reset; anything of the wrong type (e.g. a symlink where a dir belongs) is an error.
pub fn seed_skeleton(root: &Path) -> io::Result<()> {
    mkdir_mode(&root.join("event"), 0o3730)?;
    mkdir_mode(&root.join("supervise"), 0o755)?;
    mkdir_mode(&root.join("supervise/event"), 0o3730)?;
    let control = root.join("supervise/control");
    match nix::unistd::mkfifo(&control, Mode::from_bits_truncate(0o660)) {
        Ok(()) => {}
        Err(nix::errno::Errno::EEXIST) if is_type(&control, |t| t.is_fifo()) => {}
        Err(e) => return Err(io::Error::from(e)),
    }
    fs::set_permissions(&control, fs::Permissions::from_mode(0o660))?;
    Ok(())
}

/// True when `path` itself (not a link's target) exists and has the wanted file type.
fn is_type(path: &Path, want: impl Fn(&fs::FileType) -> bool) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| want(&m.file_type()))
}

/// Creates a directory that must not exist yet, with exactly `mode`.
fn mkdir_new(path: &Path, mode: u32) -> io::Result<()> {
    DirBuilder::new().mode(mode & 0o777).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Creates a directory, or keeps an existing one (a real dir, not a link), with exactly `mode`.
fn mkdir_mode(path: &Path, mode: u32) -> io::Result<()> {
    match DirBuilder::new().mode(mode & 0o777).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && is_type(path, |t| t.is_dir()) => {}
        Err(e) => return Err(e),
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn write_file(path: &Path, body: &[u8], mode: u32) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    f.write_all(body)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn layout_down() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("gateway-work");
        build(&dir, false, &Template::default()).unwrap();
        assert_eq!(fs::read_to_string(dir.join("type")).unwrap(), "longrun\n");
        assert_eq!(
            fs::read_to_string(dir.join("timeout-kill")).unwrap(),
            "3000\n"
        );
        assert_eq!(
            fs::read_link(dir.join("run")).unwrap(),
            Path::new(paths::GATEWAY_RUN)
        );
        assert_eq!(
            fs::read_link(dir.join("finish")).unwrap(),
            Path::new(paths::GATEWAY_FINISH)
        );
        assert_eq!(
            fs::read_link(dir.join("log/run")).unwrap(),
            Path::new(paths::GATEWAY_LOG_RUN)
        );
        assert!(dir.join("down").exists());
        for root in [dir.clone(), dir.join("log")] {
            assert_eq!(mode(&root.join("event")), 0o3730);
            assert_eq!(mode(&root.join("supervise")), 0o755);
            assert_eq!(mode(&root.join("supervise/event")), 0o3730);
            assert_eq!(mode(&root.join("supervise/control")), 0o660);
            assert!(
                fs::symlink_metadata(root.join("supervise/control"))
                    .unwrap()
                    .file_type()
                    .is_fifo()
            );
        }
        assert!(!dir.join("log/type").exists());
    }

    #[test]
    fn layout_up_has_no_down() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("gateway-work");
        build(&dir, true, &Template::default()).unwrap();
        assert!(!dir.join("down").exists());
    }

    #[test]
    fn refuses_existing_dir() {
        let t = tempfile::tempdir().unwrap();
        assert!(build(t.path(), true, &Template::default()).is_err());
    }

    #[test]
    fn skeleton_is_idempotent_and_resets_modes() {
        let t = tempfile::tempdir().unwrap();
        seed_skeleton(t.path()).unwrap();
        fs::set_permissions(
            t.path().join("supervise"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        seed_skeleton(t.path()).unwrap();
        assert_eq!(mode(&t.path().join("supervise")), 0o755);
        assert_eq!(mode(&t.path().join("event")), 0o3730);
        let control = t.path().join("supervise/control");
        assert!(
            fs::symlink_metadata(&control)
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert_eq!(mode(&control), 0o660);
    }

    #[test]
    fn skeleton_refuses_a_link_where_a_dir_belongs() {
        let t = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        symlink(elsewhere.path(), t.path().join("supervise")).unwrap();
        fs::create_dir(t.path().join("event")).unwrap();
        assert!(seed_skeleton(t.path()).is_err());
    }
}
