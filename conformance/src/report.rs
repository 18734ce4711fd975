//! The JSON report: one record per scenario (name, pass/fail, duration, message), appended by
//! every test process to `target/conformance/report.jsonl` and summarised by
//! `conformance-summary` into a table and `target/conformance/report.json`.
//!
//! Every run starts its own report: each record carries the run it belongs to (nextest's
//! `NEXTEST_RUN_ID`, shared by all the processes of one run, else this test process), and the
//! first record of a new run empties what an earlier run left, so three plain `cargo test`
//! runs in a row summarise one run, not three.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub scenario: String,
    pub passed: bool,
    pub duration_ms: u128,
    /// The failure message (first lines of it), empty when passed.
    pub message: String,
    /// The user scenarios exec'd as.
    pub user: String,
    pub image: String,
    /// Why the scenario exec'd as root, one entry per distinct reason (`Exec::as_root`).
    #[serde(default)]
    pub root_execs: Vec<String>,
    /// Containers the scenario started, and execs it ran in them (`container::Costs`).
    #[serde(default)]
    pub containers: u32,
    #[serde(default)]
    pub execs: u32,
    /// The run this record belongs to (`run_id`).
    #[serde(default)]
    pub run: String,
}

/// This run's id: nextest's `NEXTEST_RUN_ID` (one per `cargo nextest run`, whatever the
/// number of processes), else this process's pid and start time (libtest runs every
/// scenario of a run in one process).
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| match std::env::var("NEXTEST_RUN_ID") {
        Ok(id) if !id.is_empty() => format!("nextest-{id}"),
        _ => {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            format!("process-{}-{ms}", std::process::id())
        }
    })
}

/// `target/conformance/report.jsonl`, unless `HERMES_CONFORMANCE_REPORT` names another file
/// (`conformance-soak` gives each of its runs its own).
pub fn jsonl_path() -> PathBuf {
    match std::env::var_os(REPORT_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::config::work_dir().join("report.jsonl"),
    }
}

pub const REPORT_ENV: &str = "HERMES_CONFORMANCE_REPORT";

/// Append one record, starting the report afresh if it holds another run's records. Under
/// an exclusive `flock` (test threads and nextest's processes append at once), a single
/// `write` of one line with O_APPEND.
pub fn append(record: &ScenarioRecord) {
    append_to(&jsonl_path(), record, run_id());
}

fn append_to(path: &std::path::Path, record: &ScenarioRecord, run: &str) {
    append_for_run(path, record, run);
}

/// Append `record` with a `run` field of `run` to the JSON-lines file at `path`, emptying
/// the file first if its first line is of another run (or has no run): every per-run file
/// of the suite (`report.jsonl`, `sensitivity.jsonl`) starts afresh with each run.
pub fn append_for_run<T: Serialize>(path: &std::path::Path, record: &T, run: &str) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(mut value) = serde_json::to_value(record) else {
        return;
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("run".into(), serde_json::Value::String(run.to_string()));
    }
    let mut line = value.to_string();
    line.push('\n');
    let file = match OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("conformance: cannot open {}: {e}", path.display());
            return;
        }
    };
    let mut f = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive) {
        Ok(f) => f,
        Err((_, e)) => {
            eprintln!("conformance: cannot lock {}: {e}", path.display());
            return;
        }
    };
    if first_run(&mut f).is_some_and(|first| first != run)
        && let Err(e) = f.set_len(0)
    {
        eprintln!(
            "conformance: cannot empty {} for a new run: {e}",
            path.display()
        );
    }
    if let Err(e) = f.write_all(line.as_bytes()) {
        eprintln!("conformance: cannot append to {}: {e}", path.display());
    }
}

/// The run of the report's first record (`None` for an empty report; a record from before
/// runs were recorded counts as another run).
fn first_run(f: &mut std::fs::File) -> Option<String> {
    f.rewind().ok()?;
    let mut first = String::new();
    BufReader::new(&*f).read_line(&mut first).ok()?;
    if first.trim().is_empty() {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&first).unwrap_or_default();
    Some(value["run"].as_str().unwrap_or_default().to_string())
}

/// Read every record of the current report; unparsable lines are reported, not hidden.
pub fn read_all() -> std::io::Result<Vec<ScenarioRecord>> {
    read_from(&jsonl_path())
}

/// Every record of the report at `path`.
pub fn read_from(path: &std::path::Path) -> std::io::Result<Vec<ScenarioRecord>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("report.jsonl line {}: unreadable ({e})", i + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str) -> ScenarioRecord {
        ScenarioRecord {
            scenario: name.into(),
            passed: true,
            duration_ms: 1,
            message: String::new(),
            user: "hermes".into(),
            image: "hermes-s6:test".into(),
            root_execs: Vec::new(),
            containers: 0,
            execs: 0,
            run: String::new(),
        }
    }

    fn names(path: &std::path::Path) -> Vec<(String, String)> {
        read_from(path)
            .unwrap()
            .into_iter()
            .map(|r| (r.run, r.scenario))
            .collect()
    }

    #[test]
    fn a_new_run_starts_its_own_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        append_to(&path, &rec("a"), "run-1");
        append_to(&path, &rec("b"), "run-1");
        assert_eq!(
            names(&path),
            [("run-1".into(), "a".into()), ("run-1".into(), "b".into())]
        );
        append_to(&path, &rec("c"), "run-2");
        assert_eq!(names(&path), [("run-2".into(), "c".into())]);
    }

    #[test]
    fn a_report_from_before_runs_were_recorded_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.jsonl");
        std::fs::write(
            &path,
            "{\"scenario\":\"old\",\"passed\":true,\"duration_ms\":1,\"message\":\"\",\"user\":\"hermes\",\"image\":\"i\"}\n",
        )
        .unwrap();
        append_to(&path, &rec("new"), "run-3");
        assert_eq!(names(&path), [("run-3".into(), "new".into())]);
    }
}
