//! Restart survival (SPEC §5, §6.3): every boot rebuilds each profile's slot from
//! `$HERMES_HOME` and starts exactly those whose intent was `running`.

use std::time::Duration;

use anyhow::{Result, bail, ensure};

use crate::s6probe::{HERMES_HOME, profile_home, slot_dir, svstat, wait_svstat};
use crate::scenarios::lifecycle::create_profile;
use crate::{ContainerSpec, Ctx, Hermes};

const STATE_DEADLINE: Duration = Duration::from_secs(15);
pub const BOOT_LOG: &str = "/opt/data/logs/container-boot.log";

/// How a profile's prior intent is set up before the restart.
#[derive(Debug, Clone, Copy)]
pub enum Prior {
    /// `hermes gateway start` (records `desired_state=running`).
    Started,
    /// Started through s6 alone (`s6-svc -u`), so no `desired_state` is recorded: only the
    /// gateway's own SIGTERM handling (keep `running`) carries the intent across the restart.
    StartedViaS6Only,
    /// `hermes gateway start` then `hermes gateway stop`.
    Stopped,
    /// `gateway_state.json` written by hand with this exact content.
    File(&'static str),
    /// No `gateway_state.json` at all.
    NoFile,
}

/// What the boot must do for a prior intent.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub up: bool,
    /// `prior_state=` in the boot log line (`None` when there was no usable intent).
    pub prior: &'static str,
    /// `action=` in the boot log line.
    pub action: &'static str,
    /// The line must carry a `reason=` (unusable state file).
    pub reason: bool,
}

impl Expect {
    /// Restored and started: the intent was running.
    pub const fn started(prior: &'static str) -> Self {
        Expect {
            up: true,
            prior,
            action: "started",
            reason: false,
        }
    }
    /// Restored down: the intent was something other than running.
    pub const fn registered(prior: &'static str) -> Self {
        Expect {
            up: false,
            prior,
            action: "registered",
            reason: false,
        }
    }
    /// No usable intent: registered down, and the boot log says why (`reason=`).
    pub const fn unusable() -> Self {
        Expect {
            up: false,
            prior: "None",
            action: "registered",
            reason: true,
        }
    }
}

async fn set_prior(h: &Hermes, p: &str, prior: Prior) -> Result<()> {
    let state = format!("{}/gateway_state.json", profile_home(p));
    match prior {
        Prior::Started => {
            h.exec(&["hermes", "-p", p, "gateway", "start"])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
        }
        Prior::StartedViaS6Only => {
            h.exec(&["rm", "-f", &state]).await?.succeeds();
            h.exec(&["/command/s6-svc", "-u", &slot_dir(p)])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
            // The gateway stamps `running` itself once it serves.
            crate::wait::poll_until("the gateway to record running", STATE_DEADLINE, || async {
                let o = h.exec(&["cat", &state]).await.map_err(|e| e.to_string())?;
                if o.stdout.contains("\"running\"") && !o.stdout.contains("desired_state") {
                    Ok(Some(()))
                } else {
                    Err(o.stdout.clone())
                }
            })
            .await?;
        }
        Prior::Stopped => {
            h.exec(&["hermes", "-p", p, "gateway", "start"])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
            h.exec(&["hermes", "-p", p, "gateway", "stop"])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "down", STATE_DEADLINE, |s| !s.up).await?;
        }
        Prior::File(content) => {
            // As hermes, the way a stale or hand-edited file would be there.
            h.exec(&[
                "sh",
                "-c",
                "printf '%s' \"$1\" > \"$2\"",
                "sh",
                content,
                &state,
            ])
            .await?
            .succeeds();
        }
        Prior::NoFile => {
            h.exec(&["rm", "-f", &state]).await?.succeeds();
        }
    }
    Ok(())
}

