//! The regression catalogue (docs/contract.md §9): each historical bug as a buildable variant of
//! the product, the scenario that catches it, and the words its failure must contain — so a
//! sensitivity test can prove the suite fails *for the stated reason*, not just fails.
//!
//! Over 500 lines on purpose: most of it is the catalogue itself (`CATALOG`, one entry per id
//! with its bug, catcher and words), which reads best as one table beside the `Catcher`s it
//! names; the sensitivity check and the two catcher-only scenarios give those entries their
//! meaning. Whether a failure names its cause (`cause`) is a concern of its own.

mod cause;

pub use cause::{evidence, names_cause};

use std::future::Future;
use std::panic::AssertUnwindSafe;

use anyhow::{Result, anyhow, bail, ensure};
use futures_util::FutureExt;

use crate::image::{REGRESSION_ID_FILE, Variant};
use crate::regressions;
use crate::scenarios::{dashboard, lifecycle, parity, restart, security};
use crate::support::{create_profile, profile_home, slot_dir, svstat};
use crate::{ContainerSpec, Ctx, wait};

/// Declares [`Catcher`]: each variant names its scenario once, by the body's path (the area
/// module and the function, as `scenarios/` and `tests/suite/` share them), with the arguments
/// the catalogue runs it with and, for a parametrised test, the rstest case that runs the same.
/// `scenario()` is derived from that path, so the name the report and `make repro` print is the
/// test's own; the suite's `catchers_are_suite_scenarios` fails on a name no test has.
macro_rules! catchers {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $area:ident::$name:ident($($arg:expr),*) $([$case:literal])?;
    )*) => {
        /// The scenario that catches a regression. Each is a contract check that passes on the
        /// production image.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Catcher {
            $($(#[$doc])* $variant,)*
        }

        impl Catcher {
            /// The scenario's name in the suite: the test's own name, as `cargo test --list`,
            /// the report and JUnit show it.
            pub fn scenario(self) -> &'static str {
                match self {
                    $(Catcher::$variant => {
                        concat!(stringify!($area), "::", stringify!($name) $(, "::", $case)?)
                    })*
                }
            }

            /// Run the scenario exactly as its test does.
            pub async fn run(self, ctx: Ctx) -> Result<()> {
                match self {
                    $(Catcher::$variant => $area::$name(ctx $(, $arg)*).await,)*
                }
            }
        }
    };
}

catchers! {
    /// `profile create` publishes a slot in `/run/service` (or fails cleanly).
    CreatePublishesSlot => regressions::regression_create_publishes_slot();
    /// A freshly created slot and its logger are readable and controllable.
    SlotControllable => regressions::regression_slot_controllable();
    /// `dashboard` and `main-hermes` are readable and controllable.
    StaticServicesControllable => lifecycle::static_services_controllable_by_hermes();
    /// Create/delete cycles leave nothing behind.
    DeleteCycles => lifecycle::delete_leaves_nothing_after_20_cycles();
    /// A disabled dashboard stays down and not wanted up.
    DashboardStaysDown => dashboard::disabled_stays_down(None) ["case_1_unset"];
    /// A root-owned file in a profile is repaired by the next boot.
    RootLeftoversRepaired => restart::root_leftovers_are_repaired();
    /// Every prior intent is restored by one `docker restart` (the matrix of contract §5),
    /// among them a gateway whose only record of intent is its own `gateway_state` (started
    /// through s6, no `desired_state`), which must be running again.
    StartedSurvivesRestart => restart::intent_matrix_survives_restart(false) ["tmpfs_run_1_false"];
    /// Contract §10: a slot hermes makes itself never runs as root.
    NewSlotNeverRunsAsRoot => security::new_slot_never_runs_as_root(false) ["noexec_run_1_false"];
    /// Contract §10: links hermes plants in `supervise/` are never written through by root.
    SuperviseLinksNotWrittenThrough => security::supervise_links_not_written_through();
    /// Contract §10: links hermes plants in `event/` are never written through by root.
    EventLinksNotWrittenThrough => security::event_links_not_written_through();
    /// Contract §1: with `PUID`/`PGID`, the whole lifecycle works as the remapped hermes.
    PuidLifecycle => parity::puid_matches_a_host_directory();
    /// Contract §10.1: every plant at every component hermes can change, `HERMES_HOME` two
    /// levels below the volume.
    AttackMatrix => security::attack_matrix(2, true) ["case_2_depth2_tmpfs_run"];
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct Regression {
    pub id: &'static str,
    pub bug: &'static str,
    pub catcher: Catcher,
    /// Every one of these must appear in the catcher's *evidence*: its failure message without
    /// the command lines it quotes and without the permission dump (`evidence`), so that a
    /// word can only match what the product or s6 said.
    pub cause: &'static [&'static str],
    /// The catcher passes when run as root: the audit gap that let the bug ship.
    pub root_passes: bool,
}

