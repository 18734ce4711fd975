//! Profiles made and unmade: delete leaves nothing over many cycles, ten concurrent creates
//! all publish, and bad names are refused with nothing created.

use std::time::Duration;

use anyhow::{Result, ensure};

use super::assert_nothing_runs_for;
use super::assert_slot_layout;
use crate::support::{
    HERMES_HOME, SCANDIR, STATE_DEADLINE, assert_absent, create_profile, profile_home, slot_dir,
    wait_svstat,
};
use crate::{Container, Ctx, wait};

/// delete removes the slot, its supervisors and the profile dir; the name can be reused, and
/// the cycles leave nothing behind — no process, no hidden dir, and no s6-supervise complaining
/// that its directory vanished under it (what removing a slot before s6 lets go looks like).
pub async fn delete_leaves_nothing_after_20_cycles(ctx: Ctx) -> Result<()> {
    let cycles = 20;
    let h = ctx.start_default().await?;
    let p = "gamma";
    for i in 0..cycles {
        create_profile(&h, p).await?;
        if i == 0 {
            // The first cycle runs the gateway, so delete must also bring a live one down.
            h.exec(&["hermes", "-p", p, "gateway", "start"])
                .await?
                .succeeds();
            wait_svstat(&h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
        }
        let deleted = h.exec(&["hermes", "profile", "delete", p, "--yes"]).await?;
        if !deleted.success() {
            // Say whether s6-supervise lost its directory: the likeliest cause of a failed delete.
            let complaints = supervise_complaints(&h, p, Duration::from_secs(3)).await?;
            let why = if complaints.is_empty() {
                String::new()
            } else {
                format!(
                    "; s6-supervise of gateway-{p} complained: its directory was removed while it still ran:\n{}",
                    complaints.join("\n")
                )
            };
            deleted.fail_because(&format!("profile delete failed{why}"));
        }
        assert_absent(&h, &slot_dir(p), "profile delete left the slot").await?;
        assert_absent(&h, &profile_home(p), "profile delete left the profile").await?;
        assert_nothing_runs_for(&h, p).await?;
    }
    h.sh(&format!("ls -A {SCANDIR} | grep -- 'gateway-{p}' || true"))
        .await?
        .succeeds()
        .stdout_is("");
    let complaints = supervise_complaints(&h, p, Duration::ZERO).await?;
    ensure!(
        complaints.is_empty(),
        "s6-supervise of gateway-{p} complained: its directory was removed while it still ran:\n{}",
        complaints.join("\n")
    );
    create_profile(&h, p).await?;
    assert_slot_layout(&h, p).await?;
    h.remove().await
}

/// Lines of the container log in which s6-supervise of `gateway-<p>` (or its logger) complains.
/// Waits up to `patience` for the first one, for callers that already know something failed.
async fn supervise_complaints(h: &Container, p: &str, patience: Duration) -> Result<Vec<String>> {
    let needle = format!("s6-supervise gateway-{p}");
    let start = std::time::Instant::now();
    loop {
        let logs = h.logs().await?;
        let found: Vec<String> = logs
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect();
        if !found.is_empty() || start.elapsed() >= patience {
            return Ok(found);
        }
        tokio::time::sleep(wait::POLL_INTERVAL).await; // poll interval inside a bounded wait
    }
}

/// Ten profiles created at once: ten slots, each controllable.
pub async fn ten_concurrent_creates(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let names: Vec<String> = (0..10).map(|i| format!("conc{i}")).collect();
    let script = names
        .iter()
        .map(|n| format!("hermes profile create {n} >/tmp/create-{n}.log 2>&1 || echo FAILED {n} $(cat /tmp/create-{n}.log) &"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\nwait";
    h.sh(&script).await?.succeeds().stdout_lacks("FAILED");
    for n in &names {
        let dir = slot_dir(n);
        h.exec(&["hermes", "-p", n, "gateway", "start"])
            .await?
            .succeeds();
        wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up).await?;
        h.exec(&["hermes", "-p", n, "gateway", "stop"])
            .await?
            .succeeds();
        wait_svstat(&h, &dir, "down", STATE_DEADLINE, |s| !s.up).await?;
    }
    h.remove().await
}

/// Snapshot of everything a bad name must not touch.
async fn footprint(h: &Container) -> Result<String> {
    let o = h
        .sh(&format!(
            "ls -A {HERMES_HOME}/profiles; echo ---; ls -A {SCANDIR}"
        ))
        .await?;
    o.succeeds();
    Ok(o.stdout)
}

/// Every class of bad name docs/contract.md §3.1 lists (NUL cannot cross `docker exec`'s argv;
/// the unit tests of the names module cover it).
const BAD_NAMES: &[&str] = &[
    "",
    "Upper",
    "-lead",
    ".dot",
    "a/b",
    "..",
    "has space",
    "tab\tname",
    "ünicode",
    "default",
    "hermes",
    "test",
    "tmp",
    "root",
    "sudo",
    "a123456789012345678901234567890123456789012345678901234567890123x",
];

/// Every bad name: exit 2 with the rule named, nothing created.
pub async fn bad_names_are_rejected_with_status_2(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let before = footprint(&h).await?;
    for name in BAD_NAMES {
        let o = h.exec(&["hermes", "profile", "create", name]).await?;
        o.code_is(2);
        ensure!(
            !o.stderr.trim().is_empty(),
            "no message for bad name {name:?}\n{o}"
        );
        let after = footprint(&h).await?;
        ensure!(
            after == before,
            "bad name {name:?} changed the tree:\nbefore:\n{before}\nafter:\n{after}"
        );
    }
    h.remove().await
}
