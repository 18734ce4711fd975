//! docs/contract.md §10, the slots: a slot of hermes' own making never runs as root, hermes
//! cannot replace its own slot's `run`, and every service directory is immutable to hermes.

use std::time::Duration;

use anyhow::{Result, bail, ensure};

use super::evidence::{payload, watch_for_root};
use super::kit::{
    Breaches, LIVE_COPIES, WORK, bounce, profile_with_slot, record_traces, runs_as_hermes,
    supervision_is_live, tree,
};
use crate::support::{
    GATEWAY, PLANT_WATCH, SCANDIR, STATE_DEADLINE, first_line, stat_as_root, supervised,
    wait_svstat,
};
use crate::{ContainerSpec, Ctx};

/// hermes makes its own service directory in `/run/service` and asks PID 1 to rescan: the
/// `run` would execute as root. With `noexec_run` (`docker run --tmpfs /run`), where no file
/// under /run may be executed, the same attack is made with links to image programs only:
/// `run -> /bin/false`, `finish -> /bin/sh`, and the payload in a file named `1` in the slot,
/// which s6 runs as `./finish 1 …` = `sh 1 …`.
pub async fn new_slot_never_runs_as_root(ctx: Ctx, noexec_run: bool) -> Result<()> {
    let h = ctx
        .as_hermes()
        .start(ContainerSpec::default().tmpfs_run(noexec_run))
        .await?;
    supervision_is_live(&h).await?;
    let evil = format!("{SCANDIR}/evil");
    let attack = if noexec_run {
        let mounts = h.exec(&["grep", " /run ", "/proc/mounts"]).await?;
        mounts.succeeds();
        ensure!(
            mounts.out().contains("noexec"),
            "precondition: /run is not mounted noexec\n{mounts}"
        );
        let p = payload(&h, "evil-finish-1", "exit 0", true).await?;
        format!(
            "mkdir {evil} && ln -s /bin/false {evil}/run && ln -s /bin/sh {evil}/finish && cp {p} {evil}/1"
        )
    } else {
        let p = payload(&h, "evil-run", "exec sleep 600", false).await?;
        format!("mkdir {evil} && cp {p} {evil}/run && chmod 0755 {evil}/run")
    };
    let roots = [SCANDIR, LIVE_COPIES];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();
    b.must_refuse(&h, &attack, &[SCANDIR]).await?;
    b.must_refuse(
        &h,
        &format!("/command/s6-svscanctl -a {SCANDIR}"),
        &[
            &format!("{SCANDIR}/.s6-svscan"),
            &format!("{SCANDIR}/.s6-svscan/control"),
        ],
    )
    .await?;
    let what = if noexec_run {
        "the planted slot's finish (`sh 1`)"
    } else {
        "the planted run script"
    };
    watch_for_root(&h, &mut b, PLANT_WATCH, what).await?;
    record_traces(&mut b, &before, &tree(&h, &roots).await?);
    b.verdict("a new slot in the scandir")?;
    h.remove().await
}

/// How hermes tries to replace its own slot's `run`.
#[derive(Debug, Clone, Copy)]
pub enum Replace {
    /// `ln -sfn /tmp/… run`
    Link,
    /// `rm run` and write a script in its place.
    Script,
}

/// After `hermes profile create alpha`, hermes replaces `gateway-alpha/run`, then starts its
/// gateway: the replacement must have been refused, the gateway must run as 10000 and the
/// payload must never have run as root.
pub async fn own_slot_run_cannot_be_replaced(ctx: Ctx, how: Replace) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let dir = profile_with_slot(&h, "alpha").await?;
    let run = format!("{dir}/run");
    // Precondition: `run` is the link to the image's program (which the payload hands over to).
    let orig = h.exec(&["readlink", &run]).await?;
    orig.succeeds();
    let orig = orig.out().to_string();
    ensure!(
        orig.starts_with('/') && !orig.starts_with("/run/"),
        "precondition: {run} is not a link to a program in the image: {orig:?}"
    );
    let p = payload(&h, "alpha-run", &format!("exec {orig} \"$@\""), false).await?;
    let before = tree(&h, &[&dir]).await?;
    let mut b = Breaches::default();
    let attack = match how {
        Replace::Link => format!("ln -sfn {p} {run}"),
        Replace::Script => format!("rm -f {run} && cp {p} {run} && chmod 0755 {run}"),
    };
    b.must_refuse(&h, &attack, &[&dir, &run]).await?;
    record_traces(&mut b, &before, &tree(&h, &[&dir]).await?);

    let started = async {
        let o = h
            .exec(&["hermes", "-p", "alpha", "gateway", "start"])
            .await?;
        if !o.success() {
            bail!("{}\n{o}", o.headline("gateway start failed"));
        }
        wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await
    }
    .await;
    watch_for_root(&h, &mut b, Duration::from_secs(2), "the planted run script").await?;
    match started {
        Ok(up) => {
            if let Some(e) = runs_as_hermes(&h, up.pid, &GATEWAY).await? {
                b.effects.push(e);
            }
        }
        Err(e) => b.trigger("hermes -p alpha gateway start", Err(e))?,
    }
    b.verdict("replacing the run of hermes' own slot")?;
    h.remove().await
}

