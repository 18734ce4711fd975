//! Boot reconciliation (contract §5): every boot rebuilds each profile's slot from the intent
//! recorded on the volume — `gateway-default` first, then each `profiles/<name>/` holding
//! `SOUL.md`, sorted. A bad profile is skipped and logged; it never aborts the boot.
//!
//! Split by privilege, because profile data belongs to hermes and slots to root:
//! 1. `plan` runs as hermes: reads each recorded intent, removes stale runtime files and
//!    decides, per profile, `started`, `registered` or `skipped` (with the reason);
//! 2. `apply` runs as root: registers every planned slot in one batch through the registrar's
//!    code path (`s6::scandir`: one rescan, supervisors awaited together); a slot that cannot
//!    be had turns its line into `skipped` with s6's reason — never `registered`;
//! 3. `write_log` runs as hermes: the boot log lives in `$HERMES_HOME`, where root must not
//!    write.
//!
//! `hermes-boot reconcile` (root) drives the three and passes the actions between them as JSON.

use crate::names;
use crate::paths::Paths;
use crate::profile;
use crate::s6::scandir::{Request, Scandir};
use crate::state;
use crate::timefmt;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub const BOOT_LOG: &str = "container-boot.log";
pub const ROTATE_AT: u64 = 256 * 1024;
/// Runtime files a previous boot may have left; nothing runs yet, so they are stale.
const STALE_FILES: &[&str] = &["gateway.pid", "processes.json"];

/// What the boot does with one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// Slot registered without `down`: the gateway starts (prior intent `running`).
    Started,
    /// Slot registered down.
    Registered,
    /// No slot: the profile is unusable or s6 refused its slot (see the reason).
    Skipped,
}

impl Act {
    pub fn as_str(self) -> &'static str {
        match self {
            Act::Started => "started",
            Act::Registered => "registered",
            Act::Skipped => "skipped",
        }
    }
}

/// One profile's line in the boot log. `profile` is log-safe: a name read from disk that is
/// not a valid profile name is escaped (`names::escape_for_log`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub profile: String,
    pub prior_state: Option<String>,
    pub action: Act,
    pub reason: Option<String>,
}

impl Action {
    pub fn line(&self, ts: &str) -> String {
        let mut s = format!(
            "{ts} profile={} prior_state={} action={}",
            self.profile,
            self.prior_state.as_deref().unwrap_or("None"),
            self.action.as_str()
        );
        if let Some(r) = &self.reason {
            s.push_str(" reason=");
            s.push_str(&r.replace(['\n', '\r'], " "));
        }
        s
    }
}

/// Step 1, as hermes: what the boot should do with each profile. Lines worth the container
/// log (temp files swept, the bootstrap seed) go to `log`.
pub fn plan(paths: &Paths, bootstrap: Option<&str>, log: &mut dyn FnMut(String)) -> Vec<Action> {
    for removed in sweep_temp_files(paths) {
        log(removed);
    }
    if let Some(line) = seed_bootstrap_state(paths, bootstrap) {
        log(line);
    }
    let mut actions = vec![plan_one(paths, names::DEFAULT_PROFILE)];
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
        // Hidden entries are staging dirs of `profile create`/`delete`, never profiles.
        if os_name.as_bytes().starts_with(b".") {
            continue;
        }
        let display = names::escape_for_log(os_name.as_bytes());
        let dir = profiles.join(&os_name);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                if dir.join(profile::marker_for_reconcile()).exists() {
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
        match fs::symlink_metadata(dir.join(profile::marker_for_reconcile())) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                actions.push(skipped(&display, None, format!("unreadable: {e}")));
                continue;
            }
        }
        let name = match os_name.to_str().map(names::validate_new) {
            Some(Ok(())) => os_name.to_str().unwrap_or_default(),
            Some(Err(e)) => {
                actions.push(skipped(&display, None, e.to_string()));
                continue;
            }
            None => {
                let why = "invalid profile name: not UTF-8".to_string();
                actions.push(skipped(&display, None, why));
                continue;
            }
        };
        // Default and the profiles this boot registers so far: the scanner has room for
        // `MAX_PROFILES` besides default, and a slot beyond it would stay unsupervised.
        let planned = actions.iter().filter(|a| a.action != Act::Skipped).count();
        if planned > profile::MAX_PROFILES {
            let why = format!(
                "beyond the limit of {} profiles this image supervises",
                profile::MAX_PROFILES
            );
            actions.push(skipped(name, None, why));
            continue;
        }
        actions.push(plan_one(paths, name));
    }
    actions
}

