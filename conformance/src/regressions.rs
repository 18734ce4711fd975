//! The regression catalogue (SPEC §9): each historical bug as a buildable variant of the
//! product, the scenario that catches it, and the words its failure must contain — so a
//! sensitivity test can prove the suite fails *for the stated reason*, not just fails.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use anyhow::{Result, bail, ensure};
use futures_util::FutureExt;

use crate::image::Variant;
use crate::s6probe::{slot_dir, svstat};
use crate::scenarios::restart::{Expect, Prior};
use crate::scenarios::{dashboard, lifecycle, restart};
use crate::{Ctx, wait};

/// The scenario that catches a regression. Each is a contract check that passes on the
/// production image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catcher {
    /// `profile create` publishes a slot in `/run/service` (or fails cleanly).
    CreatePublishesSlot,
    /// A freshly created slot is readable and controllable.
    SlotControllable,
    /// `dashboard` and `main-hermes` are readable and controllable.
    StaticServicesControllable,
    /// Create/delete cycles leave nothing behind.
    DeleteCycles,
    /// A disabled dashboard stays down and not wanted up.
    DashboardStaysDown,
    /// A root-owned file in a profile is repaired by the next boot.
    RootLeftoversRepaired,
    /// A gateway whose only record of intent is its own `gateway_state` (started through s6,
    /// no `desired_state`) is running again after `docker restart`.
    StartedSurvivesRestart,
}

impl Catcher {
    /// The scenario's name in the suite (for people reading the sensitivity table).
    pub fn scenario(self) -> &'static str {
        match self {
            Catcher::CreatePublishesSlot => "regression/create_publishes_slot",
            Catcher::SlotControllable => "regression/slot_controllable",
            Catcher::StaticServicesControllable => "lifecycle/static_services_controllable",
            Catcher::DeleteCycles => "lifecycle/delete_cycles",
            Catcher::DashboardStaysDown => "dashboard/disabled/None",
            Catcher::RootLeftoversRepaired => "restart/root_leftovers_repaired",
            Catcher::StartedSurvivesRestart => "restart/intent/started_via_s6_only",
        }
    }

    pub async fn run(self, ctx: Ctx) -> Result<()> {
        match self {
            Catcher::CreatePublishesSlot => create_publishes_slot(ctx).await,
            Catcher::SlotControllable => slot_controllable(ctx).await,
            Catcher::StaticServicesControllable => {
                lifecycle::static_services_controllable(ctx).await
            }
            Catcher::DeleteCycles => lifecycle::delete_leaves_nothing(ctx, 3).await,
            Catcher::DashboardStaysDown => dashboard::disabled(ctx, None).await,
            Catcher::RootLeftoversRepaired => restart::root_leftovers_repaired(ctx).await,
            Catcher::StartedSurvivesRestart => {
                restart::intent_survives_restart(
                    ctx,
                    false,
                    Prior::StartedViaS6Only,
                    Expect::started("running"),
                )
                .await
            }
        }
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct Regression {
    pub id: &'static str,
    pub bug: &'static str,
    pub catcher: Catcher,
    /// Every one of these must appear in the catcher's failure message.
    pub cause: &'static [&'static str],
    /// The catcher passes when run as root: the audit gap that let the bug ship.
    pub root_passes: bool,
}

