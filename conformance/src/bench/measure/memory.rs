//! The memory section: resident sets of idle gateways, the s6 processes around them, and the
//! dashboard.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::verbs::{gateway_verb, names_with_distinct_ports, pid_of};
use super::{Bench, PRODUCT_SVSTAT, RSS_OF, fail_unless, section_stopped, sh};
use crate::bench::figures::*;
use crate::bench::progress;
use crate::container::ContainerSpec;
use crate::support::{expected_port, slot_dir, wait_http};

pub(super) fn parse_kb_lines(text: &str) -> Result<Vec<f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse::<f64>()
                .map(|kb| kb * 1024.0)
                .with_context(|| format!("unparsable VmRSS {l:?}"))
        })
        .collect()
}

impl Bench {
    /// Resident sets: idle gateways (and the s6 processes around them), and the dashboard.
    pub async fn memory(&mut self) {
        if let Err(e) = self.memory_gateways().await {
            self.results
                .push(section_stopped(&MEMORY_GATEWAY, "memory", e));
        }
        if let Err(e) = self.memory_dashboard().await {
            self.results.push(MEMORY_DASHBOARD.failed(&e));
        }
    }

    async fn memory_gateways(&mut self) -> Result<()> {
        let k = self.opts.mem_gateways;
        progress(format!("memory: {k} idle gateways"));
        let h = self.start("memory", ContainerSpec::default()).await?;
        let deadline = Duration::from_secs(40);
        let names = names_with_distinct_ports("mem", k);
        let mut pids = Vec::new();
        for p in &names {
            fail_unless(h.exec(&["hermes", "profile", "create", p]).await?)?;
            gateway_verb(&h, "start", "up", p, "").await?;
            // Serving /health: the run script has exec'd into the gateway, which is initialised.
            wait_http(&h, expected_port(p), "/health", Duration::from_secs(20)).await?;
            pids.push(pid_of(&h, PRODUCT_SVSTAT, &slot_dir(p)).await?);
        }
        let pid_args: Vec<&str> = pids.iter().map(String::as_str).collect();
        let comm = sh(
            &h,
            r#"for p in "$@"; do cat /proc/$p/comm; done"#,
            &pid_args,
            deadline,
        )
        .await?;
        if let Some(bad) = comm.stdout.lines().find(|c| c.trim() != "hermes") {
            bail!("a gateway slot's pid runs {bad:?}, not hermes");
        }
        let rss_of = |set: &'static str| format!("set -- $(pgrep -x {set}); {RSS_OF}");
        let gw = parse_kb_lines(&sh(&h, RSS_OF, &pid_args, deadline).await?.stdout)?;
        let sup = parse_kb_lines(&sh(&h, &rss_of("s6-supervise"), &[], deadline).await?.stdout)?;
        let log = parse_kb_lines(&sh(&h, &rss_of("s6-log"), &[], deadline).await?.stdout)?;
        let pid1 = parse_kb_lines(&sh(&h, RSS_OF, &["1"], deadline).await?.stdout)?;
        h.remove().await?;
        self.results.push(
            MEMORY_GATEWAY.measured(gw)
                .note("VmRSS from /proc/PID/status of each gateway once it answers /health; one sample per gateway"),
        );
        self.results.push(MEMORY_S6_SUPERVISE.measured(sup).note(
            "every s6-supervise in the container: static services, gateway slots and their loggers",
        ));
        self.results.push(MEMORY_S6_LOG.measured(log));
        self.results.push(MEMORY_S6_SVSCAN.measured(pid1));
        Ok(())
    }

    async fn memory_dashboard(&mut self) -> Result<()> {
        progress(format!("memory: dashboard x{}", self.opts.dashboard_reps));
        let mut rss = Vec::new();
        for _ in 0..self.opts.dashboard_reps {
            let h = self
                .start(
                    "dashboard",
                    ContainerSpec::default().env("HERMES_DASHBOARD", "1"),
                )
                .await?;
            wait_http(&h, 9119, "/api/status", Duration::from_secs(20)).await?;
            let pid = pid_of(&h, PRODUCT_SVSTAT, "/run/service/dashboard").await?;
            let o = sh(&h, RSS_OF, &[&pid], Duration::from_secs(30)).await?;
            rss.extend(parse_kb_lines(&o.stdout)?);
            h.remove().await?;
        }
        self.results.push(
            MEMORY_DASHBOARD.measured(rss)
                .note("HERMES_DASHBOARD=1, read after it answered one GET /api/status; one container per sample"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_lines() {
        assert_eq!(
            parse_kb_lines("4\n\n8\n").expect("parse"),
            vec![4096.0, 8192.0]
        );
        assert!(parse_kb_lines("x").is_err());
    }
}
