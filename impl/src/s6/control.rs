//! Controlling gateway slots as hermes (contract §3.3). hermes has group rights on each
//! slot's `supervise/control` FIFO and can read its status; it cannot write anything in a slot.
//! So `start`/`stop` are `s6-svc -U`/`-D` (s6-supervise itself removes or creates `./down`, so
//! a respawned supervisor keeps the state), and every wait polls `s6-svstat` with a deadline:
//! s6's `event/` dirs are root's (contract §10), so `s6-svwait` is not available to hermes.

use super::programs::Programs;
use super::svstat::{self, SvStat};
use super::{Error, SupervisionProbe};
use crate::names;
use crate::paths::Paths;
use crate::poll;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Outcome of a state change: the status s6 reported last and whether it matched the goal
/// within the bounded wait.
#[derive(Debug, Clone)]
pub struct Transition {
    pub reached: bool,
    pub stat: Option<SvStat>,
}

pub struct Control {
    pub paths: Paths,
    pub programs: Programs,
    pub probe: SupervisionProbe,
    /// Bound on waiting for a state change to show up in `s6-svstat`.
    pub wait: Duration,
    /// Bound on waiting for a freshly registered slot's supervisor.
    pub supervise_wait: Duration,
    pub poll: Duration,
}

impl Control {
    pub fn new(paths: Paths) -> Self {
        let programs = Programs::new(&paths.command_dir);
        Control {
            paths,
            programs,
            probe: SupervisionProbe::Lock,
            wait: Duration::from_secs(10),
            supervise_wait: Duration::from_secs(3),
            poll: Duration::from_millis(20),
        }
    }

    fn slot(&self, profile: &str) -> Result<PathBuf, Error> {
        names::validate(profile)?;
        Ok(self.paths.slot_dir(profile))
    }

    pub fn is_registered(&self, profile: &str) -> bool {
        self.slot(profile)
            .is_ok_and(|d| fs::symlink_metadata(d).is_ok())
    }

