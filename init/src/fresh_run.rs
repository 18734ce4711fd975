//! `/run` as if fresh (docs/contract.md §2.2), whether or not `/run` is a tmpfs: what the stage
//! layer owned in a previous boot is removed, then the scandir, the live copies of the
//! `user` bundle's longruns (held down by `./down` until stage 2 has run cont-init) and the
//! scanner's control directory are made. Nothing else under `/run` is touched.
//!
//! `docker run --tmpfs /run` mounts `/run` noexec: nothing executable may live there as a
//! file, so `run`/`finish` of every service dir are symlinks to programs in the image (the
//! kernel checks exec permission on the link's target).

use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Where everything lives; production values in `Layout::image()`, temp roots in tests.
pub struct Layout {
    pub run: PathBuf,
    /// s6-overlay's source definitions: `<svc>/{type,run,finish,…}` and `user/contents.d/`.
    pub rc_source: PathBuf,
    /// Targets of the scanner's `finish` and `SIGTERM`/`SIGINT` links.
    pub svscan_finish: PathBuf,
    pub svscan_teardown: PathBuf,
}

impl Layout {
    pub fn image() -> Layout {
        Layout {
            run: PathBuf::from("/run"),
            rc_source: PathBuf::from("/etc/s6-overlay/s6-rc.d"),
            svscan_finish: PathBuf::from("/etc/hermes-s6/svscan-finish"),
            svscan_teardown: PathBuf::from("/etc/hermes-s6/svscan-teardown"),
        }
    }
    pub fn scandir(&self) -> PathBuf {
        self.run.join("service")
    }
    pub fn envdir(&self) -> PathBuf {
        self.run.join("s6/container_environment")
    }
    fn servicedirs(&self) -> PathBuf {
        self.run.join("s6-rc/servicedirs")
    }
}

/// The stage layer's own directories under `/run` (besides the scandir, see
/// `fresh_scandir`); everything else there is left alone.
const OWNED: &[&str] = &["s6", "s6-rc", "hermes"];
/// A previous boot's scandir, set aside by `fresh_scandir` until it can be removed.
const STALE_SCANDIR_PREFIX: &str = ".hermes-s6-stale-service";

/// An empty scandir with the scanner's control directory and its links into the image: all
/// s6-svscan needs to start. A previous boot's scandir (`/run` is not always a tmpfs) is set
/// aside with one rename, not removed, so this stays a handful of filesystem operations: it
/// runs before s6-svscan can take over the stop signals (see `main.rs`).
pub fn fresh_scandir(layout: &Layout) -> io::Result<()> {
    // The previous boot's record of its command, which `.s6-svscan/finish` reads for the exit
    // code: gone before s6-svscan can run finish, so a stop that ends this boot before stage 2
    // starts the command exits 0, not with the last boot's 137 (the child's sweep of /run/s6
    // comes too late for a stop in the first milliseconds).
    // Best effort: at worst a stop exits with a stale code; the child's sweep reports errors.
    for stale in ["s6/cmdpid", "s6/cmd-exitcode"] {
        let _ = fs::remove_file(layout.run.join(stale));
    }
    let scandir = layout.scandir();
    if fs::symlink_metadata(&scandir).is_ok() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let aside = layout.run.join(format!("{STALE_SCANDIR_PREFIX}-{nanos}"));
        fs::rename(&scandir, &aside).map_err(|e| annotate(e, "cannot set aside", &scandir))?;
    }
    mkdir_mode(&scandir, 0o755)?;
    let control = scandir.join(".s6-svscan");
    mkdir_mode(&control, 0o700)?;
    link(&layout.svscan_finish, &control.join("finish"))?;
    link(&layout.svscan_teardown, &control.join("SIGTERM"))?;
    link(&layout.svscan_teardown, &control.join("SIGINT"))
}

