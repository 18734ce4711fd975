//! `--curves`: how boot time and memory grow with profiles. Opt-in, because the
//! full run restarts containers with 1000 profiles on disk several times.
//!
//! - **Boot curves.** One container per `/run` mode — on the image's filesystem (Docker's
//!   storage driver: fuse-overlayfs here) and on a tmpfs (`docker run --tmpfs /run`: Docker's
//!   default tmpfs options, `noexec` included) — with 0, then 10, 100, 250, 1000 profiles
//!   on disk, added between the counts; at each count `docker restart` → a new readiness
//!   marker, repeated, and the slots counted afterwards. Ratio: to the same mode's 0 profiles;
//!   the 0-profile boots also to a bare `s6-svscan` restarted the same way (the s6 floor).
//! - **Memory.** One container (tmpfs `/run`), gateways created and started cumulatively (10,
//!   100, 250 running), each count once all of them listen: the sum of the gateways' VmRSS, the
//!   sum of VmRSS of every process in the container, and the container's anonymous memory
//!   from its cgroup (Docker's stats: what the processes really cost, shared pages once).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use super::verbs::names_with_distinct_ports;
use super::{
    Bench, SVSCAN_FLOOR_INIT, WAIT_MARKER, WAIT_SVSCAN, current_marker, gateway_slots, ms,
    restart_until, sh, until_ok,
};
use crate::bench::figures::{
    CURVES_BOOT, CURVES_BOOT_CURVE, CURVES_FLOOR, CURVES_MEM, CURVES_MEM_ALL_RSS,
    CURVES_MEM_CGROUP, CURVES_MEM_GATEWAYS_RSS,
};
use crate::bench::plot::{self, Chart, YUnit};
use crate::bench::{Figure, FigureDecl, Results, progress};
use crate::container::ContainerSpec;
use crate::support::expected_port;

/// `$1` = prefix, `$2` = first index, `$3` = last: profiles `<prefix><i>` made on disk as
/// hermes exactly as `hermes profile create` leaves them (a directory holding `SOUL.md`), but
/// without registering a slot: the next boot registers them, and the boot is what is measured.
const MAKE_PROFILES: &str = r#"d=${HERMES_HOME:-/opt/data}/profiles; mkdir -p "$d" || exit 1
i=$2; while [ "$i" -le "$3" ]; do
  mkdir "$d/$1$i" && printf '# soul\n' >"$d/$1$i/SOUL.md" || exit 1; i=$((i+1))
done"#;

/// `$@` = profiles: create each and start its gateway (one exec for all).
const CREATE_AND_START: &str = r#"for p in "$@"; do
  hermes profile create "$p" >/dev/null && hermes -p "$p" gateway start >/dev/null || { echo "profile $p failed" >&2; exit 1; }
done"#;

/// `$@` = ports: does every one accept a connection? Names the first that does not (bash:
/// `/dev/tcp` is bash's).
const ALL_LISTENING: &str = r#"for port in "$@"; do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "port $port not listening"; exit 1; }
done"#;

/// VmRSS (kB) summed over the gateways' pids (from s6-svstat, `$@` = slot dirs), then summed
/// over every process in the container: two numbers on one line.
const RSS_SUMS: &str = r#"g=0
for s in "$@"; do
  pid=$(/command/s6-svstat -o pid "$s") || exit 1
  [ "$(cat /proc/$pid/comm)" = hermes ] || { echo "$s: pid $pid is $(cat /proc/$pid/comm)" >&2; exit 1; }
  kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' /proc/$pid/status); g=$((g+kb))
done
a=0
for f in /proc/[0-9]*/status; do
  kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "$f" 2>/dev/null); a=$((a+${kb:-0}))
done
echo "$g $a""#;

/// The two ways `/run` can be: how the figures are named and labelled.
#[derive(Debug, Clone, Copy)]
enum RunMode {
    Image,
    Tmpfs,
}

impl RunMode {
    fn id(self) -> &'static str {
        match self {
            RunMode::Image => "fuse",
            RunMode::Tmpfs => "tmpfs",
        }
    }
    fn label(self) -> &'static str {
        match self {
            RunMode::Image => "/run on the image fs",
            RunMode::Tmpfs => "--tmpfs /run",
        }
    }
    /// The placeholders of the curves' figure families for this mode.
    fn vars(self) -> [(&'static str, &'static str); 2] {
        [("{mode}", self.id()), ("{run}", self.label())]
    }
    /// The boot with `n` profiles on disk.
    fn boot(self, n: usize) -> FigureDecl {
        let [mode, run] = self.vars();
        CURVES_BOOT.fill(&[mode, run, ("{n}", &n.to_string())])
    }
}

