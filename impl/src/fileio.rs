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
/// devices and directories without blocking on them. The path is checked with `lstat` before
/// the open (opening a FIFO without a reader for writing fails with ENXIO, a link with ELOOP:
/// errors that would not say what is wrong), then the open file is checked again (a swap in
/// between is refused too). A missing file is `NotFound`, as from `open`.
pub fn open_regular(path: &Path, write: bool) -> io::Result<File> {
    if !check_regular(path)? {
        return Err(with_path(
            io::Error::from(io::ErrorKind::NotFound),
            "cannot open",
            path,
        ));
    }
    let f = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(e, path))?;
    refuse_unless_regular(f, path)
}

/// Creates or opens a regular file read-write (for locks), with the same refusals.
pub fn open_or_create_regular(path: &Path, mode: u32) -> io::Result<File> {
    check_regular(path)?;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(e, path))?;
    refuse_unless_regular(f, path)
}

/// `Ok(true)`: a regular file is there; `Ok(false)`: nothing is; anything else (a link, FIFO,
/// socket, device, directory) is refused with an error naming the path and what it is.
pub fn check_regular(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(true),
        Ok(m) => Err(refusal(path, kind_of(&m.file_type()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(with_path(e, "cannot stat", path)),
    }
}

/// What a non-regular file is, for refusals.
fn kind_of(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

fn refusal(path: &Path, what: &str) -> io::Error {
    io::Error::other(format!(
        "refusing to use {}: it is {what}, not a regular file",
        path.display()
    ))
}

/// An open that lost a race with a swap: a link (`ELOOP`) or a reader-less FIFO (`ENXIO`)
/// appeared after the check.
fn open_error(e: io::Error, path: &Path) -> io::Error {
    match e.raw_os_error() {
        Some(nix::libc::ELOOP) => refusal(path, "a symbolic link"),
        Some(nix::libc::ENXIO) => refusal(path, "a FIFO or device"),
        _ => with_path(e, "cannot open", path),
    }
}

fn refuse_unless_regular(f: File, path: &Path) -> io::Result<File> {
    let meta = f
        .metadata()
        .map_err(|e| with_path(e, "cannot stat", path))?;
    if !meta.is_file() {
        return Err(refusal(path, kind_of(&meta.file_type())));
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
        for e in [
            open_regular(&fifo, false).unwrap_err(),
            open_regular(&fifo, true).unwrap_err(),
            open_or_create_regular(&fifo, 0o644).unwrap_err(),
        ] {
            let msg = e.to_string();
            assert!(msg.contains("refusing"), "{msg}");
            assert!(msg.contains(&fifo.display().to_string()), "{msg}");
            assert!(msg.contains("FIFO"), "{msg}");
        }
        let link = t.path().join("link");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        for e in [
            open_regular(&link, false).unwrap_err(),
            open_or_create_regular(&link, 0o644).unwrap_err(),
        ] {
            let msg = e.to_string();
            assert!(msg.contains("refusing"), "{msg}");
            assert!(msg.contains("symbolic link"), "{msg}");
        }
        let missing = open_regular(&t.path().join("none"), false).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    /// A write-only open of a reader-less FIFO fails with ENXIO before any type check: the
    /// error must still be a refusal naming the path.
    #[test]
    fn an_open_that_loses_a_race_says_refusing() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("state");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let raw = OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap_err();
        let msg = open_error(raw, &fifo).to_string();
        assert!(msg.contains("refusing") && msg.contains("state"), "{msg}");
    }

    fn umask() -> u32 {
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        nix::sys::stat::umask(old);
        old.bits()
    }
}
