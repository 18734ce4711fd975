//! The two ways the product touches the files that matter in a hermes-writable directory:
//! - `write_atomic`: temp file (new, never through a link) + fsync + rename + fsync of the
//!   directory: readers see the old or the new file, never a torn one;
//! - `open_regular`: open without following a link or blocking, and refuse anything but a
//!   regular file, so a FIFO, device or link planted in a file's place is an error at once
//!   instead of a hang or a write elsewhere.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Replaces `path` with `body` atomically (see the module docs). `mode` is the new file's.
pub fn write_atomic(path: &Path, body: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} has no file name", path.display())))?;
    // `.<name>.tmp-<pid>` (one leading dot): hidden, and what the boot sweeps if a killed
    // writer left it (`reconcile::sweep_temp_files`).
    let name = name.to_string_lossy();
    let tmp = dir.join(format!(
        "{}{name}.tmp-{}",
        if name.starts_with('.') { "" } else { "." },
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| with_path(e, "cannot create", &tmp))?;
        f.write_all(body)?;
        f.sync_all()?;
        fs::rename(&tmp, path).map_err(|e| with_path(e, "cannot replace", path))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Opens an existing regular file (read, or read-write with `write`), refusing links, FIFOs,
/// devices and directories without blocking on them.
pub fn open_regular(path: &Path, write: bool) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open(path)?;
    refuse_unless_regular(f, path)
}

/// Creates or opens a regular file read-write (for locks), with the same refusals.
pub fn open_or_create_regular(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| with_path(e, "cannot open", path))?;
    refuse_unless_regular(f, path)
}

fn refuse_unless_regular(f: File, path: &Path) -> io::Result<File> {
    let meta = f
        .metadata()
        .map_err(|e| with_path(e, "cannot stat", path))?;
    if !meta.is_file() {
        return Err(with_path(
            io::Error::other("not a regular file"),
            "refusing to use",
            path,
        ));
    }
    // Reads and writes of a regular file never block; later ones must not fail with EAGAIN.
    nix::fcntl::fcntl(
        &f,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(|e| with_path(io::Error::from(e), "cannot use", path))?;
    Ok(f)
}

/// `what path: error`, keeping the error's kind.
pub fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("state.json");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644 & !umask());
    }

    #[test]
    fn atomic_write_replaces_a_link_never_its_target() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("elsewhere");
        fs::write(&target, "keep").unwrap();
        let p = t.path().join("state.json");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        write_atomic(&p, b"new", 0o644).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&p).unwrap().is_file());
    }

    #[test]
    fn fifos_and_links_are_refused_at_once() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("lock");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = open_regular(&fifo, false).unwrap_err();
        assert!(e.to_string().contains("refusing"), "{e}");
        assert!(open_or_create_regular(&fifo, 0o644).is_err());
        let link = t.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(open_regular(&link, false).is_err());
    }

    fn umask() -> u32 {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        nix::sys::stat::umask(old);
        old.bits()
    }
}