impl Bench {
    /// The `curves` section: boot curves in both `/run` modes, the s6 floor restarted the same
    /// way, memory with gateways running; then the plot.
    pub async fn curves(&mut self) {
        let mut sizes = vec![0];
        sizes.extend(self.opts.curve_sizes.iter().copied().filter(|n| *n > 0));
        sizes.sort_unstable();
        sizes.dedup();
        // Memory first: the shortest part, so a broken setup shows before the long boots.
        let mut running: Vec<usize> = self.opts.curve_running.clone();
        running.sort_unstable();
        running.dedup();
        if !running.is_empty() {
            running.insert(0, 0);
            running.dedup();
        }
        if running.is_empty() {
            progress("curves: memory curve left out (no running counts)");
        } else if let Err(e) = self.memory_curve(&running).await {
            self.results.push(CURVES_MEM.failed(&e));
        }
        if let Err(e) = self.curve_floor().await {
            self.results.push(CURVES_FLOOR.failed(&e));
        }
        let modes: Vec<RunMode> = [RunMode::Tmpfs, RunMode::Image]
            .into_iter()
            .filter(|m| self.opts.curve_modes.iter().any(|x| x == m.id()))
            .collect();
        for mode in modes {
            if let Err(e) = self.boot_curve(mode, &sizes).await {
                self.results
                    .push(CURVES_BOOT_CURVE.fill(&mode.vars()).failed(&e));
            }
        }
        for mode in [RunMode::Tmpfs, RunMode::Image] {
            self.results
                .set_ratios(&CURVES_FLOOR, "s6-svscan", &[&mode.boot(0)]);
        }
    }

    /// `docker restart` → a bare s6-svscan (base image) answers: the floor of the 0-profile
    /// boot, driven exactly like the product's restarts.
    async fn curve_floor(&mut self) -> Result<()> {
        let reps = self.opts.curve_boot_reps.max(3);
        progress(format!("curves: floor, docker restart → s6-svscan x{reps}"));
        let floor = self.floor("curves-floor", SVSCAN_FLOOR_INIT, &[]).await?;
        let mut samples = Vec::new();
        for _ in 0..reps {
            let r = restart_until(&floor, 10, WAIT_SVSCAN, &[], Duration::from_secs(40)).await?;
            samples.push(r.total);
        }
        floor.remove().await?;
        self.results.push(
            CURVES_FLOOR.durations(&samples)
            .note("base image, PID 1 `s6-svscan /tmp/scan`; includes its stop (s6-svscan exits on TERM at once)"),
        );
        Ok(())
    }

