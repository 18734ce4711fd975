//! The JSON report: one record per scenario (name, pass/fail, duration, message), appended by
//! every test process to `target/conformance/report.jsonl` and summarised by
//! `conformance-summary` into a table and `target/conformance/report.json`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

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

/// Append one record. A single `write` of one line with O_APPEND keeps concurrent test
/// threads and processes from interleaving inside a record.
pub fn append(record: &ScenarioRecord) {
    let path = jsonl_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(mut line) = serde_json::to_string(record) else {
        return;
    };
    line.push('\n');
    match OpenOptions::new().create(true).append(true).open(&path) {
        Ok(mut f) => {
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!("conformance: cannot append to {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("conformance: cannot open {}: {e}", path.display()),
    }
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
