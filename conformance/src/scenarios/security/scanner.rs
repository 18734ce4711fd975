//! docs/contract.md §10, the scanner: hermes can neither replace PID 1's own directory nor
//! control it.

use anyhow::{Result, anyhow};

use super::evidence::{payload, record_root_evidence};
use super::kit::{Breaches, record_traces, supervision_is_live, tree};
use crate::support::{PLANT_WATCH, SCANDIR, first_line};
use crate::{Ctx, wait};

/// hermes swaps PID 1's `.s6-svscan` for its own (or plants into it) a `SIGTERM` and a
/// `finish`, which s6-svscan runs as root at the next `docker stop`. After a `docker restart`
/// nothing of the plant may have run as root.
pub async fn scanner_dir_cannot_be_replaced(ctx: Ctx) -> Result<()> {
    let mut h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let scan = format!("{SCANDIR}/.s6-svscan");
    h.sh(&format!(
        "test \"$(readlink /proc/1/cwd)\" = {SCANDIR} && test -e {scan}/finish"
    )).as_root("hermes may not read PID 1's cwd or list .s6-svscan; this proves that PID 1 scans /run/service and that `.s6-svscan/finish` is what it will exec at the stop.")
    .await?
    .succeeds();
    let old = format!("{SCANDIR}/.old");
    // Hand over to the originals (moved to .old by the attack), so a vulnerable image still
    // stops promptly and the evidence is the only difference.
    let sigterm = payload(
        &h,
        "scan-SIGTERM",
        &format!("[ -e {old}/SIGTERM ] && exec {old}/SIGTERM \"$@\"; exit 0"),
        false,
    )
    .await?;
    let finish = payload(
        &h,
        "scan-finish",
        &format!("[ -e {old}/finish ] && exec {old}/finish \"$@\"; exit 0"),
        false,
    )
    .await?;
    let roots = [SCANDIR];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();
    // The swap: a new .s6-svscan whose `control` leads to the real FIFO, so that
    // `s6-svscanctl -t` still reaches PID 1 and it execs the planted finish.
    b.must_refuse(
        &h,
        &format!(
            "cd {SCANDIR} && mv .s6-svscan .old && mkdir .s6-svscan && ln -s ../.old/control .s6-svscan/control \
             && ln -s {sigterm} .s6-svscan/SIGTERM && ln -s {finish} .s6-svscan/finish"
        ),
        &[SCANDIR, &scan],
    )
    .await?;
    b.must_refuse(&h, &format!("ln -sfn {sigterm} {scan}/SIGTERM"), &[&scan])
        .await?;
    b.must_refuse(&h, &format!("ln -sfn {finish} {scan}/finish"), &[&scan])
        .await?;
    record_traces(&mut b, &before, &tree(&h, &roots).await?);
    let restarted = h.restart().await.map(|_| ());
    b.trigger("docker restart", restarted)?;
    record_root_evidence(&h, &mut b, "the plant in .s6-svscan").await?;
    b.verdict("replacing PID 1's .s6-svscan")?;
    h.remove().await
}

/// `s6-svscanctl` to PID 1's scanner as hermes: `-a` (rescan), `-an` (rescan and drop what
/// vanished), and last `-t` (tear the tree down). All refused, and the tree is still there.
pub async fn scanner_control_refused(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let scan = format!("{SCANDIR}/.s6-svscan");
    let control = format!("{scan}/control");
    h.exec(&["test", "-p", &control])
        .as_root("proves the FIFO PID 1 listens on is there (hermes may not be able to see it).")
        .await?
        .succeeds();
    let mut b = Breaches::default();
    for flag in ["-a", "-an", "-t"] {
        b.must_refuse(
            &h,
            &format!("/command/s6-svscanctl {flag} {SCANDIR}"),
            &[&scan, &control],
        )
        .await?;
    }
    // The effect of an obeyed `-t`: the supervision tree (and so the container) goes away.
    let what = "the supervision tree (container running, main-hermes supervised)";
    let held = wait::holds_for(what, PLANT_WATCH, || {
        let h = &h;
        async move {
            if let Some(code) = h.exited().await? {
                return Err(anyhow!("the container stopped (exit code {code:?})"));
            }
            let o = h
                .exec(&["/command/s6-svok", &format!("{SCANDIR}/main-hermes")])
                .await?;
            if !o.success() {
                return Err(anyhow!(
                    "main-hermes no longer supervised (s6-svok exit {:?}) {}",
                    o.code,
                    o.stderr.trim()
                ));
            }
            Ok(())
        }
    })
    .await;
    if let Err(e) = held {
        b.effects.push(format!(
            "PID 1 obeyed hermes' s6-svscanctl: {}",
            first_line(&e)
        ));
    }
    b.verdict("s6-svscanctl to PID 1's scanner")?;
    h.remove().await
}