    async fn boot_curve(&mut self, mode: RunMode, sizes: &[usize]) -> Result<()> {
        let reps = self.opts.curve_boot_reps;
        progress(format!(
            "curves: boot, {}, profiles {sizes:?}, restart → ready x{reps} each",
            mode.label()
        ));
        let spec = ContainerSpec::default().tmpfs_run(matches!(mode, RunMode::Tmpfs));
        let h = self.start(&format!("curves-{}", mode.id()), spec).await?;
        // What /run really is in this container (filesystem type and options). No awk: the
        // image has none.
        let mount = sh(
            &h,
            r#"while read -r _ mnt fs opts _; do if [ "$mnt" = /run ]; then echo "$fs $opts"; fi; done </proc/mounts"#,
            &[],
            Duration::from_secs(30),
        )
        .await?
        .out()
        .to_string();
        let mount = if mount.is_empty() {
            "no mount of its own: the container's root filesystem".to_string()
        } else {
            mount
        };
        progress(format!("curves: {}: /run is {mount}", mode.label()));
        let mut marker = current_marker(&h).await?;
        let mut have = 0;
        for &n in sizes {
            if n > have {
                let t = Instant::now();
                sh(
                    &h,
                    MAKE_PROFILES,
                    &["c", &(have + 1).to_string(), &n.to_string()],
                    Duration::from_secs(60 + n as u64 / 2),
                )
                .await?;
                progress(format!(
                    "curves: {}: profiles c{}..c{n} made on disk in {:.1?}",
                    mode.label(),
                    have + 1,
                    t.elapsed()
                ));
                have = n;
            }
            // Generous bounds: a boot with 1000 profiles on a FUSE /run takes minutes.
            let wait_polls = 3000 + 30 * n;
            let grace = 60;
            let (mut boots, mut calls) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let r = restart_until(
                    &h,
                    grace,
                    WAIT_MARKER,
                    &[&marker, &wait_polls.to_string()],
                    Duration::from_millis(10 * wait_polls as u64 + 30_000),
                )
                .await?;
                boots.push(r.total);
                calls.push(ms(r.call));
                marker = r.out;
            }
            let slots = gateway_slots(&h, "c").await?;
            // Fewer slots than profiles: the timings are kept, the figure is marked failed
            // with the boot log's reasons (what the product said about the missing ones).
            let missing = if slots != n {
                let why = sh(
                        &h,
                        r#"f=${HERMES_HOME:-/opt/data}/logs/container-boot.log
tail -n "$1" "$f" | grep -c 'action=skipped'; tail -n "$1" "$f" | grep 'action=skipped' | sed 's/^[^ ]* //; s/profile=[^ ]* //' | sort | uniq -c | sort -rn | head -3"#,
                        &[&(n + 1).to_string()],
                        Duration::from_secs(30),
                    )
                    .await
                    .map(|o| o.out().replace('\n', " | "))
                    .unwrap_or_else(|e| format!("(boot log unreadable: {e:#})"));
                Some(format!(
                    "{}: after the restarts with {n} profiles on disk only {slots} gateway slots are registered; the last boot's skipped lines (count, then the commonest): {why}",
                    mode.label()
                ))
            } else {
                None
            };
            let call = crate::bench::Stats::of(&calls).map_or(f64::NAN, |s| s.median);
            let fig = mode.boot(n).durations(&boots).note(format!(
                "/run: {mount}; profiles made on disk (dir + SOUL.md), gateways down; slots counted afterwards; of which the docker restart call (stop, grace {grace} s, and start): median {call:.0} ms"
            ));
            self.results.push(match missing {
                Some(why) => fig.failing(&anyhow::anyhow!(why)),
                None => fig,
            });
            if n > 0 {
                self.results
                    .set_ratios(&mode.boot(0), "0 profiles", &[&mode.boot(n)]);
            }
        }
        h.remove().await?;
        Ok(())
    }

    /// Gateways created, started and listening, cumulatively; memory read at each count.
    async fn memory_curve(&mut self, counts: &[usize]) -> Result<()> {
        progress(format!("curves: memory with {counts:?} gateways running"));
        let h = self
            .start("curves-mem", ContainerSpec::default().tmpfs_run(true))
            .await?;
        let max = counts.iter().copied().max().unwrap_or(0);
        let names = names_with_distinct_ports("m", max);
        let mut have = 0;
        for &k in counts {
            if k > have {
                let new: Vec<&str> = names[have..k].iter().map(String::as_str).collect();
                let t = Instant::now();
                sh(
                    &h,
                    CREATE_AND_START,
                    &new,
                    Duration::from_secs(60 + new.len() as u64),
                )
                .await?;
                let ports: Vec<String> = names[..k]
                    .iter()
                    .map(|p| expected_port(p).to_string())
                    .collect();
                let mut argv = vec!["bash", "-c", ALL_LISTENING, "bash"];
                argv.extend(ports.iter().map(String::as_str));
                until_ok(
                    &h,
                    &format!("{k} gateways to listen"),
                    &argv,
                    Duration::from_secs(90),
                )
                .await?;
                progress(format!(
                    "curves: {k} gateways running and listening ({:.1?} for the last {})",
                    t.elapsed(),
                    new.len()
                ));
                have = k;
            }
            let slots: Vec<String> = names[..k]
                .iter()
                .map(|p| crate::support::slot_dir(p))
                .collect();
            let slot_args: Vec<&str> = slots.iter().map(String::as_str).collect();
            let o = sh(&h, RSS_SUMS, &slot_args, Duration::from_secs(120)).await?;
            let (gw_kb, all_kb) = o
                .out()
                .split_once(' ')
                .and_then(|(a, b)| Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?)))
                .with_context(|| format!("unparsable VmRSS sums {:?}", o.out()))?;
            let (anon, besides) = self.cgroup_anon(&h.id).await?;
            self.results.push(
                CURVES_MEM_CGROUP.at(k).measured(vec![anon])
                .note(format!("Docker stats, memory_stats.stats.anon (cgroup v2) or rss (v1): private memory, nothing counted twice; {besides}")),
            );
            self.results.push(CURVES_MEM_ALL_RSS.at(k).measured(vec![all_kb * 1024.0]).note("every /proc/PID/status in the container: counts shared library pages once per process, an upper bound"));
            if k > 0 {
                self.results
                    .push(CURVES_MEM_GATEWAYS_RSS.at(k).measured(vec![gw_kb * 1024.0]));
                self.results.set_ratios(
                    &CURVES_MEM_CGROUP.at(0),
                    "0 running",
                    &[&CURVES_MEM_CGROUP.at(k)],
                );
            }
        }
        h.remove().await?;
        Ok(())
    }

    /// The container's anonymous memory from its cgroup (bytes), through Docker's stats (the
    /// harness has no verb for them: a bollard call of its own).
    async fn cgroup_anon(&self, id: &str) -> Result<(f64, String)> {
        let opts = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stream = self.docker.stats(id, Some(opts));
        let stats = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .context("docker stats: no answer in 30 s")?
            .context("docker stats: empty stream")?
            .context("docker stats")?;
        let mem = stats
            .memory_stats
            .context("docker stats: no memory_stats")?;
        let s = mem.stats.unwrap_or_default();
        let v = s
            .get("anon")
            .or_else(|| s.get("rss"))
            .copied()
            .context("docker stats: neither anon (cgroup v2) nor rss (v1) in memory_stats")?;
        let mib = |k: &str| {
            s.get(k).map_or("?".to_string(), |b| {
                format!("{:.1} MiB", *b as f64 / 1048576.0)
            })
        };
        let note = format!(
            "besides: file_mapped {} (binaries and libraries, shared), shmem {} (tmpfs /run), usage {}",
            mib("file_mapped"),
            mib("shmem"),
            mem.usage.map_or("?".to_string(), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            ))
        );
        Ok((v as f64, note))
    }
}

