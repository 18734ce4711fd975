//! `01-hermes-setup` (root): make `$HERMES_HOME/{logs,logs/gateways,profiles}` exist and be
//! hermes-owned, and give back to hermes what a root `docker exec` (or a remap of hermes' ids,
//! contract §1) left behind — files the product running as hermes could otherwise not use:
//! - anything below `profiles/` and `logs/` owned by root (or by hermes' previous ids);
//! - of the top level of `$HERMES_HOME`, only the product's own files (`TOP_LEVEL`): whatever
//!   else a person keeps there is theirs and left alone;
//! - after a remap, everything of hermes' previous ids anywhere below `$HERMES_HOME`, as
//!   `usermod -u` would.
//!
//! `$HERMES_HOME` is hermes' to write, so every change here is made through a handle opened
//! without following links (`O_PATH|O_NOFOLLOW`, `O_DIRECTORY|O_NOFOLLOW`) and checked on that
//! handle: a symlink is refused, and so is a file with more than one link — a hard link hermes
//! made to a root file elsewhere must not be chowned through. Each refusal is a line naming the
//! path and containing `refusing`.

use super::Reporter;
use super::fsat;
use nix::errno::Errno;
use nix::sys::stat::{FileStat, Mode, mkdirat};
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Deeper trees than this are not profiles we made; stop instead of recursing forever.
const MAX_DEPTH: usize = 32;

/// The product's own files at the top of `$HERMES_HOME` (the `default` profile's home): the
/// only top-level entries repaired. `logs/` and `profiles/` are handled whole.
pub const TOP_LEVEL: &[&str] = &[
    "gateway_state.json",
    ".gateway_state.lock",
    ".gateway-planned-stop.json",
    ".profiles.lock",
    "gateway.pid",
    "processes.json",
];

/// Whom files are given to, and whose files count as leftovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    /// hermes' ids now.
    pub uid: u32,
    pub gid: u32,
    /// hermes' ids before this boot's remap, when they changed.
    pub previous: Option<(u32, u32)>,
}

impl Owners {
    /// Left by root (a root `docker exec`).
    fn roots(&self, st: &FileStat) -> bool {
        st.st_uid == 0 || st.st_gid == 0
    }
    /// Left by hermes under its previous ids.
    fn previous(&self, st: &FileStat) -> bool {
        self.previous.is_some_and(|(u, g)| {
            (st.st_uid == u && u != self.uid) || (st.st_gid == g && g != self.gid)
        })
    }
}

pub fn run(hermes_home: &Path, owners: Owners, rep: &mut Reporter) {
    let home = match fsat::open_dir(hermes_home) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return rep.refuse(hermes_home),
        Err(e) => return rep.fail(format!("cannot open {}: {e}", hermes_home.display())),
    };
    // The home itself: a fresh volume or bind mount may be root's, or the previous ids'.
    match fsat::fstat_fd(&home) {
        Ok(st) if st.st_uid != owners.uid || st.st_gid != owners.gid => {
            if let Err(e) = fsat::chown_fd(&home, owners.uid, owners.gid) {
                rep.fail(format!("cannot chown {}: {e}", hermes_home.display()));
            }
        }
        Ok(_) => {}
        Err(e) => rep.fail(format!("cannot stat {}: {e}", hermes_home.display())),
    }
    let either = |st: &FileStat| owners.roots(st) || owners.previous(st);
    if let Some(logs) = ensure_dir(&home, hermes_home, "logs", owners, rep) {
        let logs_path = hermes_home.join("logs");
        ensure_dir(&logs, &logs_path, "gateways", owners, rep);
        repair_tree(&logs, &logs_path, owners, &either, 0, rep);
    }
    if let Some(profiles) = ensure_dir(&home, hermes_home, "profiles", owners, rep) {
        // Regression `profiles-not-chowned`: root-owned leftovers were never repaired.
        if !cfg!(feature = "regress-profiles-not-chowned") {
            let path = hermes_home.join("profiles");
            repair_tree(&profiles, &path, owners, &either, 0, rep);
        }
    }
    for name in TOP_LEVEL {
        repair_entry(&home, hermes_home, OsStr::new(name), owners, &either, rep);
    }
    if owners.previous.is_some() {
        // Everything else of hermes' previous ids, as `usermod -u` does; root's stays root's.
        let prev = |st: &FileStat| owners.previous(st);
        match fsat::list(&home) {
            Ok(names) => {
                for name in names.iter().filter(|n| {
                    !matches!(n.to_str(), Some("logs" | "profiles"))
                        && !TOP_LEVEL.iter().any(|t| OsStr::new(t) == n.as_os_str())
                }) {
                    if let Some(sub) = repair_entry(&home, hermes_home, name, owners, &prev, rep) {
                        let path = hermes_home.join(name);
                        repair_tree(&sub, &path, owners, &prev, 0, rep);
                    }
                }
            }
            Err(e) => rep.fail(format!("cannot list {}: {e}", hermes_home.display())),
        }
    }
}