pub const CATALOG: &[Regression] = &[
    Regression {
        id: "skeleton-ignores-remap",
        bug: "the slot skeleton grants its rights to gid 10000, not hermes' remapped ids: EACCES on every new slot",
        catcher: Catcher::PuidLifecycle,
        cause: &[
            "unable to check /run/service/gateway-hosted",
            "Permission denied",
        ],
        root_passes: false,
    },
    Regression {
        id: "proc1-exe-probe",
        bug: "detection reads /proc/1/exe, unreadable for hermes: s6 not detected, no slot",
        catcher: Catcher::CreatePublishesSlot,
        cause: &[
            "published no slot",
            "Manager: none",
            "cannot resolve /proc/1/exe",
        ],
        root_passes: true,
    },
    Regression {
        id: "registrar-denies-hermes",
        bug: "the registrar's access rules admit root only: hermes' every profile create is refused",
        catcher: Catcher::CreatePublishesSlot,
        cause: &[
            "the slot registrar refused the request",
            "appropriate permissions",
            "nothing left behind",
        ],
        root_passes: true,
    },
    Regression {
        id: "no-supervise-skeleton",
        bug: "slots published without the group-rights supervise skeleton: s6-svc/s6-svstat EACCES",
        catcher: Catcher::SlotControllable,
        cause: &[
            "unable to check /run/service/gateway-ctl:",
            "Permission denied",
        ],
        root_passes: true,
    },
    Regression {
        id: "no-static-supervise-perms",
        bug: "015 missing: hermes cannot read or control dashboard/main-hermes",
        catcher: Catcher::StaticServicesControllable,
        cause: &[
            "unable to check /run/service/main-hermes",
            "Permission denied",
        ],
        root_passes: true,
    },
    Regression {
        id: "no-log-skeleton",
        bug: "skeleton seeded for the slot but not its log/: hermes cannot read or control the logger",
        catcher: Catcher::SlotControllable,
        cause: &[
            "unable to check /run/service/gateway-ctl/log",
            "Permission denied",
        ],
        root_passes: true,
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
        bug: "dashboard disabled by a down marker instead of finish 125: it restarts forever, \
              so the boot never settles and is never ready",
        catcher: Catcher::DashboardStaysDown,
        cause: &[
            "dashboard neither up nor parked",
            "the user bundle did not come up",
        ],
        root_passes: false,
    },
    Regression {
        id: "profiles-not-chowned",
        bug: "01 does not repair root-owned files in profiles/: they stay root's and hermes cannot write its own state",
        catcher: Catcher::RootLeftoversRepaired,
        // The leftovers stay root's: the check that they are hermes' now reads root.
        cause: &["expected stdout (trimmed) to be \"hermes", "| root"],
        root_passes: false,
    },
    Regression {
        id: "reconcile-config-yaml",
        bug: "reconciler keys on config.yaml instead of SOUL.md: no profile restored",
        catcher: Catcher::StartedSurvivesRestart,
        cause: &[
            "no boot-log line for profile started_via_s6_only",
            "the boot did not see it",
        ],
        root_passes: false,
    },
    Regression {
        id: "sigterm-persists-stopped",
        bug: "gateway records stopped on an unplanned SIGTERM: not restarted after docker restart",
        catcher: Catcher::StartedSurvivesRestart,
        cause: &["prior_state=stopped", "action=registered"],
        root_passes: false,
    },
    Regression {
        id: "scandir-writable-by-hermes",
        bug: "the seeds' 02: /run/service and .s6-svscan/control handed to hermes: hermes' own slot runs as root",
        catcher: Catcher::NewSlotNeverRunsAsRoot,
        cause: &["executed as uid 0", "/tmp/sec/evidence reads \"0 evil-run"],
        root_passes: false,
    },
    Regression {
        id: "supervise-owned-by-hermes",
        bug: "the seeds' skeleton: supervise/ and control owned by hermes: root s6-supervise writes through hermes' links",
        catcher: Catcher::SuperviseLinksNotWrittenThrough,
        cause: &[
            "wrote its state through",
            "supervise/status.new",
            "/etc/hermes-canary",
        ],
        root_passes: false,
    },
    Regression {
        id: "event-dir-writable-by-hermes",
        bug: "the seeds' 015 and skeleton: event/ writable by hermes' group: root writes event bytes through hermes' links",
        catcher: Catcher::EventLinksNotWrittenThrough,
        cause: &[
            "wrote an event byte through",
            "/event/ftrig1:",
            "/etc/hermes-canary",
        ],
        root_passes: false,
    },
    Regression {
        id: "home-midpath-symlink-followed",
        bug: "01 opens HERMES_HOME by path with O_NOFOLLOW, which guards the last component only: a link one level up (nest -> /opt/hermes) makes root chown a root directory to hermes",
        catcher: Catcher::AttackMatrix,
        cause: &[
            "root file changed owner, mode or content",
            "/opt/matrix-canary/walk-",
            "is now 10000:10000",
        ],
        root_passes: false,
    },
    Regression {
        id: "repair-hands-over-private-files",
        bug: "01 gives hermes any root-owned entry renamed into a repaired place, a root 0600 secret included",
        catcher: Catcher::AttackMatrix,
        cause: &[
            "root-private entry renamed into place",
            "handed over or changed",
            "is now 10000:10000 mode 600",
        ],
        root_passes: false,
    },
];

