//! `make bench`: what the image, its boot and its CLI cost, measured against the floor of what
//! Docker and s6 cost anyway. Every figure is a median over repeated runs, with min and max.
//!
//! This module holds the bookkeeping (figures, statistics, the table, the JSON); every figure
//! is declared in [`figures`], the measurements live in [`measure`] and the program in
//! `src/bin/conformance-bench.rs`.

pub mod figures;
pub mod measure;
pub mod plot;

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

pub use figures::{FigureDecl, FigureFamily};

use crate::table::{Column, Table};

pub use crate::progress::progress;

/// What a figure's samples count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Milliseconds of wall time.
    Ms,
    /// Bytes (image sizes, resident memory).
    Bytes,
    /// A number of things (containers, cores).
    Count,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::Ms if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
            Unit::Ms if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
            Unit::Ms if v >= 100.0 => format!("{v:.0} ms"),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::Bytes if v >= 1024.0 * 1024.0 * 10.0 => {
                format!("{:.0} MiB", v / (1024.0 * 1024.0))
            }
            Unit::Bytes if v >= 1024.0 * 1024.0 => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
            Unit::Bytes => format!("{:.0} KiB", v / 1024.0),
            Unit::Count => format!("{v:.0}"),
        }
    }
}

/// Median (mean of the two middle values for an even count), min and max.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Option<Stats> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: s[0],
            max: s[n - 1],
            n,
        })
    }
}

/// The ratio of a figure's median to the median of the floor it is compared with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ratio {
    /// The `id` of the floor figure.
    pub floor: String,
    /// A short name of the floor, shown when a figure has more than one ratio.
    pub against: String,
    pub value: f64,
}

/// One measured quantity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    /// Stable key for the JSON, e.g. `exec.gateway_start`.
    pub id: String,
    pub section: String,
    /// What a person reads in the table.
    pub label: String,
    pub unit: Unit,
    pub samples: Vec<f64>,
    pub stats: Option<Stats>,
    /// First the ratio to the floor of the section; some figures also have a closer floor.
    pub ratios: Vec<Ratio>,
    /// What exactly was measured, when the label alone could mislead.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Set when the measurement failed; the samples taken before the failure are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Figure {
    /// Only through a declaration (`FigureDecl::measured` and its kin).
    fn new(decl: &FigureDecl, samples: Vec<f64>) -> Figure {
        let id = decl.id.to_string();
        let section = id.split('.').next().unwrap_or(&id).to_string();
        Figure {
            id,
            section,
            label: decl.label.to_string(),
            unit: decl.unit,
            stats: Stats::of(&samples),
            samples,
            ratios: Vec::new(),
            note: String::new(),
            error: None,
        }
    }

    /// Marked failed with `error`; the samples taken before it are kept.
    pub fn failing(mut self, error: &anyhow::Error) -> Figure {
        self.error = Some(format!("{error:#}"));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = note.into();
        self
    }

    pub fn median(&self) -> Option<f64> {
        self.stats.map(|s| s.median)
    }
}

/// Where the figures accumulate, in the order they were measured.
#[derive(Debug, Default)]
pub struct Results {
    pub figures: Vec<Figure>,
}

impl Results {
    /// The figures of earlier runs' `bench.json` files, later files replacing figures of the
    /// same id (to plot one curve from a run and a follow-up run of some of its points).
    pub fn from_reports(paths: &[std::path::PathBuf]) -> anyhow::Result<Results> {
        #[derive(Deserialize)]
        struct Saved {
            figures: Vec<Figure>,
        }
        let mut r = Results::default();
        for p in paths {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
            let saved: Saved = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not a bench.json: {e}", p.display()))?;
            for f in saved.figures {
                r.figures.retain(|g| g.id != f.id);
                r.figures.push(f);
            }
        }
        Ok(r)
    }

    /// Record a figure and print it at once, so progress shows numbers as they come.
    pub fn push(&mut self, f: Figure) {
        match (&f.stats, &f.error) {
            (_, Some(e)) => progress(format!("{}: FAILED: {e}", f.label)),
            (Some(s), None) => progress(format!(
                "{}: median {} (min {}, max {}, n={})",
                f.label,
                f.unit.format(s.median),
                f.unit.format(s.min),
                f.unit.format(s.max),
                s.n
            )),
            (None, None) => progress(format!("{}: no samples", f.label)),
        }
        self.figures.push(f);
    }

    /// The figure of `decl`, or of its failure when `r` is an error.
    pub fn record(&mut self, decl: &FigureDecl, r: anyhow::Result<Figure>) {
        match r {
            Ok(f) => self.push(f),
            Err(e) => self.push(decl.failed(&e)),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.id == id)
    }

    /// Add the ratio of every figure in `of` to the median of `floor` (named `against`).
    pub fn set_ratios(&mut self, floor: &FigureDecl, against: &str, of: &[&FigureDecl]) {
        let Some(base) = self.get(&floor.id).and_then(Figure::median) else {
            return;
        };
        if base <= 0.0 {
            return;
        }
        for f in self
            .figures
            .iter_mut()
            .filter(|f| of.iter().any(|d| d.id == f.id))
        {
            if let Some(m) = f.median() {
                f.ratios.push(Ratio {
                    floor: floor.id.to_string(),
                    against: against.to_string(),
                    value: m / base,
                });
            }
        }
    }