/// The ids `01` works with: hermes' from the user database, and the ones before this boot's
/// remap as stage 1 recorded them (`REMAP_RECORD`).
pub fn owners_now() -> Owners {
    let (uid, gid) = crate::paths::hermes_ids();
    let previous = std::fs::read_to_string(REMAP_RECORD)
        .ok()
        .and_then(|s| parse_remap_record(&s));
    Owners { uid, gid, previous }
}

/// Written by stage 1 when it remapped hermes' ids: `<old uid> <old gid> <new uid> <new gid>`.
pub const REMAP_RECORD: &str = "/run/hermes/remap";

pub fn parse_remap_record(s: &str) -> Option<(u32, u32)> {
    let mut f = s.split_whitespace().map(|x| x.parse::<u32>().ok());
    Some((f.next()??, f.next()??))
}

/// Creates `name` in `parent` if missing (we made it, so chowning it is safe) and makes it
/// hermes-owned; an existing symlink there is refused, not followed.
fn ensure_dir(
    parent: &OwnedFd,
    parent_path: &Path,
    name: &str,
    owners: Owners,
    rep: &mut Reporter,
) -> Option<OwnedFd> {
    let (uid, gid) = (owners.uid, owners.gid);
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

/// Gives every entry below `dir` that `leftover` says is not hermes' (root's, or the previous
/// ids') to hermes; see `repair_entry` for what is refused.
fn repair_tree(
    dir: &OwnedFd,
    dir_path: &Path,
    owners: Owners,
    leftover: &dyn Fn(&FileStat) -> bool,
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
        if let Some(sub) = repair_entry(dir, dir_path, &name, owners, leftover, rep) {
            repair_tree(
                &sub,
                &dir_path.join(&name),
                owners,
                leftover,
                depth + 1,
                rep,
            );
        }
    }
}

