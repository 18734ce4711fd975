//! `015-supervise-perms` (root): s6-supervise creates each static service's `supervise/`
//! (0700) and `supervise/control` (0600) root-only, so hermes gets EACCES from
//! s6-svstat/s6-svc. Grant hermes's group the rights `s6-svperms -G hermes` would:
//! `supervise/` 0710 root:hermes, `control` 0620 root:hermes — root keeps ownership, so hermes
//! cannot tamper with `status`/`lock`.
//!
//! Not `event/` (contract §10): s6-supervise (root) writes an event byte through every entry
//! there, so a hermes-writable `event/` lets hermes plant a link and have root write into any
//! file. hermes waits by polling the status instead. And not the `registrar`: hermes has no
//! business stopping or signalling the root service that serves its requests.

use super::Reporter;
use crate::names::SLOT_PREFIX;
use crate::safe_walk::{self, Dir};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// The root service hermes reaches through its socket, never through its supervisor.
pub const REGISTRAR_SERVICE: &str = "registrar";

/// Static services hermes gets control of: not gateway slots (the registrar seeds their
/// skeleton), not s6-rc/s6-linux-init internals, not the registrar.
pub fn is_static_service(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !(b.starts_with(b".")
        || b.starts_with(SLOT_PREFIX.as_bytes())
        || b.starts_with(b"s6rc-")
        || b.starts_with(b"s6-linux-")
        || b == REGISTRAR_SERVICE.as_bytes())
}

/// `wait`: how long to give a just-spawned s6-supervise to create `supervise/control` before
/// we create the missing pieces ourselves (it reuses what exists).
pub fn run(scandir: &Path, gid: u32, wait: Duration, rep: &mut Reporter) {
    // Regression `no-static-supervise-perms`: the 015 step did not exist.
    if crate::regression::on("no-static-supervise-perms") {
        return;
    }
    let scan = match Dir::open(scandir) {
        Ok(d) => d,
        Err(e) => return rep.walk_error(e),
    };
    let names = match scan.list() {
        Ok(n) => n,
        Err(e) => return rep.fail(format!("cannot list {e}")),
    };
    let mut done = Vec::new();
    for name in names.iter().filter(|n| is_static_service(n)) {
        let Some(svc) = open_service(&scan, name, rep) else {
            continue;
        };
        apply(&svc, gid, wait, rep);
        let log = OsStr::new("log");
        match svc.lstat(log) {
            Ok(st) if safe_walk::is_dir(&st) => match svc.dir(log) {
                Ok(log) => apply(&log, gid, wait, rep),
                Err(e) => rep.walk_error(e),
            },
            Ok(st) if safe_walk::is_symlink(&st) => rep.refuse(&svc.join(log)),
            _ => {}
        }
        done.push(name.to_string_lossy().into_owned());
    }
    rep.info(format!(
        "granted hermes control of static services: {}",
        done.join(" ")
    ));
}

/// The stage layer links `/run/service/<svc>` to `/run/s6-rc/servicedirs/<svc>`. A link is
/// followed only if root made it (the scandir is root-only), and its target is then reached
/// with the safe walk like any path; anything else is refused.
fn open_service(scan: &Dir, name: &OsStr, rep: &mut Reporter) -> Option<Dir> {
    let path = scan.join(name);
    let st = match scan.lstat(name) {
        Ok(st) => st,
        Err(e) => {
            rep.fail(format!("cannot stat {e}"));
            return None;
        }
    };
    if safe_walk::is_dir(&st) {
        return match scan.dir(name) {
            Ok(d) => Some(d),
            Err(e) => {
                rep.walk_error(e);
                None
            }
        };
    }
    if !safe_walk::is_symlink(&st) {
        return None;
    }
    if st.st_uid != 0 {
        rep.refuse(&path);
        return None;
    }
    let target = match scan.read_link(name) {
        Ok(t) if t.is_absolute() => t,
        Ok(t) => scan.path().join(t),
        Err(e) => {
            rep.fail(format!("cannot read link {e}"));
            return None;
        }
    };
    match Dir::open(&target) {
        Ok(d) => Some(d),
        Err(e) => {
            rep.walk_error(e);
            None
        }
    }
}

