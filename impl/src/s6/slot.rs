//! The slot template (contract §3.2), rendered by the registrar's code path (root) and by
//! nothing else.
//!
//! Every file and directory of a slot belongs to root. hermes gets exactly the rights it needs
//! to read a slot's state and send it commands — `supervise/` root:hermes 0710 and
//! `supervise/control` a root:hermes 0620 FIFO, for the slot and for its `log/` — and they are
//! made before the slot is published, so s6-supervise finds them (it reuses an existing
//! `supervise/` and `control` and then skips its own chown/chmod) and there is no moment at
//! which the slot exists without them. `event/` is left to s6-supervise, which makes it
//! root:root 03730: a link planted there would make root write event bytes wherever it points
//! (§10), so hermes must not be able to write in it. `lock`, `status` and `death_tally` are
//! written later by s6-supervise, root 0644, in a directory hermes cannot write.
//!
//! Executables are symlinks to programs in the image because `/run` may be mounted noexec.

use crate::paths;
use crate::safe_walk::{Dir, WalkError};
use std::ffi::OsStr;
use std::path::PathBuf;

/// Targets of the slot's `run`, `finish` and `log/run` links.
#[derive(Debug, Clone)]
pub struct Template {
    pub run: PathBuf,
    pub finish: PathBuf,
    pub log_run: PathBuf,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            run: PathBuf::from(paths::GATEWAY_RUN),
            finish: PathBuf::from(paths::GATEWAY_FINISH),
            log_run: PathBuf::from(paths::GATEWAY_LOG_RUN),
        }
    }
}

/// Who owns what in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    /// Owner of `supervise/` and `control`: root in the image (tests use their own uid).
    pub owner: u32,
    /// hermes, whose group gets rights on `supervise/` and `control`.
    pub hermes_uid: u32,
    pub hermes_gid: u32,
}

impl Owners {
    /// The image's: slots are root's, hermes' ids from the user database (they follow a boot
    /// remap, contract §1).
    pub fn image() -> Owners {
        // Regression `skeleton-ignores-remap`: the original hard-coded 10000 here, so a
        // remapped hermes got EACCES on every new slot.
        let (hermes_uid, hermes_gid) = if crate::regression::on("skeleton-ignores-remap") {
            (paths::HERMES_UID, paths::HERMES_GID)
        } else {
            paths::hermes_ids()
        };
        Owners {
            owner: 0,
            hermes_uid,
            hermes_gid,
        }
    }
}

/// s6-supervise SIGKILLs a gateway that ignores SIGTERM after this many ms, so a stuck
/// gateway cannot stall `docker stop` (10 s grace).
pub const TIMEOUT_KILL_MS: &str = "3000\n";
/// s6's default finish budget is 5 s; with `timeout-kill` and the final grace it would overrun
/// Docker's 10 s stop grace, so a finish script gets 2 s.
const TIMEOUT_FINISH_MS: &str = "2000\n";

/// Writes a complete slot as the new entry `name` of `parent` (which must not exist),
/// entirely through descriptors (`crate::safe_walk`). `down` is added unless `start`.
pub fn build(
    parent: &Dir,
    name: &OsStr,
    start: bool,
    tpl: &Template,
    owners: Owners,
) -> Result<(), WalkError> {
    // Everything but the skeleton is made by this (root) process and stays its own: no chown.
    // Strict: a slot (or staging dir) that already exists is never built over.
    let dir = parent.create_dir(name, 0o755, None)?;
    let file = |n: &str, body: &[u8]| dir.write_new(OsStr::new(n), body, 0o644, None);
    file("type", b"longrun\n")?;
    dir.symlink(&tpl.run, OsStr::new("run"))?;
    dir.symlink(&tpl.finish, OsStr::new("finish"))?;
    file("timeout-kill", TIMEOUT_KILL_MS.as_bytes())?;
    file("timeout-finish", TIMEOUT_FINISH_MS.as_bytes())?;
    if !start {
        file("down", b"")?;
    }
    let log = dir.create_dir(OsStr::new("log"), 0o755, None)?;
    log.symlink(&tpl.log_run, OsStr::new("run"))?;
    // Regression `no-supervise-skeleton`: slots published without it, so s6-supervise (root)
    // creates root-only `supervise/` dirs. Regression `no-log-skeleton`: seeded for the slot
    // but not for its `log/`.
    if !crate::regression::on("no-supervise-skeleton") {
        seed_skeleton(&dir, owners)?;
        if !crate::regression::on("no-log-skeleton") {
            seed_skeleton(&log, owners)?;
        }
    }
    Ok(())
}

