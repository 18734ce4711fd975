//! `conformance-bench` (`make bench`): what the image, its boot and its CLI cost, each figure a
//! median over repeated runs with min and max, and as a ratio to the floor Docker and s6 cost
//! anyway. Prints a table; writes `target/conformance/bench.json` (and `bench.md`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use conformance::bench::measure::{Bench, Options, Section, curves_svg, sweep_images};
use conformance::bench::{
    Machine, Report, Results, cargo_test_running, loadavg, proc_field, progress,
};
use conformance::container::sweep_leftovers;
use conformance::image::Variant;
use conformance::{config, runner};

/// Measures the image build, boot, CLI verbs, scale and memory of hermes-s6 against the floor
/// of Docker and s6, and prints a table (median, min, max, n, ratio to the floor).
///
/// Writes target/conformance/bench.json and bench.md (with --curves also bench-curves.svg)
/// after every section, so a run cut short keeps what it measured. Progress lines go to
/// stderr. Sections: the defaults of the run (full or --quick), or --only's; --with-suite and
/// --curves add to them; --skip takes away last.
#[derive(Debug, Parser)]
#[command(name = "conformance-bench")]
struct Cli {
    /// Smoke run: few repetitions; no base image, compile or suite
    #[arg(long)]
    quick: bool,
    /// Also time the whole conformance suite once (make bench does)
    #[arg(long)]
    with_suite: bool,
    /// Also the growth curves: boot with 0/10/100/250/1000 profiles, /run on the image fs and
    /// on a tmpfs, memory with 10/100/250 gateways running (~15-25 min here; with --quick:
    /// 0/10/100 profiles, 10 gateways); writes bench-curves.svg next to bench.json
    #[arg(long)]
    curves: bool,
    /// Run only these sections
    #[arg(long, value_name = "SECTION,...", value_delimiter = ',')]
    only: Option<Vec<Section>>,
    /// Leave these sections out (the sections as for --only)
    #[arg(
        long,
        value_name = "SECTION,...",
        value_delimiter = ',',
        hide_possible_values = true
    )]
    skip: Vec<Section>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Repetitions of each CLI verb and of the exec floor", |o| o.exec_reps))]
    reps: Option<usize>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("docker start → ready, product and floor each", |o| o.boot_reps))]
    boot_reps: Option<usize>,
    /// The suite section runs only the scenarios these libtest filters select, e.g.
    /// `model::` (to try the section on a few scenarios) [default: all]
    #[arg(long, value_name = "FILTER,...", value_delimiter = ',')]
    suite_filter: Vec<String>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Product image builds, cold and warm each", |o| o.build_reps))]
    build_reps: Option<usize>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Base image builds from scratch", |o| o.base_runs))]
    base_runs: Option<usize>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Rebuilds of the hermes crate alone", |o| o.compile_reps))]
    compile_reps: Option<usize>,
    #[arg(long, value_name = "N,...", value_delimiter = ',',
          help = defaults("Profile counts of the scale section (0 always)", |o| list(&o.scale_sizes)))]
    scale_sizes: Option<Vec<usize>>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Fresh containers per count for the registration time", |o| o.scale_reps))]
    scale_reps: Option<usize>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("docker restart → ready per count", |o| o.scale_boot_reps))]
    scale_boot_reps: Option<usize>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Idle gateways whose resident set is read", |o| o.mem_gateways))]
    mem_gateways: Option<usize>,
    #[arg(long, value_name = "N,...", value_delimiter = ',',
          help = defaults("Profile counts of the boot curves (0 always)", |o| list(&o.curve_sizes)))]
    curve_sizes: Option<Vec<usize>>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("docker restart → ready per count and /run mode", |o| o.curve_boot_reps))]
    curve_reps: Option<usize>,
    #[arg(long, value_name = "N,...", value_delimiter = ',',
          help = defaults("Running gateway counts of the memory curve (0 = none)", |o| list(&o.curve_running)))]
    curve_running: Option<Vec<usize>>,
    /// /run modes of the boot curves: tmpfs (docker run --tmpfs /run), fuse (the image's
    /// filesystem) [default: both]
    #[arg(long, value_name = "MODE,...", value_delimiter = ',',
          value_parser = ["tmpfs", "fuse"])]
    curve_modes: Option<Vec<String>>,
    #[arg(long, value_name = "N", value_parser = at_least_one,
          help = defaults("Dashboard containers whose resident set is read", |o| o.dashboard_reps))]
    dashboard_reps: Option<usize>,
    /// JSON output; bench.md and bench-curves.svg go next to it [default:
    /// target/conformance/bench.json]
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Measure nothing: plot the curves of these bench.json files (a later file's figure
    /// replaces an earlier one's) into --svg
    #[arg(long, value_name = "A.json,...", value_delimiter = ',')]
    plot_from: Vec<PathBuf>,
    /// Where --plot-from writes [default: target/conformance/bench-curves.svg]
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
}