/// Repairs one entry of `dir` through a handle on the entry itself: a symlink is refused and
/// left alone, whoever owns it (a hermes-planted link to `/etc/shadow` is exactly what this
/// step must be seen to refuse); so is a non-directory with more than one link (a hard link
/// to a file elsewhere — the handle's link count is the inode's, checked on the inode that
/// would be chowned). Returns the entry's directory handle when there is a tree to descend.
fn repair_entry(
    dir: &OwnedFd,
    dir_path: &Path,
    name: &OsStr,
    owners: Owners,
    leftover: &dyn Fn(&FileStat) -> bool,
    rep: &mut Reporter,
) -> Option<OwnedFd> {
    let path = dir_path.join(name);
    let handle = match fsat::open_path_at(dir.as_fd(), name) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return None,
        Err(e) => {
            rep.fail(format!("cannot open {}: {e}", path.display()));
            return None;
        }
    };
    let st = match fsat::fstat_fd(&handle) {
        Ok(st) => st,
        Err(e) => {
            rep.fail(format!("cannot stat {}: {e}", path.display()));
            return None;
        }
    };
    if fsat::is_symlink(&st) {
        rep.refuse(&path);
        return None;
    }
    let is_dir = fsat::is_dir(&st);
    if leftover(&st) {
        if !is_dir && st.st_nlink > 1 {
            rep.info(format!(
                "refusing to chown {}: a hard link ({} links) to a file that may live elsewhere",
                path.display(),
                st.st_nlink
            ));
        } else if let Err(e) = fsat::chown_fd(&handle, owners.uid, owners.gid) {
            rep.fail(format!("cannot chown {}: {e}", path.display()));
        }
    }
    if !is_dir {
        return None;
    }
    match fsat::open_dir_at(dir.as_fd(), name) {
        Ok(sub) => Some(sub),
        // Swapped for a link since the check: refuse, do not follow.
        Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
            rep.refuse(&path);
            None
        }
        Err(e) => {
            rep.fail(format!("cannot open {}: {e}", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    //! These tests chown to other users, which only root may do: they are `#[ignore]`d, and
    //! `make unit` (so `.ci/run`) runs them with `--include-ignored` when it runs as root.
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, symlink};

    const U: u32 = 10000;
    const HERMES: Owners = Owners {
        uid: U,
        gid: U,
        previous: None,
    };

    fn owner(p: &Path) -> (u32, u32) {
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid())
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn creates_dirs_hermes_owned() {
        let t = tempfile::tempdir().unwrap();
        let mut rep = Reporter::quiet("setup");
        run(t.path(), HERMES, &mut rep);
        assert!(rep.ok(), "{:?}", rep.messages);
        for d in ["", "logs", "logs/gateways", "profiles"] {
            assert_eq!(owner(&t.path().join(d)), (U, U), "{d}");
        }
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn repairs_root_owned_without_following_links() {
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
        run(&home, HERMES, &mut rep);
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
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn refuses_hard_links_to_files_elsewhere() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("root-file");
        fs::write(&outside, "x").unwrap();
        let prof = t.path().join("home/profiles/work");
        fs::create_dir_all(&prof).unwrap();
        fs::hard_link(&outside, prof.join("hl")).unwrap();
        let mut rep = Reporter::quiet("setup");
        run(&t.path().join("home"), HERMES, &mut rep);
        assert_eq!(
            owner(&outside),
            (0, 0),
            "the other name's file stays root's"
        );
        assert!(
            rep.messages
                .iter()
                .any(|m| m.contains("refusing") && m.contains("profiles/work/hl")),
            "{:?}",
            rep.messages
        );
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn top_level_only_the_products_own_files() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("gateway_state.json"), "{}").unwrap();
        fs::write(home.join(".gateway_state.lock"), "").unwrap();
        fs::write(home.join("notes-of-the-user.txt"), "mine").unwrap();
        symlink("/etc/passwd", home.join(".profiles.lock")).unwrap();
        let mut rep = Reporter::quiet("setup");
        run(&home, HERMES, &mut rep);
        assert_eq!(owner(&home.join("gateway_state.json")), (U, U));
        assert_eq!(owner(&home.join(".gateway_state.lock")), (U, U));
        assert_eq!(owner(&home.join("notes-of-the-user.txt")), (0, 0));
        assert_eq!(owner(Path::new("/etc/passwd")), (0, 0));
        assert!(
            rep.messages
                .iter()
                .any(|m| m.contains("refusing") && m.contains(".profiles.lock"))
        );
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn a_remap_hands_the_previous_ids_files_over_everywhere() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        fs::create_dir_all(home.join("profiles/work")).unwrap();
        fs::create_dir_all(home.join("projects/deep")).unwrap();
        fs::write(home.join("projects/deep/file"), "x").unwrap();
        fs::write(home.join("root-stays"), "x").unwrap();
        for p in [
            "",
            "profiles",
            "profiles/work",
            "projects",
            "projects/deep",
            "projects/deep/file",
        ] {
            std::os::unix::fs::chown(home.join(p), Some(U), Some(U)).unwrap();
        }
        let remapped = Owners {
            uid: 1000,
            gid: 1001,
            previous: Some((U, U)),
        };
        let mut rep = Reporter::quiet("setup");
        run(&home, remapped, &mut rep);
        for p in ["", "profiles/work", "projects/deep/file"] {
            assert_eq!(owner(&home.join(p)), (1000, 1001), "{p}");
        }
        assert_eq!(owner(&home.join("root-stays")), (0, 0));
    }

    #[test]
    #[ignore = "needs root (chown to other users); `make unit` runs it as root"]
    fn refuses_symlinked_profiles_and_logs_dirs() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("target");
        fs::create_dir_all(&target).unwrap();
        let home = t.path().join("home");
        fs::create_dir_all(&home).unwrap();
        symlink(&target, home.join("profiles")).unwrap();
        symlink(&target, home.join("logs")).unwrap();
        let mut rep = Reporter::quiet("setup");
        run(&home, HERMES, &mut rep);
        assert_eq!(owner(&target), (0, 0));
        assert!(!target.join("gateways").exists());
        let refusals = rep
            .messages
            .iter()
            .filter(|m| m.contains("refusing"))
            .count();
        assert_eq!(refusals, 2, "{:?}", rep.messages);
    }

    #[test]
    fn remap_record() {
        assert_eq!(
            parse_remap_record("10000 10000 1000 1000\n"),
            Some((10000, 10000))
        );
        assert_eq!(parse_remap_record("x"), None);
    }
}
