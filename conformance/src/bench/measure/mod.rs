//! The measurements of `make bench`, one function per section. Each pushes figures built from
//! their declarations ([`super::figures`]) into [`Results`]; a section that fails records the
//! failure against its first figure and the run goes on.
//!
//! Containers are driven through the harness's own verbs (`Container::start`, `stop`,
//! `docker_start`, `docker_restart`, `exec`), as the scenarios drive them.
//!
//! Timing rule: wherever the question is "how long until s6 (or the boot) says so", the wait
//! runs *inside* the container, in the same exec as the command, through the one `poll` shell
//! helper (`scripts::poll_sh!`: every 10 ms, bounded), so the figure is not rounded up to the
//! harness's 50 ms poll or padded with extra exec round trips. Waits that are not timed
//! (setting a container up) poll from the harness with `wait::poll_until` ([`until_ok`]).

//!
//! One file per section: [`build`] (product, base, compile), [`boot`], [`verbs`] (exec),
//! [`scale`], [`memory`], [`suite`] and [`curves`]; [`scripts`] holds the in-container shell.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bollard::Docker;
use serde::Serialize;

use super::{Figure, FigureDecl, Results};
use crate::container::{Container, ContainerSpec, ExecDefaults, READY_MARKER};
use crate::image::base_tag;
use crate::{ExecOutcome, wait};

#[macro_use]
mod scripts;
mod boot;
mod build;
mod curves;
mod memory;
mod scale;
mod suite;
mod verbs;

pub use build::sweep_images;
pub use curves::curves_svg;
use scripts::*;

/// How much of each thing to measure.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Repetitions of each CLI command (and of the exec floor).
    pub exec_reps: usize,
    /// `docker start` → ready, product and floor each (and the suite section's container
    /// cycles).
    pub boot_reps: usize,
    /// The suite section runs only the scenarios these libtest filters select (all if none).
    pub suite_filter: Vec<String>,
    /// Product image builds, cold and warm each.
    pub build_reps: usize,
    /// Base image builds (mmdebstrap + import).
    pub base_runs: usize,
    /// Rebuilds of the hermes crate alone (after the one cold build of everything).
    pub compile_reps: usize,
    /// Profile counts for the registration and boot growth curve.
    pub scale_sizes: Vec<usize>,
    /// Fresh containers per profile count for the registration time.
    pub scale_reps: usize,
    /// `docker restart` → ready per profile count.
    pub scale_boot_reps: usize,
    /// Gateways whose resident set is read.
    pub mem_gateways: usize,
    /// Dashboard containers whose resident set is read.
    pub dashboard_reps: usize,
    /// `--curves`: profile counts on disk for the boot curves (0 is always measured).
    pub curve_sizes: Vec<usize>,
    /// `--curves`: `docker restart` → ready per count and /run mode.
    pub curve_boot_reps: usize,
    /// `--curves`: running gateway counts whose memory is read (cumulative, one container).
    pub curve_running: Vec<usize>,
    /// `--curves`: which `/run` modes (`tmpfs`, `fuse` = the image's filesystem).
    pub curve_modes: Vec<String>,
    pub sections: BTreeSet<Section>,
}

/// A part of the bench; the doc comments are `conformance-bench --help`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Image sizes; product image builds, cold and warm
    Product,
    /// The base image from scratch (mmdebstrap + import; needs the apt mirror)
    Base,
    /// The hermes binaries: cold compile, crate only, nothing changed
    Compile,
    /// docker start → ready and docker stop, against a bare s6-svscan
    Boot,
    /// Each CLI verb, against docker exec and against bare s6
    Exec,
    /// Registering N profiles; docker restart → ready with N on disk
    Scale,
    /// Resident memory of gateways, s6 and the dashboard
    Memory,
    /// The whole conformance suite once, warm
    Suite,
    /// Growth curves: boot with 0…1000 profiles (/run on the image fs and on a tmpfs),
    /// memory with N gateways running
    Curves,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::Product,
        Section::Base,
        Section::Compile,
        Section::Boot,
        Section::Exec,
        Section::Scale,
        Section::Memory,
        Section::Suite,
        Section::Curves,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Product => "product",
            Section::Base => "base",
            Section::Compile => "compile",
            Section::Boot => "boot",
            Section::Exec => "exec",
            Section::Scale => "scale",
            Section::Memory => "memory",
            Section::Suite => "suite",
            Section::Curves => "curves",
        }
    }
}

impl Options {
    /// The full run: about 10 minutes on a 2-core machine, the suite included.
    pub fn full() -> Options {
        Options {
            exec_reps: 20,
            boot_reps: 10,
            suite_filter: Vec::new(),
            build_reps: 3,
            base_runs: 1,
            compile_reps: 1,
            scale_sizes: vec![1, 10, 100, 250],
            scale_reps: 3,
            scale_boot_reps: 5,
            mem_gateways: 5,
            dashboard_reps: 3,
            curve_sizes: vec![10, 100, 250, 1000],
            curve_boot_reps: 3,
            curve_running: vec![10, 100, 250],
            curve_modes: vec!["tmpfs".into(), "fuse".into()],
            sections: Section::ALL
                .into_iter()
                .filter(|s| !matches!(s, Section::Suite | Section::Curves))
                .collect(),
        }
    }