    pub fn any_failed(&self) -> bool {
        self.figures.iter().any(|f| f.error.is_some())
    }

    /// The plain-text table printed at the end of a run, then a line per failure.
    pub fn table(&self) -> String {
        let mut out = self.grid().render();
        for f in self.figures.iter().filter(|f| f.error.is_some()) {
            let _ = writeln!(
                out,
                "FAILED {}: {}",
                f.label,
                f.error.as_deref().unwrap_or_default()
            );
        }
        out
    }

    /// The same table as Markdown, for `docs/benchmarks.md`.
    pub fn markdown(&self) -> String {
        self.grid().markdown()
    }

    /// Section and figure left-aligned, the numbers right-aligned.
    fn grid(&self) -> Table {
        let mut t = Table::new([
            Column::left("section"),
            Column::left("figure"),
            Column::right("median"),
            Column::right("min"),
            Column::right("max"),
            Column::right("n"),
            Column::right("ratio"),
        ]);
        for f in &self.figures {
            let (med, min, max, n) = match (&f.stats, &f.error) {
                // A failed figure keeps what it measured before the failure was seen.
                (Some(s), _) => (
                    f.unit.format(s.median),
                    f.unit.format(s.min),
                    f.unit.format(s.max),
                    s.n.to_string(),
                ),
                (_, Some(_)) => ("FAILED".into(), "-".into(), "-".into(), "-".into()),
                (None, None) => ("-".into(), "-".into(), "-".into(), "0".into()),
            };
            let ratio = match f.ratios.as_slice() {
                _ if f.error.is_some() => "FAILED (below)".to_string(),
                [one] => format!("×{:.2}", one.value),
                many => many
                    .iter()
                    .map(|r| format!("×{:.2} {}", r.value, r.against))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            t.row([f.section.clone(), f.label.clone(), med, min, max, n, ratio]);
        }
        t
    }
}

/// The machine a run was made on, so figures are never quoted without it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub mem_total_bytes: u64,
    pub kernel: String,
    pub docker_version: String,
    pub storage_driver: String,
    /// 1-minute load average when the run started and when it ended.
    pub loadavg_start: f64,
    pub loadavg_end: f64,
    /// Other `cargo test` processes seen at the start (a CI run would skew the figures).
    pub concurrent_cargo_test: bool,
}

impl Machine {
    pub fn describe(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB RAM, kernel {}, Docker {} ({}), load {:.2} → {:.2}{}",
            self.nproc,
            self.cpu,
            self.mem_total_bytes as f64 / (1u64 << 30) as f64,
            self.kernel,
            self.docker_version,
            self.storage_driver,
            self.loadavg_start,
            self.loadavg_end,
            if self.concurrent_cargo_test {
                ", ANOTHER cargo test WAS RUNNING"
            } else {
                ""
            }
        )
    }
}

/// Read the first line of `path` matching `key`, e.g. `MemTotal:` of `/proc/meminfo`.
pub fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find(|l| l.starts_with(key)).map(|l| {
        l[key.len()..]
            .trim()
            .trim_start_matches(':')
            .trim()
            .to_string()
    })
}

pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Is another `cargo test` running on this machine (one we did not start)?
pub fn cargo_test_running() -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    let me = std::process::id().to_string();
    rd.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|raw| {
            let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            let is_cargo = args
                .first()
                .is_some_and(|a| a.ends_with(b"cargo") || a.ends_with(b"/cargo"));
            is_cargo && args.get(1).is_some_and(|a| *a == b"test")
        })
}

/// Everything `bench.json` holds.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub machine: &'a Machine,
    pub image: &'a str,
    pub git_commit: String,
    pub started_unix: u64,
    pub wall_seconds: f64,
    pub options: &'a serde_json::Value,
    pub figures: &'a [Figure],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Stats::of(&[3.0, 1.0, 2.0]).expect("stats");
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Stats::of(&[4.0, 1.0, 2.0, 3.0]).expect("stats");
        assert_eq!(s.median, 2.5);
        assert!(Stats::of(&[]).is_none());
        assert!(Stats::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn ratios_use_the_floor_median() {
        use figures::{EXEC_FLOOR, EXEC_VERSION};
        let mut r = Results::default();
        r.push(EXEC_FLOOR.measured(vec![10.0, 20.0, 30.0]));
        r.push(EXEC_VERSION.measured(vec![40.0]));
        r.set_ratios(&EXEC_FLOOR, "exec", &[&EXEC_VERSION]);
        let x = r
            .get(&EXEC_VERSION.id)
            .and_then(|f| f.ratios.first())
            .map(|r| r.value);
        assert_eq!(x, Some(2.0));
        assert!(r.table().contains("×2.00"));
        assert!(r.markdown().starts_with(
            "| section | figure | median | min | max | n | ratio |\n|---|---|--:|--:|--:|--:|--:|\n"
        ));
    }

    #[test]
    fn units_read_well() {
        assert_eq!(Unit::Ms.format(12.34), "12.3 ms");
        assert_eq!(Unit::Ms.format(1234.0), "1.23 s");
        assert_eq!(Unit::Ms.format(61_000.0), "61.0 s");
        assert_eq!(Unit::Bytes.format(3.5 * 1024.0 * 1024.0), "3.5 MiB");
        assert_eq!(Unit::Bytes.format(512.0 * 1024.0), "512 KiB");
    }
}
