//! Contract §2.2 point 5 and §10 promise 4, adversarial: the boot's reconciler (`02`, root)
//! reads the profiles through a child that runs as hermes, so every hermes process may signal
//! it. A hostile hermes that `kill -STOP`s that child during an operator's `docker restart`
//! once held the boot forever: the registrar's lock held, no slot registered, no readiness
//! marker. Root must wait for it boundedly, kill it, and still register `gateway-default`.

use std::time::Duration;

use anyhow::{Result, bail, ensure};

use crate::support::{SCANDIR, create_profile, supervised};
use crate::{ContainerSpec, Ctx};

/// Where the attacker's script waits for the next boot: `/tmp` is hermes' and outlives a
/// `docker restart`.
const STOPPER: &str = "/tmp/stop-the-boot-helper";

/// How long the stopper looks for the helper after `docker restart` returned.
const LOOK_FOR: u32 = 10;

/// Missed rounds (the helper finished before the stopper's exec began) are tried again with
/// more to sweep; a round that never catches it fails the scenario, never passes it.
const ROUNDS: usize = 5;

/// The stopper: every process whose name is the boot program's and that hermes may signal (the
/// child running as hermes; root's own `hermes-boot` refuses the signal) gets SIGSTOP. It
/// prints the pid it stopped, or nothing when it found none in time. Builtins only in the
/// loop, so that it looks as often as it can.
fn stopper_script() -> String {
    format!(
        r#"read -r up _ </proc/uptime; end=$(( ${{up%.*}} + {LOOK_FOR} ))
while :; do
  for d in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$d/comm" || continue
    [ "$comm" = hermes-boot ] || continue
    if kill -STOP "${{d#/proc/}}" 2>/dev/null; then echo "stopped ${{d#/proc/}}"; exit 0; fi
  done
  read -r up _ </proc/uptime; [ "${{up%.*}}" -lt "$end" ] || exit 0
done"#
    )
}

pub async fn boot_helper_cannot_hold_the_boot(ctx: Ctx) -> Result<()> {
    let mut h = ctx.as_hermes().start(ContainerSpec::default()).await?;
    // Precondition: a profile the boot must register, and a boot that registers it.
    create_profile(&h, "alpha").await?;
    h.sh(&format!(
        "cat >{STOPPER} <<'EOF'\n{}\nEOF",
        stopper_script()
    ))
    .await?
    .succeeds();
    h.restart().await?;
    supervised(&h, &format!("{SCANDIR}/gateway-alpha")).await?;

    // The attack: during a restart, stop the helper. Junk for the plan's sweep of stale temp
    // dirs (hermes' own to plant) keeps the helper alive long enough for an exec to arrive.
    let mut stopped = None;
    let mut files = 20_000;
    for round in 1..=ROUNDS {
        h.sh(&format!(
            "mkdir -p /opt/data/profiles/.junk.tmp-1 && cd /opt/data/profiles/.junk.tmp-1 \
             && seq 1 {files} | xargs touch"
        ))
        .deadline(Duration::from_secs(60))
        .await?
        .succeeds();
        h.docker_restart(10).await?;
        let o = h
            .sh(&format!("sh {STOPPER}"))
            .deadline(Duration::from_secs(u64::from(LOOK_FOR) + 20))
            .await?;
        o.succeeds();
        if let Some(pid) = o.out().strip_prefix("stopped ") {
            stopped = Some((round, pid.to_string()));
            break;
        }
        // Missed: this boot finishes on its own; the next round plants more.
        h.wait_ready().await?;
        files *= 2;
    }
    let Some((round, pid)) = stopped else {
        bail!(
            "the attack could not be made: the stopper never caught the boot's hermes helper in \
             {ROUNDS} restarts (up to {files} files to sweep), so nothing was proven"
        );
    };

    // Root waits boundedly: the boot becomes ready (within the readiness deadline, which is
    // twice the helper's), the stopped helper is gone, and the log says why.
    h.wait_ready().await.map_err(|e| {
        e.context(format!(
            "hermes stopped the boot helper (pid {pid}, round {round}) and the boot never became \
             ready: root waited on a process hermes controls"
        ))
    })?;
    let gone = h
        .sh(&format!(
            "test -d /proc/{pid} && cat /proc/{pid}/comm || true"
        ))
        .await?;
    gone.succeeds();
    ensure!(
        gone.out() != "hermes-boot",
        "the helper hermes stopped (pid {pid}) still exists after the boot: nobody killed it"
    );
    let logs = h.logs().await?;
    ensure!(
        logs.contains("did not finish within"),
        "the container log does not say the helper was killed at its deadline:\n{}",
        crate::container::tail(&logs, 20)
    );
    // `gateway-default` is still registered (no request can register it), so the main
    // program can still hand the gateway to s6 (it does, `docs/contract.md` §6.4).
    supervised(&h, &format!("{SCANDIR}/gateway-default")).await?;
    let status = h.exec(&["hermes", "status"]).await?;
    status.succeeds();
    ensure!(
        status
            .out()
            .contains("boot step failed: cont-init 02-reconcile-profiles exit 1"),
        "`hermes status` does not name the failed boot step:\n{}",
        status.out()
    );
    Ok(())
}