/// Ids that are no longer part of the catalogue, and why: `make repro` says so.
pub const RETIRED: &[(&str, &str)] = &[(
    "svscan-control-root-owned",
    "retired: the bug was `02` leaving .s6-svscan/control root-owned, so hermes could not rescan. \
     The scanner is root's by design now (contract §10): hermes never rescans, the registrar \
     does. Its successor is `registrar-denies-hermes`.",
)];

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
/// (reported, no profile and no slot left behind) — and the failure says which happened.
pub async fn regression_create_publishes_slot(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let p = "probe";
    let dir = slot_dir(p);
    let o = h.exec(&["hermes", "profile", "create", p]).await?;
    let slot_left = h.exec(&["test", "-e", &dir]).await?.success();
    let profile_left = h.exec(&["test", "-e", &profile_home(p)]).await?.success();
    if !o.success() {
        let clean = match (profile_left, slot_left) {
            (false, false) => "(nothing left behind)",
            (true, false) => "and LEFT the profile behind",
            (false, true) => "and LEFT a slot behind",
            (true, true) => "and LEFT the profile and a slot behind",
        };
        bail!(
            "{}\n{o}",
            o.headline(&format!("profile create failed {clean}"))
        );
    }
    if !slot_left {
        let status = h.exec(&["hermes", "status"]).await?;
        bail!(
            "profile create succeeded but published no slot {dir}; `hermes status` says: {}\n{o}",
            status.stdout.lines().next().unwrap_or("(nothing)")
        );
    }
    svstat(&h, &dir).await?;
    h.remove().await
}

