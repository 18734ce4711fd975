//! Profiles on disk (contract §6.1): `$HERMES_HOME/profiles/<name>/`, marked by `SOUL.md`.
//! Made and removed whole: built in a hidden staging dir and renamed into place; removed by
//! renaming out of sight first. Changes of the profile set (and of their slots, which the CLI
//! makes alongside) are serialised by one lock, so concurrent creates and deletes of one name
//! end with the whole profile and its slot, or with neither.

use crate::paths::Paths;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The file that makes a directory under `profiles/` a profile.
pub const MARKER: &str = "SOUL.md";
/// The marker the reconciler looks for: [`MARKER`]. Regression `reconcile-config-yaml`: the
/// reconciler keyed on `config.yaml`, which profiles do not have (only the reconciler's view
/// changes: `create` still writes `SOUL.md`).
pub fn marker_for_reconcile() -> &'static str {
    if crate::regression::on("reconcile-config-yaml") {
        "config.yaml"
    } else {
        MARKER
    }
}
const SOUL_TEMPLATE: &str =
    "# SOUL\n\nThis file marks a hermes profile. Describe the agent's persona here.\n";
/// The most profiles (besides `default`) this image supervises: PID 1's scanner is started
/// with room for this many slots plus `default` and the static services (`s6-svscan -c` in
/// stage 1). Beyond it, `create` refuses and the boot skips (contract §5).
pub const MAX_PROFILES: usize = 1000;

/// Taken by every `profile create`/`delete` for its whole duration.
pub const LOCK_FILE: &str = ".profiles.lock";

/// Holds the profile-set lock while alive.
pub struct ProfilesLock(#[allow(dead_code)] Flock<File>);

/// Takes the profile-set lock (`$HERMES_HOME/.profiles.lock`). Opened read-only and without
/// following a link or blocking, so a lock file a root `docker exec` left behind still works
/// and a FIFO in its place cannot hang us.
pub fn lock(paths: &Paths) -> io::Result<ProfilesLock> {
    let path = paths.hermes_home.join(LOCK_FILE);
    // A link or FIFO in its place is refused by path before any open (`fileio`).
    crate::fileio::check_regular(&path)?;
    let file = OpenOptions::new()
        .read(true)
        .write(false)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK)
        .open(&path)
        .or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(&path),
            _ => Err(e),
        })
        .map_err(|e| annotate(e, "cannot open", &path))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(annotate(
            io::Error::other("not a regular file"),
            "refusing to use",
            &path,
        ));
    }
    Flock::lock(file, FlockArg::LockExclusive)
        .map(ProfilesLock)
        .map_err(|(_, e)| annotate(io::Error::from(e), "cannot lock", &path))
}

pub fn dir(paths: &Paths, name: &str) -> PathBuf {
    paths.profiles_dir().join(name)
}

/// Whether anything (even a link or a file) sits at the profile's path.
pub fn exists(paths: &Paths, name: &str) -> bool {
    fs::symlink_metadata(dir(paths, name)).is_ok()
}

/// Whether a whole profile is there: a real directory (not a link) holding the marker.
pub fn is_complete(paths: &Paths, name: &str) -> bool {
    let d = dir(paths, name);
    fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir())
        && fs::symlink_metadata(d.join(MARKER)).is_ok_and(|m| m.is_file())
}

/// The profiles on disk: visible directories of `profiles/` with a valid profile name
/// holding the marker, sorted. Entries with an invalid name (one made directly on disk, say
/// with a newline in it) are never profiles; `scan` also says which were skipped.
pub fn names(paths: &Paths) -> Vec<String> {
    scan(paths).0
}

/// `names`, plus the skipped entries' names escaped for a log line (`names::escape_for_log`):
/// a directory name can never forge a line of output.
pub fn scan(paths: &Paths) -> (Vec<String>, Vec<String>) {
    use std::os::unix::ffi::OsStrExt;
    let mut good = Vec::new();
    let mut skipped = Vec::new();
    if let Ok(rd) = fs::read_dir(paths.profiles_dir()) {
        for e in rd.filter_map(Result::ok) {
            let raw = e.file_name();
            if raw.as_bytes().starts_with(b".") {
                continue;
            }
            match raw.to_str() {
                Some(n) if crate::names::validate_new(n).is_ok() => {
                    if is_complete(paths, n) {
                        good.push(n.to_string());
                    }
                }
                _ => skipped.push(crate::names::escape_for_log(raw.as_bytes())),
            }
        }
    }
    good.sort();
    skipped.sort();
    (good, skipped)
}

