//! The slot template (contract §3.2), rendered by the registrar's code path (root) and by
//! nothing else.
//!
//! Every file and directory of a slot belongs to root. hermes gets exactly the rights it needs
//! to read a slot's state and send it commands — `supervise/` root:hermes 0710 and
//! `supervise/control` a root:hermes 0620 FIFO, for the slot and for its `log/` — and they are
//! made before the slot is published, so s6-supervise finds them (it reuses an existing
//! `supervise/` and `control` and then skips its own chown/chmod) and there is no moment at
//! which the slot exists without them. `event/` is left to s6-supervise, which makes it
//! root:root 03730: a link planted there would make root write event bytes wherever it points
//! (§10), so hermes must not be able to write in it. `lock`, `status` and `death_tally` are
//! written later by s6-supervise, root 0644, in a directory hermes cannot write.
//!
//! Executables are symlinks to programs in the image because `/run` may be mounted noexec.

use crate::paths;
use nix::sys::stat::Mode;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, chown, symlink};
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

/// Who owns what in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    /// Owner of `supervise/` and `control`: root in the image (tests use their own uid).
    pub owner: u32,
    /// hermes, whose group gets rights on `supervise/` and `control`.
    pub hermes_uid: u32,
    pub hermes_gid: u32,
}

impl Owners {
    /// The image's: slots are root's, hermes' ids from the user database (they follow a boot
    /// remap, contract §1).
    pub fn image() -> Owners {
        // Regression `skeleton-ignores-remap`: the original hard-coded 10000 here, so a
        // remapped hermes got EACCES on every new slot.
        let (hermes_uid, hermes_gid) = if cfg!(feature = "regress-skeleton-ignores-remap") {
            (paths::HERMES_UID, paths::HERMES_GID)
        } else {
            paths::hermes_ids()
        };
        Owners {
            owner: 0,
            hermes_uid,
            hermes_gid,
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
pub fn build(dir: &Path, start: bool, tpl: &Template, owners: Owners) -> io::Result<()> {
    // Strict: a slot (or staging dir) that already exists is never built over.
    mkdir_new(dir, 0o755)?;
    write_file(&dir.join("type"), b"longrun\n")?;
    symlink(&tpl.run, dir.join("run"))?;
    symlink(&tpl.finish, dir.join("finish"))?;
    write_file(&dir.join("timeout-kill"), TIMEOUT_KILL_MS.as_bytes())?;
    write_file(&dir.join("timeout-finish"), TIMEOUT_FINISH_MS.as_bytes())?;
    if !start {
        write_file(&dir.join("down"), b"")?;
    }
    let log = dir.join("log");
    mkdir_new(&log, 0o755)?;
    symlink(&tpl.log_run, log.join("run"))?;
    // Regression `no-supervise-skeleton`: slots published without it, so s6-supervise (root)
    // creates root-only `supervise/` dirs. Regression `no-log-skeleton`: seeded for the slot
    // but not for its `log/`.
    if !cfg!(feature = "regress-no-supervise-skeleton") {
        seed_skeleton(dir, owners)?;
        if !cfg!(feature = "regress-no-log-skeleton") {
            seed_skeleton(&log, owners)?;
        }
    }
    Ok(())
}

/// `supervise/` root:hermes 0710 and `supervise/control` a root:hermes 0620 FIFO in `root`
/// (a slot or its `log/`), both new.
pub fn seed_skeleton(root: &Path, owners: Owners) -> io::Result<()> {
    // Regression `supervise-owned-by-hermes`: the seeds' skeleton gave hermes the `supervise/`
    // dir and `control` that root s6-supervise writes into, so hermes could plant
    // `supervise/status.new -> <root file>` and have root write through it.
    let (owner, dir_mode, control_mode) = if cfg!(feature = "regress-supervise-owned-by-hermes") {
        (owners.hermes_uid, 0o755, 0o660)
    } else {
        (owners.owner, 0o710, 0o620)
    };
    let supervise = root.join("supervise");
    mkdir_new(&supervise, dir_mode)?;
    chown(&supervise, Some(owner), Some(owners.hermes_gid))?;
    let control = supervise.join("control");
    nix::unistd::mkfifo(&control, Mode::from_bits_truncate(control_mode))
        .map_err(io::Error::from)?;
    chown(&control, Some(owner), Some(owners.hermes_gid))?;
    fs::set_permissions(&control, fs::Permissions::from_mode(control_mode))?;
    // Regression `event-dir-writable-by-hermes`: the seeds' skeleton (like `s6-svperms -E`)
    // made `event/` 03730 with hermes' group, so hermes could plant `event/ftrig1:…` links
    // that root s6-supervise writes event bytes through.
    if cfg!(feature = "regress-event-dir-writable-by-hermes") {
        let event = root.join("event");
        mkdir_new(&event, 0o3730)?;
        chown(&event, Some(owner), Some(owners.hermes_gid))?;
    }
    Ok(())
}

/// Creates a directory that must not exist yet, with exactly `mode` (the umask would strip
/// the bits s6 needs).
fn mkdir_new(path: &Path, mode: u32) -> io::Result<()> {
    DirBuilder::new().mode(mode & 0o777).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// A new regular file, 0644.
fn write_file(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(body)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// The test's own ids stand in for root and hermes: chown to them needs no privilege.
    fn own_ids(dir: &Path) -> Owners {
        let m = fs::metadata(dir).unwrap();
        Owners {
            owner: m.uid(),
            hermes_uid: m.uid(),
            hermes_gid: m.gid(),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn layout_down() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("gateway-work");
        build(&dir, false, &Template::default(), own_ids(t.path())).unwrap();
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
        assert_eq!(mode(&dir), 0o755);
        for root in [dir.clone(), dir.join("log")] {
            assert_eq!(mode(&root.join("supervise")), 0o710);
            assert_eq!(mode(&root.join("supervise/control")), 0o620);
            let control = fs::symlink_metadata(root.join("supervise/control")).unwrap();
            assert!(control.file_type().is_fifo());
            assert!(
                !root.join("event").exists(),
                "event/ is s6-supervise's to make, root-only"
            );
        }
        assert!(!dir.join("log/type").exists());
    }

    #[test]
    fn layout_up_has_no_down() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("gateway-work");
        build(&dir, true, &Template::default(), own_ids(t.path())).unwrap();
        assert!(!dir.join("down").exists());
    }

    #[test]
    fn refuses_existing_dir() {
        let t = tempfile::tempdir().unwrap();
        let ids = own_ids(t.path());
        assert!(build(t.path(), true, &Template::default(), ids).is_err());
    }
}