/// The plot of a curves run: boot time per profile count (both `/run` modes, the s6 floor as
/// a dashed line), and memory per running gateway count. `None` when no curve was measured.
pub fn curves_svg(results: &Results, caption: &str) -> Option<String> {
    let modes = [RunMode::Image, RunMode::Tmpfs];
    let mut xs: Vec<usize> = results
        .figures
        .iter()
        .filter_map(|f| {
            modes
                .iter()
                .find_map(|m| CURVES_BOOT.count_of(&f.id, &m.vars()))
        })
        .collect();
    xs.sort_unstable();
    xs.dedup();
    let mut charts = Vec::new();
    if !xs.is_empty() {
        charts.push(Chart {
            title: "docker restart → /run/hermes/ready (median, min–max)".into(),
            x_label: "profiles on disk (evenly spaced, not to scale)".into(),
            y_label: "seconds (log scale)".into(),
            log_y: true,
            series: modes
                .iter()
                .zip(["#d62728", "#1f77b4"])
                .map(|(m, color)| {
                    let prefix = CURVES_BOOT.prefix(&m.vars());
                    plot::series_from(results, &xs, &prefix, m.label(), color, 1000.0)
                })
                .collect(),
            hlines: results
                .get(&CURVES_FLOOR.id)
                .and_then(Figure::median)
                .map(|m| vec![("bare s6-svscan floor".to_string(), m / 1000.0)])
                .unwrap_or_default(),
            y_unit: YUnit::Seconds,
            xs,
        });
    }
    let mut ks: Vec<usize> = results
        .figures
        .iter()
        .filter_map(|f| CURVES_MEM_CGROUP.count_of(&f.id, &[]))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    if !ks.is_empty() {
        let mib = 1024.0 * 1024.0;
        charts.push(Chart {
            title: "memory with N gateways running (--tmpfs /run)".into(),
            x_label: "gateways running (evenly spaced, not to scale)".into(),
            y_label: "MiB".into(),
            log_y: false,
            series: [
                (CURVES_MEM_ALL_RSS, "Σ VmRSS, all processes", "#ff7f0e"),
                (CURVES_MEM_CGROUP, "cgroup anon (real total)", "#2ca02c"),
                (CURVES_MEM_GATEWAYS_RSS, "Σ VmRSS, gateways only", "#9467bd"),
            ]
            .iter()
            .map(|(family, label, color)| {
                plot::series_from(results, &ks, &family.prefix(&[]), label, color, mib)
            })
            .collect(),
            hlines: Vec::new(),
            y_unit: YUnit::MiB,
            xs: ks,
        });
    }
    (!charts.is_empty()).then(|| plot::svg(&charts, caption))
}
