//! The measurements of `make bench`, one function per section. Each pushes figures built from
//! their declarations ([`super::figures`]) into [`Results`]; a section that fails records the
//! failure against its first figure and the run goes on.
//!
//! Containers are driven through the harness's own verbs (`Container::start`, `stop`,
//! `docker_start`, `docker_restart`, `exec`), as the scenarios drive them.
//!
//! Timing rule: wherever the question is "how long until s6 (or the boot) says so", the wait
//! runs *inside* the container, in the same exec as the command, through the one `poll` shell
//! helper ([`poll_sh!`]: every 10 ms, bounded), so the figure is not rounded up to the
//! harness's 50 ms poll or padded with extra exec round trips. Waits that are not timed
//! (setting a container up) poll from the harness with `wait::poll_until` ([`until_ok`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bollard::Docker;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;

use super::figures::*;
use super::{Figure, FigureDecl, Results, Unit, progress};
use crate::container::{Container, ContainerSpec, READY_MARKER};
use crate::image::{Variant, base_tag, build_binaries, build_context};
use crate::s6probe::{expected_port, slot_dir, wait_http};
use crate::{ExecOutcome, config, wait};

mod curves;
pub use curves::curves_svg;

/// How much of each thing to measure.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// Repetitions of each CLI command (and of the exec floor).
    pub exec_reps: usize,
    /// `docker start` → ready, product and floor each.
    pub boot_reps: usize,
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

/// The bench's one in-container wait, put in front of every script that waits for s6 or the
/// boot: `poll WHAT COND [ARG…]` runs `COND ARG…` every 10 ms until it succeeds, at most
/// `$max_polls` times (3000, i.e. 30 s, unless the script sets it), the count shared by all of
/// a script's polls; a timeout names WHAT and what `COND` last left in `$seen`. The exec's
/// deadline bounds it again from outside.
macro_rules! poll_sh {
    ($body:literal) => {
        concat!(
            r#"polls=0 seen=
poll() {
  what=$1; shift
  until "$@"; do
    polls=$((polls+1))
    [ "$polls" -lt "${max_polls:-3000}" ] || { echo "$what: not after $polls polls of 10 ms; last seen: ${seen:-nothing}" >&2; return 1; }
    sleep 0.01
  done
}
"#,
            $body
        )
    };
}

/// `$1` = the previous boot's marker, `$2` = at most so many polls (3000): until the readiness
/// marker is another one; prints it.
const WAIT_MARKER: &str = poll_sh!(
    r#"prev=$1 max_polls=${2:-3000}
new_marker() { seen=$(cat /run/hermes/ready 2>/dev/null) && [ -n "$seen" ] && [ "$seen" != "$prev" ]; }
poll "a readiness marker other than ($prev)" new_marker && printf '%s\n' "$seen""#
);

/// Until the floor's s6-svscan accepts a control command (its control FIFO has a reader).
const WAIT_SVSCAN: &str = poll_sh!(
    r#"answers() { /usr/bin/s6-svscanctl -z /tmp/scan 2>/dev/null; }
poll "s6-svscan on /tmp/scan to answer" answers"#
);

/// `$1` = s6-svstat's path, `$2` = `up`, `down` or `restarted` (up with a pid other than `$4`),
/// `$3` = the service dir, `$5…` = a command: run it, then poll s6-svstat until it says so. The
/// gateways (`hermes gateway start`) and the s6 floor (`s6-svc -u`) are timed by this script.
const COMMAND_THEN_STATE: &str = poll_sh!(
    r#"svstat=$1 want=$2 dir=$3 old=$4; shift 4
"$@" >/dev/null || exit 1
state_is() {
  seen=$("$svstat" -o up,pid "$dir") || return 1
  case $want:$seen in
    up:true\ *|down:false\ *) return 0 ;;
    restarted:"true $old") return 1 ;;
    restarted:true\ *) return 0 ;;
  esac
  return 1
}
poll "$dir $want" state_is"#
);

/// s6-svstat in the product image (under `/command`) and in the base image the floors run.
const PRODUCT_SVSTAT: &str = "/command/s6-svstat";
const FLOOR_SVSTAT: &str = "/usr/bin/s6-svstat";

/// PID 1 of the boot and curves floors: a bare s6-svscan on an empty `/tmp/scan`.
const SVSCAN_FLOOR_INIT: &str = "mkdir -p /tmp/scan && exec /usr/bin/s6-svscan /tmp/scan";

