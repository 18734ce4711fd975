//! `gateway_state.json` in a profile home, typed: what the gateway records about itself
//! (`gateway_state`, a `Phase`), what the operator asked for (`desired_state`, `Desired`), and
//! every other key — the gateway's pid, port and times, platform data of the original — kept as
//! is. Read tolerant (a value this code does not know is kept and reported, never fatal),
//! written atomically under a lock.

use crate::fileio;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "gateway_state.json";
/// The lock every read-modify-write of the state file holds (see `update`).
pub const LOCK_FILE: &str = ".gateway_state.lock";
/// Anything bigger is not a state file we wrote; refuse to parse it.
pub const MAX_STATE_BYTES: u64 = 1024 * 1024;

/// What the gateway records about itself (contract §6.2, and the original's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Starting,
    Running,
    /// Up with some work queued for retry (the original): counts as running.
    Degraded,
    /// Quiescing before an exit (the original): counts as running.
    Draining,
    /// A fatal configuration error, with `exit_reason`; the slot is parked (exit 78).
    StartupFailed,
    /// An operator's planned stop.
    Stopped,
}

/// What the operator asked for with `gateway start`/`stop`/`restart` (contract §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Desired {
    Running,
    Stopped,
}

impl Desired {
    pub fn as_str(self) -> &'static str {
        match self {
            Desired::Running => "running",
            Desired::Stopped => "stopped",
        }
    }
}

/// A recorded value: one this code knows, or any other (kept as written, reported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recorded<T> {
    Known(T),
    Other(Value),
}

impl<T: Serialize> Recorded<T> {
    /// The value as the file has it (`running`, `42`, …), for logs and the status report.
    pub fn label(&self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::String(s)) => s,
            Ok(v) => v.to_string(),
            Err(_) => "?".into(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_state: Option<Recorded<Phase>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_state: Option<Recorded<Desired>>,
    /// Every key this code does not own, kept as it was.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The intent a boot restores (contract §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    /// Nothing recorded.
    Nothing,
    /// `label` is what the boot log says (`prior_state=<label>`); only `running` starts.
    Known { label: &'static str, start: bool },
    /// A value this code does not know: no intent, and the reason says which.
    Unknown(String),
}

impl GatewayState {
    /// `desired_state` if present, else `gateway_state`, with `draining`/`degraded` counted as
    /// `running` — the boot's one decision.
    pub fn prior(&self) -> Prior {
        let known = |label: &'static str| Prior::Known {
            label,
            start: label == "running",
        };
        match (&self.desired_state, &self.gateway_state) {
            (Some(Recorded::Known(d)), _) => known(d.as_str()),
            (Some(other @ Recorded::Other(_)), _) => Prior::Unknown(other.label()),
            (None, Some(Recorded::Known(p))) => known(match p {
                Phase::Running | Phase::Degraded | Phase::Draining => "running",
                Phase::Starting => "starting",
                Phase::StartupFailed => "startup_failed",
                Phase::Stopped => "stopped",
            }),
            (None, Some(other @ Recorded::Other(_))) => Prior::Unknown(other.label()),
            (None, None) => Prior::Nothing,
        }
    }

    /// `updated_at` as epoch seconds, whether written as an int/float or an ISO-8601 string.
    pub fn updated_at(&self) -> Option<i64> {
        match self.other.get("updated_at")? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => crate::timefmt::parse_iso8601(s).or_else(|| s.parse().ok()),
            _ => None,
        }
    }

    /// A key of the gateway's own (pid, port, …) as written.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.other.get(key)
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.other.insert(key.into(), value.into());
    }
}

pub fn state_path(home: &Path) -> PathBuf {
    home.join(STATE_FILE)
}