/// An option's help with its value in the full run and in `--quick`, read from `Options`.
fn defaults<T: std::fmt::Display>(what: &str, of: impl Fn(&Options) -> T) -> String {
    format!(
        "{what} [default: {}; --quick: {}]",
        of(&Options::full()),
        of(&Options::quick())
    )
}

fn list(v: &[usize]) -> String {
    v.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{v:?} is not a number")),
    }
}

struct Args {
    opts: Options,
    out: PathBuf,
    plot_from: Vec<PathBuf>,
    svg: Option<PathBuf>,
}

impl Cli {
    /// The run's options: the full or quick defaults, then what was given.
    fn into_args(self) -> Args {
        let mut o = if self.quick {
            Options::quick()
        } else {
            Options::full()
        };
        if let Some(only) = self.only {
            o.sections = only.into_iter().collect();
        }
        if self.with_suite {
            o.sections.insert(Section::Suite);
        }
        if self.curves {
            o.sections.insert(Section::Curves);
        }
        for s in &self.skip {
            o.sections.remove(s);
        }
        let set = |field: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut o.exec_reps, self.reps);
        set(&mut o.boot_reps, self.boot_reps);
        o.suite_filter = self.suite_filter;
        set(&mut o.build_reps, self.build_reps);
        set(&mut o.base_runs, self.base_runs);
        set(&mut o.compile_reps, self.compile_reps);
        set(&mut o.scale_reps, self.scale_reps);
        set(&mut o.scale_boot_reps, self.scale_boot_reps);
        set(&mut o.mem_gateways, self.mem_gateways);
        set(&mut o.dashboard_reps, self.dashboard_reps);
        set(&mut o.curve_boot_reps, self.curve_reps);
        if let Some(v) = self.scale_sizes {
            o.scale_sizes = v;
        }
        if let Some(v) = self.curve_sizes {
            o.curve_sizes = v;
        }
        if let Some(v) = self.curve_running {
            o.curve_running = v.into_iter().filter(|n| *n > 0).collect();
        }
        if let Some(v) = self.curve_modes {
            o.curve_modes = v;
        }
        Args {
            opts: o,
            out: self
                .out
                .unwrap_or_else(|| config::work_dir().join("bench.json")),
            plot_from: self.plot_from,
            svg: self.svg,
        }
    }
}

fn main() -> ExitCode {
    // A bad argument: clap's message and usage, exit 2.
    let args = Cli::parse().into_args();
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn args(argv: &[&str]) -> Result<Args, clap::Error> {
        let argv = std::iter::once("conformance-bench").chain(argv.iter().copied());
        Cli::try_parse_from(argv).map(Cli::into_args)
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_start_from_the_run_and_take_what_is_given() {
        let a = args(&[]).expect("parses");
        assert_eq!(a.opts.exec_reps, Options::full().exec_reps);
        assert_eq!(a.opts.sections, Options::full().sections);
        assert!(a.plot_from.is_empty() && a.svg.is_none());
        assert!(a.out.ends_with("bench.json"));

        let a = args(&[
            "--quick",
            "--only",
            "exec,boot",
            "--with-suite",
            "--skip",
            "boot",
            "--reps",
            "7",
            "--curve-running",
            "0,10",
            "--curve-modes",
            "fuse",
            "--out",
            "/tmp/x.json",
        ])
        .expect("parses");
        let sections: Vec<Section> = a.opts.sections.iter().copied().collect();
        assert_eq!(sections, [Section::Exec, Section::Suite]);
        assert_eq!(a.opts.exec_reps, 7);
        assert_eq!(a.opts.boot_reps, Options::quick().boot_reps);
        assert_eq!(a.opts.curve_running, [10]);
        assert_eq!(a.opts.curve_modes, ["fuse"]);
        assert_eq!(a.out, PathBuf::from("/tmp/x.json"));

        let a = args(&[
            "--only",
            "curves",
            "--curves",
            "--plot-from",
            "a.json,b.json",
        ])
        .expect("parses");
        assert_eq!(a.opts.sections.len(), 1);
        assert_eq!(
            a.plot_from,
            [PathBuf::from("a.json"), PathBuf::from("b.json")]
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            &["--reps", "0"][..],
            &["--reps", "x"],
            &["--only", "nope"],
            &["--curve-modes", "tmpfs,ext4"],
            &["--frob"],
        ] {
            assert!(args(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