/// A fresh slot and its logger can be read (`s6-svstat`) and commanded (`s6-svc`) by the
/// scenario user — the s6 operations every `hermes gateway` command stands on — and the
/// command shows in the status, polled (hermes cannot use `s6-svwait`, contract §10).
pub async fn regression_slot_controllable(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let p = "ctl";
    create_profile(&h, p).await?;
    for dir in [slot_dir(p), format!("{}/log", slot_dir(p))] {
        wait::poll_until(
            &format!("{dir} to be supervised"),
            std::time::Duration::from_secs(10),
            || async {
                let o = h.exec(&["/command/s6-svok", &dir]).await?;
                if o.success() || o.hit_permission_error() {
                    Ok(Some(()))
                } else {
                    Err(anyhow!("{}", o.stderr))
                }
            },
        )
        .await?;
        h.exec(&["/command/s6-svstat", &dir]).await?.succeeds();
        h.exec(&["/command/s6-svc", "-d", &dir]).await?.succeeds();
        crate::support::wait_svstat(
            &h,
            &dir,
            "down and not wanted up",
            std::time::Duration::from_secs(10),
            |s| !s.up && !s.wanted_up,
        )
        .await?;
    }
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
    /// The run it belongs to (`report::run_id`).
    #[serde(default)]
    pub run: String,
}

/// The sensitivity of one catalogue entry: its catcher fails on the regression image, as
/// hermes, for the stated reason, and, for the bugs that shipped because tests ran as root,
/// passes on the regression image as root.
///
/// The control — the catcher passes on the production image — is the catcher's own test, run
/// once per suite run under the name `Catcher::scenario` gives (`catchers_are_suite_scenarios`
/// proves every catcher is one), not again for each id: a catcher that failed on production
/// fails the run by itself, and `conformance-summary` pairs every id with its catcher's result
/// in the same run (`control` in its sensitivity table).
pub async fn regression_is_caught_for_its_stated_reason(ctx: Ctx, id: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let reg = find(id).ok_or_else(|| anyhow::anyhow!("unknown regression id {id:?}"))?;
    let image = crate::runner::image_for(&ctx.docker, &Variant::regression(id)).await?;
    let scenario = reg.catcher.scenario();
    let message = match outcome_of(reg.catcher.run(ctx.as_hermes().with_image(&image))).await {
        Ok(()) => bail!("{id} NOT caught: {scenario} passed as hermes on {image}"),
        Err(m) => m,
    };
    names_cause(reg, &message)?;
    // One after the other: a failed run's container is removed as it is dropped, which holds
    // up whatever else this task polls (run side by side, the root run's execs timed out).
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
        run: String::new(), // filled in by report::append_for_run
    });
    Ok(())
}

fn append_record(r: &SensitivityRecord) {
    crate::report::append_for_run(&sensitivity_path(), r, crate::report::run_id());
}

/// `sensitivity.jsonl` beside the report: one record per id caught in this run.
pub fn sensitivity_path() -> std::path::PathBuf {
    crate::report::jsonl_path().with_file_name("sensitivity.jsonl")
}

