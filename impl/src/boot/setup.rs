//! `01-hermes-setup` (root): make `$HERMES_HOME/{logs,logs/gateways,profiles}` exist and be
//! hermes-owned, and give back to hermes anything root-owned inside `profiles/` (files a root
//! `docker exec` left, which the reconciler running as hermes could otherwise not use).

use super::Reporter;
use super::fsat;
use crate::paths::{HERMES_GID, HERMES_UID};
use nix::errno::Errno;
use nix::sys::stat::{Mode, mkdirat};
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Deeper trees than this are not profiles we made; stop instead of recursing forever.
const MAX_DEPTH: usize = 32;

pub fn run(hermes_home: &Path, uid: u32, gid: u32, rep: &mut Reporter) {
    let home = match fsat::open_dir(hermes_home) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return rep.refuse(hermes_home),
        Err(e) => return rep.fail(format!("cannot open {}: {e}", hermes_home.display())),
    };
    let Some(logs) = ensure_dir(&home, hermes_home, "logs", uid, gid, rep) else {
        return;
    };
    let logs_path = hermes_home.join("logs");
    ensure_dir(&logs, &logs_path, "gateways", uid, gid, rep);
    if let Some(profiles) = ensure_dir(&home, hermes_home, "profiles", uid, gid, rep) {
        // Regression `profiles-not-chowned`: root-owned leftovers were never repaired.
        if !cfg!(feature = "regress-profiles-not-chowned") {
            repair_tree(&profiles, &hermes_home.join("profiles"), uid, gid, 0, rep);
        }
    }
}

/// Production ids.
pub fn run_default(hermes_home: &Path, rep: &mut Reporter) {
    run(hermes_home, HERMES_UID, HERMES_GID, rep)
}

/// Creates `name` in `parent` if missing (we made it, so chowning it is safe) and makes it
/// hermes-owned; an existing symlink there is refused, not followed.
fn ensure_dir(
    parent: &OwnedFd,
    parent_path: &Path,
    name: &str,
    uid: u32,
    gid: u32,
    rep: &mut Reporter,
) -> Option<OwnedFd> {
    let path = parent_path.join(name);
    let name = OsStr::new(name);
    match mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            rep.fail(format!("cannot create {}: {e}", path.display()));
            return None;
        }
    }
    match fsat::lstat_at(parent.as_fd(), name) {
        Ok(st) if fsat::is_symlink(&st) => {
            rep.refuse(&path);
            return None;
        }
        Ok(st) if !fsat::is_dir(&st) => {
            rep.fail(format!("{} is not a directory", path.display()));
            return None;
        }
        Ok(st) if st.st_uid != uid || st.st_gid != gid => {
            if let Err(e) = fsat::chown_at(parent.as_fd(), name, uid, gid) {
                rep.fail(format!("cannot chown {}: {e}", path.display()));
            }
        }
        Ok(_) => {}
        Err(e) => {
            rep.fail(format!("cannot stat {}: {e}", path.display()));
            return None;
        }
    }
    match fsat::open_dir_at(parent.as_fd(), name) {
        Ok(fd) => Some(fd),
        Err(Errno::ELOOP) => {
            rep.refuse(&path);
            None
        }
        Err(e) => {
            rep.fail(format!("cannot open {}: {e}", path.display()));
            None
        }
    }
}

/// Gives every root-owned entry below `dir` to hermes. Symlinks are never followed: each one
/// is reported (`refusing`, with its path) and left alone, whoever owns it — a hermes-planted
/// link to `/etc/shadow` is exactly what this step must be seen to refuse.
fn repair_tree(
    dir: &OwnedFd,
    dir_path: &Path,
    uid: u32,
    gid: u32,
    depth: usize,
    rep: &mut Reporter,
) {
    if depth > MAX_DEPTH {
        return rep.fail(format!(
            "{} is nested too deeply; not descending",
            dir_path.display()
        ));
    }
    let names = match fsat::list(dir) {
        Ok(n) => n,
        Err(e) => return rep.fail(format!("cannot list {}: {e}", dir_path.display())),
    };
    for name in names {
        let path = dir_path.join(&name);
        let st = match fsat::lstat_at(dir.as_fd(), &name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                rep.fail(format!("cannot stat {}: {e}", path.display()));
                continue;
            }
        };
        let root_owned = st.st_uid == 0 || st.st_gid == 0;
        if fsat::is_symlink(&st) {
            rep.refuse(&path);
            continue;
        }
        if root_owned && let Err(e) = fsat::chown_at(dir.as_fd(), &name, uid, gid) {
            rep.fail(format!("cannot chown {}: {e}", path.display()));
        }
        if fsat::is_dir(&st) {
            match fsat::open_dir_at(dir.as_fd(), &name) {
                Ok(sub) => repair_tree(&sub, &path, uid, gid, depth + 1, rep),
                // Swapped for a link since the stat: refuse, do not follow.
                Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => rep.refuse(&path),
                Err(e) => rep.fail(format!("cannot open {}: {e}", path.display())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, symlink};

    const U: u32 = 10000;

    fn owner(p: &Path) -> (u32, u32) {
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid())
    }

    fn as_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn creates_dirs_hermes_owned() {
        if !as_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let mut rep = Reporter::quiet("setup");
        run(t.path(), U, U, &mut rep);
        assert!(rep.ok(), "{:?}", rep.messages);
        for d in ["logs", "logs/gateways", "profiles"] {
            assert_eq!(owner(&t.path().join(d)), (U, U), "{d}");
        }
    }

    #[test]
    fn repairs_root_owned_without_following_links() {
        if !as_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        fs::write(&outside, "secret").unwrap();
        let home = t.path().join("home");
        let prof = home.join("profiles/work");
        fs::create_dir_all(prof.join("sub")).unwrap();
        fs::write(prof.join("SOUL.md"), "x").unwrap();
        fs::write(prof.join("sub/file"), "x").unwrap();
        symlink(&outside, prof.join("evil")).unwrap();
        let mut rep = Reporter::quiet("setup");
        run(&home, U, U, &mut rep);
        assert_eq!(owner(&prof), (U, U));
        assert_eq!(owner(&prof.join("SOUL.md")), (U, U));
        assert_eq!(owner(&prof.join("sub/file")), (U, U));
        assert_eq!(owner(&outside), (0, 0), "link target must not be chowned");
        assert!(
            rep.messages
                .iter()
                .any(|m| m.contains("refusing to follow symlink") && m.contains("evil"))
        );
    }

    #[test]
    fn refuses_symlinked_profiles_dir() {
        if !as_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        fs::create_dir_all(&target).unwrap();
        let home = t.path().join("home");
        fs::create_dir_all(&home).unwrap();
        symlink(&target, home.join("profiles")).unwrap();
        let mut rep = Reporter::quiet("setup");
        run(&home, U, U, &mut rep);
        assert_eq!(owner(&target), (0, 0));
        assert!(
            rep.messages
                .iter()
                .any(|m| m.contains("refusing") && m.contains("profiles"))
        );
        assert_eq!(owner(&home.join("logs")), (U, U));
    }

    #[test]
    fn refuses_symlinked_logs_dir() {
        if !as_root() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("etc");
        fs::create_dir_all(&target).unwrap();
        let home = t.path().join("home");
        fs::create_dir_all(&home).unwrap();
        symlink(&target, home.join("logs")).unwrap();
        let mut rep = Reporter::quiet("setup");
        run(&home, U, U, &mut rep);
        assert_eq!(owner(&target), (0, 0));
        assert!(!target.join("gateways").exists());
        assert!(rep.messages.iter().any(|m| m.contains("refusing")));
    }
}
