//! Boot reconciliation (SPEC §5), run as hermes: re-create every gateway slot from the intent
//! recorded on the volume. `gateway-default` first, then each `profiles/<name>/` holding
//! `SOUL.md` in sorted order. A bad profile is skipped and logged; it never aborts the boot.

use crate::names;
use crate::paths::Paths;
use crate::state;
use crate::timefmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub const BOOT_LOG: &str = "container-boot.log";
pub const ROTATE_AT: u64 = 256 * 1024;
/// Runtime files a previous boot may have left; nothing runs yet, so they are stale.
const STALE_FILES: &[&str] = &["gateway.pid", "processes.json"];

/// Registers a slot. Implemented by the s6 manager; tests use a recorder.
pub trait Registrar {
    fn register(&self, profile: &str, start: bool) -> Result<(), String>;
}

impl Registrar for crate::s6::manager::Manager {
    fn register(&self, profile: &str, start: bool) -> Result<(), String> {
        crate::s6::manager::Manager::register(self, profile, start).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub profile: String,
    pub prior_state: Option<String>,
    /// `started`, `registered` or `skipped`.
    pub action: &'static str,
    pub reason: Option<String>,
}

impl Action {
    pub fn line(&self, ts: &str) -> String {
        let mut s = format!(
            "{ts} profile={} prior_state={} action={}",
            self.profile,
            self.prior_state.as_deref().unwrap_or("None"),
            self.action
        );
        if let Some(r) = &self.reason {
            s.push_str(" reason=");
            s.push_str(&r.replace(['\n', '\r'], " "));
        }
        s
    }
}

pub fn reconcile(paths: &Paths, reg: &dyn Registrar) -> Vec<Action> {
    let mut actions = vec![reconcile_one(paths, reg, names::DEFAULT_PROFILE)];
    let profiles = paths.profiles_dir();
    let entries = match fs::read_dir(&profiles) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return actions,
        Err(e) => {
            actions.push(skipped(
                "*",
                None,
                format!("cannot read {}: {e}", profiles.display()),
            ));
            return actions;
        }
    };
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    names.sort();
    for os_name in names {
        let display = os_name.to_string_lossy().into_owned();
        // Hidden entries are staging dirs of `profile create`, never profiles.
        if display.starts_with('.') {
            continue;
        }
        let dir = profiles.join(&os_name);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                if dir.join(PROFILE_MARKER).exists() {
                    actions.push(skipped(&display, None, "profile dir is a symlink".into()));
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                actions.push(skipped(&display, None, format!("unreadable: {e}")));
                continue;
            }
        }
        match fs::symlink_metadata(dir.join(PROFILE_MARKER)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                actions.push(skipped(&display, None, format!("unreadable: {e}")));
                continue;
            }
        }
        let Some(name) = os_name.to_str() else {
            actions.push(skipped(
                &display,
                None,
                "invalid profile name: not UTF-8".into(),
            ));
            continue;
        };
        if let Err(e) = names::validate_new(name) {
            actions.push(skipped(name, None, e.to_string()));
            continue;
        }
        actions.push(reconcile_one(paths, reg, name));
    }
    actions
}

fn skipped(profile: &str, prior: Option<String>, reason: String) -> Action {
    Action {
        profile: profile.to_string(),
        prior_state: prior,
        action: "skipped",
        reason: Some(reason),
    }
}

/// The file that makes a directory under `profiles/` a profile (written by `profile create`).
/// Regression `reconcile-config-yaml`: keyed on `config.yaml`, which profiles do not have.
const PROFILE_MARKER: &str = if cfg!(feature = "regress-reconcile-config-yaml") {
    "config.yaml"
} else {
    "SOUL.md"
};

fn reconcile_one(paths: &Paths, reg: &dyn Registrar, profile: &str) -> Action {
    let home = paths.profile_home(profile);
    let mut reasons = Vec::new();
    let prior = match state::read(&home) {
        Ok(Some(s)) => match state::prior_intent(&s) {
            Some(p) if !state::KNOWN_INTENTS.contains(&p.as_str()) => {
                reasons.push(format!("unknown state {p:?}"));
                None
            }
            p => p,
        },
        Ok(None) => None,
        Err(why) => {
            reasons.push(why);
            None
        }
    };
    for f in STALE_FILES {
        let p = home.join(f);
        if let Err(e) = fs::remove_file(&p)
            && e.kind() != io::ErrorKind::NotFound
        {
            reasons.push(format!("cannot remove stale {}: {e}", p.display()));
        }
    }
    let start = prior.as_deref() == Some("running");
    match reg.register(profile, start) {
        Ok(()) => Action {
            profile: profile.to_string(),
            prior_state: prior,
            action: if start { "started" } else { "registered" },
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        },
        Err(e) => {
            reasons.insert(0, e);
            skipped(profile, prior, reasons.join("; "))
        }
    }
}

