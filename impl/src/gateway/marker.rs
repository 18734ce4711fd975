//! The planned-stop marker (docs/contract.md §6.3): `gateway stop` writes it into the profile home naming
//! the target pid; the gateway consumes it on SIGTERM to tell an operator stop (record
//! `stopped`) from any other SIGTERM (keep `running`, so the intent survives a restart).

use crate::timefmt;
use serde_json::{Value, json};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub const MARKER_FILE: &str = ".gateway-planned-stop.json";
/// A marker older than this is stale and ignored.
pub const MARKER_TTL_SECS: i64 = 60;

pub fn marker_path(home: &Path) -> PathBuf {
    home.join(MARKER_FILE)
}

/// Writes the marker atomically (`fileio::write_atomic`).
pub fn write(home: &Path, pid: u32) -> io::Result<()> {
    let body = json!({"pid": pid, "created_at": timefmt::now_epoch()}).to_string() + "\n";
    crate::fileio::write_atomic(&marker_path(home), body.as_bytes(), 0o644)
}

/// True if a fresh marker names `pid`. The marker is removed whatever it says: it is
/// single-use, and a stale or malformed one must not linger.
pub fn consume(home: &Path, pid: u32, now: i64) -> bool {
    let path = marker_path(home);
    // Never blocks on a FIFO planted in its place, never follows a link (`fileio`); a marker
    // is a few dozen bytes, so more is not one.
    let mut bytes = Vec::new();
    let read = crate::fileio::open_regular(&path, false)
        .and_then(|f| f.take(4096).read_to_end(&mut bytes));
    let _ = fs::remove_file(&path);
    if read.is_err() {
        return false;
    }
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    let marker_pid = m.get("pid").and_then(Value::as_u64);
    let created = m.get("created_at").and_then(Value::as_i64);
    matches!((marker_pid, created), (Some(p), Some(c))
        if p == u64::from(pid) && (now - c).abs() <= MARKER_TTL_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_fresh_marker() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), 42).unwrap();
        assert!(consume(t.path(), 42, timefmt::now_epoch()));
        assert!(!marker_path(t.path()).exists());
        assert!(!consume(t.path(), 42, timefmt::now_epoch()));
    }

    #[test]
    fn wrong_pid_or_stale_or_garbage() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), 42).unwrap();
        assert!(!consume(t.path(), 43, timefmt::now_epoch()));
        write(t.path(), 42).unwrap();
        assert!(!consume(t.path(), 42, timefmt::now_epoch() + 61));
        fs::write(marker_path(t.path()), "nope").unwrap();
        assert!(!consume(t.path(), 42, timefmt::now_epoch()));
        assert!(!marker_path(t.path()).exists());
    }
}
