//! `conformance-summary`: the table a person reads after a suite run, from the JSON report.
//! Writes `target/conformance/report.json` (an array) and `target/conformance/junit.xml` (for CI
//! systems), and exits 1 if any scenario failed or none ran.

use std::process::ExitCode;

use conformance::table::{Column, Table};
use conformance::{junit, regressions, report};

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
        Column::right("containers"),
        Column::right("execs"),
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
            r.containers.to_string(),
            r.execs.to_string(),
            r.message.lines().next().unwrap_or("").to_string(),
        ]);
    }
    print!("{}", table.render());
    println!("{}", table.rule());
    let total_ms: u128 = records.iter().map(|r| r.duration_ms).sum();
    let users: std::collections::BTreeSet<&str> = records.iter().map(|r| r.user.as_str()).collect();
    let images: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.image.as_str()).collect();
    let containers: u32 = records.iter().map(|r| r.containers).sum();
    let execs: u32 = records.iter().map(|r| r.execs).sum();
    println!(
        "{} scenarios: {} passed, {} failed; as user(s) {:?}; image(s) {:?}; scenario time {:.1} s; \
         {containers} containers, {execs} execs",
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
    let controls_missing = sensitivity_table(&records);
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
    } else if controls_missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The regression ids caught in this run, each beside its control: the catcher's own result
/// on the production image in the same run. An id is proven only with a passed control; one
/// whose catcher did not run here (a filtered run) is said to be unproven, with the command
/// that runs it. Returns whether any control failed or is missing.
fn sensitivity_table(records: &[report::ScenarioRecord]) -> bool {
    let caught = regressions::read_sensitivity();
    if caught.is_empty() {
        return false;
    }
    let mut table = Table::new([
        Column::left("regression id").min_width(8),
        Column::left("caught by (as hermes, on its image)"),
        Column::left("control (the catcher on production, this run)"),
    ]);
    let mut missing = Vec::new();
    for c in &caught {
        let control = records.iter().find(|r| r.scenario == c.scenario);
        let said = match control {
            Some(r) if r.passed => format!("passed on {}", r.image),
            Some(r) => {
                missing.push(c.scenario.clone());
                format!("FAILED on {}", r.image)
            }
            None => {
                missing.push(c.scenario.clone());
                "not run in this run".to_string()
            }
        };
        table.row([c.id.clone(), c.scenario.clone(), said]);
    }
    println!("\nsensitivity: each id caught for its stated reason, beside its control");
    print!("{}", table.render());
    println!("{}", table.rule());
    if missing.is_empty() {
        println!("{} ids caught, every control passed", caught.len());
        false
    } else {
        println!(
            "{} ids caught; {} unproven until their catcher passes on production:",
            caught.len(),
            missing.len()
        );
        missing.sort();
        missing.dedup();
        for m in missing {
            println!("  cargo test -p conformance --test suite -- --exact {m}");
        }
        true
    }
}