/// The s6 floor of start/stop/restart: PID 1 a bare `s6-svscan /tmp/scan` from the base
/// image, with `$1` trivial services `svc<i>` (`exec sleep`), each starting down.
const S6_FLOOR_INIT: &str = r#"i=0
while [ $i -lt "$1" ]; do
  d=/tmp/scan/svc$i; mkdir -p $d; printf '#!/bin/sh\nexec /bin/sleep 86400\n' >$d/run
  chmod 755 $d/run; touch $d/down; i=$((i+1))
done
exec /usr/bin/s6-svscan /tmp/scan"#;

/// `$1` = count: create profiles s1..s<count>, one `hermes profile create` each.
const CREATE_LOOP: &str = r#"i=0
while [ $i -lt "$1" ]; do i=$((i+1)); hermes profile create "s$i" >/dev/null || exit 1; done"#;

/// Resident set (kB) of each pid given, one per line.
const RSS_OF: &str = r#"for pid in "$@"; do
  sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$pid/status" || exit 1
done"#;

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

/// `cmd`, then until `svstat` says `want` (`up`, `down`, `restarted` from `old`) for `dir`:
/// one exec, timed.
async fn command_then(
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
async fn gateway_verb(
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
async fn pid_of(h: &Container, svstat: &str, dir: &str) -> Result<String> {
    let o = fail_unless(h.exec(&[svstat, "-o", "pid", dir]).await?)?;
    Ok(o.out().to_string())
}

/// s6-supervise runs a service again at most once a second after it last started it: a
/// restart sooner would measure that throttle, not us. A deliberate, bounded pause until
/// 1.1 s after the last start.
async fn outwait_s6_backoff(last_start: Instant) {
    let since = last_start.elapsed();
    if since < Duration::from_millis(1100) {
        tokio::time::sleep(Duration::from_millis(1100) - since).await; // outwait s6's 1 s restart backoff
    }
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

/// `n` distinct profile names whose derived gateway ports differ (two gateways on one port
/// would make the second fail to bind, which is not what is being measured).
fn names_with_distinct_ports(prefix: &str, n: usize) -> Vec<String> {
    let mut ports = HashSet::new();
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|name| ports.insert(expected_port(name)))
        .take(n)
        .collect()
}

fn parse_kb_lines(text: &str) -> Result<Vec<f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse::<f64>()
                .map(|kb| kb * 1024.0)
                .with_context(|| format!("unparsable VmRSS {l:?}"))
        })
        .collect()
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
        let mut h = Container::start(&self.docker, &self.image, &format!("bench-{what}"), spec)
            .await
            .with_context(|| format!("starting a container for {what}"))?;
        h.user = "hermes".into();
        Ok(h)
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
        let mut h = Container::start(&self.docker, &base, &format!("bench-{what}"), spec)
            .await
            .with_context(|| format!("starting the {what} container (bare s6-svscan)"))?;
        h.user = "root".into();
        until_ok(
            &h,
            "the floor's s6-svscan to answer",
            &["/usr/bin/s6-svscanctl", "-z", "/tmp/scan"],
            Duration::from_secs(40),
        )
        .await?;
        Ok(h)
    }

    // ------------------------------------------------------------------ image

    /// Image sizes, and product image builds cold (no cache) and warm (one rootfs file
    /// changed), from the very context the harness builds.
    pub async fn product(&mut self) {
        progress("image: sizes");
        let r = image_size(&self.docker, &self.image).await.map(|b| {
            IMAGE_PRODUCT_SIZE
                .measured(vec![b])
                .note(self.image.clone())
        });
        self.results.record(&IMAGE_PRODUCT_SIZE, r);
        let base = match base_tag() {
            Ok(b) => b,
            Err(e) => {
                self.results.push(IMAGE_BASE_SIZE.failed(&e));
                return;
            }
        };
        let r = image_size(&self.docker, &base)
            .await
            .map(|b| IMAGE_BASE_SIZE.measured(vec![b]).note(base.clone()));
        self.results.record(&IMAGE_BASE_SIZE, r);

        let context = build_binaries(&Variant::production())
            .context("compiling the production binaries")
            .and_then(|bins| {
                build_context(&bins, None, false).context("assembling the production build context")
            });
        let context = match context {
            Ok(c) => c,
            Err(e) => {
                self.results.push(IMAGE_PRODUCT_COLD.failed(&e));
                return;
            }
        };
        progress(format!(
            "image: product build cold (no cache) x{}, context {} KiB",
            self.opts.build_reps,
            context.len() / 1024
        ));
        let (cold, err) = self
            .timed_builds("cold", &base, true, |_| Ok(context.clone()))
            .await;
        self.results.push(
            IMAGE_PRODUCT_COLD.durations_until(&cold, err.as_ref()).note(
                "classic builder, same context and BASE_IMAGE as the harness; the base image is present",
            ),
        );

        progress(format!(
            "image: product build warm (one rootfs file changed) x{}",
            self.opts.build_reps
        ));
        let (warm, err) = self
            .timed_builds("warm", &base, false, |i| {
                let nonce = format!("{}-{i}-{:?}", std::process::id(), Instant::now());
                touch_in_context(&context, "rootfs/etc/hermes-s6/stage2", &nonce)
            })
            .await;
        self.results.push(
            IMAGE_PRODUCT_WARM.durations_until(&warm, err.as_ref()).note(
                "a comment appended to rootfs/etc/hermes-s6/stage2 in an in-memory copy of the context: \
                 the package/user layer is cached, COPY rootfs, COPY bin and the permission RUN are redone",
            ),
        );
    }

    /// `build_reps` builds of the context `make_context(i)` under throwaway tags (removed
    /// again), timed; stops at the first failure and returns it with the samples so far.
    async fn timed_builds(
        &self,
        kind: &str,
        base: &str,
        no_cache: bool,
        make_context: impl Fn(usize) -> Result<Vec<u8>>,
    ) -> (Vec<Duration>, Option<anyhow::Error>) {
        let mut samples = Vec::new();
        for i in 0..self.opts.build_reps {
            let tag = format!(
                "{}:bench-{kind}-{}-{i}",
                crate::image::PRODUCT_REPO,
                std::process::id()
            );
            let built = match make_context(i) {
                Ok(context) => docker_build(&self.docker, context, &tag, base, no_cache).await,
                Err(e) => Err(e),
            };
            match built {
                Ok(d) => {
                    samples.push(d);
                    remove_image(&self.docker, &tag).await;
                }
                Err(e) => return (samples, Some(e)),
            }
        }
        (samples, None)
    }

    /// The base image from scratch: mmdebstrap into a temporary tar, then import under a
    /// throwaway tag (removed again).
    pub async fn base(&mut self) {
        let root = config::repo_root();
        let script = root.join("docker/base/build-rootfs.sh");
        let mut rootfs = Vec::new();
        let mut import = Vec::new();
        let mut err = None;
        let mut tar_size = None;
        for i in 0..self.opts.base_runs {
            progress(format!(
                "image: base image cold, run {}/{} (mmdebstrap; needs the apt mirror)",
                i + 1,
                self.opts.base_runs
            ));
            let tarball =
                config::work_dir().join(format!("bench-rootfs-{}-{i}.tar", std::process::id()));
            let r = async {
                let t = Instant::now();
                let mut cmd = tokio::process::Command::new("bash");
                cmd.arg(&script)
                    .arg(&tarball)
                    .current_dir(&root)
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit());
                let status =
                    run_with_deadline(cmd, Duration::from_secs(900), "build-rootfs.sh").await?;
                if !status.success() {
                    bail!("{} failed ({status})", script.display());
                }
                let built = t.elapsed();
                tar_size = std::fs::metadata(&tarball).ok().map(|m| m.len());
                let tag = format!(
                    "{}:bench-{}-{i}",
                    crate::image::BASE_REPO,
                    std::process::id()
                );
                let t = Instant::now();
                let imported = import_tar(&self.docker, &tarball, &tag).await;
                let took = t.elapsed();
                remove_image(&self.docker, &tag).await;
                imported?;
                anyhow::Ok((built, took))
            }
            .await;
            let _ = std::fs::remove_file(&tarball);
            match r {
                Ok((b, t)) => {
                    rootfs.push(b);
                    import.push(t);
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let total: Vec<Duration> = rootfs.iter().zip(&import).map(|(a, b)| *a + *b).collect();
        let tar_note = tar_size
            .map(|s| format!("; rootfs tar {}", Unit::Bytes.format(s as f64)))
            .unwrap_or_default();
        self.results.push(IMAGE_BASE_ROOTFS.durations(&rootfs).note(format!(
            "docker/base/build-rootfs.sh; downloads every package from the host's apt mirror each time{tar_note}"
        )));
        self.results.push(IMAGE_BASE_IMPORT.durations(&import));
        self.results
            .push(IMAGE_BASE_COLD.durations_until(&total, err.as_ref()));
    }

    /// The hermes binaries: one build in an empty target dir (every dependency and hermes),
    /// then rebuilds of the hermes crate alone.
    pub async fn compile(&mut self) {
        let target = config::work_dir().join("bench-target");
        let build = [
            "build",
            "--quiet",
            "-p",
            "hermes",
            "--profile",
            "image",
            "--bins",
        ];
        let r = async {
            if target.exists() {
                std::fs::remove_dir_all(&target)
                    .with_context(|| format!("emptying {}", target.display()))?;
            }
            progress(format!(
                "compile: cargo build --profile image -p hermes --bins into an empty {} (all deps)",
                target.display()
            ));
            let cold = cargo(&target, &build).await?;
            let mut crate_only = Vec::new();
            for i in 0..self.opts.compile_reps {
                progress(format!(
                    "compile: hermes crate only, {}/{}",
                    i + 1,
                    self.opts.compile_reps
                ));
                cargo(
                    &target,
                    &["clean", "--quiet", "-p", "hermes", "--profile", "image"],
                )
                .await?;
                crate_only.push(cargo(&target, &build).await?);
            }
            let noop = cargo(&target, &build).await?;
            anyhow::Ok((cold, crate_only, noop))
        }
        .await;
        let _ = std::fs::remove_dir_all(&target);
        match r {
            Ok((cold, crate_only, noop)) => {
                self.results.push(
                    IMAGE_COMPILE_COLD.durations(&[cold])
                        .note("cargo build --profile image (thin LTO, opt-level s) in an empty CARGO_TARGET_DIR; crate sources already downloaded"),
                );
                self.results.push(
                    IMAGE_COMPILE_CRATE.durations(&crate_only)
                        .note("after `cargo clean -p hermes`: dependencies compiled, hermes lib + both bins rebuilt and linked"),
                );
                self.results.push(IMAGE_COMPILE_NOOP.durations(&[noop]));
            }
            Err(e) => self
                .results
                .push(section_stopped(&IMAGE_COMPILE_COLD, "compile", e)),
        }
    }

    // ------------------------------------------------------------------ boot

    /// `docker start` → ready, against a floor container of the same base image whose PID 1 is
    /// a bare `s6-svscan /tmp/scan` (ready = it accepts `s6-svscanctl -z`). Interleaved, so a
    /// change of load hits both alike.
    pub async fn boot(&mut self) {
        if let Err(e) = self.boot_inner().await {
            self.results.push(section_stopped(&BOOT_PRODUCT, "boot", e));
        }
    }

    async fn boot_inner(&mut self) -> Result<()> {
        progress(format!(
            "boot: docker start → ready, product and floor, x{}",
            self.opts.boot_reps
        ));
        let product = self.start("boot", ContainerSpec::default()).await?;
        let floor = self.floor("boot-floor", SVSCAN_FLOOR_INIT, &[]).await?;
        let mut marker = current_marker(&product).await?;

        let (mut p_start, mut p_stop, mut f_start, mut f_stop) = (vec![], vec![], vec![], vec![]);
        for _ in 0..self.opts.boot_reps {
            f_stop.push(floor.stop().await?);
            f_start.push(start_until(&floor, WAIT_SVSCAN, &[]).await?.0);
            p_stop.push(product.stop().await?);
            let (d, m) = start_until(&product, WAIT_MARKER, &[&marker]).await?;
            p_start.push(d);
            marker = m;
        }
        product.remove().await?;
        floor.remove().await?;
        self.results.push(
            BOOT_FLOOR.durations(&f_start)
                .note("same base image, PID 1 `s6-svscan /tmp/scan` (via sh -c mkdir), ready = `s6-svscanctl -z` succeeds, polled every 10 ms in one exec"),
        );
        self.results.push(
            BOOT_PRODUCT.durations(&p_start)
                .note("default command; the marker is polled every 10 ms inside one exec started right after docker start"),
        );
        self.results.push(BOOT_FLOOR_STOP.durations(&f_stop));
        self.results.push(BOOT_PRODUCT_STOP.durations(&p_stop));
        self.results
            .set_ratios(&BOOT_FLOOR, "s6-svscan", &[&BOOT_PRODUCT]);
        self.results
            .set_ratios(&BOOT_FLOOR_STOP, "s6-svscan", &[&BOOT_PRODUCT_STOP]);
        Ok(())
    }

    // ------------------------------------------------------------------ exec

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

    // ------------------------------------------------------------------ scale

    /// Registering N profiles (one exec, `hermes profile create` in a loop) and boot-to-ready
    /// (`docker restart` → new marker) with N profiles on disk.
    pub async fn scale(&mut self) {
        let mut sizes: Vec<usize> = vec![0];
        sizes.extend(self.opts.scale_sizes.iter().copied().filter(|n| *n > 0));
        sizes.dedup();
        for n in sizes {
            if let Err(e) = self.scale_one(n).await {
                self.results.push(SCALE_BOOT.at(n).failed(&e));
            }
        }
    }

    async fn scale_one(&mut self, n: usize) -> Result<()> {
        progress(format!(
            "scale: {n} profiles: register x{}, restart → ready x{}",
            if n == 0 { 0 } else { self.opts.scale_reps },
            self.opts.scale_boot_reps
        ));
        let mut per_op = Vec::new();
        let mut boots = Vec::new();
        let reps = if n == 0 { 1 } else { self.opts.scale_reps };
        for rep in 0..reps {
            let h = self
                .start(&format!("scale-{n}"), ContainerSpec::default())
                .await?;
            if n > 0 {
                let deadline = Duration::from_secs(30 + 2 * n as u64);
                let o = sh(&h, CREATE_LOOP, &[&n.to_string()], deadline).await?;
                per_op.push(ms(o.elapsed) / n as f64);
            }
            if rep == 0 {
                let mut marker = current_marker(&h).await?;
                for _ in 0..self.opts.scale_boot_reps {
                    let r = restart_until(&h, 10, WAIT_MARKER, &[&marker], Duration::from_secs(40))
                        .await?;
                    boots.push(r.total);
                    marker = r.out;
                }
                // The boot must really have brought every profile back as a slot.
                let slots = gateway_slots(&h, "s").await?;
                if slots != n {
                    bail!("after the restarts {slots} gateway slots are registered, expected {n}");
                }
            }
            h.remove().await?;
        }
        if n > 0 {
            self.results.push(
                SCALE_CREATE.at(n).measured(per_op)
                .note(format!("one exec running `hermes profile create` {n} times in a loop, divided by {n}; one sample per fresh container")),
            );
        }
        self.results.push(SCALE_BOOT.at(n).durations(&boots).note(
            "includes the graceful stop of the previous boot; profiles registered, gateways down",
        ));
        if n > 0 {
            self.results
                .set_ratios(&SCALE_BOOT.at(0), "0 profiles", &[&SCALE_BOOT.at(n)]);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ memory

    /// Resident sets: idle gateways (and the s6 processes around them), and the dashboard.
    pub async fn memory(&mut self) {
        if let Err(e) = self.memory_gateways().await {
            self.results
                .push(section_stopped(&MEMORY_GATEWAY, "memory", e));
        }
        if let Err(e) = self.memory_dashboard().await {
            self.results.push(MEMORY_DASHBOARD.failed(&e));
        }
    }

    async fn memory_gateways(&mut self) -> Result<()> {
        let k = self.opts.mem_gateways;
        progress(format!("memory: {k} idle gateways"));
        let h = self.start("memory", ContainerSpec::default()).await?;
        let deadline = Duration::from_secs(40);
        let names = names_with_distinct_ports("mem", k);
        let mut pids = Vec::new();
        for p in &names {
            fail_unless(h.exec(&["hermes", "profile", "create", p]).await?)?;
            gateway_verb(&h, "start", "up", p, "").await?;
            // Serving /health: the run script has exec'd into the gateway, which is initialised.
            wait_http(&h, expected_port(p), "/health", Duration::from_secs(20)).await?;
            pids.push(pid_of(&h, PRODUCT_SVSTAT, &slot_dir(p)).await?);
        }
        let pid_args: Vec<&str> = pids.iter().map(String::as_str).collect();
        let comm = sh(
            &h,
            r#"for p in "$@"; do cat /proc/$p/comm; done"#,
            &pid_args,
            deadline,
        )
        .await?;
        if let Some(bad) = comm.stdout.lines().find(|c| c.trim() != "hermes") {
            bail!("a gateway slot's pid runs {bad:?}, not hermes");
        }
        let rss_of = |set: &'static str| format!("set -- $(pgrep -x {set}); {RSS_OF}");
        let gw = parse_kb_lines(&sh(&h, RSS_OF, &pid_args, deadline).await?.stdout)?;
        let sup = parse_kb_lines(&sh(&h, &rss_of("s6-supervise"), &[], deadline).await?.stdout)?;
        let log = parse_kb_lines(&sh(&h, &rss_of("s6-log"), &[], deadline).await?.stdout)?;
        let pid1 = parse_kb_lines(&sh(&h, RSS_OF, &["1"], deadline).await?.stdout)?;
        h.remove().await?;
        self.results.push(
            MEMORY_GATEWAY.measured(gw)
                .note("VmRSS from /proc/PID/status of each gateway once it answers /health; one sample per gateway"),
        );
        self.results.push(MEMORY_S6_SUPERVISE.measured(sup).note(
            "every s6-supervise in the container: static services, gateway slots and their loggers",
        ));
        self.results.push(MEMORY_S6_LOG.measured(log));
        self.results.push(MEMORY_S6_SVSCAN.measured(pid1));
        Ok(())
    }

    async fn memory_dashboard(&mut self) -> Result<()> {
        progress(format!("memory: dashboard x{}", self.opts.dashboard_reps));
        let mut rss = Vec::new();
        for _ in 0..self.opts.dashboard_reps {
            let h = self
                .start(
                    "dashboard",
                    ContainerSpec::default().env("HERMES_DASHBOARD", "1"),
                )
                .await?;
            wait_http(&h, 9119, "/api/status", Duration::from_secs(20)).await?;
            let pid = pid_of(&h, PRODUCT_SVSTAT, "/run/service/dashboard").await?;
            let o = sh(&h, RSS_OF, &[&pid], Duration::from_secs(30)).await?;
            rss.extend(parse_kb_lines(&o.stdout)?);
            h.remove().await?;
        }
        self.results.push(
            MEMORY_DASHBOARD.measured(rss)
                .note("HERMES_DASHBOARD=1, read after it answered one GET /api/status; one container per sample"),
        );
        Ok(())
    }

    // ------------------------------------------------------------------ suite

    /// `cargo test -p conformance --test suite` once, as a child process, warm.
    pub async fn suite(&mut self) {
        let log = config::work_dir().join("bench-suite.log");
        progress(format!(
            "suite: cargo test -p conformance --test suite (output in {})",
            log.display()
        ));
        let r = async {
            let file = std::fs::File::create(&log)
                .with_context(|| format!("creating {}", log.display()))?;
            let err = file.try_clone()?;
            let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = tokio::process::Command::new(cargo_bin);
            cmd.args(["test", "-p", "conformance", "--test", "suite"])
                .current_dir(config::repo_root())
                .stdout(file)
                .stderr(err);
            let t = Instant::now();
            let status =
                run_with_deadline(cmd, Duration::from_secs(1800), "the conformance suite").await?;
            let took = t.elapsed();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let summary = text
                .lines()
                .rfind(|l| l.starts_with("test result:"))
                .unwrap_or("no `test result:` line")
                .to_string();
            let built = text
                .lines()
                .filter(|l| l.contains("] building image"))
                .count();
            let f = SUITE_WALL.durations(&[took]).note(format!(
                "{summary}; exit {status}; images built during the run: {built}; RUST_TEST_THREADS={}",
                std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "default".into())
            ));
            anyhow::Ok(if status.success() {
                f
            } else {
                f.failing(&anyhow!(
                    "the suite failed ({status}): {summary}; see {}",
                    log.display()
                ))
            })
        }
        .await;
        self.results.record(&SUITE_WALL, r);
    }
}

/// An image's size in bytes, from `docker image inspect`.
async fn image_size(docker: &Docker, image: &str) -> Result<f64> {
    let info = docker
        .inspect_image(image)
        .await
        .with_context(|| format!("inspecting {image}"))?;
    Ok(info.size.ok_or_else(|| anyhow!("{image}: no size"))? as f64)
}

// ---------------------------------------------------------------------- helpers

/// Run a child with a deadline; it is killed if the deadline passes.
async fn run_with_deadline(
    mut cmd: tokio::process::Command,
    deadline: Duration,
    what: &str,
) -> Result<std::process::ExitStatus> {
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    match tokio::time::timeout(deadline, child.wait()).await {
        Ok(status) => Ok(status.with_context(|| format!("waiting for {what}"))?),
        Err(_) => {
            let _ = child.kill().await;
            bail!("{what} did not finish within {deadline:?}; killed")
        }
    }
}

/// One cargo invocation in the bench's own target dir, timed.
async fn cargo(target: &Path, args: &[&str]) -> Result<Duration> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = tokio::process::Command::new(&cargo_bin);
    cmd.args(args)
        .current_dir(config::repo_root())
        .env("CARGO_TARGET_DIR", target)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let t = Instant::now();
    let status = run_with_deadline(
        cmd,
        Duration::from_secs(1800),
        &format!("cargo {}", args.join(" ")),
    )
    .await?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(t.elapsed())
}

/// `docker build` of `context` (Dockerfile at its root) with the harness's options.
async fn docker_build(
    docker: &Docker,
    context: Vec<u8>,
    tag: &str,
    base: &str,
    nocache: bool,
) -> Result<Duration> {
    let args: HashMap<&str, &str> = HashMap::from([("BASE_IMAGE", base)]);
    let labels: HashMap<&str, String> = HashMap::from([("hermes.variant", "bench".to_string())]);
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .pull("false")
        .nocache(nocache)
        .buildargs(&args)
        .labels(&labels)
        .build();
    let t = Instant::now();
    let build = async {
        let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
        let mut built = false;
        let mut tail = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("docker build of {tag}"))?;
            if let Some(text) = info.stream {
                tail.push(text);
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
            if let Some(e) = info.error_detail {
                let msg = e.message.unwrap_or_default();
                bail!("docker build of {tag}: {msg}\n{}", tail.concat());
            }
            if let Some(BuildInfoAux::Default(_)) = info.aux {
                built = true;
            }
        }
        if !built && docker.inspect_image(tag).await.is_err() {
            bail!(
                "docker build of {tag} ended without an image\n{}",
                tail.concat()
            );
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(900), build)
        .await
        .map_err(|_| anyhow!("docker build of {tag} did not finish within 900 s"))??;
    Ok(t.elapsed())
}

/// A copy of the build context tar with a comment line appended to the file `name`.
fn touch_in_context(context: &[u8], name: &str, nonce: &str) -> Result<Vec<u8>> {
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(context);
    let mut found = false;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut header = entry.header().clone();
        let path = entry.path()?.to_string_lossy().into_owned();
        if path == name && header.entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data)?;
            data.extend_from_slice(format!("\n# bench {nonce}\n").as_bytes());
            header.set_size(data.len() as u64);
            header.set_cksum();
            out.append(&header, data.as_slice())?;
            found = true;
        } else {
            out.append(&header.clone(), &mut entry)?;
        }
    }
    if !found {
        bail!("{name} is not in the build context");
    }
    Ok(out.into_inner()?)
}