/// The line of the last boot for profile `p`. Every boot logs `default` first, so the last
/// boot's lines start at the last `profile=default` line: a line an earlier boot wrote for `p`
/// can never stand in for one this boot failed to write.
pub async fn last_boot_line(h: &Hermes, p: &str) -> Result<String> {
    let o = h.exec(&["cat", BOOT_LOG]).await?;
    o.succeeds();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains(" profile=default "))
        .unwrap_or(0);
    let needle = format!(" profile={p} ");
    let found = lines[start..].iter().rev().find(|l| l.contains(&needle));
    match found {
        Some(l) => Ok(l.to_string()),
        None => bail!(
            "no boot-log line for profile {p} from the last boot: the boot did not see it; \
             the last boot logged:\n{}",
            lines[start..].join("\n")
        ),
    }
}

/// After the restart the boot log says what the boot did with `p`, the slot exists, and it is
/// up exactly when intended. The boot log is read first: when the intent was lost it says
/// how (`prior_state=…`, `reason=…`), in the product's own words.
pub async fn assert_restored(h: &Hermes, p: &str, want: Expect) -> Result<()> {
    let line = last_boot_line(h, p).await?;
    for needle in [
        format!("prior_state={}", want.prior),
        format!("action={}", want.action),
    ] {
        ensure!(
            line.contains(&needle),
            "the boot did not restore {p} as intended: expected {needle:?}, the boot log says: {line}"
        );
    }
    let dir = slot_dir(p);
    let slot = h.exec(&["test", "-d", &dir]).await?;
    ensure!(
        slot.success(),
        "the boot logged `{line}` but left no slot {dir}\n{slot}"
    );
    let st = if want.up {
        wait_svstat(h, &dir, "up", STATE_DEADLINE, |s| s.up).await?
    } else {
        svstat(h, &dir).await?
    };
    ensure!(
        st.up == want.up,
        "{p}: expected up={}, s6 says {st:?}",
        want.up
    );
    Ok(())
}

/// One prior intent, then `docker restart`.
pub async fn intent_survives_restart(
    ctx: Ctx,
    tmpfs_run: bool,
    prior: Prior,
    want: Expect,
) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    let p = "intent";
    create_profile(&h, p).await?;
    set_prior(&h, p, prior).await?;
    h.restart().await?;
    assert_restored(&h, p, want).await?;
    h.remove().await
}

/// A running gateway comes back after `docker kill` + `docker start` (no shutdown ran at all).
pub async fn running_survives_kill(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "killed").await?;
    set_prior(&h, "killed", Prior::Started).await?;
    h.kill().await?;
    h.wait_exit(Duration::from_secs(10)).await?;
    h.start_again().await?;
    assert_restored(&h, "killed", Expect::started("running")).await?;
    h.remove().await
}

/// A new container on the same named volume restores every profile and its intent.
pub async fn recreate_on_same_volume(ctx: Ctx) -> Result<()> {
    let volume = crate::container::unique_name("recreate");
    let result = async {
        let h = ctx
            .start(ContainerSpec::default().data_volume(&volume))
            .await?;
        create_profile(&h, "keep-up").await?;
        create_profile(&h, "keep-down").await?;
        set_prior(&h, "keep-up", Prior::Started).await?;
        set_prior(&h, "keep-down", Prior::Stopped).await?;
        h.remove().await?;
        let h2 = ctx
            .start(ContainerSpec::default().data_volume(&volume))
            .await?;
        assert_restored(&h2, "keep-up", Expect::started("running")).await?;
        assert_restored(&h2, "keep-down", Expect::registered("stopped")).await?;
        h2.remove().await
    }
    .await;
    crate::container::remove_volume(&ctx.docker, &volume).await;
    result
}

/// Stale `gateway.pid` and `processes.json` do not outlive a boot.
pub async fn stale_pid_files_removed(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "stale").await?;
    let home = profile_home("stale");
    h.sh(&format!(
        "echo 99999 > {home}/gateway.pid && echo '{{}}' > {home}/processes.json"
    ))
    .await?
    .succeeds();
    h.restart().await?;
    for f in ["gateway.pid", "processes.json"] {
        h.exec(&["test", "!", "-e", &format!("{home}/{f}")])
            .await?
            .succeeds();
    }
    h.remove().await
}

