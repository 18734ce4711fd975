//! `conformance-bench` (`make bench`): what the image, its boot and its CLI cost, each figure a
//! median over repeated runs with min and max, and as a ratio to the floor Docker and s6 cost
//! anyway. Prints a table; writes `target/conformance/bench.json` (and `bench.md`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use conformance::bench::measure::{Bench, Options, Section, curves_svg, sweep_images};
use conformance::bench::{
    Machine, Report, Results, cargo_test_running, loadavg, proc_field, progress,
};
use conformance::container::sweep_leftovers;
use conformance::image::Variant;
use conformance::{config, runner};

const USAGE: &str = "usage: conformance-bench [--quick] [--with-suite] [--curves] [options]

Measures the image build, boot, CLI verbs, scale and memory of hermes-s6 against the floor of
Docker and s6, and prints a table (median, min, max, n, ratio to the floor). Writes
target/conformance/bench.json and bench.md. Progress lines go to stderr.

  --quick              smoke run: few repetitions; no base image, compile or suite
  --with-suite         also time the whole conformance suite once (make bench does)
  --curves             also the growth curves: boot with 0/10/100/250/1000 profiles, /run on
                       the image fs and on a tmpfs, memory with 10/100/250 gateways running
                       (~15-25 min here; with --quick: 0/10/100 profiles, 10 gateways);
                       writes bench-curves.svg next to bench.json
  --only a,b,...       run only these sections
  --skip a,b,...       leave these sections out
                       sections: product base compile boot exec scale memory suite curves
  --reps N             repetitions of each CLI verb and of the exec floor (20)
  --boot-reps N        docker start → ready, product and floor each (10)
  --build-reps N       product image builds, cold and warm each (3)
  --base-runs N        base image builds from scratch (1)
  --compile-reps N     rebuilds of the hermes crate alone (1)
  --scale-sizes L      profile counts for the growth curve (1,10,100,250)
  --scale-reps N       fresh containers per count for the registration time (3)
  --scale-boot-reps N  docker restart → ready per count (5)
  --mem-gateways N     idle gateways whose resident set is read (5)
  --curve-sizes L      profile counts of the boot curves (10,100,250,1000; 0 always)
  --curve-reps N       docker restart → ready per count and /run mode (3)
  --curve-running L    running gateway counts of the memory curve (10,100,250; 0 = none)
  --curve-modes L      /run modes of the boot curves: tmpfs,fuse (both)
  --dashboard-reps N   dashboard containers whose resident set is read (3)
  --out PATH           JSON output (target/conformance/bench.json)
  --plot-from A,B,...  measure nothing: plot the curves of these bench.json files (a later
                       file's figure replaces an earlier one's) into --svg
  --svg PATH           where --plot-from writes (target/conformance/bench-curves.svg)";

struct Args {
    opts: Options,
    out: PathBuf,
    plot_from: Vec<PathBuf>,
    svg: Option<PathBuf>,
}

fn parse_sections(v: &str) -> Result<BTreeSet<Section>> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Section::parse(s.trim()).ok_or_else(|| anyhow!("unknown section {s:?}")))
        .collect()
}