/// hermes adds files to its slot and its `log/` (a `log/finish` would run as root when the
/// logger stops), changes the static services' live copies, repoints a static service's entry
/// in the scandir at its own directory, and renames its slot away. All refused; after the
/// state changes and the rescan that would act on them, nothing ran as root and nothing moved.
pub async fn service_dirs_are_immutable(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let slot = profile_with_slot(&h, "alpha").await?;
    let log = format!("{slot}/log");
    let main_live = format!("{LIVE_COPIES}/main-hermes");
    let dash_live = format!("{LIVE_COPIES}/dashboard");
    let dash_run = h.exec(&["readlink", &format!("{dash_live}/run")]).await?;
    dash_run.succeeds();
    let dash_run = dash_run.out().to_string();
    ensure!(
        dash_run.starts_with('/'),
        "precondition: {dash_live}/run is not a link to a program in the image: {dash_run:?}"
    );
    let log_finish = payload(&h, "log-finish", "exit 0", false).await?;
    let main_finish = payload(&h, "main-finish", "exit 0", false).await?;
    let dash_payload = payload(&h, "dashboard-run", &format!("exec {dash_run}"), false).await?;
    let fake_run = payload(&h, "fake-main-run", "exec sleep 600", false).await?;
    let fake = format!("{WORK}/fake-main");
    h.sh(&format!("mkdir -p {fake} && ln -sfn {fake_run} {fake}/run"))
        .await?
        .succeeds();

    let roots = [SCANDIR, LIVE_COPIES];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();
    b.must_refuse(&h, &format!("touch {slot}/sec-extra"), &[&slot])
        .await?;
    b.must_refuse(&h, &format!("touch {log}/sec-extra"), &[&log])
        .await?;
    b.must_refuse(&h, &format!("ln -s {log_finish} {log}/finish"), &[&log])
        .await?;
    b.must_refuse(&h, &format!("touch {main_live}/sec-extra"), &[&main_live])
        .await?;
    b.must_refuse(
        &h,
        &format!("ln -s {main_finish} {main_live}/finish"),
        &[&main_live],
    )
    .await?;
    b.must_refuse(
        &h,
        &format!("ln -sfn {dash_payload} {dash_live}/run"),
        &[&dash_live],
    )
    .await?;
    b.must_refuse(
        &h,
        &format!("rm {SCANDIR}/main-hermes && ln -s {fake} {SCANDIR}/main-hermes"),
        &[SCANDIR],
    )
    .await?;
    record_traces(&mut b, &before, &tree(&h, &roots).await?);

    // What would act on the plants, each a right hermes has: the logger and main-hermes
    // stop and start (finish runs), the dashboard is asked up (run runs), and a profile is
    // created (a rescan, which would adopt the repointed entry).
    let r = bounce(&h, &log).await;
    b.trigger("s6-svc -d/-u of gateway-alpha/log", r)?;
    let r = bounce(&h, &main_live).await;
    b.trigger("s6-svc -d/-u of main-hermes", r)?;
    let o = h.exec(&["/command/s6-svc", "-u", &dash_live]).await?;
    let r = if o.success() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}", o.headline("s6-svc -u dashboard")))
    };
    b.trigger("s6-svc -u of dashboard", r)?;
    let o = h.exec(&["hermes", "profile", "create", "beta"]).await?;
    let r = if o.success() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}", o.headline("profile create beta")))
    };
    b.trigger("hermes profile create beta (a rescan)", r)?;
    watch_for_root(
        &h,
        &mut b,
        PLANT_WATCH,
        "a payload planted in a service directory",
    )
    .await?;

    // Last, as it takes the slot the other steps use: rename the slot away.
    let hidden = format!("{SCANDIR}/.x");
    b.must_refuse(&h, &format!("mv {slot} {hidden}"), &[SCANDIR, &slot])
        .await?;
    let in_place = h
        .sh(&format!("test -d {slot} && ! test -e {hidden}"))
        .await?;
    if !in_place.success() {
        b.traces.push(format!(
            "{slot} renamed away: {}",
            stat_as_root(&h, &[&slot, &hidden]).await
        ));
    } else if let Err(e) = supervised(&h, &slot).await {
        b.traces
            .push(format!("{slot} no longer supervised: {}", first_line(&e)));
    }
    b.verdict("changing service directories")?;
    h.remove().await
}