pub const CATALOG: &[Regression] = &[
    Regression {
        id: "proc1-exe-probe",
        bug: "detection reads /proc/1/exe, unreadable for hermes: s6 not detected, no slot",
        catcher: Catcher::CreatePublishesSlot,
        cause: &["published no slot", "Manager: none"],
        root_passes: true,
    },
    Regression {
        id: "svscan-control-root-owned",
        bug: "02 leaves .s6-svscan/control root-owned: s6-svscanctl EACCES on register",
        catcher: Catcher::CreatePublishesSlot,
        cause: &["s6-svscanctl", "Permission denied", "no slot left behind"],
        root_passes: true,
    },
    Regression {
        id: "no-supervise-skeleton",
        bug: "slots published without the hermes-owned supervise skeleton: s6-svc/s6-svstat EACCES",
        catcher: Catcher::SlotControllable,
        cause: &["s6-svstat", "Permission denied"],
        root_passes: true,
    },
    Regression {
        id: "no-static-supervise-perms",
        bug: "015 missing: hermes cannot read or control dashboard/main-hermes",
        catcher: Catcher::StaticServicesControllable,
        cause: &["/run/service/main-hermes", "Permission denied"],
        root_passes: true,
    },
    Regression {
        id: "no-log-skeleton",
        bug: "skeleton seeded for the slot but not its log/: unregister cannot remove the logger's supervise/",
        catcher: Catcher::DeleteCycles,
        cause: &["profile delete", "log/supervise", "Permission denied"],
        root_passes: false,
    },
    Regression {
        id: "unregister-rmtree-first",
        bug: "unregister removes the dir before the scanner lets go: s6-supervise loses its dir",
        catcher: Catcher::DeleteCycles,
        cause: &[
            "its directory was removed while it still ran",
            "unable to write status file",
        ],
        root_passes: false,
    },
    Regression {
        id: "dashboard-down-marker",
        bug: "dashboard disabled by a down marker instead of finish 125: reported up/restarting",
        catcher: Catcher::DashboardStaysDown,
        cause: &["down and not wanted up"],
        root_passes: false,
    },
    Regression {
        id: "profiles-not-chowned",
        bug: "01 does not repair root-owned files in profiles/",
        catcher: Catcher::RootLeftoversRepaired,
        cause: &["written-by-root", "root"],
        root_passes: false,
    },
    Regression {
        id: "reconcile-config-yaml",
        bug: "reconciler keys on config.yaml instead of SOUL.md: no profile restored",
        catcher: Catcher::StartedSurvivesRestart,
        cause: &["test -d /run/service/gateway-intent"],
        root_passes: false,
    },
    Regression {
        id: "sigterm-persists-stopped",
        bug: "gateway records stopped on an unplanned SIGTERM: not restarted after docker restart",
        catcher: Catcher::StartedSurvivesRestart,
        cause: &["gateway-intent to be up"],
        root_passes: false,
    },
];

pub fn find(id: &str) -> Option<&'static Regression> {
    CATALOG.iter().find(|r| r.id == id)
}

/// Run a scenario and return its failure as text (assertion panics included) instead of
/// failing the caller.
pub async fn outcome_of<F: Future<Output = Result<()>>>(fut: F) -> Result<(), String> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(p) => Err(if let Some(s) = p.downcast_ref::<String>() {
            s.clone()
        } else if let Some(s) = p.downcast_ref::<&str>() {
            s.to_string()
        } else {
            "panic without a message".into()
        }),
    }
}

/// `profile create p` publishes `/run/service/gateway-p`; if it fails, it fails cleanly
/// (reported, nothing left behind) — and the failure says which of the two happened.
pub async fn create_publishes_slot(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let p = "probe";
    let dir = slot_dir(p);
    let o = h.exec(&["hermes", "profile", "create", p]).await?;
    let left = h.exec(&["test", "-e", &dir]).await?.success();
    if !o.success() {
        let clean = if left {
            "and LEFT a slot behind"
        } else {
            "(no slot left behind)"
        };
        bail!(
            "{}\n{o}",
            o.headline(&format!("profile create failed {clean}"))
        );
    }
    if !left {
        let status = h.exec(&["hermes", "status"]).await?;
        bail!(
            "profile create succeeded but published no slot {dir}; `hermes status` says: {}\n{o}",
            status.stdout.lines().next().unwrap_or("(nothing)")
        );
    }
    svstat(&h, &dir).await?;
    h.remove().await
}

/// A fresh slot can be read (`s6-svstat`), commanded (`s6-svc`) and waited on (`s6-svwait`)
/// by the scenario user — the s6 operations every `hermes gateway` command stands on.
pub async fn slot_controllable(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let p = "ctl";
    let dir = slot_dir(p);
    lifecycle::create_profile(&h, p).await?;
    wait::poll_until(
        "the slot to be supervised",
        std::time::Duration::from_secs(10),
        || async {
            let o = h
                .exec(&["/command/s6-svok", &dir])
                .await
                .map_err(|e| e.to_string())?;
            if o.success() || o.hit_permission_error() {
                Ok(Some(()))
            } else {
                Err(o.stderr.clone())
            }
        },
    )
    .await?;
    h.exec(&["/command/s6-svstat", &dir]).await?.succeeds();
    h.exec(&["/command/s6-svc", "-d", &dir]).await?.succeeds();
    h.exec(&["/command/s6-svwait", "-D", "-t", "5000", &dir])
        .await?
        .succeeds();
    h.remove().await
}

/// One row of the sensitivity table, appended to `target/conformance/sensitivity.jsonl`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SensitivityRecord {
    pub id: String,
    pub scenario: String,
    pub first_line: String,
    pub root_passes_checked: bool,
    pub duration_ms: u128,
}