/// A profile dir with an invalid name and one hermes cannot read are skipped with a reason;
/// the good profile is restored.
pub async fn bad_profile_dirs_skipped(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "good").await?;
    set_prior(&h, "good", Prior::Started).await?;
    let profiles = format!("{HERMES_HOME}/profiles");
    h.sh(&format!(
        "mkdir -p {profiles}/Bad_Name {profiles}/sealed && touch {profiles}/Bad_Name/SOUL.md {profiles}/sealed/SOUL.md && chmod 000 {profiles}/sealed"
    ))
    .await?
    .succeeds();
    h.restart().await?;
    assert_restored(&h, "good", Expect::started("running")).await?;
    for bad in ["Bad_Name", "sealed"] {
        let line = last_boot_line(&h, bad).await?;
        ensure!(
            line.contains("action=skipped") && line.contains("reason="),
            "{bad}: expected a skipped line with a reason, got {line}"
        );
        h.exec(&["test", "!", "-e", &slot_dir(bad)])
            .await?
            .succeeds();
    }
    h.remove().await
}

/// A root `docker exec` leaves a root-owned file in a profile; the next boot repairs it and
/// the profile is restored.
pub async fn root_leftovers_repaired(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "mixed").await?;
    set_prior(&h, "mixed", Prior::Started).await?;
    let home = profile_home("mixed");
    let file = format!("{home}/written-by-root");
    // Root opt-in: the leftovers of a person's root `docker exec` with a private umask —
    // files of its own, and the profile's state file and its lock rewritten as root 0600.
    // Unrepaired, the reconciler (hermes) cannot read the intent and the gateway stays down
    // (and the gateway, which cannot take the lock, cannot rewrite the file on its way out).
    h.exec_as_root(&[
        "sh",
        "-c",
        &format!(
            "umask 077 && echo x > {file} && mkdir -p {file}.d && touch {file}.d/inner && \
             cp {home}/gateway_state.json {home}/.state.tmp && mv {home}/.state.tmp {home}/gateway_state.json && \
             rm -f {home}/.gateway_state.lock && touch {home}/.gateway_state.lock"
        ),
    ])
    .await?
    .succeeds();
    h.restart().await?;
    assert_restored(&h, "mixed", Expect::started("running")).await?;
    h.exec(&[
        "stat",
        "-c",
        "%U",
        &file,
        &format!("{file}.d"),
        &format!("{file}.d/inner"),
    ])
    .await?
    .succeeds()
    .stdout_is("hermes\nhermes\nhermes");
    h.remove().await
}

/// A hermes-planted symlink to `/etc/shadow` must not make root hand the file to hermes.
pub async fn symlink_refused(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    create_profile(&h, "trap").await?;
    let before = h.exec(&["stat", "-c", "%U:%G %a", "/etc/shadow"]).await?;
    before.succeeds();
    let link = format!("{}/shadow-link", profile_home("trap"));
    h.exec(&["ln", "-s", "/etc/shadow", &link])
        .await?
        .succeeds();
    // A root-owned file next to it, so the repair pass really runs over this profile.
    // Root opt-in: the leftover a root `docker exec` would leave.
    h.exec_as_root(&["touch", &format!("{}/root-file", profile_home("trap"))])
        .await?
        .succeeds();
    h.restart().await?;
    h.exec(&["stat", "-c", "%U:%G %a", "/etc/shadow"])
        .await?
        .succeeds()
        .stdout_is(before.out());
    // Explicitly hermes, whatever HERMES_CONFORMANCE_USER says: the point is that hermes did
    // not gain the file (root can always read it).
    h.exec_full(
        "hermes",
        &["cat", "/etc/shadow"],
        &[],
        crate::container::EXEC_DEADLINE,
    )
    .await?
    .fails();
    let logs = h.logs().await?;
    ensure!(
        logs.contains("refusing") && logs.contains("shadow-link"),
        "container stderr does not refuse the symlink by path\n{logs}"
    );
    h.remove().await
}
