//! Regression `scandir-writable-by-hermes` only (contract §9): the seeds' `02`, which handed
//! hermes the scandir so it could publish slots and ask s6-svscan to rescan — and so have its
//! own `run` executed as root. Compiled into that regression image alone; its effect is what
//! the sensitivity test shows the `security/` scenarios catching.
//!
//! What it did: the scandir itself is chowned (not recursively: `.s6-svscan` internals and live
//! `supervise/` dirs stay root-owned); `.s6-svscan` becomes 0711 (s6-svscan makes it 0700,
//! which alone denies hermes) and its `control`/`lock` go to hermes. Stale staging dirs of an
//! interrupted register/unregister are removed first, while the scandir is still root-only.

use super::Reporter;
use super::fsat;
use nix::errno::Errno;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `.gateway-<p>.tmp*` (register staging) and `.gateway-<p>.del.*` (unregister leftovers).
pub fn is_stale_staging(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b".gateway-")
        && (b.windows(4).any(|w| w == b".tmp") || b.windows(5).any(|w| w == b".del."))
}

pub fn run(scandir: &Path, uid: u32, gid: u32, rep: &mut Reporter) {
    let scan = match fsat::open_dir(scandir) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return rep.refuse(scandir),
        Err(e) => return rep.fail(format!("cannot open {}: {e}", scandir.display())),
    };
    match fsat::list(&scan) {
        Ok(names) => {
            for name in names.iter().filter(|n| is_stale_staging(n)) {
                let path = scandir.join(name);
                // remove_dir_all removes a symlink itself, never its target.
                match std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path)) {
                    Ok(()) => rep.info(format!("removed stale staging dir {}", path.display())),
                    Err(e) => rep.fail(format!("cannot remove {}: {e}", path.display())),
                }
            }
        }
        Err(e) => rep.fail(format!("cannot list {}: {e}", scandir.display())),
    }
    if let Err(e) = nix::unistd::fchown(
        scan.as_fd(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    ) {
        rep.fail(format!("cannot chown {}: {e}", scandir.display()));
    }
    let svscan = scandir.join(".s6-svscan");
    let dir = match fsat::open_dir_at(scan.as_fd(), OsStr::new(".s6-svscan")) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => return rep.refuse(&svscan),
        Err(e) => return rep.fail(format!("cannot open {}: {e}", svscan.display())),
    };
    if let Err(e) = fsat::chmod_dir_fd(dir.as_fd(), 0o711) {
        rep.fail(format!("cannot chmod {}: {e}", svscan.display()));
    }
    for name in ["control", "lock"] {
        let path = svscan.join(name);
        match fsat::lstat_at(dir.as_fd(), OsStr::new(name)) {
            Ok(st) if fsat::is_symlink(&st) => rep.refuse(&path),
            Ok(_) => {
                if let Err(e) = fsat::chown_at(dir.as_fd(), OsStr::new(name), uid, gid) {
                    rep.fail(format!("cannot chown {}: {e}", path.display()));
                }
            }
            Err(e) => rep.fail(format!(
                "cannot stat {}: {e} (is s6-svscan running?)",
                path.display()
            )),
        }
    }
}
