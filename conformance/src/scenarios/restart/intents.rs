//! Every prior intent is restored by a restart (the `Prior`/`Expect` table mirrors
//! docs/contract.md §5 one to one), through `docker kill` and a recreate on the same volume.

use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};

use crate::support::{
    STATE_DEADLINE, STAYS_DOWN_WINDOW, create_profile, expected_port, name_with_own_port,
    profile_home, slot_dir, start_then_stop, svstat, wait_svstat,
};
use crate::{Container, ContainerSpec, Ctx};

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
    /// The `reason=` text the line must carry (an unusable state file), or `None`: then the
    /// line must carry no `reason=` at all.
    pub reason: Option<&'static str>,
}

impl Expect {
    /// Restored and started: the intent was running.
    pub const fn started(prior: &'static str) -> Self {
        Expect {
            up: true,
            prior,
            action: "started",
            reason: None,
        }
    }
    /// Restored down: the intent was something other than running.
    pub const fn registered(prior: &'static str) -> Self {
        Expect {
            up: false,
            prior,
            action: "registered",
            reason: None,
        }
    }
    /// No usable intent: registered down, and the boot log says why: `reason=` holds `why`.
    pub const fn unusable(why: &'static str) -> Self {
        Expect {
            up: false,
            prior: "None",
            action: "registered",
            reason: Some(why),
        }
    }
}

