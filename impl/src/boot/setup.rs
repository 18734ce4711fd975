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
use crate::safe_walk::{self, Dir, Stat, WalkError};
use std::ffi::OsStr;
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
    fn roots(&self, st: &Stat) -> bool {
        st.st_uid == 0 || st.st_gid == 0
    }
    /// Left by hermes under its previous ids.
    fn previous(&self, st: &Stat) -> bool {
        self.previous.is_some_and(|(u, g)| {
            (st.st_uid == u && u != self.uid) || (st.st_gid == g && g != self.gid)
        })
    }
    /// Would giving `st` to hermes let it read what it cannot read now (contract §10 promise
    /// 6)? True for an entry whose owner is neither hermes nor hermes' previous ids and that
    /// others may not read (a file) or read and traverse (a directory): a root 0600 secret, a
    /// root 0700 directory. Group bits do not count: the group becomes hermes' too.
    fn widens(&self, st: &Stat) -> bool {
        if crate::regression::on("repair-hands-over-private-files") {
            return false;
        }
        let hermes_owned =
            st.st_uid == self.uid || self.previous.is_some_and(|(u, _)| st.st_uid == u);
        let others = st.st_mode & 0o007;
        let readable = if safe_walk::is_dir(st) {
            others & 0o5 == 0o5
        } else {
            others & 0o4 == 0o4
        };
        !hermes_owned && !readable
    }
}

/// `left to root: private (mode 0600)` for `path`.
fn left_to_root(rep: &mut Reporter, path: &Path, st: &Stat) {
    rep.info(format!(
        "{}: left to root: private (mode {:04o}), owner {}:{}",
        path.display(),
        st.st_mode & 0o7777,
        st.st_uid,
        st.st_gid
    ));
}

