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
use super::fsat;
use crate::names::SLOT_PREFIX;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode, fchmodat, mkdirat};
use nix::unistd::mkfifoat;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
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
    if cfg!(feature = "regress-no-static-supervise-perms") {
        return;
    }
    let scan = match fsat::open_dir(scandir) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return rep.refuse(scandir),
        Err(e) => return rep.fail(format!("cannot open {}: {e}", scandir.display())),
    };
    let names = match fsat::list(&scan) {
        Ok(n) => n,
        Err(e) => return rep.fail(format!("cannot list {}: {e}", scandir.display())),
    };
    let mut done = Vec::new();
    for name in names.iter().filter(|n| is_static_service(n)) {
        let path = scandir.join(name);
        let Some((svc, real)) = open_service(&scan, name, &path, rep) else {
            continue;
        };
        apply(&svc, &real, gid, wait, rep);
        match fsat::lstat_at(svc.as_fd(), OsStr::new("log")) {
            Ok(st) if fsat::is_dir(&st) => {
                match fsat::open_dir_at(svc.as_fd(), OsStr::new("log")) {
                    Ok(log) => apply(&log, &real.join("log"), gid, wait, rep),
                    Err(e) => rep.fail(format!("cannot open {}/log: {e}", real.display())),
                }
            }
            Ok(st) if fsat::is_symlink(&st) => rep.refuse(&real.join("log")),
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
/// followed only if root made it (the scandir is still root-only at this point); anything
/// else is refused.
fn open_service(
    scan: &OwnedFd,
    name: &OsStr,
    path: &Path,
    rep: &mut Reporter,
) -> Option<(OwnedFd, PathBuf)> {
    let st = match fsat::lstat_at(scan.as_fd(), name) {
        Ok(st) => st,
        Err(e) => {
            rep.fail(format!("cannot stat {}: {e}", path.display()));
            return None;
        }
    };
    if fsat::is_dir(&st) {
        return match fsat::open_dir_at(scan.as_fd(), name) {
            Ok(fd) => Some((fd, path.to_path_buf())),
            Err(e) => {
                rep.fail(format!("cannot open {}: {e}", path.display()));
                None
            }
        };
    }
    if !fsat::is_symlink(&st) {
        return None;
    }
    if st.st_uid != 0 {
        rep.refuse(path);
        return None;
    }
    let target = match std::fs::read_link(path) {
        Ok(t) if t.is_absolute() => t,
        Ok(t) => path.parent().unwrap_or(Path::new("/")).join(t),
        Err(e) => {
            rep.fail(format!("cannot read link {}: {e}", path.display()));
            return None;
        }
    };
    match fsat::open_dir(&target) {
        Ok(fd) => Some((fd, target)),
        Err(Errno::ELOOP) => {
            rep.refuse(&target);
            None
        }
        Err(e) => {
            rep.fail(format!("cannot open {}: {e}", target.display()));
            None
        }
    }
}

fn apply(svc: &OwnedFd, path: &Path, gid: u32, wait: Duration, rep: &mut Reporter) {
    wait_for_control(svc, wait);
    let sup_name = OsStr::new("supervise");
    let sup_path = path.join("supervise");
    let Some(sup) = prepare_dir(svc, sup_name, &sup_path, 0o710, gid, rep) else {
        return;
    };

    let control = OsStr::new("control");
    let control_path = sup_path.join("control");
    match fsat::lstat_at(sup.as_fd(), control) {
        Err(Errno::ENOENT) => {
            if let Err(e) = mkfifoat(sup.as_fd(), control, Mode::from_bits_truncate(0o620))
                && e != Errno::EEXIST
            {
                return rep.fail(format!("cannot create {}: {e}", control_path.display()));
            }
        }
        Ok(st) if fsat::is_symlink(&st) => return rep.refuse(&control_path),
        Ok(st) if !fsat::is_fifo(&st) => {
            return rep.fail(format!("{} is not a FIFO", control_path.display()));
        }
        Ok(_) => {}
        Err(e) => return rep.fail(format!("cannot stat {}: {e}", control_path.display())),
    }
    if let Err(e) = fsat::chown_at(sup.as_fd(), control, 0, gid) {
        return rep.fail(format!("cannot chown {}: {e}", control_path.display()));
    }
    // Verified a FIFO (not a link) just above, inside a root-owned dir hermes cannot write.
    if let Err(e) = fchmodat(
        sup.as_fd(),
        control,
        Mode::from_bits_truncate(0o620),
        FchmodatFlags::FollowSymlink,
    ) {
        rep.fail(format!("cannot chmod {}: {e}", control_path.display()));
    }

    // Regression `event-dir-writable-by-hermes`: the seeds' `s6-svperms -E hermes`.
    if cfg!(feature = "regress-event-dir-writable-by-hermes") {
        let event = path.join("event");
        prepare_dir(svc, OsStr::new("event"), &event, 0o3730, gid, rep);
    }
}

/// Ensures `name` is a real directory owned root:<gid> with `mode`.
fn prepare_dir(
    parent: &OwnedFd,
    name: &OsStr,
    path: &Path,
    mode: u32,
    gid: u32,
    rep: &mut Reporter,
) -> Option<OwnedFd> {
    match mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(mode & 0o777)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            rep.fail(format!("cannot create {}: {e}", path.display()));
            return None;
        }
    }
    let fd = match fsat::open_dir_at(parent.as_fd(), name) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
            rep.refuse(path);
            return None;
        }
        Err(e) => {
            rep.fail(format!("cannot open {}: {e}", path.display()));
            return None;
        }
    };
    let res = nix::unistd::fchown(
        fd.as_fd(),
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .and_then(|()| fsat::chmod_dir_fd(fd.as_fd(), mode));
    if let Err(e) = res {
        rep.fail(format!("cannot set owner/mode of {}: {e}", path.display()));
    }
    Some(fd)
}

fn wait_for_control(svc: &OwnedFd, wait: Duration) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let ok = nix::sys::stat::fstatat(
            svc.as_fd(),
            "supervise/control",
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok();
        if ok {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