/// Removes what a previous boot left: the stage layer's directories, any scandir set aside,
/// and with `scandir` the scandir itself (when no s6-svscan will run). A symlink in their
/// place is removed, never followed.
pub fn remove_stale(layout: &Layout, scandir: bool) -> io::Result<()> {
    let mut names: Vec<std::ffi::OsString> = OWNED.iter().map(Into::into).collect();
    if scandir {
        names.push("service".into());
    }
    let aside = fs::read_dir(&layout.run)
        .map_err(|e| annotate(e, "cannot read", &layout.run))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with(STALE_SCANDIR_PREFIX));
    names.extend(aside);
    for name in names {
        let path = layout.run.join(name);
        let res = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => Err(e),
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
        };
        res.map_err(|e| annotate(e, "cannot remove stale", &path))?;
    }
    Ok(())
}

/// The directories every mode of boot needs: the container environment and `/run/hermes`.
pub fn make_common_dirs(layout: &Layout) -> io::Result<()> {
    for dir in [layout.envdir(), layout.run.join("hermes")] {
        mkdir_all(&dir)?;
    }
    Ok(())
}

/// The rest of the supervision tree, made while s6-svscan already runs on the (empty)
/// `fresh_scandir`: basedir (detection, docs/contract.md §4) and the live service dirs, linked into the
/// scandir with their `down` (stage 2 rescans, then brings them up after cont-init). A tmpfs
/// `/run` has no `/run/lock`, which programs expect: made 1777 if missing.
pub fn make_supervision_tree(layout: &Layout) -> io::Result<Vec<String>> {
    let lock = layout.run.join("lock");
    if fs::symlink_metadata(&lock).is_err() {
        mkdir_mode(&lock, 0o1777)?;
    }
    for dir in [layout.run.join("s6/basedir"), layout.servicedirs()] {
        mkdir_all(&dir)?;
    }
    let mut warnings = Vec::new();
    for svc in user_bundle_longruns(layout, &mut warnings)? {
        make_live_copy(layout, &svc)?;
    }
    Ok(warnings)
}

/// Longruns listed in the `user` bundle, sorted; anything listed but not defined is a warning.
fn user_bundle_longruns(layout: &Layout, warnings: &mut Vec<String>) -> io::Result<Vec<String>> {
    let contents = layout.rc_source.join("user/contents.d");
    let mut names: Vec<String> = match fs::read_dir(&contents) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(annotate(e, "cannot read", &contents)),
    };
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let def = layout.rc_source.join(&name);
        if !def.is_dir() {
            warnings.push(format!(
                "the user bundle lists '{name}' but {} is missing",
                def.display()
            ));
            continue;
        }
        let kind = fs::read_to_string(def.join("type")).unwrap_or_default();
        if kind.trim() == "longrun" {
            out.push(name);
        }
    }
    Ok(out)
}

/// `/run/s6-rc/servicedirs/<svc>`: `run`/`finish` linked into the image, data files copied,
/// `down` added; then `/run/service/<svc>` links to it.
fn make_live_copy(layout: &Layout, svc: &str) -> io::Result<()> {
    let def = layout.rc_source.join(svc);
    let live = layout.servicedirs().join(svc);
    mkdir_mode(&live, 0o755)?;
    let mut files: Vec<_> = fs::read_dir(&def)
        .map_err(|e| annotate(e, "cannot read", &def))?
        .filter_map(Result::ok)
        .collect();
    files.sort_by_key(|e| e.file_name());
    for entry in files {
        let name = entry.file_name();
        let src = entry.path();
        if !fs::symlink_metadata(&src).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let dst = live.join(&name);
        match name.to_str() {
            Some("run" | "finish") => link(&src, &dst)?,
            // Never shipped: the live copy gets its own `down` below.
            Some("down") => {}
            _ => {
                fs::copy(&src, &dst).map_err(|e| annotate(e, "cannot copy to", &dst))?;
                fs::set_permissions(&dst, fs::Permissions::from_mode(0o644))?;
            }
        }
    }
    fs::write(live.join("down"), b"").map_err(|e| annotate(e, "cannot create", &live))?;
    link(&live, &layout.scandir().join(svc))
}

fn mkdir_all(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| annotate(e, "cannot create", dir))
}

