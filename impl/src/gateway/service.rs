//! The gateway as an s6 service, as the CLI drives it: the s6 command (`s6::control`) plus the
//! operator's intent, recorded in the profile's home (contract §3.3, §6.3).
//!
//! The intent is recorded *before* the command, so that a verb which cannot record it (e.g.
//! `gateway_state.json` or its lock left root-owned by a root `docker exec`) fails and changes
//! nothing — instead of stopping the gateway while the next boot, reading the old intent,
//! starts it again. If the s6 command then fails, the previous intent is put back.

use super::marker;
use crate::paths::Paths;
use crate::s6::{self, control::Control, control::Transition};
use crate::state::{self, Desired, Phase, Recorded};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum ServiceError {
    S6(s6::Error),
    /// The intent could not be recorded; the message names the file and the reason.
    Intent(String),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::S6(e) => e.fmt(f),
            ServiceError::Intent(why) => f.write_str(why),
        }
    }
}

impl From<s6::Error> for ServiceError {
    fn from(e: s6::Error) -> Self {
        ServiceError::S6(e)
    }
}

pub struct Service<'a> {
    pub paths: &'a Paths,
    pub control: &'a Control,
}

/// Held by `start`, `stop` and `restart` of one profile from the intent's record to the end
/// of s6's command and wait: a flock on the profile's home directory itself (no new file, and
/// read access is enough). Without it a start racing a stop could interleave as
/// record(running), record(stopped), `-D`, `-U`: the gateway up while the state file says
/// `stopped`, and the next boot would leave it down (found by the model-based test, fuzz seed 5004). The
/// other holder's waits are all bounded, so blocking here is too. A home that cannot be opened
/// as a directory gets no lock: the record step then reports what is wrong with it.
fn verb_lock(home: &Path) -> Option<nix::fcntl::Flock<std::fs::File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(home)
        .ok()?;
    nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).ok()
}

impl Service<'_> {
    pub fn start(&self, profile: &str) -> Result<Transition, ServiceError> {
        let _verb = verb_lock(&self.paths.profile_home(profile));
        let undo = self.record(profile, Desired::Running)?;
        self.control.start(profile).map_err(|e| undo.revert(e))
    }

    /// Writes the planned-stop marker for the running pid first, so the gateway records
    /// `stopped` when the SIGTERM comes; then `stopped` as the intent; then `s6-svc -D`.
    pub fn stop(&self, profile: &str) -> Result<Transition, ServiceError> {
        let home = self.paths.profile_home(profile);
        let _verb = verb_lock(&home);
        // Fails early, before any intent is written, if there is no such slot.
        let pid = self.control.status(profile)?.pid;
        if let Some(pid) = pid
            && home.is_dir()
        {
            marker::write(&home, pid).map_err(|e| {
                ServiceError::Intent(format!(
                    "cannot write the planned-stop marker {}: {e}",
                    marker::marker_path(&home).display()
                ))
            })?;
        }
        // A marker must never claim a stop that was not recorded: if the intent cannot be
        // written, the marker goes too (else the next SIGTERM of any kind would record
        // `stopped` against an intent that still says `running`).
        let undo = self.record(profile, Desired::Stopped).inspect_err(|_| {
            let _ = std::fs::remove_file(marker::marker_path(&home));
        })?;
        let done = self.control.stop(profile).map_err(|e| {
            let _ = std::fs::remove_file(marker::marker_path(&home));
            undo.revert(e)
        })?;
        if done.reached {
            self.record_unseen_stop(&home)?;
        }
        Ok(done)
    }

    /// Once s6 reports the gateway down, a planned-stop marker still in place means the
    /// gateway never consumed it: the SIGTERM came before it ran its own code (s6 reports a
    /// slot up as soon as it forks the run script, so a stop right after a start can kill the
    /// script itself). The process is gone, so nobody else will record the stop: record
    /// `stopped` here and take the marker away, or the state file would go on saying
    /// `running` (or nothing) for a gateway the operator stopped.
    fn record_unseen_stop(&self, home: &Path) -> Result<(), ServiceError> {
        let path = marker::marker_path(home);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(());
        }
        state::update(home, |s| {
            s.gateway_state = Some(Recorded::Known(Phase::Stopped));
        })
        .map_err(|e| {
            ServiceError::Intent(format!(
                "the gateway stopped before it could record it, and {} cannot be written: {e}",
                state::state_path(home).display()
            ))
        })?;
        let _ = std::fs::remove_file(&path);
        Ok(())
    }

    pub fn restart(&self, profile: &str) -> Result<Transition, ServiceError> {
        let _verb = verb_lock(&self.paths.profile_home(profile));
        let undo = self.record(profile, Desired::Running)?;
        self.control.restart(profile).map_err(|e| undo.revert(e))
    }

    /// Records `desired_state` in the profile's home and returns how to undo it. A profile
    /// whose home is gone has no intent to keep: nothing is recorded.
    fn record(&self, profile: &str, desired: Desired) -> Result<Undo, ServiceError> {
        let home = self.paths.profile_home(profile);
        if !home.is_dir() {
            return Ok(Undo {
                home: None,
                previous: None,
            });
        }
        let mut previous = None;
        state::update(&home, |s| {
            previous = s.desired_state.replace(Recorded::Known(desired));
        })
        .map_err(|e| {
            ServiceError::Intent(format!(
                "cannot record desired_state={} in {}: {e}",
                desired.as_str(),
                state::state_path(&home).display()
            ))
        })?;
        Ok(Undo {
            home: Some(home),
            previous,
        })
    }
}

