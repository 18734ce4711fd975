//! `conformance-soak` (`make soak N=10`): runs the suite N times in a row on the warm image and
//! prints, per scenario, its failures out of the runs it took part in, with the first line of
//! each failure — the table that says whether a scenario flakes.
//!
//! Each run is `cargo test -p conformance --test suite` with its own report file
//! (`HERMES_CONFORMANCE_REPORT`), so runs never mix and the main report is left alone. The
//! image is built by the first run (if its inputs changed) and reused by the others.
//! Writes the table to `target/conformance/soak.json` too; exits 1 if anything failed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use conformance::{config, report};

struct Args {
    runs: usize,
    threads: Option<usize>,
    filters: Vec<String>,
}

const USAGE: &str = "usage: conformance-soak [--runs N] [--threads T] [FILTER...]
  --runs N      how many times to run the suite (default 10)
  --threads T   scenarios in parallel (RUST_TEST_THREADS; default: the suite's own, 4)
  FILTER...     passed to the test binary, as for `cargo test -- FILTER`";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        runs: 10,
        threads: None,
        filters: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |what: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{what} needs a number"))?;
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{what} {v:?}: expected a number above 0")),
            }
        };
        match arg.as_str() {
            "--runs" => a.runs = number("--runs")?,
            "--threads" => a.threads = Some(number("--threads")?),
            "-h" | "--help" => return Err(String::new()),
            _ if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            _ => a.filters.push(arg),
        }
    }
    Ok(a)
}

/// One scenario's record over the runs.
#[derive(Default, serde::Serialize)]
struct Tally {
    ran: usize,
    failed: usize,
    /// `run <i>: <first line>` for each failure.
    failures: Vec<String>,
    /// Slowest run of it, in ms.
    max_ms: u128,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("conformance-soak: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dir = config::work_dir().join("soak");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("conformance-soak: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut broken_runs = Vec::new();
    for run in 1..=args.runs {
        let path: PathBuf = dir.join(format!("run-{run}.jsonl"));
        let _ = std::fs::remove_file(&path);
        let mut cmd = Command::new(&cargo);
        cmd.args([
            "test",
            "--quiet",
            "-p",
            "conformance",
            "--test",
            "suite",
            "--",
        ])
        .args(&args.filters)
        .env(report::REPORT_ENV, &path);
        if let Some(t) = args.threads {
            cmd.env("RUST_TEST_THREADS", t.to_string());
        }
        let started = Instant::now();
        eprintln!(
            "conformance-soak: run {run}/{}{}",
            args.runs,
            args.threads
                .map_or(String::new(), |t| format!(" ({t} scenarios at a time)"))
        );
        let status = cmd.status();
        let records = report::read_from(&path).unwrap_or_default();
        eprintln!(
            "conformance-soak: run {run}: {} scenarios, {} failed, {:.0} s",
            records.len(),
            records.iter().filter(|r| !r.passed).count(),
            started.elapsed().as_secs_f64()
        );
        match status {
            Ok(s) if records.is_empty() => {
                broken_runs.push(format!("run {run}: no scenario ran ({s})"));
            }
            Err(e) => broken_runs.push(format!("run {run}: cannot run cargo: {e}")),
            Ok(_) => {}
        }
        for r in records {
            let t = tallies.entry(r.scenario.clone()).or_default();
            t.ran += 1;
            t.max_ms = t.max_ms.max(r.duration_ms);
            if !r.passed {
                t.failed += 1;
                let first = r.message.lines().next().unwrap_or("(no message)");
                t.failures.push(format!("run {run}: {first}"));
            }
        }
    }
    print_table(&tallies, args.runs);
    for b in &broken_runs {
        println!("{b}");
    }
    let json = dir.with_file_name("soak.json");
    if let Ok(text) = serde_json::to_string_pretty(&tallies) {
        let _ = std::fs::write(&json, text);
        println!("soak table: {}", json.display());
    }
    let failed = tallies.values().any(|t| t.failed > 0);
    if failed || !broken_runs.is_empty() || tallies.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_table(tallies: &BTreeMap<String, Tally>, runs: usize) {
    let width = tallies.keys().map(String::len).max().unwrap_or(8).max(8);
    println!(
        "{:<width$}  {:>9}  {:>8}  first line of each failure",
        "scenario", "failed", "max"
    );
    println!("{}", "-".repeat(width + 50));
    for (name, t) in tallies {
        let count = format!("{}/{}", t.failed, t.ran);
        println!(
            "{name:<width$}  {count:>9}  {:>6.1} s  {}",
            t.max_ms as f64 / 1000.0,
            t.failures.first().map(String::as_str).unwrap_or("")
        );
        for more in t.failures.iter().skip(1) {
            println!("{:<width$}  {:>9}  {:>8}  {more}", "", "", "");
        }
    }
    println!("{}", "-".repeat(width + 50));
    let flaky = tallies.values().filter(|t| t.failed > 0).count();
    let partial = tallies.values().filter(|t| t.ran < runs).count();
    println!(
        "{} scenarios over {runs} runs: {flaky} failed at least once{}",
        tallies.len(),
        if partial > 0 {
            format!("; {partial} did not run in every run")
        } else {
            String::new()
        }
    );
}
