//! Adding gateway slots to the scandir and removing them (contract §3.3): the registrar's code
//! path, run as root — by the registrar helper for hermes' requests, and by the boot
//! reconciler. Nothing else creates or removes a gateway slot, and it only ever touches
//! `gateway-<valid name>` entries, never a static service.
//!
//! Callers serialise: the registrar helper and the reconciler take the registrar's lock
//! (`crate::registrar`). Staging names carry the process id, so two processes never share one.

use super::programs::Programs;
use super::slot::{self, Owners, Template};
use super::svstat;
use super::{Error, SupervisionProbe};
use crate::names;
use crate::paths::Paths;
use crate::poll;
use crate::safe_walk::{self, Dir, WalkError};
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A safe-walk error as a slot error: what was being done, and the walk's own line (which
/// names the path).
fn walk_err(what: &'static str) -> impl Fn(WalkError) -> Error {
    move |e| Error::Io(what.to_string(), io::Error::from(e))
}

pub struct Scandir {
    pub paths: Paths,
    pub programs: Programs,
    pub probe: SupervisionProbe,
    pub template: Template,
    pub owners: Owners,
    /// Bound on waiting for s6-svscan to start (or let go of) a slot's supervisors.
    pub supervise_wait: Duration,
    /// Bound on waiting for a slot being removed to go down.
    pub down_wait: Duration,
    pub poll: Duration,
}

/// One registration: the profile and whether its gateway starts at once (no `down` file).
pub type Request = (String, bool);

impl Scandir {
    pub fn new(paths: Paths, owners: Owners) -> Self {
        let programs = Programs::new(&paths.command_dir);
        Scandir {
            paths,
            programs,
            probe: SupervisionProbe::Lock,
            template: Template::default(),
            owners,
            supervise_wait: Duration::from_secs(10),
            down_wait: Duration::from_secs(10),
            poll: Duration::from_millis(10),
        }
    }

    fn scandir(&self) -> String {
        self.paths.scandir.display().to_string()
    }

    /// The scandir, reached with the safe walk (contract §10 promise 5).
    fn open(&self) -> Result<Dir, Error> {
        Dir::open(&self.paths.scandir).map_err(walk_err("cannot open the scandir"))
    }

    /// `.gateway-<p>.<what>.<pid>`: hidden from s6-svscan, unique to this process.
    fn staging(&self, profile: &str, what: &str) -> OsString {
        OsString::from(format!(
            ".{}.{what}.{}",
            names::slot_name(profile),
            std::process::id()
        ))
    }

    /// Registers one slot; see `register_all`.
    pub fn register(&self, profile: &str, start: bool) -> Result<(), Error> {
        self.register_all(&[(profile.to_string(), start)])
            .pop()
            .expect("one result per request")
    }

    /// Registers every request in one batch: each slot is built in its own staging dir and
    /// published with one rename, then one rescan, then every supervisor (slot and logger) is
    /// awaited together. A slot that fails any step is removed again: each request ends with
    /// a whole, supervised slot or with none. One result per request, in order.
    pub fn register_all(&self, requests: &[Request]) -> Vec<Result<(), Error>> {
        // `default` and every profile up to the limit; the scanner was started with room for
        // that many (s6-svscan -c), and a slot beyond it would stay unsupervised.
        let room = (crate::profile::MAX_PROFILES + 1).saturating_sub(self.gateway_slots());
        let mut taken = 0;
        let mut results: Vec<Result<(), Error>> = requests
            .iter()
            .map(|(p, start)| {
                if taken >= room {
                    return Err(Error::Full(format!(
                        "cannot register {}: the scandir already holds the most gateway slots \
                         this image supervises ({} profiles and default)",
                        names::slot_name(p),
                        crate::profile::MAX_PROFILES
                    )));
                }
                let r = self.publish(p, *start);
                if r.is_ok() {
                    taken += 1;
                }
                r
            })
            .collect();
        let published: Vec<usize> = (0..requests.len())
            .filter(|&i| results[i].is_ok())
            .collect();
        if published.is_empty() {
            return results;
        }
        if let Err(e) = self.programs.run("s6-svscanctl", &["-a", &self.scandir()]) {
            // The scanner never saw them, so no supervisor can hold them: remove at once.
            for &i in &published {
                if let Ok(scan) = self.open() {
                    let _ = scan.remove_tree(OsStr::new(&names::slot_name(&requests[i].0)));
                }
                results[i] = Err(Error::S6(e.clone()));
            }
            return results;
        }
        // A batch (the boot's 1000 profiles) takes s6-svscan a while to fork supervisors for,
        // the longer the busier the machine: wait as long as supervisors keep appearing, and
        // give up only when none has for `supervise_wait` (or after twelve times that in all).
        let mut waiting: Vec<usize> = published;
        poll::until_done_or_stalled(
            self.supervise_wait,
            self.supervise_wait * 12,
            self.poll,
            || {
                waiting.retain(|&i| {
                    !self.supervised_with_logger(&self.paths.slot_dir(&requests[i].0))
                });
                waiting.len()
            },
        );
        for i in waiting {
            let p = &requests[i].0;
            // The scanner saw it and may still start a supervisor: remove it the careful way.
            let _ = self.unregister(p);
            results[i] = Err(Error::Timeout(format!(
                "s6-svscan started no supervisor for {} (none appeared for {} s; see the \
                 container log); the slot was removed",
                names::slot_name(p),
                self.supervise_wait.as_secs()
            )));
        }
        results
    }