/// This run's sensitivity records (none if no id ran).
pub fn read_sensitivity() -> Vec<SensitivityRecord> {
    std::fs::read_to_string(sensitivity_path())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The production image carries no regression code: its `hermes` is not a regression build
/// (no build mark, and no binary knows the id file's name, which only the feature `regression`
/// compiles in), the id file is absent and no overlay file reached it — checked against
/// regression images, where all of them show, so the check itself can fail.
pub async fn production_carries_no_regression_code(ctx: Ctx) -> Result<()> {
    const MARK: &str = "hermes-s6 regression build";
    let binaries =
        "/opt/hermes/bin/hermes /opt/hermes/bin/hermes-boot /opt/hermes/bin/hermes-registrar";
    let grep_binary = format!("grep -c '{MARK}' {binaries} || true");
    let grep_id_file = format!("grep -c '{REGRESSION_ID_FILE}' {binaries} || true");
    let id_file = format!("stat -c '%a %U:%G' {REGRESSION_ID_FILE} && cat {REGRESSION_ID_FILE}");
    let none_marked = binaries
        .split(' ')
        .map(|b| format!("{b}:0"))
        .collect::<Vec<_>>()
        .join("\n");
    let grep_overlay =
        "grep -l 'Regression' /etc/s6-overlay/s6-rc.d/*/* /etc/hermes-s6/* 2>/dev/null || true";
    // Contract §7: no `down` marker anywhere for the static services — neither shipped with
    // their definitions nor left in their live copies once the boot brought them up.
    let down_markers =
        "find /etc/s6-overlay/s6-rc.d /run/s6-rc/servicedirs -name down 2>/dev/null || true";
    let prod = ctx.as_hermes().start_default().await?;
    prod.exec(&["hermes", "--version"])
        .await?
        .succeeds()
        .stdout_lacks("regression");
    prod.sh(&grep_binary)
        .await?
        .succeeds()
        .stdout_is(&none_marked);
    prod.sh(&grep_id_file)
        .await?
        .succeeds()
        .stdout_is(&none_marked);
    crate::support::assert_absent(&prod, REGRESSION_ID_FILE, "production names no regression")
        .await?;
    prod.sh(grep_overlay).await?.succeeds().stdout_is("");
    prod.sh(down_markers).await?.succeeds().stdout_is("");
    prod.remove().await?;
    // The counter-proof: the same checks see the bug in regression images — a regression
    // build marks every binary, and the shell regression leaves its overlay and its marker.
    let rust =
        crate::runner::image_for(&ctx.docker, &Variant::regression("proc1-exe-probe")).await?;
    let reg = ctx.as_hermes().with_image(&rust).start_default().await?;
    reg.exec(&["hermes", "--version"])
        .await?
        .succeeds()
        .stdout_contains("regression build");
    let counts = reg.sh(&grep_binary).await?;
    counts.succeeds();
    ensure!(
        counts.stdout_lines().iter().all(|l| !l.ends_with(":0")),
        "a regression build must mark every binary, but:\n{counts}"
    );
    let counts = reg.sh(&grep_id_file).await?;
    counts.succeeds();
    ensure!(
        counts.stdout_lines().iter().all(|l| !l.ends_with(":0")),
        "every regression binary must read {REGRESSION_ID_FILE}, but:\n{counts}"
    );
    // The id that picks the bug: root's, readable by hermes, in the root-only /etc/hermes-s6.
    reg.sh(&id_file)
        .await?
        .succeeds()
        .stdout_is("644 root:root\nproc1-exe-probe");
    reg.remove().await?;
    let shell =
        crate::runner::image_for(&ctx.docker, &Variant::regression("dashboard-down-marker"))
            .await?;
    // That image never becomes ready (its dashboard restarts forever, so stage 2 never sees
    // the user bundle settle): its files are read without waiting for the boot.
    let reg = ctx
        .as_hermes()
        .with_image(&shell)
        .start(ContainerSpec::default().no_wait())
        .await?;
    reg.sh(grep_overlay)
        .await?
        .succeeds()
        .stdout_contains("dashboard/finish");
    reg.sh(down_markers)
        .await?
        .succeeds()
        .stdout_contains("/etc/s6-overlay/s6-rc.d/dashboard/down");
    reg.remove().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regression image brings its bug back through the one regression build (its id in
    /// `hermes::regression::IDS`, which the hermes crate checks against its `on("<id>")`
    /// calls) or through an overlay: an id with neither would build an image without the bug.
    #[test]
    fn every_id_has_a_code_path_or_an_overlay() {
        let ids =
            std::fs::read_to_string(crate::config::repo_root().join("impl/src/regression.rs"))
                .expect("reading impl/src/regression.rs");
        for r in CATALOG {
            let in_rust = ids.contains(&format!("\n    \"{}\",\n", r.id));
            let overlay = Variant::regression(r.id).overlay.is_some();
            assert!(
                in_rust || overlay,
                "{}: neither a code path nor an overlay",
                r.id
            );
        }
    }
}