fn parse_args() -> Result<Option<Args>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let quick = argv.iter().any(|a| a == "--quick");
    let mut opts = if quick {
        Options::quick()
    } else {
        Options::full()
    };
    let mut out = config::work_dir().join("bench.json");
    let (mut plot_from, mut svg) = (Vec::new(), None);
    let mut it = argv.into_iter();
    let list = |name: &str, v: Option<String>| -> Result<Vec<usize>> {
        let v = v.ok_or_else(|| anyhow!("{name} needs a list"))?;
        v.split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|_| anyhow!("{name}: {s:?} is not a number"))
            })
            .collect()
    };
    let num = |name: &str, v: Option<String>| -> Result<usize> {
        let v = v.ok_or_else(|| anyhow!("{name} needs a value"))?;
        let n: usize = v
            .parse()
            .map_err(|_| anyhow!("{name}: {v:?} is not a number"))?;
        if n == 0 {
            bail!("{name} must be at least 1");
        }
        Ok(n)
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            "--with-suite" => {
                opts.sections.insert(Section::Suite);
            }
            "--curves" => {
                opts.sections.insert(Section::Curves);
            }
            "--only" => {
                let v = it.next().ok_or_else(|| anyhow!("--only needs a list"))?;
                opts.sections = parse_sections(&v)?;
            }
            "--skip" => {
                let v = it.next().ok_or_else(|| anyhow!("--skip needs a list"))?;
                for s in parse_sections(&v)? {
                    opts.sections.remove(&s);
                }
            }
            "--reps" => opts.exec_reps = num(&a, it.next())?,
            "--boot-reps" => opts.boot_reps = num(&a, it.next())?,
            "--build-reps" => opts.build_reps = num(&a, it.next())?,
            "--base-runs" => opts.base_runs = num(&a, it.next())?,
            "--compile-reps" => opts.compile_reps = num(&a, it.next())?,
            "--scale-reps" => opts.scale_reps = num(&a, it.next())?,
            "--scale-boot-reps" => opts.scale_boot_reps = num(&a, it.next())?,
            "--mem-gateways" => opts.mem_gateways = num(&a, it.next())?,
            "--dashboard-reps" => opts.dashboard_reps = num(&a, it.next())?,
            "--curve-reps" => opts.curve_boot_reps = num(&a, it.next())?,
            "--curve-sizes" => opts.curve_sizes = list(&a, it.next())?,
            "--curve-running" => {
                opts.curve_running = list(&a, it.next())?
                    .into_iter()
                    .filter(|n| *n > 0)
                    .collect()
            }
            "--curve-modes" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow!("--curve-modes needs a list"))?;
                opts.curve_modes = v.split(',').map(|m| m.trim().to_string()).collect();
                if let Some(bad) = opts
                    .curve_modes
                    .iter()
                    .find(|m| !matches!(m.as_str(), "tmpfs" | "fuse"))
                {
                    bail!("--curve-modes: {bad:?} is neither tmpfs nor fuse");
                }
            }
            "--scale-sizes" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow!("--scale-sizes needs a list"))?;
                opts.scale_sizes = v
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|_| anyhow!("--scale-sizes: {s:?} is not a number"))
                    })
                    .collect::<Result<_>>()?;
            }
            "--out" => out = PathBuf::from(it.next().ok_or_else(|| anyhow!("--out needs a path"))?),
            "--plot-from" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow!("--plot-from needs a list"))?;
                plot_from = v.split(',').map(PathBuf::from).collect();
            }
            "--svg" => {
                svg = Some(PathBuf::from(
                    it.next().ok_or_else(|| anyhow!("--svg needs a path"))?,
                ))
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Some(Args {
        opts,
        out,
        plot_from,
        svg,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conformance-bench: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !args.plot_from.is_empty() {
        return match replot(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("conformance-bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance-bench: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--plot-from`: the curves plot of saved runs, nothing measured.
fn replot(args: &Args) -> Result<()> {
    let results = Results::from_reports(&args.plot_from)?;
    let names: Vec<String> = args
        .plot_from
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let caption = format!("from {}; medians, bars min–max", names.join(" + "));
    let svg =
        curves_svg(&results, &caption).ok_or_else(|| anyhow!("no curves figures in {names:?}"))?;
    let path = args
        .svg
        .clone()
        .unwrap_or_else(|| config::work_dir().join("bench-curves.svg"));
    std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(config::repo_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = run(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}-dirty") } else { head }
}

/// Returns whether every figure was measured.
async fn run(args: Args) -> Result<bool> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let docker = conformance::docker::connect().await?;
    let version = docker.version().await.context("docker version")?;
    let info = docker.info().await.context("docker info")?;
    let concurrent = cargo_test_running();
    let mut machine = Machine {
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into()),
        mem_total_bytes: proc_field("/proc/meminfo", "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into()),
        docker_version: version.version.unwrap_or_else(|| "unknown".into()),
        storage_driver: info.driver.unwrap_or_else(|| "unknown".into()),
        loadavg_start: loadavg(),
        loadavg_end: f64::NAN,
        concurrent_cargo_test: concurrent,
    };
    progress(format!("machine: {}", machine.describe()));
    if concurrent {
        progress(
            "WARNING: another `cargo test` is running on this machine: the figures will be skewed",
        );
    }
    let sections: Vec<&str> = args.opts.sections.iter().map(|s| s.name()).collect();
    progress(format!("sections: {}", sections.join(" ")));

    match sweep_leftovers(&docker).await {
        Ok(0) => {}
        Ok(n) => progress(format!("swept {n} container(s) left by a killed run")),
        Err(e) => progress(format!("could not sweep leftover containers: {e}")),
    }
    match sweep_images(&docker).await {
        Ok(0) => {}
        Ok(n) => progress(format!("removed {n} image(s) left by a killed bench run")),
        Err(e) => progress(format!("could not sweep leftover images: {e}")),
    }

    // The product image exactly as the suite builds it (or HERMES_CONFORMANCE_IMAGE).
    let image = runner::image_for(&docker, &Variant::production()).await?;
    progress(format!("image under test: {image}"));

    let opts_json = serde_json::to_value(&args.opts)?;
    let commit = git_commit();
    let mut bench = Bench {
        docker,
        image: image.clone(),
        opts: args.opts.clone(),
        results: Results::default(),
    };
    let write = |bench: &Bench, machine: &Machine| -> Result<()> {
        let report = Report {
            machine,
            image: &image,
            git_commit: commit.clone(),
            started_unix,
            wall_seconds: started.elapsed().as_secs_f64(),
            options: &opts_json,
            figures: &bench.results.figures,
        };
        if let Some(dir) = args.out.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(&args.out, text + "\n")
            .with_context(|| format!("writing {}", args.out.display()))?;
        let md = args.out.with_extension("md");
        std::fs::write(&md, bench.results.markdown())
            .with_context(|| format!("writing {}", md.display()))?;
        Ok(())
    };
    for section in args.opts.sections.iter().copied() {
        let t = Instant::now();
        match section {
            Section::Product => bench.product().await,
            Section::Base => bench.base().await,
            Section::Compile => bench.compile().await,
            Section::Boot => bench.boot().await,
            Section::Exec => bench.exec().await,
            Section::Scale => bench.scale().await,
            Section::Memory => bench.memory().await,
            Section::Suite => bench.suite().await,
            Section::Curves => bench.curves().await,
        }
        progress(format!(
            "section {} done in {:.1?}",
            section.name(),
            t.elapsed()
        ));
        // Written after every section, so a run cut short still leaves what it measured.
        write(&bench, &machine)?;
    }
    machine.loadavg_end = loadavg();
    write(&bench, &machine)?;
    let caption = format!(
        "hermes-s6 {commit}, {image}; {}; medians, bars min–max",
        machine.describe()
    );
    let svg_path = args.out.with_file_name("bench-curves.svg");
    if let Some(svg) = curves_svg(&bench.results, &caption) {
        std::fs::write(&svg_path, svg)
            .with_context(|| format!("writing {}", svg_path.display()))?;
        progress(format!("plot: {}", svg_path.display()));
    }

    println!();
    println!("hermes-s6 benchmark — {image} @ {commit}");
    println!("{}", machine.describe());
    println!();
    print!("{}", bench.results.table());
    println!();
    println!(
        "ratio = median / median of the floor (exec: `docker exec -u hermes C true`; boot: a bare \
         s6-svscan from the same base image; scale and curves: the same boot with 0 profiles, curves' 0 against \
         a bare s6-svscan restarted the same way; memory: 0 gateways running)"
    );
    println!(
        "wrote {} and {} in {:.0?}",
        args.out.display(),
        args.out.with_extension("md").display(),
        started.elapsed()
    );
    Ok(!bench.results.any_failed())
}