    /// Builds the slot in its staging dir and renames it into place (not yet scanned), all
    /// through the scandir's descriptor; the rename never replaces anything
    /// (`RENAME_NOREPLACE`).
    fn publish(&self, profile: &str, start: bool) -> Result<(), Error> {
        names::validate(profile)?;
        let scan = self.open()?;
        let slot = OsString::from(names::slot_name(profile));
        if scan.exists(&slot) {
            return Err(Error::AlreadyRegistered(profile.to_string()));
        }
        let staging = self.staging(profile, "new");
        scan.remove_tree(&staging)
            .map_err(walk_err("cannot remove stale staging dir"))?;
        let built = slot::build(&scan, &staging, start, &self.template, self.owners)
            .map_err(walk_err("cannot build slot"))
            .and_then(|()| {
                scan.rename(&staging, &scan, &slot, true).map_err(|e| {
                    if e.errno() == Some(nix::errno::Errno::EEXIST) {
                        Error::AlreadyRegistered(profile.to_string())
                    } else {
                        walk_err("cannot publish slot")(e)
                    }
                })
            });
        if built.is_err() {
            let _ = scan.remove_tree(&staging);
        }
        built
    }

    /// Idempotent removal: down the service and wait until it is really down, hide the slot
    /// from the scanner (rename to a dot name), have the scanner drop vanished services, wait
    /// until no s6-supervise holds the slot or its logger, then remove it. Returns false if
    /// there was nothing to remove.
    pub fn unregister(&self, profile: &str) -> Result<bool, Error> {
        names::validate(profile)?;
        let dir = self.paths.slot_dir(profile);
        let scan = self.open()?;
        let slot = OsString::from(names::slot_name(profile));
        match scan.lstat(&slot) {
            Err(e) if e.is_not_found() => return Ok(false),
            Err(e) => return Err(walk_err("cannot stat slot")(e)),
            // Only ever a directory we made; a link or file under our name is not ours to touch.
            Ok(st) if !safe_walk::is_dir(&st) => {
                return Err(Error::Io(
                    format!("refusing to remove {}", dir.display()),
                    io::Error::other("not a slot directory"),
                ));
            }
            Ok(_) => {}
        }
        let d = dir.display().to_string();
        // Regression `unregister-rmtree-first`: the dir was removed while s6-supervise still
        // ran in it, then the scanner was told; nothing waited for anything.
        if crate::regression::on("unregister-rmtree-first") {
            let _ = scan.remove_tree(&slot);
            self.programs
                .run("s6-svscanctl", &["-an", &self.scandir()])?;
            return Ok(true);
        }
        if self.supervised(&dir) {
            self.programs.run("s6-svc", &["-d", &d])?;
            let down = poll::until(self.down_wait, self.poll, || {
                self.programs
                    .run("s6-svstat", &["-o", svstat::FIELDS, &d])
                    .ok()
                    .and_then(|o| svstat::parse(&o.stdout).ok())
                    .is_some_and(|s| !s.up)
            });
            if !down {
                return Err(Error::Timeout(format!(
                    "{d} did not go down within {} s",
                    self.down_wait.as_secs()
                )));
            }
        }
        let hidden_name = self.staging(profile, "del");
        let hidden = self.paths.scandir.join(&hidden_name);
        scan.remove_tree(&hidden_name)
            .map_err(walk_err("cannot remove stale deletion dir"))?;
        scan.rename(&slot, &scan, &hidden_name, true)
            .map_err(walk_err("cannot hide slot"))?;
        self.programs
            .run("s6-svscanctl", &["-an", &self.scandir()])?;
        let log = hidden.join("log");
        let released = poll::until(self.supervise_wait, self.poll, || {
            !self.supervised(&hidden) && !self.supervised(&log)
        });
        if !released {
            return Err(Error::Timeout(format!(
                "s6-supervise still holds {} after {} s",
                hidden.display(),
                self.supervise_wait.as_secs()
            )));
        }
        scan.remove_tree(&hidden_name)
            .map_err(walk_err("cannot remove hidden slot"))?;
        Ok(true)
    }

