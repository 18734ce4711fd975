//! The exec section: the exec floor, each CLI verb, and the gateway verbs against s6's own
//! start, restart and stop of a trivial service.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{
    Bench, COMMAND_THEN_STATE, FLOOR_SVSTAT, PRODUCT_SVSTAT, S6_FLOOR_INIT, fail_unless,
    section_stopped, sh, until_ok,
};
use crate::ExecOutcome;
use crate::bench::FigureDecl;
use crate::bench::figures::*;
use crate::bench::progress;
use crate::container::{Container, ContainerSpec};
use crate::support::{expected_port, slot_dir};

/// `cmd`, then until `svstat` says `want` (`up`, `down`, `restarted` from `old`) for `dir`:
/// one exec, timed.
pub(super) async fn command_then(
    h: &Container,
    cmd: &[&str],
    svstat: &str,
    want: &str,
    dir: &str,
    old: &str,
) -> Result<Duration> {
    let mut args = vec![svstat, want, dir, old];
    args.extend_from_slice(cmd);
    let o = sh(h, COMMAND_THEN_STATE, &args, Duration::from_secs(40)).await?;
    Ok(o.elapsed)
}

/// `hermes -p P gateway VERB`, then until s6 says `want` for P's slot.
pub(super) async fn gateway_verb(
    h: &Container,
    verb: &str,
    want: &str,
    p: &str,
    old: &str,
) -> Result<Duration> {
    let cmd = ["hermes", "-p", p, "gateway", verb];
    command_then(h, &cmd, PRODUCT_SVSTAT, want, &slot_dir(p), old).await
}

/// The pid s6 reports for `dir`.
pub(super) async fn pid_of(h: &Container, svstat: &str, dir: &str) -> Result<String> {
    let o = fail_unless(h.exec(&[svstat, "-o", "pid", dir]).await?)?;
    Ok(o.out().to_string())
}

/// s6-supervise runs a service again at most once a second after it last started it: a
/// restart sooner would measure that throttle, not us. A deliberate, bounded pause until
/// 1.1 s after the last start.
pub(super) async fn outwait_s6_backoff(last_start: Instant) {
    let since = last_start.elapsed();
    if since < Duration::from_millis(1100) {
        tokio::time::sleep(Duration::from_millis(1100) - since).await; // outwait s6's 1 s restart backoff
    }
}

/// `n` distinct profile names whose derived gateway ports differ (two gateways on one port
/// would make the second fail to bind, which is not what is being measured).
pub(super) fn names_with_distinct_ports(prefix: &str, n: usize) -> Vec<String> {
    let mut ports = HashSet::new();
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|name| ports.insert(expected_port(name)))
        .take(n)
        .collect()
}

impl Bench {
    /// The exec floor (`docker exec -u hermes C true`) and each CLI verb against it.
    pub async fn exec(&mut self) {
        if let Err(e) = self.exec_inner().await {
            self.results.push(section_stopped(&EXEC_FLOOR, "exec", e));
        }
    }

