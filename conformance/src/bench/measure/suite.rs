//! The suite section: the whole conformance suite once, warm, as a child process, and what
//! makes its floor visible: how many containers it created, how busy the machine's CPUs were
//! against the wall time, and what one scenario container costs to create, boot and remove.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;

use super::Bench;
use crate::bench::figures::*;
use crate::bench::{loadavg, progress};
use crate::config;
use crate::container::{ContainerSpec, LABEL_RUN, LABEL_SCENARIO};
use crate::image::engine::run_status;

/// The machine's CPU time from the first line of `/proc/stat`, in clock ticks (USER_HZ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    /// user + nice + system + irq + softirq + steal.
    pub busy: u64,
    pub idle: u64,
    pub iowait: u64,
}

/// Parses `/proc/stat`: the `cpu` line's ticks and the number of `cpuN` lines.
pub fn parse_proc_stat(text: &str) -> Option<(CpuTicks, usize)> {
    let first = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = first
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let ticks = CpuTicks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6) + at(7),
        idle: at(3),
        iowait: at(4),
    };
    let cores = text
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    Some((ticks, cores))
}

fn read_proc_stat() -> Result<(CpuTicks, usize)> {
    let text = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    parse_proc_stat(&text).context("no `cpu` line in /proc/stat")
}

/// Clock ticks per second of `/proc/stat` (`getconf CLK_TCK`; 100, Linux's USER_HZ, if that
/// cannot be asked).
fn user_hz() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Bench {
    /// The container cycle first (on a machine not yet busy with the suite), then the suite
    /// once, then what the engine saw of it.
    pub async fn suite(&mut self) {
        let cycle = self.container_cycle().await;
        let cycle_median = cycle.as_ref().ok().and_then(|f| f.median());
        self.results.record(&SUITE_CONTAINER_CYCLE, cycle);

        let run_id = format!(
            "bench-{}-{}",
            std::process::id(),
            unix_secs(SystemTime::now())
        );
        let log = config::work_dir().join("bench-suite.log");
        progress(format!(
            "suite: cargo test -p conformance --test suite (output in {}, containers labelled {LABEL_RUN}={run_id})",
            log.display()
        ));
        // Docker keeps only its last few hundred events, and a suite run makes thousands (every
        // exec is three), so the creates are read as they happen, not asked for afterwards.
        let creates = self.watch_creates();
        let load_start = loadavg();
        let stat_start = read_proc_stat();
        let t = Instant::now();
        let r = self.suite_child(&log, &run_id).await;
        let wall = t.elapsed();
        let stat_end = read_proc_stat();
        let load_end = loadavg();
        self.results.record(&SUITE_WALL, r);

        let cores = stat_start.as_ref().map_or(0, |s| s.1);
        let cpu = match (stat_start, stat_end) {
            (Ok((a, _)), Ok((b, _))) => {
                let hz = user_hz();
                let secs = |t: u64| t as f64 / hz;
                let busy = secs(b.busy.saturating_sub(a.busy));
                let iowait = secs(b.iowait.saturating_sub(a.iowait));
                let per_core = busy / cores.max(1) as f64;
                Ok(SUITE_CPU_BUSY.measured(vec![busy * 1000.0]).note(format!(
                    "busy/cores {per_core:.1} s against {:.1} s wall: the CPUs were {:.0}% busy \
                     ({iowait:.1} s iowait besides); machine-wide from /proc/stat (user+nice+\
                     system+irq+softirq+steal, {hz} ticks/s), so anything else running counts \
                     too: load average {load_start:.1} at the start, {load_end:.1} at the end",
                    wall.as_secs_f64(),
                    100.0 * per_core / wall.as_secs_f64().max(f64::EPSILON),
                )))
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        self.results.record(&SUITE_CPU_BUSY, cpu);
        self.results.record(
            &SUITE_CORES,
            Ok(SUITE_CORES
                .measured(vec![cores as f64])
                .note("the cores whose busy time suite.cpu_busy adds up")),
        );
        let containers = creates
            .stop()
            .await
            .map(|seen| suite_containers(&seen, &run_id, cycle_median, cores));
        self.results.record(&SUITE_CONTAINERS, containers);
    }

    /// `cargo test -p conformance --test suite` once, as a child process, warm, its
    /// containers labelled with `run_id`.
    async fn suite_child(
        &self,
        log: &std::path::Path,
        run_id: &str,
    ) -> Result<crate::bench::Figure> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = file.try_clone()?;
        let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = tokio::process::Command::new(cargo_bin);
        cmd.args(["test", "-p", "conformance", "--test", "suite"]);
        if !self.opts.suite_filter.is_empty() {
            cmd.arg("--").args(&self.opts.suite_filter);
        }
        cmd.env(config::ENV_RUN, run_id)
            .current_dir(config::repo_root())
            .stdout(file)
            .stderr(err);
        let t = Instant::now();
        let status = run_status(cmd, Duration::from_secs(1800), "the conformance suite").await?;
        let took = t.elapsed();
        let text = std::fs::read_to_string(log).unwrap_or_default();
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
        Ok(if status.success() {
            f
        } else {
            f.failing(&anyhow!(
                "the suite failed ({status}): {summary}; see {}",
                log.display()
            ))
        })
    }

    /// A scenario's container as the harness runs one: create and start (testcontainers),
    /// wait for the readiness marker, remove. `boot_reps` times, one after the other.
    async fn container_cycle(&self) -> Result<crate::bench::Figure> {
        progress(format!(
            "suite: one scenario container, create → ready → remove, x{}",
            self.opts.boot_reps
        ));
        let mut samples = Vec::new();
        for _ in 0..self.opts.boot_reps {
            let t = Instant::now();
            let h = self.start("cycle", ContainerSpec::default()).await?;
            h.remove().await?;
            samples.push(t.elapsed());
        }
        Ok(SUITE_CONTAINER_CYCLE.durations(&samples).note(
            "Container::start with the default spec (testcontainers create + start, the marker \
             polled by exec) then remove; measured just before the suite run",
        ))
    }

    /// Reads the engine's container `create` events from now on, in a task of their own,
    /// until [`Creates::stop`].
    fn watch_creates(&self) -> Creates {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), vec!["create".to_string()]),
        ]);
        let opts = EventsOptions {
            since: Some(unix_secs(SystemTime::now()).to_string()),
            until: None,
            filters: Some(filters),
        };
        let docker = self.docker.clone();
        let seen = Arc::new(Mutex::new(Ok(Vec::new())));
        let into = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = docker.events(Some(opts));
            while let Some(e) = stream.next().await {
                let mut seen = into.lock().expect("the create list's lock");
                match e {
                    Ok(e) => {
                        let labels = e.actor.and_then(|a| a.attributes).unwrap_or_default();
                        if let Ok(list) = seen.as_mut() {
                            list.push(labels);
                        }
                    }
                    Err(err) => {
                        *seen = Err(format!("reading the engine's events: {err}"));
                        return;
                    }
                }
            }
            *into.lock().expect("the create list's lock") =
                Err("the engine ended its event stream during the run".to_string());
        });
        Creates { seen, task }
    }
}

