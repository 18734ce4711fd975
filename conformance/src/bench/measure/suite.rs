//! The suite section: the whole conformance suite once, warm, as a child process.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};

use super::Bench;
use crate::bench::figures::*;
use crate::bench::progress;
use crate::config;
use crate::image::engine::run_status;

impl Bench {
    /// `cargo test -p conformance --test suite` once, as a child process, warm.
    pub async fn suite(&mut self) {
        let log = config::work_dir().join("bench-suite.log");
        progress(format!(
            "suite: cargo test -p conformance --test suite (output in {})",
            log.display()
        ));
        let r = async {
            let file = std::fs::File::create(&log)
                .with_context(|| format!("creating {}", log.display()))?;
            let err = file.try_clone()?;
            let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = tokio::process::Command::new(cargo_bin);
            cmd.args(["test", "-p", "conformance", "--test", "suite"])
                .current_dir(config::repo_root())
                .stdout(file)
                .stderr(err);
            let t = Instant::now();
            let status =
                run_status(cmd, Duration::from_secs(1800), "the conformance suite").await?;
            let took = t.elapsed();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let summary = text
                .lines()
                .rfind(|l| l.starts_with("test result:"))
                .unwrap_or("no `test result:` line")
                .to_string();
            let built = text
                .lines()
                .filter(|l| l.contains("] building image"))
                .count();
            let f = SUITE_WALL.durations(&[took]).note(format!(
                "{summary}; exit {status}; images built during the run: {built}; RUST_TEST_THREADS={}",
                std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "default".into())
            ));
            anyhow::Ok(if status.success() {
                f
            } else {
                f.failing(&anyhow!(
                    "the suite failed ({status}): {summary}; see {}",
                    log.display()
                ))
            })
        }
        .await;
        self.results.record(&SUITE_WALL, r);
    }
}