    /// A smoke run: every cheap section once or thrice; no base image, compile or suite.
    pub fn quick() -> Options {
        Options {
            exec_reps: 3,
            boot_reps: 2,
            suite_filter: Vec::new(),
            build_reps: 1,
            base_runs: 1,
            compile_reps: 1,
            scale_sizes: vec![1, 10],
            scale_reps: 1,
            scale_boot_reps: 2,
            mem_gateways: 2,
            dashboard_reps: 1,
            curve_sizes: vec![10, 100],
            curve_boot_reps: 2,
            curve_running: vec![10],
            curve_modes: vec!["tmpfs".into(), "fuse".into()],
            sections: [
                Section::Product,
                Section::Boot,
                Section::Exec,
                Section::Scale,
                Section::Memory,
            ]
            .into_iter()
            .collect(),
        }
    }
}

/// Everything a section needs.
pub struct Bench {
    pub docker: Docker,
    /// The product image under test (`hermes-s6:<hash>`, built by the harness).
    pub image: String,
    pub opts: Options,
    pub results: Results,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fail_unless(o: ExecOutcome) -> Result<ExecOutcome> {
    if !o.success() {
        bail!("command failed\n{o}");
    }
    Ok(o)
}

/// Run `script` (with `args` as `$1…`) as the container's user; fail unless it exits 0.
async fn sh(h: &Container, script: &str, args: &[&str], deadline: Duration) -> Result<ExecOutcome> {
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend_from_slice(args);
    fail_unless(h.exec(&argv).deadline(deadline).await?)
}

/// How many gateway slots whose profile name starts with `prefix` are in the scandir (the
/// check that a boot really brought every profile back).
async fn gateway_slots(h: &Container, prefix: &str) -> Result<usize> {
    let o = sh(
        h,
        "ls /run/service | grep -c \"^gateway-$1\" || true",
        &[prefix],
        Duration::from_secs(30),
    )
    .await?;
    Ok(o.out().parse().unwrap_or(0))
}

/// An untimed wait (setting up, not a figure): `argv` run as the container's user every 50 ms
/// until it exits 0, at most `deadline`; what it printed is the last observation.
async fn until_ok(h: &Container, what: &str, argv: &[&str], deadline: Duration) -> Result<()> {
    wait::poll_until(what, deadline, || async move {
        let o = h.exec(argv).await.map_err(|e| format!("{e:#}"))?;
        if o.success() {
            Ok(Some(()))
        } else {
            Err(format!("{} {}", o.stdout.trim(), o.stderr.trim()))
        }
    })
    .await
}

/// `docker start` (the harness's bare verb) → the in-container wait `script` exits 0. The time
/// and the wait's stdout.
async fn start_until(h: &Container, script: &str, args: &[&str]) -> Result<(Duration, String)> {
    let t = Instant::now();
    h.docker_start().await?;
    let o = sh(h, script, args, Duration::from_secs(40)).await?;
    Ok((t.elapsed(), o.out().to_string()))
}

/// What one `docker restart` → ready took.
struct Restarted {
    /// From the restart call to the wait's end.
    total: Duration,
    /// The restart call alone (stop with its grace, then start).
    call: Duration,
    /// The wait's stdout (the new marker).
    out: String,
}

/// `docker restart` with `grace` (the harness's bare verb) → the in-container wait `script`
/// exits 0.
async fn restart_until(
    h: &Container,
    grace: i32,
    script: &str,
    args: &[&str],
    deadline: Duration,
) -> Result<Restarted> {
    let t = Instant::now();
    let call = h.docker_restart(grace).await?;
    let o = sh(h, script, args, deadline).await?;
    Ok(Restarted {
        total: t.elapsed(),
        call,
        out: o.out().to_string(),
    })
}

async fn current_marker(h: &Container) -> Result<String> {
    let o = fail_unless(h.exec(&["cat", READY_MARKER]).await?)?;
    Ok(o.out().to_string())
}

/// A section that stopped before it recorded any figure: the failure goes to its first.
fn section_stopped(decl: &FigureDecl, section: &str, e: anyhow::Error) -> Figure {
    decl.failed(&e.context(format!(
        "the {section} section stopped before recording its figures"
    )))
}

impl Bench {
    /// A product container, measured as the user the product runs as.
    async fn start(&self, what: &str, spec: ContainerSpec) -> Result<Container> {
        let exec = ExecDefaults::as_user("hermes");
        Container::start(
            &self.docker,
            &self.image,
            &format!("bench-{what}"),
            spec,
            exec,
        )
        .await
        .with_context(|| format!("starting a container for {what}"))
    }

    /// A floor: a container of the base image whose PID 1 is `sh -c init sh args…` (ending in
    /// a bare s6-svscan on `/tmp/scan`), driven as root (the base image has no user hermes),
    /// once its s6-svscan answers.
    async fn floor(&self, what: &str, init: &str, args: &[&str]) -> Result<Container> {
        let base = base_tag()?;
        let mut cmd = vec!["-c", init, "sh"];
        cmd.extend_from_slice(args);
        let spec = ContainerSpec::default()
            .entrypoint("/bin/sh")
            .cmd(&cmd)
            .no_wait();
        let exec = ExecDefaults::as_user("root");
        let h = Container::start(&self.docker, &base, &format!("bench-{what}"), spec, exec)
            .await
            .with_context(|| format!("starting the {what} container (bare s6-svscan)"))?;
        until_ok(
            &h,
            "the floor's s6-svscan to answer",
            &["/usr/bin/s6-svscanctl", "-z", "/tmp/scan"],
            Duration::from_secs(40),
        )
        .await?;
        Ok(h)
    }
}