/// Reads the state. `Ok(None)`: no file. `Err(reason)`: present but unusable (empty, corrupt,
/// not an object, too large, unreadable) — callers treat that as "no intent", with the reason.
pub fn read(home: &Path) -> Result<Option<GatewayState>, String> {
    let path = state_path(home);
    // A link, FIFO or device in the file's place is refused without blocking on it, and the
    // reason names the path (`fileio::open_regular`).
    let file = match fileio::open_regular(&path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.to_string().starts_with("refusing") => return Err(e.to_string()),
        Err(e) => return Err(format!("unreadable state file: {e}")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("unreadable state file: {e}"))?;
    if meta.len() > MAX_STATE_BYTES {
        return Err(format!("state file too large ({} bytes)", meta.len()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("unreadable state file: {e}"))?;
    parse(&bytes).map(Some)
}

/// Parses state bytes. A UTF-8 BOM is refused: this file is only ever written by hermes, so a
/// BOM means something else edited it, and its content is not trusted as intent.
pub fn parse(bytes: &[u8]) -> Result<GatewayState, String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err("state file starts with a UTF-8 byte-order mark".into());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("state file is empty".into());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => {
            serde_json::from_value(v).map_err(|e| format!("state file is corrupt: {e}"))
        }
        Ok(_) => Err("state file is not a JSON object".into()),
        Err(e) => Err(format!("state file is corrupt: {e}")),
    }
}

/// Read-modify-write: an unusable file starts from `{}`; `updated_at` is refreshed.
///
/// The CLI (recording `desired_state`) and the gateway (recording its own state as it exits)
/// update the same file at the same moment during `gateway stop`; without a lock one of the
/// two writes is lost. The lock is a separate dot-file so the state file itself stays a plain
/// atomically-replaced file.
pub fn update(home: &Path, f: impl FnOnce(&mut GatewayState)) -> io::Result<GatewayState> {
    let _guard = lock(home)?;
    // Unusable content starts fresh, but a FIFO, link or device in the file's place is an
    // error: it is not a file this code wrote, and replacing it would hide it.
    fileio::check_regular(&state_path(home))?;
    let mut state = read(home).ok().flatten().unwrap_or_default();
    f(&mut state);
    state.set("updated_at", crate::timefmt::now_epoch());
    write_atomic(home, &state)?;
    Ok(state)
}

/// Exclusive lock serialising read-modify-write cycles of one profile's state file. A FIFO,
/// link or anything but a regular file in its place is refused at once (`fileio`).
fn lock(home: &Path) -> io::Result<nix::fcntl::Flock<fs::File>> {
    let path = home.join(LOCK_FILE);
    let file = fileio::open_or_create_regular(&path, 0o644)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| fileio::with_path(io::Error::from(e), "cannot lock", &path))
}

/// Records the operator's intent, keeping every other key.
pub fn set_desired(home: &Path, desired: Desired) -> io::Result<()> {
    update(home, |s| s.desired_state = Some(Recorded::Known(desired))).map(|_| ())
}

