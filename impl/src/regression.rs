//! Regression variants (contract §9): which historical bug, if any, this process brings back.
//!
//! Every regression image carries the same binaries, built once with the cargo feature
//! `regression`, which compiles every bug's code path in. Which one is active is the image's
//! choice: the id in [`ID_FILE`], a root-owned file the image pipeline writes into regression
//! images only, read once per process. Without the feature (the production build) [`on`] is a
//! `const fn` that says no, so every regression path compiles away, and the file's name is not
//! in the binary either.

/// The catalogue ids whose bug lives in this crate (the others are shell overlays,
/// `docker/regressions/<id>/`). Every `regression::on("<id>")` names one of these; a unit test
/// checks the sources against this list, both ways.
#[cfg(any(test, feature = "regression"))]
pub const IDS: &[&str] = &[
    "proc1-exe-probe",
    "registrar-denies-hermes",
    "scandir-writable-by-hermes",
    "supervise-owned-by-hermes",
    "event-dir-writable-by-hermes",
    "skeleton-ignores-remap",
    "no-supervise-skeleton",
    "no-static-supervise-perms",
    "no-log-skeleton",
    "unregister-rmtree-first",
    "profiles-not-chowned",
    "reconcile-config-yaml",
    "sigterm-persists-stopped",
    "home-midpath-symlink-followed",
    "repair-hands-over-private-files",
];

/// The regression image's id: one line, in the image's root-only `/etc/hermes-s6` (root
/// processes and hermes read it; only root could write it). Absent in production.
#[cfg(feature = "regression")]
pub const ID_FILE: &str = "/etc/hermes-s6/regression";

/// Is regression `id` active in this image? Read once per process from [`ID_FILE`]; a file
/// that is missing, not a regular root-owned file, or writable by anyone but root counts as
/// no regression at all.
#[cfg(feature = "regression")]
pub fn on(id: &str) -> bool {
    static ACTIVE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    debug_assert!(IDS.contains(&id), "unknown regression id {id:?}");
    ACTIVE
        .get_or_init(|| read_id(std::path::Path::new(ID_FILE)))
        .as_deref()
        == Some(id)
}

/// Production: no regression code path is ever taken, so none is compiled in.
#[cfg(not(feature = "regression"))]
#[inline(always)]
pub const fn on(_id: &str) -> bool {
    false
}

/// The id in `path`, if it is a root-owned regular file (not a link) no one else may write.
#[cfg(any(test, feature = "regression"))]
fn read_id(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut f = std::fs::File::options()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return None;
    }
    let mut s = String::new();
    f.by_ref().take(256).read_to_string(&mut s).ok()?;
    let id = s.trim();
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every `regression::on("<id>")` under `src/`, as written.
    fn used_ids(dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                used_ids(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for part in text.split("regression::on(\"").skip(1) {
                    out.insert(part.split('"').next().unwrap().to_string());
                }
            }
        }
    }

    #[test]
    fn every_id_is_used_and_every_use_is_an_id() {
        let mut used = BTreeSet::new();
        used_ids(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut used,
        );
        used.remove("<id>"); // this module's own docs
        let known: BTreeSet<String> = IDS.iter().map(|s| s.to_string()).collect();
        assert_eq!(used, known);
    }

    #[test]
    fn the_id_file_counts_only_when_root_owned_and_not_writable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("regression");
        assert_eq!(read_id(&f), None);
        std::fs::write(&f, "proc1-exe-probe\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let root = nix::unistd::geteuid().is_root();
        // As root the file is root's; otherwise it is not, and does not count.
        let expected = root.then(|| "proc1-exe-probe".to_string());
        assert_eq!(read_id(&f), expected);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(read_id(&f), None);
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read_id(&link), None);
    }
}
