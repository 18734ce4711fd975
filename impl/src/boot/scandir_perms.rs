//! Root part of `02-reconcile-profiles`: let hermes publish slots and ask s6-svscan to
//! rescan. The scandir itself is chowned (not recursively: `.s6-svscan` internals and live
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
        // Regression `svscan-control-root-owned`: `control` was left to root.
        if cfg!(feature = "regress-svscan-control-root-owned") && name == "control" {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    #[test]
    fn staging_names() {
        for n in [
            ".gateway-a.tmp",
            ".gateway-a.tmp.stale-1",
            ".gateway-a.del.42",
        ] {
            assert!(is_stale_staging(OsStr::new(n)), "{n}");
        }
        for n in ["gateway-a", ".s6-svscan", ".gateway-a", "dashboard"] {
            assert!(!is_stale_staging(OsStr::new(n)), "{n}");
        }
    }

    #[test]
    fn grants_scanner_control() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let scan = t.path().join("service");
        let svscan = scan.join(".s6-svscan");
        fs::create_dir_all(&svscan).unwrap();
        fs::set_permissions(&svscan, fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::mkfifo(&svscan.join("control"), Mode::from_bits_truncate(0o600)).unwrap();
        fs::write(svscan.join("lock"), "").unwrap();
        fs::create_dir_all(scan.join(".gateway-w.tmp/log")).unwrap();
        fs::create_dir_all(scan.join("gateway-v/supervise")).unwrap();
        let mut rep = Reporter::quiet("scandir-perms");
        run(&scan, 10000, 10000, &mut rep);
        assert!(rep.ok(), "{:?}", rep.messages);
        let m = |p: &Path| fs::symlink_metadata(p).unwrap();
        assert_eq!(m(&scan).uid(), 10000);
        assert_eq!(m(&svscan).mode() & 0o7777, 0o711);
        assert_eq!(m(&svscan).uid(), 0);
        assert_eq!(m(&svscan.join("control")).uid(), 10000);
        assert_eq!(m(&svscan.join("lock")).uid(), 10000);
        assert!(!scan.join(".gateway-w.tmp").exists());
        assert_eq!(
            m(&scan.join("gateway-v/supervise")).uid(),
            0,
            "not recursive"
        );
    }

    #[test]
    fn refuses_linked_control() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("shadow");
        fs::write(&victim, "x").unwrap();
        let svscan = t.path().join("service/.s6-svscan");
        fs::create_dir_all(&svscan).unwrap();
        symlink(&victim, svscan.join("control")).unwrap();
        fs::write(svscan.join("lock"), "").unwrap();
        let mut rep = Reporter::quiet("scandir-perms");
        run(&t.path().join("service"), 10000, 10000, &mut rep);
        assert_eq!(fs::metadata(&victim).unwrap().uid(), 0);
        assert!(
            rep.messages
                .iter()
                .any(|m| m.contains("refusing to follow symlink") && m.contains("control"))
        );
    }
}