/// The sensitivity of one catalogue entry: its catcher fails on the regression image, as
/// hermes, for the stated reason; passes on the production image; and, for the bugs that
/// shipped because tests ran as root, passes on the regression image as root.
pub async fn sensitivity(ctx: Ctx, id: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let reg = find(id).ok_or_else(|| anyhow::anyhow!("unknown regression id {id:?}"))?;
    let image = crate::runner::image_for(&ctx.docker, &Variant::regression(id)).await?;
    let hermes = ctx.as_hermes();
    let scenario = reg.catcher.scenario();
    let message = match outcome_of(reg.catcher.run(hermes.with_image(&image))).await {
        Ok(()) => bail!("{id} NOT caught: {scenario} passed as hermes on {image}"),
        Err(m) => m,
    };
    names_cause(reg, &message)?;
    if let Err(m) = outcome_of(reg.catcher.run(hermes.clone())).await {
        bail!(
            "{scenario} fails on the production image {}, so it proves nothing about {id}:\n{m}",
            ctx.image
        );
    }
    if reg.root_passes
        && let Err(m) = outcome_of(reg.catcher.run(ctx.with_image(&image).as_root_audit())).await
    {
        bail!("{id}: expected {scenario} to pass as root on {image} (the audit gap), but:\n{m}");
    }
    let first_line = message.lines().next().unwrap_or_default().to_string();
    crate::image::progress(format!(
        "sensitivity {id}: caught by {scenario}: {first_line}"
    ));
    append_record(&SensitivityRecord {
        id: id.to_string(),
        scenario: scenario.to_string(),
        first_line,
        root_passes_checked: reg.root_passes,
        duration_ms: started.elapsed().as_millis(),
    });
    Ok(())
}

fn append_record(r: &SensitivityRecord) {
    use std::io::Write;
    let path = crate::config::work_dir().join("sensitivity.jsonl");
    let Ok(mut line) = serde_json::to_string(r) else {
        return;
    };
    line.push('\n');
    let _ = std::fs::create_dir_all(crate::config::work_dir());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// The production image carries no regression code: its `hermes` is not a regression build
/// and no overlay file reached it — checked against a regression image, where both show, so
/// the check itself can fail.
pub async fn production_carries_no_regression_code(ctx: Ctx) -> Result<()> {
    const MARK: &str = "hermes-s6 regression build";
    let grep_binary =
        format!("grep -c '{MARK}' /opt/hermes/bin/hermes /opt/hermes/bin/hermes-boot || true");
    let grep_overlay =
        "grep -l 'Regression' /etc/s6-overlay/s6-rc.d/*/* /etc/hermes-s6/* 2>/dev/null || true";
    let prod = ctx.as_hermes().start_default().await?;
    prod.exec(&["hermes", "--version"])
        .await?
        .succeeds()
        .stdout_lacks("regression");
    prod.sh(&grep_binary)
        .await?
        .succeeds()
        .stdout_is("/opt/hermes/bin/hermes:0\n/opt/hermes/bin/hermes-boot:0");
    prod.sh(grep_overlay).await?.succeeds().stdout_is("");
    prod.remove().await?;
    // The counter-proof: the same checks see the bug in regression images.
    let rust =
        crate::runner::image_for(&ctx.docker, &Variant::regression("proc1-exe-probe")).await?;
    let reg = ctx.as_hermes().with_image(&rust).start_default().await?;
    reg.exec(&["hermes", "--version"])
        .await?
        .succeeds()
        .stdout_contains("regression build");
    reg.remove().await?;
    let shell =
        crate::runner::image_for(&ctx.docker, &Variant::regression("dashboard-down-marker"))
            .await?;
    let reg = ctx.as_hermes().with_image(&shell).start_default().await?;
    reg.sh(grep_overlay)
        .await?
        .succeeds()
        .stdout_contains("dashboard/finish");
    reg.remove().await
}

/// Check that `message` names every word of the stated cause.
pub fn names_cause(reg: &Regression, message: &str) -> Result<()> {
    let missing: Vec<&str> = reg
        .cause
        .iter()
        .copied()
        .filter(|c| !message.contains(c))
        .collect();
    ensure!(
        missing.is_empty(),
        "{}: the catcher failed, but not for the stated reason (missing {missing:?}):\n{message}",
        reg.id
    );
    Ok(())
}