    fn existing_slot(&self, profile: &str) -> Result<PathBuf, Error> {
        let dir = self.slot(profile)?;
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(dir),
            _ => Err(Error::NotRegistered(profile.to_string())),
        }
    }

    /// `s6-svc -U`: up, and s6-supervise removes `./down`.
    pub fn start(&self, profile: &str) -> Result<Transition, Error> {
        let dir = self.existing_slot(profile)?;
        self.command(&dir, "-U")?;
        Ok(self.settle(&dir, |s| s.up))
    }

    /// `s6-svc -D`: down, and s6-supervise creates `./down`; waits until ./finish is done.
    pub fn stop(&self, profile: &str) -> Result<Transition, Error> {
        let dir = self.existing_slot(profile)?;
        self.command(&dir, "-D")?;
        // Down *and ready*: s6 reports down as soon as the process is gone, while ./finish
        // may still run; its 125 (a planned stop) makes s6 drop "wanted up", which would undo
        // a `start` that came in between (`SvStat::finish_done`).
        Ok(self.settle(&dir, |s| !s.up && s.finish_done))
    }

    /// Up with a new process: `-U` then `-t` when it runs (s6 restarts it, as it is wanted
    /// up), just `-U` when it does not.
    pub fn restart(&self, profile: &str) -> Result<Transition, Error> {
        let dir = self.existing_slot(profile)?;
        let before = self.status_of(&dir).ok().and_then(|s| s.pid);
        self.command(&dir, "-U")?;
        match before {
            Some(old) => {
                self.command(&dir, "-t")?;
                Ok(self.settle(&dir, |s| s.up && s.pid != Some(old)))
            }
            None => Ok(self.settle(&dir, |s| s.up)),
        }
    }

    pub fn status(&self, profile: &str) -> Result<SvStat, Error> {
        let dir = self.existing_slot(profile)?;
        self.status_of(&dir)
    }

    /// The pid of the profile's gateway if it runs.
    pub fn pid(&self, profile: &str) -> Option<u32> {
        self.status(profile).ok().and_then(|s| s.pid)
    }

    /// Status of a static service (`dashboard`, `main-hermes`) in the scandir. The name must be
    /// a plain directory name: this is a read-only probe, never a path walk.
    pub fn service_status(&self, name: &str) -> Result<SvStat, Error> {
        if name.is_empty() || name.starts_with('.') || name.contains('/') {
            return Err(Error::Io(
                format!("invalid service name {name:?}"),
                io::Error::from(io::ErrorKind::InvalidInput),
            ));
        }
        self.status_of(&self.paths.scandir.join(name))
    }

    /// Profiles with a visible `gateway-*` slot, sorted.
    pub fn list(&self) -> Result<Vec<String>, Error> {
        let rd = match fs::read_dir(&self.paths.scandir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                let dir = self.paths.scandir.display();
                return Err(Error::Io(format!("cannot list {dir}"), e));
            }
        };
        let mut out: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                names::profile_of_slot(&name).map(str::to_string)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// `s6-svc <flag>` once the slot's supervisor listens: a freshly registered slot may not
    /// have one for a few milliseconds, and s6-svc would fail with "supervisor not listening".
    fn command(&self, dir: &Path, flag: &str) -> Result<(), Error> {
        let d = dir.display().to_string();
        poll::until(self.supervise_wait, self.poll, || {
            self.probe.supervised(dir)
        });
        self.programs.run("s6-svc", &[flag, &d])?;
        Ok(())
    }

    fn status_of(&self, dir: &Path) -> Result<SvStat, Error> {
        let out = self.programs.run(
            "s6-svstat",
            &["-o", svstat::FIELDS, &dir.display().to_string()],
        )?;
        svstat::parse(&out.stdout).map_err(|e| Error::Io(e, io::Error::other("unexpected output")))
    }

    fn settle(&self, dir: &Path, goal: impl Fn(&SvStat) -> bool) -> Transition {
        let mut last = None;
        let reached = poll::until(self.wait, self.poll, || {
            last = self.status_of(dir).ok();
            last.as_ref().is_some_and(&goal)
        });
        Transition {
            reached,
            stat: last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s6::programs::fake;

    /// Control on temp roots with fake s6 programs: a file `<slot>/fake-up` holds the pid when
    /// up, and every s6-svc call is logged next to the slots.
    fn setup() -> (tempfile::TempDir, Control) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(paths.slot_dir("work")).unwrap();
        fake::install(&paths.command_dir, "s6-svok", "exit 0");
        fake::install(
            &paths.command_dir,
            "s6-svc",
            r#"echo "$@" >> "$2/../svc.log"; case "$1" in -U) echo 77 > "$2/fake-up";; -t) echo 78 > "$2/fake-up";; -D) rm -f "$2/fake-up";; esac"#,
        );
        fake::install(
            &paths.command_dir,
            "s6-svstat",
            r#"if [ -f "$3/fake-up" ]; then echo "true true false $(cat "$3/fake-up") -1 NA 1 @400000006b0c5375000000a0 @400000006b0c5375000000a0"; else echo "false false true -1 0 NA 1 @400000006b0c5375000000a0 @400000006b0c5376000000a0"; fi"#,
        );
        let mut c = Control::new(paths);
        c.probe = SupervisionProbe::Program(c.programs.clone());
        c.wait = Duration::from_millis(500);
        c.poll = Duration::from_millis(5);
        (t, c)
    }

    fn svc_log(c: &Control) -> String {
        fs::read_to_string(c.paths.scandir.join("svc.log")).unwrap_or_default()
    }

    #[test]
    fn start_stop_restart_use_the_down_file_commands() {
        let (_t, c) = setup();
        let t = c.start("work").unwrap();
        assert!(t.reached && t.stat.unwrap().pid == Some(77));
        let t = c.restart("work").unwrap();
        assert!(t.reached && t.stat.unwrap().pid == Some(78));
        let t = c.stop("work").unwrap();
        assert!(t.reached && !t.stat.unwrap().up);
        let slot = c.paths.slot_dir("work").display().to_string();
        assert_eq!(
            svc_log(&c),
            format!("-U {slot}\n-U {slot}\n-t {slot}\n-D {slot}\n")
        );
    }

    /// A stop returns once the slot's ./finish has run, not when the process is gone: a
    /// finish still running after a stop answered can end with 125 (the gateway's planned
    /// stop), which s6 takes as "do not restart" — undoing a start that came in between.
    #[test]
    fn stop_waits_for_the_finish_script() {
        let (_t, c) = setup();
        assert!(c.start("work").unwrap().reached);
        // Down, but ./finish still runs for the first three looks.
        fake::install(
            &c.paths.command_dir,
            "s6-svstat",
            r#"n=$(cat "$3/looks" 2>/dev/null || echo 0); echo $((n+1)) > "$3/looks"
               if [ "$n" -lt 3 ]; then echo "false false true -1 0 NA 0 @400000006b0c5376000000a0 @400000006b0c5375000000a0"; else echo "false false true -1 0 NA 0 @400000006b0c5375000000a0 @400000006b0c5376000000a0"; fi"#,
        );
        let t = c.stop("work").unwrap();
        assert!(t.reached && t.stat.as_ref().unwrap().finish_done, "{t:?}");
        let looks = fs::read_to_string(c.paths.slot_dir("work").join("looks")).unwrap();
        assert_eq!(looks.trim(), "4", "stop returned before ./finish was done");
    }

    #[test]
    fn restart_of_a_stopped_gateway_just_starts_it() {
        let (_t, c) = setup();
        let t = c.restart("work").unwrap();
        assert!(t.reached);
        let slot = c.paths.slot_dir("work").display().to_string();
        assert_eq!(svc_log(&c), format!("-U {slot}\n"));
    }

    #[test]
    fn missing_slot_is_a_clear_error() {
        let (_t, c) = setup();
        let e = c.start("nosuch").unwrap_err();
        assert_eq!(
            e.to_string(),
            "no such gateway 'nosuch': create it with `hermes profile create nosuch`"
        );
    }

    #[test]
    fn lists_visible_slots_sorted() {
        let (_t, c) = setup();
        fs::create_dir_all(c.paths.slot_dir("alpha")).unwrap();
        fs::create_dir_all(c.paths.scandir.join(".gateway-x.new.1")).unwrap();
        fs::create_dir_all(c.paths.scandir.join("dashboard")).unwrap();
        assert_eq!(c.list().unwrap(), vec!["alpha", "work"]);
    }
}