/// Replaces the state file atomically (`fileio::write_atomic`).
pub fn write_atomic(home: &Path, state: &GatewayState) -> io::Result<()> {
    let mut body = serde_json::to_vec(state).map_err(io::Error::other)?;
    body.push(b'\n');
    fileio::write_atomic(&state_path(home), &body, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn home_with(content: &[u8]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::write(state_path(t.path()), content).unwrap();
        t
    }

    #[test]
    fn missing_is_none() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read(t.path()), Ok(None));
    }

    #[rstest]
    #[case(b"", "empty")]
    #[case(b"  \n", "empty")]
    #[case(b"{not json", "corrupt")]
    #[case(b"[1,2]", "not a JSON object")]
    #[case(b"\"running\"", "not a JSON object")]
    #[case(b"null", "not a JSON object")]
    fn unusable(#[case] content: &[u8], #[case] why: &str) {
        let t = home_with(content);
        let e = read(t.path()).unwrap_err();
        assert!(e.contains(why), "{e}");
    }

    #[test]
    fn huge_is_refused() {
        let mut big = b"{\"x\":\"".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_STATE_BYTES as usize + 10));
        big.extend(b"\"}");
        let t = home_with(&big);
        assert!(read(t.path()).unwrap_err().contains("too large"));
    }

    #[test]
    fn a_fifo_as_state_or_lock_is_refused_by_path() {
        let t = tempfile::tempdir().unwrap();
        let fifo = state_path(t.path());
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = read(t.path()).unwrap_err();
        assert!(
            e.contains("refusing") && e.contains(&fifo.display().to_string()),
            "{e}"
        );
        let e = set_desired(t.path(), Desired::Stopped)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refusing") && e.contains("gateway_state.json"),
            "{e}"
        );
        let u = tempfile::tempdir().unwrap();
        let lock = u.path().join(LOCK_FILE);
        nix::unistd::mkfifo(&lock, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = set_desired(u.path(), Desired::Stopped)
            .unwrap_err()
            .to_string();
        assert!(e.contains("refusing") && e.contains(LOCK_FILE), "{e}");
    }

    #[test]
    fn bom_is_no_intent() {
        let t = home_with(b"\xEF\xBB\xBF{\"gateway_state\":\"running\"}");
        assert!(read(t.path()).unwrap_err().contains("byte-order mark"));
    }

    fn prior_of(v: Value) -> Prior {
        serde_json::from_value::<GatewayState>(v).unwrap().prior()
    }

    fn known(label: &'static str) -> Prior {
        Prior::Known {
            label,
            start: label == "running",
        }
    }

    #[rstest]
    #[case(json!({"desired_state":"stopped","gateway_state":"running"}), known("stopped"))]
    #[case(json!({"desired_state":"running","gateway_state":"stopped"}), known("running"))]
    #[case(json!({"desired_state":null,"gateway_state":"running"}), known("running"))]
    #[case(json!({"gateway_state":"draining"}), known("running"))]
    #[case(json!({"gateway_state":"degraded"}), known("running"))]
    #[case(json!({"gateway_state":"starting"}), known("starting"))]
    #[case(json!({"gateway_state":"startup_failed"}), known("startup_failed"))]
    #[case(json!({"gateway_state":"weird"}), Prior::Unknown("weird".into()))]
    #[case(json!({"gateway_state":42}), Prior::Unknown("42".into()))]
    #[case(json!({"desired_state":"paused"}), Prior::Unknown("paused".into()))]
    #[case(json!({"other":1}), Prior::Nothing)]
    fn intents(#[case] v: Value, #[case] want: Prior) {
        assert_eq!(prior_of(v), want);
    }

    #[test]
    fn updated_at_int_or_iso() {
        let at = |v: Value| {
            serde_json::from_value::<GatewayState>(v)
                .unwrap()
                .updated_at()
        };
        assert_eq!(
            at(json!({"updated_at": 1_778_155_200})),
            Some(1_778_155_200)
        );
        assert_eq!(
            at(json!({"updated_at": "2026-05-07T12:00:00+00:00"})),
            Some(1_778_155_200)
        );
        assert_eq!(at(json!({"updated_at": [1]})), None);
    }

    #[test]
    fn update_keeps_unknown_keys_and_values() {
        let t = home_with(
            br#"{"gateway_state":"weird","platforms":{"x":1},"updated_at":"2026-05-07T12:00:00Z"}"#,
        );
        set_desired(t.path(), Desired::Stopped).unwrap();
        let raw: Value = serde_json::from_slice(&fs::read(state_path(t.path())).unwrap()).unwrap();
        assert_eq!(raw["desired_state"], "stopped");
        assert_eq!(
            raw["gateway_state"], "weird",
            "a value this code does not know is kept"
        );
        assert_eq!(raw["platforms"], json!({"x":1}));
        assert!(raw["updated_at"].is_i64());
        // No temp files left behind: only the state file and its (persistent) lock file.
        let mut names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [".gateway_state.lock", STATE_FILE]);
    }

    #[test]
    fn update_over_corrupt_starts_fresh() {
        let t = home_with(b"garbage");
        set_desired(t.path(), Desired::Running).unwrap();
        let s = read(t.path()).unwrap().unwrap();
        assert_eq!(s.desired_state, Some(Recorded::Known(Desired::Running)));
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        // The CLI and the gateway update one file at once during `gateway stop`.
        let t = tempfile::tempdir().unwrap();
        let home = t.path().to_path_buf();
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let home = home.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        update(&home, |s| s.set(&format!("k{w}-{i}"), i)).unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let s = read(&home).unwrap().unwrap();
        assert_eq!(s.other.keys().filter(|k| k.starts_with('k')).count(), 100);
    }
}