pub(super) async fn set_prior(h: &Container, p: &str, prior: Prior) -> Result<()> {
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
                let o = h.exec(&["cat", &state]).await?;
                if o.stdout.contains("\"running\"") && !o.stdout.contains("desired_state") {
                    Ok(Some(()))
                } else {
                    Err(anyhow!("{}", o.stdout))
                }
            })
            .await?;
        }
        Prior::Stopped => start_then_stop(h, p).await?,
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
pub async fn last_boot_line(h: &Container, p: &str) -> Result<String> {
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
/// how (`prior_state=…`, `reason=…`), in the product's own words. A slot meant down must be
/// down *and* not wanted up, carry its `down` file (so s6 would not start it on its own), and
/// stay so for longer than s6's restart backoff.
pub async fn assert_restored(h: &Container, p: &str, want: Expect) -> Result<()> {
    let line = last_boot_line(h, p).await?;
    for needle in [
        format!("prior_state={} ", want.prior),
        format!("action={}", want.action),
    ] {
        ensure!(
            format!("{line} ").contains(&needle),
            "the boot did not restore {p} as intended: expected {:?}, the boot log says: {line}",
            needle.trim_end()
        );
    }
    let reason = line.split_once(" reason=").map(|(_, r)| r);
    match (want.reason, reason) {
        (None, None) => {}
        (Some(why), Some(r)) => ensure!(
            r.contains(why),
            "{p}: the boot gave the wrong reason: expected reason= to say {why:?}, the boot log says: {line}"
        ),
        (Some(why), None) => bail!(
            "{p}: the boot gave no reason, expected reason= to say {why:?}; the boot log says: {line}"
        ),
        (None, Some(r)) => bail!("{p}: unexpected reason={r:?} in the boot log line: {line}"),
    }
    let dir = slot_dir(p);
    let slot = h.exec(&["test", "-d", &dir]).await?;
    ensure!(
        slot.success(),
        "the boot logged `{line}` but left no slot {dir}\n{slot}"
    );
    if want.up {
        let st = wait_svstat(h, &dir, "up and wanted up", STATE_DEADLINE, |s| {
            s.up && s.wanted_up
        })
        .await?;
        ensure!(st.up && st.wanted_up, "{p}: expected up, s6 says {st:?}");
        return Ok(());
    }
    let st = svstat(h, &dir).await?;
    ensure!(
        !st.up && !st.wanted_up,
        "{p}: expected up=false wantedup=false, s6 says {st:?} (boot log: {line})"
    );
    let down_file = format!("{dir}/down");
    h.exec(&["test", "-f", &down_file])
        .await?
        .succeeds_or(&format!(
            "{p} is down now but its slot has no {down_file}: s6 would start it on its own"
        ));
    crate::wait::holds_for(
        &format!("{p} staying down and not wanted up"),
        STAYS_DOWN_WINDOW,
        || async {
            match svstat(h, &dir).await {
                Ok(s) if !s.up && !s.wanted_up => Ok(()),
                Ok(s) => Err(anyhow!("s6 says {s:?}")),
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    Ok(())
}

/// One case of the restart-intent matrix.
#[derive(Debug, Clone, Copy)]
pub struct Intent {
    /// The case's name, also its profile's name (with a letter added if its derived port is
    /// taken).
    pub case: &'static str,
    pub prior: Prior,
    pub want: Expect,
}

/// The restart-intent matrix (contract §5): one profile per prior intent, named after the
/// case, all in one container per `/run` variant and restarted once.
pub const INTENTS: &[Intent] = &[
    Intent {
        case: "started",
        prior: Prior::Started,
        want: Expect::started("running"),
    },
    // No desired_state: the gateway's own SIGTERM handling must keep `running` across the restart.
    Intent {
        case: "started_via_s6_only",
        prior: Prior::StartedViaS6Only,
        want: Expect::started("running"),
    },
    Intent {
        case: "stopped",
        prior: Prior::Stopped,
        want: Expect::registered("stopped"),
    },
    Intent {
        case: "startup_failed",
        prior: Prior::File(r#"{"gateway_state":"startup_failed","pid":1}"#),
        want: Expect::registered("startup_failed"),
    },
    Intent {
        case: "starting",
        prior: Prior::File(r#"{"gateway_state":"starting"}"#),
        want: Expect::registered("starting"),
    },
    // Transient running sub-states count as running (docs/contract.md §5), and are logged as such.
    Intent {
        case: "draining",
        prior: Prior::File(r#"{"gateway_state":"draining"}"#),
        want: Expect::started("running"),
    },
    Intent {
        case: "degraded",
        prior: Prior::File(r#"{"gateway_state":"degraded"}"#),
        want: Expect::started("running"),
    },
    Intent {
        case: "no_file",
        prior: Prior::NoFile,
        want: Expect::registered("None"),
    },
    Intent {
        case: "empty_file",
        prior: Prior::File(""),
        want: Expect::unusable("state file is empty"),
    },
    Intent {
        case: "corrupt_json",
        prior: Prior::File(r#"{"gateway_state": "runn"#),
        want: Expect::unusable("state file is corrupt"),
    },
    Intent {
        case: "json_array",
        prior: Prior::File(r#"["running"]"#),
        want: Expect::unusable("state file is not a JSON object"),
    },
    Intent {
        case: "unknown_state",
        prior: Prior::File(r#"{"gateway_state":"banana"}"#),
        want: Expect::unusable(r#"unknown state "banana""#),
    },
    // A BOM makes the file unreadable as intent (docs/contract.md §5: no prior intent).
    Intent {
        case: "bom",
        prior: Prior::File("\u{feff}{\"gateway_state\":\"running\"}"),
        want: Expect::unusable("byte-order mark"),
    },
    Intent {
        case: "desired_running_over_stopped",
        prior: Prior::File(r#"{"gateway_state":"stopped","desired_state":"running"}"#),
        want: Expect::started("running"),
    },
    Intent {
        case: "desired_stopped_over_running",
        prior: Prior::File(r#"{"gateway_state":"running","desired_state":"stopped"}"#),
        want: Expect::registered("stopped"),
    },
];

/// Every prior intent of [`INTENTS`] at once, then one `docker restart`: each profile is
/// restored as its case says. All cases are checked; a failure lists every case that failed.
pub async fn intent_matrix_survives_restart(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    // Each case's gateway must be able to start next to the others: no two derived ports alike.
    let mut taken = vec![expected_port("default")];
    let cases: Vec<(String, &Intent)> = INTENTS
        .iter()
        .map(|i| (name_with_own_port(i.case, &mut taken), i))
        .collect();
    for (p, _) in &cases {
        create_profile(&h, p).await?;
    }
    let h_ref = &h;
    futures_util::future::try_join_all(
        cases
            .iter()
            .map(|(p, i)| async move { set_prior(h_ref, p, i.prior).await }),
    )
    .await?;
    h.restart().await?;
    let h_ref = &h;
    let outcomes = futures_util::future::join_all(cases.iter().map(|(p, i)| async move {
        assert_restored(h_ref, p, i.want)
            .await
            .map_err(|e| format!("case {} ({:?}): {e:#}", i.case, i.prior))
    }))
    .await;
    let failed: Vec<String> = outcomes.into_iter().filter_map(|r| r.err()).collect();
    // The first failed case leads (its first line is what a summary shows), then the count
    // and every failed case.
    if let Some(first) = failed.first() {
        bail!(
            "{first}\n({} of {} intents were not restored as intended, tmpfs /run: {tmpfs_run}; \
             every failed case:)\n{}",
            failed.len(),
            INTENTS.len(),
            failed.join("\n")
        );
    }
    h.remove().await
}

/// A running gateway comes back after `docker kill` + `docker start` (no shutdown ran at all).
pub async fn running_gateway_survives_docker_kill(ctx: Ctx) -> Result<()> {
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
pub async fn recreate_on_same_volume_restores_everything(ctx: Ctx) -> Result<()> {
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