/// The intent before a verb changed it.
struct Undo {
    home: Option<PathBuf>,
    previous: Option<Recorded<Desired>>,
}

impl Undo {
    /// Puts the previous intent back (best effort: the s6 error is what the user must see).
    fn revert(self, e: s6::Error) -> ServiceError {
        if let Some(home) = &self.home {
            restore(home, self.previous);
        }
        ServiceError::S6(e)
    }
}

fn restore(home: &Path, previous: Option<Recorded<Desired>>) {
    let _ = state::update(home, |s| s.desired_state = previous);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s6::programs::fake;
    use std::fs;
    use std::time::Duration;

    fn service<'a>(paths: &'a Paths, control: &'a Control) -> Service<'a> {
        Service { paths, control }
    }

    fn setup(svc: &str) -> (tempfile::TempDir, Paths, Control) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(paths.slot_dir("work")).unwrap();
        fs::create_dir_all(paths.profile_home("work")).unwrap();
        fake::install(&paths.command_dir, "s6-svok", "exit 0");
        fake::install(&paths.command_dir, "s6-svc", svc);
        fake::install(
            &paths.command_dir,
            "s6-svstat",
            r#"if [ -f "$3/fake-up" ]; then echo "true true false 77 -1 NA 1 @400000006b0c5375000000a0 @400000006b0c5375000000a0"; else echo "false false true -1 0 NA 1 @400000006b0c5375000000a0 @400000006b0c5376000000a0"; fi"#,
        );
        let mut c = Control::new(paths.clone());
        c.probe = crate::s6::SupervisionProbe::Program(c.programs.clone());
        c.wait = Duration::from_millis(300);
        c.poll = Duration::from_millis(5);
        (t, paths, c)
    }

    fn desired(home: &Path) -> Option<Desired> {
        match state::read(home).unwrap().unwrap().desired_state {
            Some(Recorded::Known(d)) => Some(d),
            _ => None,
        }
    }

    const SVC: &str = r#"case "$1" in -U) touch "$2/fake-up";; -D) rm -f "$2/fake-up";; esac"#;

    #[test]
    fn one_profiles_verbs_take_turns() {
        let t = tempfile::tempdir().unwrap();
        let held = verb_lock(t.path()).expect("a directory can be locked");
        let dir = std::fs::File::open(t.path()).unwrap();
        assert!(
            nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err(),
            "a second verb must wait while the first holds the profile"
        );
        drop(held);
        assert!(verb_lock(t.path()).is_some());
        assert!(verb_lock(&t.path().join("missing")).is_none());
    }

    #[test]
    fn records_intent_and_the_planned_stop_marker() {
        let (_t, paths, c) = setup(SVC);
        let s = service(&paths, &c);
        let home = paths.profile_home("work");
        assert!(s.start("work").unwrap().reached);
        assert_eq!(desired(&home), Some(Desired::Running));
        assert!(s.stop("work").unwrap().reached);
        assert_eq!(desired(&home), Some(Desired::Stopped));
        // The fake gateway never ran its own code, so it never consumed the marker: the stop
        // records `stopped` itself once s6 says down, and takes the marker away.
        assert_eq!(phase(&home), Some(Phase::Stopped));
        assert!(!marker::marker_path(&home).exists());
    }

    #[test]
    fn a_stop_the_gateway_recorded_itself_is_left_alone() {
        let (_t, paths, c) = setup(SVC);
        let home = paths.profile_home("work");
        // This s6-svc's -D plays a gateway that consumed the marker and recorded its stop as
        // `draining` (any value the CLI would not write).
        fake::install(
            &paths.command_dir,
            "s6-svc",
            &format!(
                r#"case "$1" in -U) touch "$2/fake-up";; -D) rm -f "$2/fake-up" "{m}"; printf '{{"gateway_state":"draining"}}' >"{st}";; esac"#,
                m = marker::marker_path(&home).display(),
                st = state::state_path(&home).display()
            ),
        );
        let s = service(&paths, &c);
        assert!(s.start("work").unwrap().reached);
        assert!(s.stop("work").unwrap().reached);
        assert_eq!(phase(&home), Some(Phase::Draining));
    }

    fn phase(home: &Path) -> Option<Phase> {
        match state::read(home).unwrap().unwrap().gateway_state {
            Some(Recorded::Known(p)) => Some(p),
            _ => None,
        }
    }

    #[test]
    fn an_s6_failure_puts_the_old_intent_back() {
        let (_t, paths, c) = setup("echo 'unable to control: Permission denied' >&2; exit 111");
        let s = service(&paths, &c);
        let home = paths.profile_home("work");
        state::set_desired(&home, Desired::Stopped).unwrap();
        let e = s.start("work").unwrap_err();
        assert!(e.to_string().contains("Permission denied"), "{e}");
        assert_eq!(desired(&home), Some(Desired::Stopped));
    }

    #[test]
    fn an_unrecordable_intent_changes_nothing() {
        let (_t, paths, c) = setup(SVC);
        let s = service(&paths, &c);
        let home = paths.profile_home("work");
        // What a root `docker exec` leaves, as far as an unprivileged writer can tell: the
        // lock cannot be opened for writing. (A directory stands in for a root-owned file.)
        fs::create_dir(home.join(state::LOCK_FILE)).unwrap();
        let e = s.start("work").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("cannot record desired_state=running"), "{msg}");
        assert!(msg.contains(".gateway_state.lock"), "{msg}");
        assert!(
            !paths.slot_dir("work").join("fake-up").exists(),
            "not started"
        );
    }

    #[test]
    fn an_unrecordable_stop_leaves_no_planned_stop_marker() {
        let (_t, paths, c) = setup(SVC);
        let s = service(&paths, &c);
        let home = paths.profile_home("work");
        assert!(s.start("work").unwrap().reached);
        fs::remove_file(home.join(state::LOCK_FILE)).unwrap();
        fs::create_dir(home.join(state::LOCK_FILE)).unwrap();
        let msg = s.stop("work").unwrap_err().to_string();
        assert!(msg.contains("cannot record desired_state=stopped"), "{msg}");
        assert!(
            !marker::marker_path(&home).exists(),
            "a marker claims a stop that was not recorded"
        );
        assert!(
            paths.slot_dir("work").join("fake-up").exists(),
            "the gateway was stopped although its intent was not recorded"
        );
    }
}
