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
use crate::safe_walk::{self, Dir};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `.gateway-<p>.tmp*` (register staging) and `.gateway-<p>.del.*` (unregister leftovers).
pub fn is_stale_staging(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b".gateway-")
        && (b.windows(4).any(|w| w == b".tmp") || b.windows(5).any(|w| w == b".del."))
}

pub fn run(scandir: &Path, uid: u32, gid: u32, rep: &mut Reporter) {
    let scan = match Dir::open(scandir) {
        Ok(d) => d,
        Err(e) => return rep.fail(e.to_string()),
    };
    match scan.list() {
        Ok(names) => {
            for name in names.iter().filter(|n| is_stale_staging(n)) {
                match scan.remove_tree(name) {
                    Ok(()) => rep.info(format!(
                        "removed stale staging dir {}",
                        scan.join(name).display()
                    )),
                    Err(e) => rep.fail(format!("cannot remove {e}")),
                }
            }
        }
        Err(e) => rep.fail(format!("cannot list {e}")),
    }
    if let Err(e) = scan.chown_self(uid, gid) {
        rep.fail(format!("cannot chown {e}"));
    }
    let dir = match scan.dir(OsStr::new(".s6-svscan")) {
        Ok(d) => d,
        Err(e) => return rep.fail(e.to_string()),
    };
    if let Err(e) = dir.chmod_self(0o711) {
        rep.fail(format!("cannot chmod {e}"));
    }
    for name in ["control", "lock"] {
        let name = OsStr::new(name);
        match dir.lstat(name) {
            Ok(st) if safe_walk::is_symlink(&st) => rep.refuse(&dir.join(name)),
            Ok(_) => {
                if let Err(e) = dir.chown(name, uid, gid) {
                    rep.fail(format!("cannot chown {e}"));
                }
            }
            Err(e) => rep.fail(format!("cannot stat {e} (is s6-svscan running?)")),
        }
    }
}