    /// Removes the staging dirs that requests which died left (`.gateway-*.new.*`,
    /// `.gateway-*.del.*`, and the older `.tmp` form); returns what was removed. Callers hold
    /// the registrar's lock, so no live request owns one: the boot before it registers, the
    /// registrar when it starts, and the helper before each request. A dir that an s6-supervise
    /// still holds (slot or logger: an unregister that timed out) is never removed; the scanner
    /// is told once more to drop vanished services (`s6-svscanctl -an`), and a later sweep
    /// removes it once it is let go.
    pub fn remove_stale_staging(&self) -> Result<Vec<PathBuf>, Error> {
        let scan = self.open()?;
        let mut removed = Vec::new();
        let mut held = false;
        for name in scan.list().map_err(walk_err("cannot list the scandir"))? {
            if !is_staging_name(&name.to_string_lossy()) {
                continue;
            }
            let path = scan.join(&name);
            if self.supervised(&path) || self.supervised(&path.join("log")) {
                held = true;
                continue;
            }
            scan.remove_tree(&name)
                .map_err(walk_err("cannot remove stale staging dir"))?;
            removed.push(path);
        }
        if held {
            let _ = self.programs.run("s6-svscanctl", &["-an", &self.scandir()]);
        }
        Ok(removed)
    }

    /// Visible `gateway-*` entries of the scandir.
    fn gateway_slots(&self) -> usize {
        self.open()
            .and_then(|scan| scan.list().map_err(walk_err("cannot list the scandir")))
            .map(|names| {
                names
                    .iter()
                    .filter(|n| n.to_str().and_then(names::profile_of_slot).is_some())
                    .count()
            })
            .unwrap_or(0)
    }

    /// Is an s6-supervise running on this dir?
    fn supervised(&self, dir: &Path) -> bool {
        self.probe.supervised(dir)
    }

    fn supervised_with_logger(&self, dir: &Path) -> bool {
        self.supervised(dir) && self.supervised(&dir.join("log"))
    }
}