/// `HERMES_GATEWAY_BOOTSTRAP_STATE=running` (contract §5, as in the original image): on a
/// volume where the default profile has no `gateway_state.json`, seed one saying `running`, so
/// the first boot starts the gateway. An existing file is never replaced, a link there is
/// refused (the file is created with `O_EXCL`, which never follows one), any other value is
/// ignored. Returns the line to log, if any.
pub fn seed_bootstrap_state(paths: &Paths, value: Option<&str>) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let value = value.filter(|v| !v.is_empty())?;
    if value != "running" {
        return Some(format!(
            "ignoring HERMES_GATEWAY_BOOTSTRAP_STATE={}: only `running` is understood",
            names::escape_for_log(value.as_bytes())
        ));
    }
    let path = state::state_path(&paths.hermes_home);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Some(format!(
                "refusing to seed {}: it is a symbolic link (HERMES_GATEWAY_BOOTSTRAP_STATE)",
                path.display()
            ));
        }
        Ok(_) => return None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Some(format!("cannot seed {}: {e}", path.display())),
    }
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
        .and_then(|mut f| f.write_all(b"{\"gateway_state\":\"running\"}\n"));
    Some(match written {
        Ok(()) => format!(
            "seeded {} with gateway_state=running (HERMES_GATEWAY_BOOTSTRAP_STATE)",
            path.display()
        ),
        Err(e) => format!("cannot seed {}: {e}", path.display()),
    })
}

/// Removes what killed writers left — `profiles/.<name>.tmp-<pid>` and `.<name>.del-<pid>`
/// (profile create/delete) and `.gateway_state.json.tmp-<pid>`,
/// `.gateway-planned-stop.json.tmp-<pid>` in `$HERMES_HOME` and each profile home — and says
/// what it removed. Nothing runs yet at boot, so none of it is in use. Links are removed, never
/// followed.
pub fn sweep_temp_files(paths: &Paths) -> Vec<String> {
    let mut lines = Vec::new();
    let mut remove = |path: &Path| {
        let res = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        let shown = names::escape_for_log(path.as_os_str().as_bytes());
        lines.push(match res {
            Ok(()) => format!("removed stale temp file {shown}"),
            Err(e) => format!("cannot remove stale temp file {shown}: {e}"),
        });
    };
    let is_state_temp = |n: &[u8]| {
        [
            &b".gateway_state.json.tmp-"[..],
            b".gateway-planned-stop.json.tmp-",
        ]
        .iter()
        .any(|p| n.starts_with(p))
    };
    let entries = |dir: &Path| -> Vec<std::ffi::OsString> {
        fs::read_dir(dir)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default()
    };
    let mut homes = vec![paths.hermes_home.clone()];
    for name in entries(&paths.profiles_dir()) {
        let b = name.as_bytes();
        let path = paths.profiles_dir().join(&name);
        if b.starts_with(b".") && (contains(b, b".tmp-") || contains(b, b".del-")) {
            remove(&path);
        } else if !b.starts_with(b".") && path.is_dir() {
            homes.push(path);
        }
    }
    for home in homes {
        for name in entries(&home) {
            if is_state_temp(name.as_bytes()) {
                remove(&home.join(name));
            }
        }
    }
    lines
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn skipped(profile: &str, prior: Option<String>, reason: String) -> Action {
    Action {
        profile: profile.to_string(),
        prior_state: prior,
        action: Act::Skipped,
        reason: Some(reason),
    }
}

/// The plan root falls back on when hermes' plan could not be had: `gateway-default`,
/// registered and left down (its recorded intent is hermes' to read, not root's).
pub fn default_only(why: &str) -> Action {
    Action {
        profile: names::DEFAULT_PROFILE.to_string(),
        prior_state: None,
        action: Act::Registered,
        reason: Some(format!("profiles not read ({why})")),
    }
}

fn plan_one(paths: &Paths, profile: &str) -> Action {
    let home = paths.profile_home(profile);
    let mut reasons = Vec::new();
    let (prior, start) = match state::read(&home).map(|s| s.map(|s| s.prior())) {
        Ok(Some(state::Prior::Known { label, start })) => (Some(label.to_string()), start),
        Ok(Some(state::Prior::Unknown(value))) => {
            reasons.push(format!("unknown state {value:?}"));
            (None, false)
        }
        Ok(Some(state::Prior::Nothing) | None) => (None, false),
        Err(why) => {
            reasons.push(why);
            (None, false)
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
    Action {
        profile: profile.to_string(),
        prior_state: prior,
        action: if start { Act::Started } else { Act::Registered },
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    }
}

/// Step 2, as root: registers every planned slot in one batch. The plan came from an
/// unprivileged process, so nothing in it is trusted: the registrar's code path validates
/// every name and only ever makes `gateway-<valid name>` slots.
pub fn apply(plan: Vec<Action>, scandir: &Scandir) -> Vec<Action> {
    let wanted: Vec<usize> = (0..plan.len())
        .filter(|&i| plan[i].action != Act::Skipped)
        .collect();
    let requests: Vec<Request> = wanted
        .iter()
        .map(|&i| (plan[i].profile.clone(), plan[i].action == Act::Started))
        .collect();
    let results = scandir.register_all(&requests);
    let mut out = plan;
    for (&i, result) in wanted.iter().zip(results) {
        if let Err(e) = result {
            let a = &mut out[i];
            let mut reason = e.to_string();
            if let Some(r) = a.reason.take() {
                reason = format!("{reason}; {r}");
            }
            a.action = Act::Skipped;
            a.reason = Some(reason);
        }
    }
    out
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
mod tests;