/// Appends one line per action to `$HERMES_HOME/logs/container-boot.log`, rotating it to
/// `.1` once it reaches 256 KiB.
pub fn write_log(logs_dir: &Path, actions: &[Action], now: i64) -> io::Result<()> {
    fs::create_dir_all(logs_dir)?;
    let path = logs_dir.join(BOOT_LOG);
    if fs::metadata(&path).is_ok_and(|m| m.len() >= ROTATE_AT) {
        fs::rename(&path, logs_dir.join(format!("{BOOT_LOG}.1")))?;
    }
    let ts = timefmt::iso8601(now);
    let mut body = String::new();
    for a in actions {
        body.push_str(&a.line(&ts));
        body.push('\n');
    }
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)?;
    f.write_all(body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Recorder {
        calls: RefCell<Vec<(String, bool)>>,
        fail: Option<&'static str>,
    }

    impl Registrar for Recorder {
        fn register(&self, profile: &str, start: bool) -> Result<(), String> {
            if self.fail == Some(profile) {
                return Err("s6-svscanctl failed (exit 111)".into());
            }
            self.calls.borrow_mut().push((profile.to_string(), start));
            Ok(())
        }
    }

    fn profile(paths: &Paths, name: &str, state: Option<&str>) {
        let home = paths.profile_home(name);
        fs::create_dir_all(&home).unwrap();
        if name != "default" {
            fs::write(home.join("SOUL.md"), "x").unwrap();
        }
        if let Some(s) = state {
            fs::write(home.join(state::STATE_FILE), s).unwrap();
        }
    }

    #[test]
    fn full_pass() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        profile(&paths, "default", Some(r#"{"gateway_state":"running"}"#));
        profile(
            &paths,
            "b-stopped",
            Some(r#"{"desired_state":"stopped","gateway_state":"running"}"#),
        );
        profile(
            &paths,
            "a-run",
            Some(r#"{"desired_state":"running","gateway_state":"stopped"}"#),
        );
        profile(&paths, "c-drain", Some(r#"{"gateway_state":"draining"}"#));
        profile(&paths, "d-corrupt", Some("{oops"));
        profile(&paths, "e-none", None);
        profile(&paths, "f-array", Some("[]"));
        profile(&paths, "Bad", None);
        fs::create_dir_all(paths.profiles_dir().join("no-soul")).unwrap();
        fs::write(paths.profiles_dir().join("no-soul/config.yaml"), "").unwrap();
        fs::create_dir_all(paths.profiles_dir().join(".x.tmp-1")).unwrap();
        fs::write(paths.profile_home("a-run").join("gateway.pid"), "1").unwrap();
        fs::write(paths.profile_home("a-run").join("processes.json"), "[]").unwrap();

        let rec = Recorder::default();
        let actions = reconcile(&paths, &rec);
        let got: Vec<_> = actions
            .iter()
            .map(|a| (a.profile.as_str(), a.prior_state.as_deref(), a.action))
            .collect();
        assert_eq!(
            got,
            vec![
                ("default", Some("running"), "started"),
                ("Bad", None, "skipped"),
                ("a-run", Some("running"), "started"),
                ("b-stopped", Some("stopped"), "registered"),
                ("c-drain", Some("running"), "started"),
                ("d-corrupt", None, "registered"),
                ("e-none", None, "registered"),
                ("f-array", None, "registered"),
            ]
        );
        assert!(
            actions[1]
                .reason
                .as_deref()
                .unwrap()
                .contains("invalid profile name")
        );
        assert!(actions[5].reason.as_deref().unwrap().contains("corrupt"));
        assert!(!paths.profile_home("a-run").join("gateway.pid").exists());
        assert!(!paths.profile_home("a-run").join("processes.json").exists());
        assert_eq!(rec.calls.borrow()[0], ("default".to_string(), true));
    }

    #[test]
    fn register_failure_is_skipped_not_fatal() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        profile(&paths, "default", None);
        profile(&paths, "a", Some(r#"{"desired_state":"running"}"#));
        profile(&paths, "b", None);
        let rec = Recorder {
            fail: Some("a"),
            ..Default::default()
        };
        let actions = reconcile(&paths, &rec);
        assert_eq!(actions[1].action, "skipped");
        assert_eq!(actions[1].prior_state.as_deref(), Some("running"));
        assert_eq!(actions[2].action, "registered");
    }

    #[test]
    fn log_lines_and_rotation() {
        let t = tempfile::tempdir().unwrap();
        let logs = t.path().join("logs");
        let a = vec![
            Action {
                profile: "default".into(),
                prior_state: None,
                action: "registered",
                reason: None,
            },
            skipped("x", Some("running".into()), "bad\nthing".into()),
        ];
        write_log(&logs, &a, 0).unwrap();
        let body = fs::read_to_string(logs.join(BOOT_LOG)).unwrap();
        assert_eq!(
            body,
            "1970-01-01T00:00:00Z profile=default prior_state=None action=registered\n\
             1970-01-01T00:00:00Z profile=x prior_state=running action=skipped reason=bad thing\n"
        );
        fs::write(logs.join(BOOT_LOG), vec![b'x'; ROTATE_AT as usize]).unwrap();
        write_log(&logs, &a[..1], 0).unwrap();
        assert_eq!(
            fs::metadata(logs.join(format!("{BOOT_LOG}.1")))
                .unwrap()
                .len(),
            ROTATE_AT
        );
        assert_eq!(
            fs::read_to_string(logs.join(BOOT_LOG))
                .unwrap()
                .lines()
                .count(),
            1
        );
    }
}