fn apply(svc: &Dir, gid: u32, wait: Duration, rep: &mut Reporter) {
    wait_for_control(svc, wait);
    let Some(sup) = prepare_dir(svc, OsStr::new("supervise"), 0o710, gid, rep) else {
        return;
    };
    let control = OsStr::new("control");
    let control_path = sup.join(control);
    match sup.lstat(control) {
        Err(e) if e.is_not_found() => {
            if let Err(e) = sup.mkfifo(control, 0o620, (0, gid))
                && e.errno() != Some(nix::errno::Errno::EEXIST)
            {
                return rep.fail(format!("cannot create {e}"));
            }
        }
        Ok(st) if safe_walk::is_symlink(&st) => return rep.refuse(&control_path),
        Ok(st) if !safe_walk::is_fifo(&st) => {
            return rep.fail(format!("{} is not a FIFO", control_path.display()));
        }
        Ok(_) => {}
        Err(e) => return rep.fail(format!("cannot stat {e}")),
    }
    if let Err(e) = sup.chown(control, 0, gid) {
        return rep.fail(format!("cannot chown {e}"));
    }
    // Checked a FIFO (not a link) inside a root-owned dir hermes cannot write.
    if let Err(e) = sup.chmod_fifo(control, 0o620) {
        rep.fail(format!("cannot chmod {e}"));
    }

    // Regression `event-dir-writable-by-hermes`: the seeds' `s6-svperms -E hermes`.
    if crate::regression::on("event-dir-writable-by-hermes") {
        prepare_dir(svc, OsStr::new("event"), 0o3730, gid, rep);
    }
}

/// Ensures `name` is a real directory owned root:<gid> with `mode`.
fn prepare_dir(parent: &Dir, name: &OsStr, mode: u32, gid: u32, rep: &mut Reporter) -> Option<Dir> {
    let dir = match parent.ensure_dir(name, mode & 0o777) {
        Ok(d) => d,
        Err(e) => {
            rep.walk_error(e);
            return None;
        }
    };
    if let Err(e) = dir.chown_self(0, gid).and_then(|()| dir.chmod_self(mode)) {
        rep.fail(format!("cannot set owner/mode of {e}"));
    }
    Some(dir)
}

fn wait_for_control(svc: &Dir, wait: Duration) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let ok = svc
            .dir(OsStr::new("supervise"))
            .is_ok_and(|s| s.exists(OsStr::new("control")));
        if ok {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::Mode;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};

    fn meta(p: &Path) -> (u32, u32, u32) {
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    }

    #[test]
    fn filter() {
        for n in ["dashboard", "main-hermes"] {
            assert!(is_static_service(OsStr::new(n)));
        }
        for n in [
            ".s6-svscan",
            "gateway-default",
            "s6rc-oneshot-runner",
            "s6-linux-init-shutdownd",
            "registrar",
        ] {
            assert!(!is_static_service(OsStr::new(n)));
        }
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn grants_group_rights_via_link_and_log() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("servicedirs/dashboard");
        fs::create_dir_all(real.join("supervise")).unwrap();
        fs::create_dir_all(real.join("event")).unwrap();
        nix::unistd::mkfifo(
            &real.join("supervise/control"),
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        fs::create_dir_all(real.join("log")).unwrap(); // log without supervise yet: we create it
        let scan = t.path().join("service");
        fs::create_dir_all(&scan).unwrap();
        symlink(&real, scan.join("dashboard")).unwrap();
        fs::create_dir_all(scan.join("gateway-x/supervise")).unwrap();
        let mut rep = Reporter::quiet("supervise-perms");
        run(&scan, 10000, Duration::from_millis(50), &mut rep);
        assert!(rep.ok(), "{:?}", rep.messages);
        for root in [real.clone(), real.join("log")] {
            assert_eq!(meta(&root.join("supervise")), (0, 10000, 0o710));
            assert_eq!(meta(&root.join("supervise/control")), (0, 10000, 0o620));
            assert!(
                fs::symlink_metadata(root.join("supervise/control"))
                    .unwrap()
                    .file_type()
                    .is_fifo()
            );
        }
        // event/ stays as s6-supervise made it: root's group, hermes cannot write there.
        assert_eq!(meta(&real.join("event")), (0, 0, 0o755));
        assert_eq!(
            meta(&scan.join("gateway-x/supervise")).1,
            0,
            "gateway slots untouched"
        );
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn refuses_linked_control() {
        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("shadow");
        fs::write(&victim, "x").unwrap();
        let svc = t.path().join("service/main-hermes");
        fs::create_dir_all(svc.join("supervise")).unwrap();
        fs::create_dir_all(svc.join("event")).unwrap();
        symlink(&victim, svc.join("supervise/control")).unwrap();
        let mut rep = Reporter::quiet("supervise-perms");
        run(
            &t.path().join("service"),
            10000,
            Duration::from_millis(10),
            &mut rep,
        );
        assert_eq!(meta(&victim).1, 0);
        assert!(
            rep.messages
                .iter()
                .any(|m| m.contains("refusing to follow symlink"))
        );
    }
}
