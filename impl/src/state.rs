//! `gateway_state.json` in a profile home: tolerant read, atomic write, and keys this code
//! does not own (e.g. `desired_state` for the gateway, platform data for the manager) kept.

use crate::fileio;
use serde_json::{Map, Value};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "gateway_state.json";
/// The lock every read-modify-write of the state file holds (see `update`).
pub const LOCK_FILE: &str = ".gateway_state.lock";
/// Anything bigger is not a state file we wrote; refuse to parse it.
pub const MAX_STATE_BYTES: u64 = 1024 * 1024;

pub type State = Map<String, Value>;

pub fn state_path(home: &Path) -> PathBuf {
    home.join(STATE_FILE)
}

/// Reads the state. `Ok(None)`: no file. `Err(reason)`: present but unusable (empty, corrupt,
/// not an object, too large, unreadable) — callers treat that as "no intent", with the reason.
pub fn read(home: &Path) -> Result<Option<State>, String> {
    let path = state_path(home);
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("unreadable state file: {e}")),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("unreadable state file: {e}"))?;
    if !meta.is_file() {
        return Err("state file is not a regular file".into());
    }
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
/// BOM means something else edited it, and its content is not trusted as intent (issue 4).
pub fn parse(bytes: &[u8]) -> Result<State, String> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err("state file starts with a UTF-8 byte-order mark".into());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("state file is empty".into());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("state file is not a JSON object".into()),
        Err(e) => Err(format!("state file is corrupt: {e}")),
    }
}

/// Prior intent for boot (SPEC §5): `desired_state` if present, else `gateway_state` with
/// `draining`/`degraded` counted as `running`.
pub fn prior_intent(state: &State) -> Option<String> {
    if let Some(d) = state.get("desired_state").filter(|v| !v.is_null()) {
        return Some(value_label(d));
    }
    match state.get("gateway_state")? {
        Value::String(s) if s == "draining" || s == "degraded" => Some("running".into()),
        Value::Null => None,
        v => Some(value_label(v)),
    }
}

/// The intents SPEC §5 knows; anything else is "no prior intent" (registered down, with a reason).
pub const KNOWN_INTENTS: &[&str] = &["running", "stopped", "starting", "startup_failed"];

fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `updated_at` as epoch seconds, whether written as an int/float or an ISO-8601 string.
pub fn updated_at(state: &State) -> Option<i64> {
    match state.get("updated_at")? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => crate::timefmt::parse_iso8601(s).or_else(|| s.parse().ok()),
        _ => None,
    }
}

/// Read-modify-write: an unusable file starts from `{}`; `updated_at` is refreshed.
///
/// The CLI (recording `desired_state`) and the gateway (recording its own state as it exits)
/// update the same file at the same moment during `gateway stop`; without a lock one of the
/// two writes is lost. The lock is a separate dot-file so the state file itself stays a plain
/// atomically-replaced file.
pub fn update(home: &Path, f: impl FnOnce(&mut State)) -> io::Result<State> {
    let _guard = lock(home)?;
    let mut state = read(home).ok().flatten().unwrap_or_default();
    f(&mut state);
    state.insert(
        "updated_at".into(),
        Value::from(crate::timefmt::now_epoch()),
    );
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

/// Records the operator's intent (`running`/`stopped`), keeping every other key.
pub fn set_desired(home: &Path, desired: &str) -> io::Result<()> {
    update(home, |s| {
        s.insert("desired_state".into(), Value::from(desired));
    })
    .map(|_| ())
}

/// Replaces the state file atomically (`fileio::write_atomic`).
pub fn write_atomic(home: &Path, state: &State) -> io::Result<()> {
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
    fn bom_is_no_intent() {
        let t = home_with(b"\xEF\xBB\xBF{\"gateway_state\":\"running\"}");
        assert!(read(t.path()).unwrap_err().contains("byte-order mark"));
    }

    #[rstest]
    #[case(json!({"desired_state":"stopped","gateway_state":"running"}), Some("stopped"))]
    #[case(json!({"desired_state":"running","gateway_state":"stopped"}), Some("running"))]
    #[case(json!({"desired_state":null,"gateway_state":"running"}), Some("running"))]
    #[case(json!({"gateway_state":"draining"}), Some("running"))]
    #[case(json!({"gateway_state":"degraded"}), Some("running"))]
    #[case(json!({"gateway_state":"starting"}), Some("starting"))]
    #[case(json!({"gateway_state":"startup_failed"}), Some("startup_failed"))]
    #[case(json!({"gateway_state":"weird"}), Some("weird"))]
    #[case(json!({"gateway_state":42}), Some("42"))]
    #[case(json!({"other":1}), None)]
    fn intents(#[case] v: Value, #[case] want: Option<&str>) {
        let Value::Object(m) = v else { unreachable!() };
        assert_eq!(prior_intent(&m).as_deref(), want);
    }

    #[test]
    fn updated_at_int_or_iso() {
        let Value::Object(a) = json!({"updated_at": 1_778_155_200}) else {
            unreachable!()
        };
        let Value::Object(b) = json!({"updated_at": "2026-05-07T12:00:00+00:00"}) else {
            unreachable!()
        };
        let Value::Object(c) = json!({"updated_at": [1]}) else {
            unreachable!()
        };
        assert_eq!(updated_at(&a), Some(1_778_155_200));
        assert_eq!(updated_at(&b), Some(1_778_155_200));
        assert_eq!(updated_at(&c), None);
    }

    #[test]
    fn update_keeps_unknown_keys() {
        let t = home_with(br#"{"gateway_state":"running","platforms":{"x":1},"updated_at":"2026-05-07T12:00:00Z"}"#);
        set_desired(t.path(), "stopped").unwrap();
        let s = read(t.path()).unwrap().unwrap();
        assert_eq!(s["desired_state"], "stopped");
        assert_eq!(s["gateway_state"], "running");
        assert_eq!(s["platforms"], json!({"x":1}));
        assert!(s["updated_at"].is_i64());
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
        set_desired(t.path(), "running").unwrap();
        assert_eq!(read(t.path()).unwrap().unwrap()["desired_state"], "running");
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
                        update(&home, |s| {
                            s.insert(format!("k{w}-{i}"), Value::from(i));
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let s = read(&home).unwrap().unwrap();
        assert_eq!(s.keys().filter(|k| k.starts_with('k')).count(), 100);
    }
}
