//! `conformance-summary`: the table a person reads after a suite run, from the JSON report.
//! Writes `target/conformance/report.json` (an array) and `target/conformance/junit.xml` (for CI
//! systems), and exits 1 if any scenario failed or none ran.

use std::process::ExitCode;

use conformance::table::{Column, Table};
use conformance::{junit, report};

fn main() -> ExitCode {
    let records = match report::read_all() {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "conformance-summary: no report at {} ({e}): did the suite run?",
                report::jsonl_path().display()
            );
            return ExitCode::FAILURE;
        }
    };
    if records.is_empty() {
        eprintln!("conformance-summary: the report is empty: no scenario ran");
        return ExitCode::FAILURE;
    }
    let mut table = Table::new([
        Column::left("scenario").min_width(8),
        Column::left("result"),
        Column::right("time").min_width(9),
        Column::left("first line of failure"),
    ]);
    let mut failed = 0;
    for r in &records {
        if !r.passed {
            failed += 1;
        }
        table.row([
            r.scenario.clone(),
            if r.passed { "pass" } else { "FAIL" }.to_string(),
            format!("{:.1} s", r.duration_ms as f64 / 1000.0),
            r.message.lines().next().unwrap_or("").to_string(),
        ]);
    }
    print!("{}", table.render());
    println!("{}", table.rule());
    let total_ms: u128 = records.iter().map(|r| r.duration_ms).sum();
    let users: std::collections::BTreeSet<&str> = records.iter().map(|r| r.user.as_str()).collect();
    let images: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.image.as_str()).collect();
    println!(
        "{} scenarios: {} passed, {} failed; as user(s) {:?}; image(s) {:?}; scenario time {:.1} s",
        records.len(),
        records.len() - failed,
        failed,
        users,
        images,
        total_ms as f64 / 1000.0
    );
    let json_path = report::jsonl_path().with_file_name("report.json");
    match serde_json::to_string_pretty(&records) {
        Ok(text) => {
            if let Err(e) = std::fs::write(&json_path, text) {
                eprintln!("conformance-summary: writing {}: {e}", json_path.display());
            } else {
                println!("report: {}", json_path.display());
            }
        }
        Err(e) => eprintln!("conformance-summary: serialising the report: {e}"),
    }
    let junit_path = report::jsonl_path().with_file_name("junit.xml");
    match std::fs::write(&junit_path, junit::render(&records)) {
        Ok(()) => println!("junit: {}", junit_path.display()),
        Err(e) => eprintln!("conformance-summary: writing {}: {e}", junit_path.display()),
    }
    if failed > 0 {
        // Scenario names are the tests' own names, so each one is its own rerun filter.
        println!("\nto rerun a failed scenario alone (as hermes, a fresh container):");
        for r in records.iter().filter(|r| !r.passed) {
            println!(
                "  cargo test -p conformance --test suite -- --exact {}",
                r.scenario
            );
        }
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