/// A staging dir of the registrar's code path: `.gateway-<p>.{new,del}.<pid>` (or `.tmp…`).
pub fn is_staging_name(name: &str) -> bool {
    name.starts_with(".gateway-")
        && (name.contains(".new.") || name.contains(".del.") || name.contains(".tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn setup(svscanctl: &str, svok: &str) -> (tempfile::TempDir, Scandir) {
        fixture::scandir(svscanctl, svok)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn batch_registers_each_once() {
        let (_t, s) = setup("exit 0", "exit 0");
        let res = s.register_all(&[
            ("default".into(), true),
            ("work".into(), false),
            ("work".into(), false),
            ("Bad".into(), false),
        ]);
        assert!(res[0].is_ok() && res[1].is_ok());
        assert!(matches!(res[2], Err(Error::AlreadyRegistered(_))));
        assert!(matches!(res[3], Err(Error::Name(_))));
        assert_eq!(
            entries(&s.paths.scandir),
            vec!["gateway-default", "gateway-work"]
        );
        assert!(!s.paths.slot_dir("default").join("down").exists());
        assert!(s.paths.slot_dir("work").join("down").exists());
    }

    #[test]
    fn rescan_failure_leaves_nothing() {
        let (_t, s) = setup(
            "echo 's6-svscanctl: fatal: unable to control /run/service: Permission denied' >&2; exit 111",
            "exit 1",
        );
        let e = s.register("work", false).unwrap_err();
        assert!(
            matches!(&e, Error::S6(x) if x.exit_code() == Some(111)),
            "{e}"
        );
        assert!(e.to_string().contains("Permission denied"), "{e}");
        assert!(entries(&s.paths.scandir).is_empty());
    }

    #[test]
    fn no_supervisor_means_no_slot() {
        // The scanner accepts the rescan but never starts a supervisor (e.g. its service
        // limit): the slot is withdrawn and the request fails, never "registered".
        let (_t, s) = setup("exit 0", "exit 1");
        let e = s.register("work", false).unwrap_err();
        assert!(e.to_string().contains("no supervisor"), "{e}");
        assert!(entries(&s.paths.scandir).is_empty());
    }

    #[test]
    fn unregister_waits_for_release_then_removes() {
        // s6-svok succeeds on the visible slot but not once hidden (the scanner let go).
        let (_t, s) = setup(
            "exit 0",
            r#"case "$1" in */gateway-*) exit 0;; *) exit 1;; esac"#,
        );
        s.register("work", true).unwrap();
        assert!(s.unregister("work").unwrap());
        assert!(entries(&s.paths.scandir).is_empty());
        assert!(!s.unregister("work").unwrap());
    }

    #[test]
    fn unregister_keeps_a_slot_still_held() {
        let (_t, s) = setup("exit 0", "exit 0");
        s.register("work", false).unwrap();
        let e = s.unregister("work").unwrap_err();
        assert!(matches!(e, Error::Timeout(_)), "{e}");
        // Hidden from the scanner but not deleted under a live supervisor.
        assert!(
            entries(&s.paths.scandir)
                .iter()
                .any(|e| e.starts_with(".gateway-work.del."))
        );
    }

    #[test]
    fn stale_staging_is_removed_and_named() {
        let (_t, s) = setup("exit 0", "exit 1");
        for n in [
            ".gateway-a.new.12",
            ".gateway-b.del.7/log",
            ".gateway-c.tmp",
        ] {
            fs::create_dir_all(s.paths.scandir.join(n)).unwrap();
        }
        fs::create_dir_all(s.paths.scandir.join(".s6-svscan")).unwrap();
        let removed = s.remove_stale_staging().unwrap();
        assert_eq!(removed.len(), 3);
        assert_eq!(entries(&s.paths.scandir), vec![".s6-svscan"]);
    }

    #[test]
    fn a_staging_dir_still_supervised_is_kept_and_the_scanner_told_again() {
        // s6-svok: only the logger of the hidden `.del.7` dir is still held.
        let (t, s) = setup(
            r#"echo "$@" >> "$(dirname "$0")/svscanctl.calls""#,
            r#"case "$1" in */.gateway-b.del.7/log) exit 0;; *) exit 1;; esac"#,
        );
        for n in [".gateway-a.new.12", ".gateway-b.del.7/log"] {
            fs::create_dir_all(s.paths.scandir.join(n)).unwrap();
        }
        let removed = s.remove_stale_staging().unwrap();
        assert_eq!(removed, vec![s.paths.scandir.join(".gateway-a.new.12")]);
        assert_eq!(entries(&s.paths.scandir), vec![".gateway-b.del.7"]);
        let calls = fs::read_to_string(s.paths.command_dir.join("svscanctl.calls")).unwrap();
        assert_eq!(calls.trim(), format!("-an {}", s.paths.scandir.display()));
        drop(t);
    }
}

#[cfg(test)]
pub(crate) mod fixture {
    //! The unit tests' one fake scandir (the registrar's, the reconciler's and this module's
    //! tests use it). After `mod tests`: the safe-walk lint reads the file up to there.
    use super::*;
    use crate::s6::programs::fake;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    /// A scandir on a temp root, owned by the user running the tests, with fake s6 programs:
    /// `s6-svscanctl` runs `svscanctl`, `s6-svok` runs `svok` (which decides which slots count
    /// as supervised), `s6-svc` succeeds and `s6-svstat` reports down. Waits are short: a
    /// supervisor that never comes shows within 300 ms.
    pub fn scandir(svscanctl: &str, svok: &str) -> (tempfile::TempDir, Scandir) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(&paths.scandir).unwrap();
        fake::install(&paths.command_dir, "s6-svscanctl", svscanctl);
        fake::install(&paths.command_dir, "s6-svok", svok);
        fake::install(&paths.command_dir, "s6-svc", "exit 0");
        fake::install(
            &paths.command_dir,
            "s6-svstat",
            "echo 'false false true -1 0 NA 1 @400000006b0c5375000000a0 @400000006b0c5376000000a0'",
        );
        let m = fs::metadata(t.path()).unwrap();
        let owners = Owners {
            owner: m.uid(),
            hermes_uid: m.uid(),
            hermes_gid: m.gid(),
        };
        let mut s = Scandir::new(paths, owners);
        s.probe = SupervisionProbe::Program(s.programs.clone());
        s.supervise_wait = Duration::from_millis(300);
        s.down_wait = Duration::from_millis(300);
        s.poll = Duration::from_millis(5);
        (t, s)
    }
}