async fn import_tar(docker: &Docker, tarball: &Path, tag: &str) -> Result<()> {
    let (repo, version) = tag
        .split_once(':')
        .ok_or_else(|| anyhow!("tag {tag} has no colon"))?;
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .build();
    let file = tokio::fs::File::open(tarball)
        .await
        .with_context(|| format!("opening {}", tarball.display()))?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let import = async {
        let mut stream = docker.create_image(Some(opts), Some(body), None);
        while let Some(item) = stream.next().await {
            item.with_context(|| format!("importing {} as {tag}", tarball.display()))?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(600), import)
        .await
        .map_err(|_| anyhow!("docker import of {tag} did not finish within 600 s"))?
}

/// Remove a throwaway image; a failure is reported, not fatal.
async fn remove_image(docker: &Docker, tag: &str) {
    let opts = RemoveImageOptionsBuilder::default().force(true).build();
    if let Err(e) = docker.remove_image(tag, Some(opts), None).await {
        progress(format!("could not remove throwaway image {tag}: {e}"));
    }
}

/// Remove throwaway images (`hermes-s6:bench-*`, `hermes-s6-base:bench-*`) left by a bench
/// run that was killed; those of a live run are left alone.
pub async fn sweep_images(docker: &Docker) -> Result<usize> {
    let filters = HashMap::from([(
        "reference".to_string(),
        vec![
            format!("{}:bench-*", crate::image::PRODUCT_REPO),
            format!("{}:bench-*", crate::image::BASE_REPO),
        ],
    )]);
    let opts = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut removed = 0;
    for img in docker.list_images(Some(opts)).await? {
        for tag in img.repo_tags {
            let Some((_, t)) = tag.split_once(":bench-") else {
                continue;
            };
            // bench-<kind>-<pid>-<i> or bench-<pid>-<i>
            let pid = t.split('-').find_map(|p| p.parse::<i32>().ok());
            let alive = pid.is_some_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            if !alive {
                remove_image(docker, &tag).await;
                removed += 1;
            }
        }
    }
    Ok(removed)
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

    #[test]
    fn touching_the_context_changes_one_file() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("Dockerfile", &b"FROM x\n"[..]),
            ("rootfs/etc/hermes-s6/stage2", b"#!/bin/sh\n"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append_data(&mut h, name, data).expect("append");
        }
        let ctx = b.into_inner().expect("tar");
        let out = touch_in_context(&ctx, "rootfs/etc/hermes-s6/stage2", "n1").expect("touch");
        let mut a = tar::Archive::new(out.as_slice());
        let mut files = Vec::new();
        for e in a.entries().expect("entries") {
            let mut e = e.expect("entry");
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            files.push((e.path().expect("path").to_string_lossy().into_owned(), s));
        }
        assert_eq!(files[0], ("Dockerfile".into(), "FROM x\n".into()));
        assert_eq!(files[1].1, "#!/bin/sh\n\n# bench n1\n");
        assert!(touch_in_context(&ctx, "nope", "n").is_err());
    }

    /// Runs `script` with `sh` on this machine, `$1…` = `args`, at most `max_polls` polls.
    fn run_sh(script: &str, args: &[&str], max_polls: &str) -> std::process::Output {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .env("max_polls", max_polls)
            .output()
            .expect("sh runs")
    }

    #[test]
    fn the_in_container_scripts_parse() {
        for script in [
            WAIT_MARKER,
            WAIT_SVSCAN,
            COMMAND_THEN_STATE,
            S6_FLOOR_INIT,
            CREATE_LOOP,
            RSS_OF,
        ] {
            let o = std::process::Command::new("sh")
                .args(["-n", "-c", script])
                .output()
                .expect("sh runs");
            assert!(o.status.success(), "{script}\n{o:?}");
        }
    }

    /// The poll helper through `COMMAND_THEN_STATE`, with a stand-in for s6-svstat that
    /// reports `true 7`: up and restarted-from-6 hold at once; down and restarted-from-7
    /// never do, and the timeout names what was awaited and what was last seen.
    #[test]
    fn command_then_state_polls_until_s6_says_so() {
        let dir = std::env::temp_dir().join(format!("bench-poll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let svstat = dir.join("s6-svstat");
        std::fs::write(&svstat, "#!/bin/sh\necho 'true 7'\n").expect("write");
        std::fs::set_permissions(&svstat, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let svstat = svstat.to_str().expect("utf-8");
        let run = |want: &str, old: &str| {
            run_sh(
                COMMAND_THEN_STATE,
                &[svstat, want, "/svc", old, "true"],
                "3",
            )
        };
        assert!(run("up", "").status.success());
        assert!(run("restarted", "6").status.success());
        for (want, old) in [("down", ""), ("restarted", "7")] {
            let o = run(want, old);
            assert!(!o.status.success());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(&format!(
                    "/svc {want}: not after 3 polls of 10 ms; last seen: true 7"
                )),
                "{err}"
            );
        }
        // The command's failure is the script's, before any poll.
        let o = run_sh(
            COMMAND_THEN_STATE,
            &[svstat, "up", "/svc", "", "false"],
            "3",
        );
        assert!(!o.status.success() && o.stderr.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wait_marker_prints_the_new_marker() {
        let dir = std::env::temp_dir().join(format!("bench-marker-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let marker = dir.join("ready");
        std::fs::write(&marker, "boot=2\n").expect("write");
        let script = WAIT_MARKER.replace(READY_MARKER, marker.to_str().expect("utf-8"));
        let o = run_sh(&script, &["boot=1"], "3");
        assert!(o.status.success(), "{o:?}");
        assert_eq!(String::from_utf8_lossy(&o.stdout), "boot=2\n");
        let o = run_sh(&script, &["boot=2", "3"], "");
        assert!(!o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("not after 3 polls of 10 ms; last seen: boot=2"),
            "{o:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rss_lines() {
        assert_eq!(
            parse_kb_lines("4\n\n8\n").expect("parse"),
            vec![4096.0, 8192.0]
        );
        assert!(parse_kb_lines("x").is_err());
    }
}