/// A new directory with exactly `mode` (the umask would strip 1777's bits).
fn mkdir_mode(dir: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new()
        .mode(mode & 0o777)
        .create(dir)
        .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(mode)))
        .map_err(|e| annotate(e, "cannot create", dir))
}

fn link(target: &Path, at: &Path) -> io::Result<()> {
    symlink(target, at).map_err(|e| annotate(e, "cannot create link", at))
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(tag: &str) -> Layout {
        let root = std::env::temp_dir().join(format!("hermes-init-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("run")).unwrap();
        Layout {
            run: root.join("run"),
            rc_source: root.join("rc"),
            svscan_finish: PathBuf::from("/etc/hermes-s6/svscan-finish"),
            svscan_teardown: PathBuf::from("/etc/hermes-s6/svscan-teardown"),
        }
    }

    fn define(l: &Layout, svc: &str, files: &[(&str, &str)]) {
        let d = l.rc_source.join(svc);
        fs::create_dir_all(&d).unwrap();
        for (n, body) in files {
            fs::write(d.join(n), body).unwrap();
        }
        fs::create_dir_all(l.rc_source.join("user/contents.d")).unwrap();
        fs::write(l.rc_source.join("user/contents.d").join(svc), "").unwrap();
    }

    #[test]
    fn builds_live_copies_held_down() {
        let l = layout("tree");
        define(
            &l,
            "svc",
            &[
                ("type", "longrun\n"),
                ("run", "#!/bin/sh\n"),
                ("timeout-kill", "3000\n"),
                ("down", ""),
            ],
        );
        define(&l, "oneshot", &[("type", "oneshot\n")]);
        fs::write(l.rc_source.join("user/contents.d/ghost"), "").unwrap();
        fresh_scandir(&l).unwrap();
        let warnings = make_supervision_tree(&l).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("'ghost'"));
        let live = l.run.join("s6-rc/servicedirs/svc");
        assert_eq!(
            fs::read_link(live.join("run")).unwrap(),
            l.rc_source.join("svc/run")
        );
        assert_eq!(
            fs::read_to_string(live.join("timeout-kill")).unwrap(),
            "3000\n"
        );
        assert!(live.join("down").exists());
        assert_eq!(fs::read_link(l.scandir().join("svc")).unwrap(), live);
        assert!(!l.scandir().join("oneshot").exists());
        let ctl = l.scandir().join(".s6-svscan");
        assert_eq!(
            fs::metadata(&ctl).unwrap().permissions().mode() & 0o7777,
            0o700
        );
        assert_eq!(
            fs::read_link(ctl.join("SIGTERM")).unwrap(),
            l.svscan_teardown
        );
        let lock = fs::metadata(l.run.join("lock"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(lock, 0o1777);
        fs::remove_dir_all(l.run.parent().unwrap()).unwrap();
    }

    #[test]
    fn stale_state_removed_links_not_followed() {
        let l = layout("stale");
        let outside = l.run.parent().unwrap().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("keep"), "x").unwrap();
        fs::create_dir_all(l.run.join("service/old/supervise")).unwrap();
        symlink(&outside, l.run.join("hermes")).unwrap();
        fs::write(l.run.join("secret"), "mounted").unwrap();
        // A restart on a non-tmpfs /run: the old scandir is set aside, a fresh one made.
        fresh_scandir(&l).unwrap();
        assert!(!l.run.join("service/old").exists());
        assert!(l.run.join("service/.s6-svscan").is_dir());
        remove_stale(&l, false).unwrap();
        assert!(
            l.run.join("service/.s6-svscan").is_dir(),
            "the fresh scandir stays"
        );
        let mut left: Vec<_> = fs::read_dir(&l.run)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["secret", "service"], "the set-aside scandir is gone");
        remove_stale(&l, true).unwrap();
        assert!(!l.run.join("service").exists());
        assert!(fs::symlink_metadata(l.run.join("hermes")).is_err());
        assert!(
            outside.join("keep").exists(),
            "a link's target is never touched"
        );
        assert!(
            l.run.join("secret").exists(),
            "nothing else under /run is touched"
        );
        fs::remove_dir_all(l.run.parent().unwrap()).unwrap();
    }
}