/// `supervise/` root:hermes 0710 and `supervise/control` a root:hermes 0620 FIFO in `root`
/// (a slot or its `log/`), both new.
pub fn seed_skeleton(root: &Dir, owners: Owners) -> Result<(), WalkError> {
    // Regression `supervise-owned-by-hermes`: the seeds' skeleton gave hermes the `supervise/`
    // dir and `control` that root s6-supervise writes into, so hermes could plant
    // `supervise/status.new -> <root file>` and have root write through it.
    let (owner, dir_mode, control_mode) = if crate::regression::on("supervise-owned-by-hermes") {
        (owners.hermes_uid, 0o755, 0o660)
    } else {
        (owners.owner, 0o710, 0o620)
    };
    let group = (owner, owners.hermes_gid);
    let supervise = root.create_dir(OsStr::new("supervise"), dir_mode, Some(group))?;
    supervise.mkfifo(OsStr::new("control"), control_mode, group)?;
    // Regression `event-dir-writable-by-hermes`: the seeds' skeleton (like `s6-svperms -E`)
    // made `event/` 03730 with hermes' group, so hermes could plant `event/ftrig1:…` links
    // that root s6-supervise writes event bytes through.
    if crate::regression::on("event-dir-writable-by-hermes") {
        root.create_dir(OsStr::new("event"), 0o3730, Some(group))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    use std::path::Path;

    /// Builds `gateway-work` in `t` and returns its path.
    fn built(t: &Path, start: bool) -> std::path::PathBuf {
        let parent = Dir::open(&t.canonicalize().unwrap()).unwrap();
        build(
            &parent,
            OsStr::new("gateway-work"),
            start,
            &Template::default(),
            own_ids(t),
        )
        .unwrap();
        t.canonicalize().unwrap().join("gateway-work")
    }

    /// The test's own ids stand in for root and hermes: chown to them needs no privilege.
    fn own_ids(dir: &Path) -> Owners {
        let m = fs::metadata(dir).unwrap();
        Owners {
            owner: m.uid(),
            hermes_uid: m.uid(),
            hermes_gid: m.gid(),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn layout_down() {
        let t = tempfile::tempdir().unwrap();
        let dir = built(t.path(), false);
        assert_eq!(fs::read_to_string(dir.join("type")).unwrap(), "longrun\n");
        assert_eq!(
            fs::read_to_string(dir.join("timeout-kill")).unwrap(),
            "3000\n"
        );
        assert_eq!(
            fs::read_link(dir.join("run")).unwrap(),
            Path::new(paths::GATEWAY_RUN)
        );
        assert_eq!(
            fs::read_link(dir.join("finish")).unwrap(),
            Path::new(paths::GATEWAY_FINISH)
        );
        assert_eq!(
            fs::read_link(dir.join("log/run")).unwrap(),
            Path::new(paths::GATEWAY_LOG_RUN)
        );
        assert!(dir.join("down").exists());
        assert_eq!(mode(&dir), 0o755);
        for root in [dir.clone(), dir.join("log")] {
            assert_eq!(mode(&root.join("supervise")), 0o710);
            assert_eq!(mode(&root.join("supervise/control")), 0o620);
            let control = fs::symlink_metadata(root.join("supervise/control")).unwrap();
            assert!(control.file_type().is_fifo());
            assert!(
                !root.join("event").exists(),
                "event/ is s6-supervise's to make, root-only"
            );
        }
        assert!(!dir.join("log/type").exists());
    }

    #[test]
    fn layout_up_has_no_down() {
        let t = tempfile::tempdir().unwrap();
        let dir = built(t.path(), true);
        assert!(!dir.join("down").exists());
    }

    #[test]
    fn refuses_existing_dir() {
        let t = tempfile::tempdir().unwrap();
        let ids = own_ids(t.path());
        fs::create_dir(t.path().join("gateway-work")).unwrap();
        let parent = Dir::open(&t.path().canonicalize().unwrap()).unwrap();
        let name = OsStr::new("gateway-work");
        assert!(build(&parent, name, true, &Template::default(), ids).is_err());
    }
}