    async fn exec_inner(&mut self) -> Result<()> {
        let n = self.opts.exec_reps;
        progress(format!("exec: floor and CLI verbs, x{n} each"));
        let h = self.start("exec", ContainerSpec::default()).await?;
        let (mut floor, mut version, mut status) = (vec![], vec![], vec![]);
        let (mut create, mut start, mut stop, mut restart, mut delete) =
            (vec![], vec![], vec![], vec![], vec![]);
        let timed = |o: ExecOutcome| fail_unless(o).map(|o| o.elapsed);
        for _ in 0..n {
            floor.push(timed(h.exec(&["true"]).await?)?);
            version.push(timed(h.exec(&["hermes", "--version"]).await?)?);
            status.push(timed(h.exec(&["hermes", "status"]).await?)?);
        }
        let names = names_with_distinct_ports("bench", n);
        for p in &names {
            create.push(timed(h.exec(&["hermes", "profile", "create", p]).await?)?);
        }
        let mut last_start = Instant::now();
        for p in &names {
            start.push(gateway_verb(&h, "start", "up", p, "").await?);
            last_start = Instant::now();
        }
        outwait_s6_backoff(last_start).await;
        for p in &names {
            let old = pid_of(&h, PRODUCT_SVSTAT, &slot_dir(p)).await?;
            restart.push(gateway_verb(&h, "restart", "restarted", p, &old).await?);
        }
        for p in &names {
            stop.push(gateway_verb(&h, "stop", "down", p, "").await?);
        }
        for p in &names {
            delete.push(timed(
                h.exec(&["hermes", "profile", "delete", p, "--yes"]).await?,
            )?);
        }
        h.remove().await?;
        let (s6_start, s6_restart, s6_stop) = self.s6_floor(n).await?;
        let figs: [(&FigureDecl, &[Duration], &str); 11] = [
            (
                &EXEC_FLOOR,
                &floor,
                "bollard create_exec + start_exec + inspect_exec, as the harness execs",
            ),
            (
                &EXEC_S6_START,
                &s6_start,
                "base image, PID 1 a bare s6-svscan, run = `exec sleep`; as root, same 10 ms poll in one exec",
            ),
            (&EXEC_S6_STOP, &s6_stop, ""),
            (
                &EXEC_S6_RESTART,
                &s6_restart,
                "s6-supervise runs a service again at most once per second: this floor is ~1 s",
            ),
            (&EXEC_VERSION, &version, ""),
            (&EXEC_STATUS, &status, ""),
            (&EXEC_PROFILE_CREATE, &create, ""),
            (
                &EXEC_GATEWAY_START,
                &start,
                "the CLI, then s6-svstat polled every 10 ms in the same exec until up",
            ),
            (&EXEC_GATEWAY_STOP, &stop, ""),
            (
                &EXEC_GATEWAY_RESTART,
                &restart,
                "each gateway up for more than 1 s first; s6 waits ~1 s before running a service again (see the s6 floor)",
            ),
            (&EXEC_PROFILE_DELETE, &delete, ""),
        ];
        for (decl, samples, note) in figs {
            self.results.push(decl.durations(samples).note(note));
        }
        let against_exec: Vec<&FigureDecl> = figs[1..].iter().map(|f| f.0).collect();
        self.results.set_ratios(&EXEC_FLOOR, "exec", &against_exec);
        for (verb, floor) in [
            (&EXEC_GATEWAY_START, &EXEC_S6_START),
            (&EXEC_GATEWAY_STOP, &EXEC_S6_STOP),
            (&EXEC_GATEWAY_RESTART, &EXEC_S6_RESTART),
        ] {
            self.results.set_ratios(floor, "s6", &[verb]);
        }
        Ok(())
    }

    /// What s6 itself costs for start, restart and stop, driven the same way (one exec each,
    /// the same script and poll), in the same order as the gateways: all up, all restarted,
    /// all down.
    async fn s6_floor(&self, n: usize) -> Result<(Vec<Duration>, Vec<Duration>, Vec<Duration>)> {
        let h = self
            .floor("exec-s6-floor", S6_FLOOR_INIT, &[&n.to_string()])
            .await?;
        until_ok(
            &h,
            "every floor service to be supervised",
            &[
                "sh",
                "-c",
                r#"i=0; while [ $i -lt "$1" ]; do
  /usr/bin/s6-svok /tmp/scan/svc$i || { echo "svc$i not supervised yet"; exit 1; }; i=$((i+1))
done"#,
                "sh",
                &n.to_string(),
            ],
            Duration::from_secs(40),
        )
        .await?;
        let svc = |i: usize| format!("/tmp/scan/svc{i}");
        let s6_svc = |flag: &'static str, dir: String, old: String| {
            let h = &h;
            async move {
                let cmd = ["/usr/bin/s6-svc", flag, &dir];
                let want = match flag {
                    "-u" => "up",
                    "-d" => "down",
                    _ => "restarted",
                };
                command_then(h, &cmd, FLOOR_SVSTAT, want, &dir, &old).await
            }
        };
        let (mut start, mut restart, mut stop) = (vec![], vec![], vec![]);
        let mut last_start = Instant::now();
        for i in 0..n {
            start.push(s6_svc("-u", svc(i), String::new()).await?);
            last_start = Instant::now();
        }
        outwait_s6_backoff(last_start).await; // as for the gateways
        for i in 0..n {
            let old = pid_of(&h, FLOOR_SVSTAT, &svc(i)).await?;
            restart.push(s6_svc("-t", svc(i), old).await?);
        }
        for i in 0..n {
            stop.push(s6_svc("-d", svc(i), String::new()).await?);
        }
        h.remove().await?;
        Ok((start, restart, stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_ports() {
        let names = names_with_distinct_ports("bench", 40);
        assert_eq!(names.len(), 40);
        let ports: HashSet<u16> = names.iter().map(|n| expected_port(n)).collect();
        assert_eq!(ports.len(), 40);
    }
}