/// Makes `profiles/<name>/` with its `SOUL.md`: built in a hidden staging dir unique to this
/// process, with its gateway port recorded (`ports`), then renamed into place. Fails if
/// anything is already there, if the image already holds `MAX_PROFILES`, or if no port of the
/// range is free. The caller holds the profile-set lock (`lock`).
pub fn create(paths: &Paths, name: &str) -> io::Result<()> {
    if names(paths).len() >= MAX_PROFILES {
        return Err(io::Error::other(format!(
            "cannot create profile '{name}': this image supervises at most {MAX_PROFILES} \
             profiles besides default"
        )));
    }
    let profiles = paths.profiles_dir();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&profiles)
        .map_err(|e| annotate(e, "cannot create", &profiles))?;
    let target = dir(paths, name);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("profile '{name}' already exists"),
        ));
    }
    // The port is chosen here, under the profile-set lock the caller holds, so two creates
    // never pick the same one; it is written inside the staging dir, so the profile appears
    // with its port or not at all.
    let port = crate::ports::choose(name, &crate::ports::held(paths))
        .ok_or_else(|| io::Error::other(crate::ports::range_full(name)))?;
    let staging = profiles.join(format!(".{name}.tmp-{}", std::process::id()));
    let built = (|| {
        fs::DirBuilder::new().mode(0o755).create(&staging)?;
        for (file, body) in [
            (MARKER, SOUL_TEMPLATE.to_string()),
            (crate::ports::PORT_FILE, format!("{port}\n")),
        ] {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(staging.join(file))?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&staging, &target)
    })();
    if built.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    built.map_err(|e| annotate(e, "cannot create profile", &target))
}

/// Removes `profiles/<name>/`: renamed out of sight first (a hidden name the reconciler
/// ignores), then deleted, so no half-deleted profile is ever visible. Missing is fine.
pub fn remove(paths: &Paths, name: &str) -> io::Result<bool> {
    let target = dir(paths, name);
    if fs::symlink_metadata(&target).is_err() {
        return Ok(false);
    }
    let hidden = paths
        .profiles_dir()
        .join(format!(".{name}.del-{}", std::process::id()));
    fs::rename(&target, &hidden).map_err(|e| annotate(e, "cannot remove", &target))?;
    fs::remove_dir_all(&hidden).map_err(|e| annotate(e, "cannot remove", &hidden))?;
    Ok(true)
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_remove_leaves_nothing() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(&paths.hermes_home).unwrap();
        let _l = lock(&paths).unwrap();
        create(&paths, "work").unwrap();
        assert!(dir(&paths, "work").join(MARKER).is_file());
        let e = create(&paths, "work").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(remove(&paths, "work").unwrap());
        assert!(!remove(&paths, "work").unwrap());
        assert_eq!(fs::read_dir(paths.profiles_dir()).unwrap().count(), 0);
    }

    #[test]
    fn invalid_names_on_disk_are_no_profiles() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        for n in ["good", "evil\nprofile=forged", "Upper", "default", "nosoul"] {
            fs::create_dir_all(dir(&paths, n)).unwrap();
            if n != "nosoul" {
                fs::write(dir(&paths, n).join(MARKER), "x").unwrap();
            }
        }
        let (good, skipped) = scan(&paths);
        assert_eq!(good, ["good"]);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped.iter().all(|s| !s.contains('\n')), "{skipped:?}");
        assert_eq!(names(&paths), ["good"]);
    }

    #[test]
    fn a_fifo_in_place_of_the_lock_is_refused_at_once() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(&paths.hermes_home).unwrap();
        nix::unistd::mkfifo(
            &paths.hermes_home.join(LOCK_FILE),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let e = lock(&paths).err().expect("a FIFO is not a lock file");
        assert!(e.to_string().contains("refusing"), "{e}");
    }
}