pub fn run(hermes_home: &Path, owners: Owners, rep: &mut Reporter) {
    let home = match open_home(hermes_home) {
        Ok(d) => d,
        Err(e) => {
            let line = format!("{e}; {} is not repaired", hermes_home.display());
            return if e.is_refusal() {
                rep.info(line)
            } else {
                rep.fail(line)
            };
        }
    };
    // The home itself: a fresh volume or bind mount may be root's, or the previous ids'. One
    // that hermes could have put in place (its parent is hermes-writable) is given only if it
    // is not private: hermes may rename a root 0700 directory to the home's name.
    match home.stat() {
        Ok(st) if st.st_uid != owners.uid || st.st_gid != owners.gid => {
            if owners.widens(&st) && parent_writable_by_hermes(hermes_home, owners) {
                return left_to_root(rep, hermes_home, &st);
            }
            if let Err(e) = home.chown_self(owners.uid, owners.gid) {
                rep.fail(format!("cannot chown {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => return rep.fail(format!("cannot stat {e}")),
    }
    let either = |st: &Stat| owners.roots(st) || owners.previous(st);
    if let Some(logs) = ensure_dir(&home, "logs", owners, rep) {
        ensure_dir(&logs, "gateways", owners, rep);
        repair_tree(&logs, owners, &either, 0, rep);
    }
    if let Some(profiles) = ensure_dir(&home, "profiles", owners, rep) {
        // Regression `profiles-not-chowned`: root-owned leftovers were never repaired.
        if !crate::regression::on("profiles-not-chowned") {
            repair_tree(&profiles, owners, &either, 0, rep);
        }
    }
    for name in TOP_LEVEL {
        repair_entry(&home, OsStr::new(name), owners, &either, rep);
    }
    if owners.previous.is_some() {
        // Everything else of hermes' previous ids, as `usermod -u` does; root's stays root's.
        let prev = |st: &Stat| owners.previous(st);
        match home.list() {
            Ok(names) => {
                for name in names.iter().filter(|n| {
                    !matches!(n.to_str(), Some("logs" | "profiles"))
                        && !TOP_LEVEL.iter().any(|t| OsStr::new(t) == n.as_os_str())
                }) {
                    if let Some(sub) = repair_entry(&home, name, owners, &prev, rep) {
                        repair_tree(&sub, owners, &prev, 0, rep);
                    }
                }
            }
            Err(e) => rep.fail(format!("cannot list {e}")),
        }
    }
}

/// The home, reached from `/` with no link in any component (contract §10 promise 5).
fn open_home(hermes_home: &Path) -> Result<Dir, WalkError> {
    safe_walk::validate_absolute(hermes_home)?;
    // Regression `home-midpath-symlink-followed`: the home was opened by path with
    // `O_NOFOLLOW`, which guards its last component only.
    #[cfg(feature = "regression")]
    if crate::regression::on("home-midpath-symlink-followed") {
        return safe_walk::regress_open_last_component_nofollow(hermes_home);
    }
    Dir::open(hermes_home)
}

/// Could hermes have put the home where it is (is its parent hermes-writable)?
fn parent_writable_by_hermes(hermes_home: &Path, owners: Owners) -> bool {
    let Some(parent) = hermes_home.parent() else {
        return false;
    };
    match Dir::open(parent).and_then(|d| d.stat()) {
        Ok(st) => {
            let m = st.st_mode;
            (st.st_uid == owners.uid && m & 0o200 != 0)
                || (st.st_gid == owners.gid && m & 0o020 != 0)
                || m & 0o002 != 0
        }
        // Cannot tell: assume it could, so a private home stays private.
        Err(_) => true,
    }
}

/// Creates `name` in `parent` if missing (we made it, so chowning it is safe) and makes it
/// hermes-owned; an existing symlink there is refused, not followed; a private root directory
/// there is left to root and not descended.
fn ensure_dir(parent: &Dir, name: &str, owners: Owners, rep: &mut Reporter) -> Option<Dir> {
    let name = OsStr::new(name);
    let dir = match parent.ensure_dir(name, 0o755) {
        Ok(d) => d,
        Err(e) => {
            rep.walk_error(e);
            return None;
        }
    };
    match dir.stat() {
        Ok(st) if st.st_uid != owners.uid || st.st_gid != owners.gid => {
            if owners.widens(&st) {
                left_to_root(rep, dir.path(), &st);
                return None;
            }
            if let Err(e) = dir.chown_self(owners.uid, owners.gid) {
                rep.fail(format!("cannot chown {e}"));
            }
        }
        Ok(_) => {}
        Err(e) => {
            rep.fail(format!("cannot stat {e}"));
            return None;
        }
    }
    Some(dir)
}

/// Gives every entry below `dir` that `leftover` says is not hermes' (root's, or the previous
/// ids') to hermes; see `repair_entry` for what is refused.
fn repair_tree(
    dir: &Dir,
    owners: Owners,
    leftover: &dyn Fn(&Stat) -> bool,
    depth: usize,
    rep: &mut Reporter,
) {
    if depth > MAX_DEPTH {
        return rep.fail(format!(
            "{} is nested too deeply; not descending",
            dir.path().display()
        ));
    }
    let names = match dir.list() {
        Ok(n) => n,
        Err(e) => return rep.fail(format!("cannot list {e}")),
    };
    for name in names {
        if let Some(sub) = repair_entry(dir, &name, owners, leftover, rep) {
            repair_tree(&sub, owners, leftover, depth + 1, rep);
        }
    }
}

/// Repairs one entry of `dir` through a handle on the entry itself: a symlink is refused and
/// left alone, whoever owns it (a hermes-planted link to `/etc/shadow` is exactly what this
/// step must be seen to refuse); so is a non-directory with more than one link (a hard link
/// to a file elsewhere — the handle's link count is the inode's, checked on the inode that
/// would be chowned); a private root entry is left to root and not descended (promise 6).
/// Returns the entry's directory when there is a tree to descend.
fn repair_entry(
    dir: &Dir,
    name: &OsStr,
    owners: Owners,
    leftover: &dyn Fn(&Stat) -> bool,
    rep: &mut Reporter,
) -> Option<Dir> {
    let entry = match dir.entry(name) {
        Ok(e) => e,
        Err(e) if e.is_not_found() => return None,
        Err(e) => {
            rep.fail(format!("cannot open {e}"));
            return None;
        }
    };
    if entry.is_symlink() {
        rep.refuse(&entry.path);
        return None;
    }
    let st = entry.stat;
    if leftover(&st) {
        if owners.widens(&st) {
            left_to_root(rep, &entry.path, &st);
            return None;
        }
        if !entry.is_dir() && st.st_nlink > 1 {
            rep.info(format!(
                "refusing to chown {}: a hard link ({} links) to a file that may live elsewhere",
                entry.path.display(),
                st.st_nlink
            ));
        } else if let Err(e) = entry.chown(owners.uid, owners.gid) {
            rep.fail(format!("cannot chown {e}"));
        }
    }
    if !entry.is_dir() {
        return None;
    }
    match dir.dir(name) {
        // The same directory the handle looked at, not one swapped in since.
        Ok(sub)
            if sub
                .stat()
                .is_ok_and(|s| s.st_ino == st.st_ino && s.st_dev == st.st_dev) =>
        {
            Some(sub)
        }
        Ok(_) => {
            rep.info(format!(
                "refusing to descend into {}: it was replaced while being repaired",
                entry.path.display()
            ));
            None
        }
        // Swapped for a link since the check: refuse, do not follow.
        Err(e) => {
            rep.walk_error(e);
            None
        }
    }
}

/// The ids `01` works with: hermes' from the user database, and the ones before this boot's
/// remap as stage 1 recorded them (`REMAP_RECORD`).
pub fn owners_now() -> Owners {
    let (uid, gid) = crate::paths::hermes_ids();
    let previous = safe_walk::read_small_file(Path::new(REMAP_RECORD))
        .ok()
        .and_then(|s| parse_remap_record(&String::from_utf8_lossy(&s)));
    Owners { uid, gid, previous }
}

/// Written by stage 1 when it remapped hermes' ids: `<old uid> <old gid> <new uid> <new gid>`.
pub const REMAP_RECORD: &str = "/run/hermes/remap";

pub fn parse_remap_record(s: &str) -> Option<(u32, u32)> {
    let mut f = s.split_whitespace().map(|x| x.parse::<u32>().ok());
    Some((f.next()??, f.next()??))
}

#[cfg(test)]
mod tests;