/// The container creates seen so far: each one's attributes (name, image, labels).
type Seen = Arc<Mutex<Result<Vec<HashMap<String, String>>, String>>>;

struct Creates {
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Creates {
    /// Stops reading and returns every create seen.
    async fn stop(self) -> Result<Vec<HashMap<String, String>>> {
        self.task.abort();
        let _ = self.task.await; // aborted: its end is the answer, not an error
        let seen = std::mem::replace(
            &mut *self.seen.lock().expect("the create list's lock"),
            Ok(Vec::new()),
        );
        seen.map_err(anyhow::Error::msg)
    }
}

/// The creates of containers labelled `hermes.conformance.run=run_id`, with the scenarios
/// that created the most and what the churn costs at `cycle_ms` each.
fn suite_containers(
    seen: &[HashMap<String, String>],
    run_id: &str,
    cycle_ms: Option<f64>,
    cores: usize,
) -> crate::bench::Figure {
    let ours: Vec<&HashMap<String, String>> = seen
        .iter()
        .filter(|a| a.get(LABEL_RUN).map(String::as_str) == Some(run_id))
        .collect();
    let mut by_scenario: BTreeMap<String, usize> = BTreeMap::new();
    for a in &ours {
        let scenario = a.get(LABEL_SCENARIO).cloned().unwrap_or_else(|| "?".into());
        *by_scenario.entry(scenario).or_default() += 1;
    }
    let mut top: Vec<(String, usize)> = by_scenario.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n = ours.len();
    let mut note = format!(
        "`docker events` type=container event=create, read live during the run, labelled \
         {LABEL_RUN}={run_id} ({} created on the engine in that time by anyone)",
        seen.len()
    );
    if let Some(c) = cycle_ms {
        let serial = n as f64 * c / 1000.0;
        note.push_str(&format!(
            "; × suite.container_cycle's median = {serial:.0} s of container churn alone, \
             {:.0} s over {cores} cores",
            serial / cores.max(1) as f64
        ));
    }
    note.push_str("; most: ");
    note.push_str(
        &top.iter()
            .take(8)
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    SUITE_CONTAINERS.measured(vec![n as f64]).note(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_busy_and_cores() {
        let text = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\ncpu1 50 3 25 500 10 2 1 1 0 0\nintr 1\nctxt 2\n";
        let (t, cores) = parse_proc_stat(text).unwrap();
        assert_eq!(t.busy, 100 + 5 + 50 + 3 + 2 + 1);
        assert_eq!((t.idle, t.iowait), (1000, 20));
        assert_eq!(cores, 2);
    }
}
