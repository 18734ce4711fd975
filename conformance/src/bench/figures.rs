//! Every figure of `make bench`, declared once: its id in `bench.json` (the section is the part
//! before the first dot), the label a person reads in the table, and its unit. Every
//! measurement, taken or failed, is built from its declaration (`DECL.measured(samples)`,
//! `DECL.durations(&samples)`, `DECL.failed(&err)`), so a failure shows under the same id and
//! label as a success would, and `docs/benchmarks.md` and the plot read the ids written here.

use std::borrow::Cow;
use std::time::Duration;

use super::{Figure, Unit};

/// What a figure is: id, label, unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureDecl {
    /// Stable key in `bench.json`, e.g. `exec.gateway_start`.
    pub id: Cow<'static, str>,
    /// What a person reads in the table.
    pub label: Cow<'static, str>,
    pub unit: Unit,
}

impl FigureDecl {
    const fn new(id: &'static str, label: &'static str, unit: Unit) -> FigureDecl {
        FigureDecl {
            id: Cow::Borrowed(id),
            label: Cow::Borrowed(label),
            unit,
        }
    }

    /// The figure of these samples.
    pub fn measured(&self, samples: Vec<f64>) -> Figure {
        Figure::new(self, samples)
    }

    /// The figure of these durations, in milliseconds (the declaration's unit must be `Ms`).
    pub fn durations(&self, samples: &[Duration]) -> Figure {
        debug_assert_eq!(self.unit, Unit::Ms, "{} is not a time", self.id);
        self.measured(samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
    }

    /// The figure of a measurement that failed before it had any sample.
    pub fn failed(&self, error: &anyhow::Error) -> Figure {
        self.measured(Vec::new()).failing(error)
    }

    /// The durations measured until `error`, if any, stopped the measurement.
    pub fn durations_until(&self, samples: &[Duration], error: Option<&anyhow::Error>) -> Figure {
        let f = self.durations(samples);
        match error {
            Some(e) => f.failing(e),
            None => f,
        }
    }
}

/// A figure per count (profiles on disk, gateways running): id and label are templates in
/// which `{n}` stands for the count, and `{mode}` (in the id) and `{run}` (in the label) for a
/// `/run` mode of the curves.
#[derive(Debug, Clone, Copy)]
pub struct FigureFamily {
    pub id: &'static str,
    pub label: &'static str,
    pub unit: Unit,
}

impl FigureFamily {
    const fn new(id: &'static str, label: &'static str, unit: Unit) -> FigureFamily {
        FigureFamily { id, label, unit }
    }

    /// The member for count `n`.
    pub fn at(&self, n: usize) -> FigureDecl {
        self.fill(&[("{n}", &n.to_string())])
    }

    /// The member for these values of the placeholders (`("{n}", "10")`, …).
    pub fn fill(&self, vars: &[(&str, &str)]) -> FigureDecl {
        let sub = |t: &str| {
            vars.iter()
                .fold(t.to_string(), |acc, (k, v)| acc.replace(k, v))
        };
        FigureDecl {
            id: Cow::Owned(sub(self.id)),
            label: Cow::Owned(sub(self.label)),
            unit: self.unit,
        }
    }

    /// The id up to its count, the other placeholders filled: what the members share.
    pub fn prefix(&self, vars: &[(&str, &str)]) -> String {
        let head = self.id.split("{n}").next().unwrap_or(self.id);
        vars.iter()
            .fold(head.to_string(), |acc, (k, v)| acc.replace(k, v))
    }

    /// The count of a member's id, if `id` is one (with these other placeholders).
    pub fn count_of(&self, id: &str, vars: &[(&str, &str)]) -> Option<usize> {
        id.strip_prefix(&self.prefix(vars))?.parse().ok()
    }
}

use Unit::{Bytes, Count, Ms};

// ---------------------------------------------------------------------- image

pub const IMAGE_PRODUCT_SIZE: FigureDecl =
    FigureDecl::new("image.product_size", "product image size", Bytes);
pub const IMAGE_BASE_SIZE: FigureDecl =
    FigureDecl::new("image.base_size", "base image size", Bytes);
pub const IMAGE_PRODUCT_COLD: FigureDecl = FigureDecl::new(
    "image.product_cold",
    "product image build, cold (docker build --no-cache)",
    Ms,
);
pub const IMAGE_PRODUCT_WARM: FigureDecl = FigureDecl::new(
    "image.product_warm",
    "product image build, warm (one rootfs file changed)",
    Ms,
);
pub const IMAGE_BASE_ROOTFS: FigureDecl = FigureDecl::new(
    "image.base_rootfs",
    "base image: mmdebstrap root filesystem",
    Ms,
);
pub const IMAGE_BASE_IMPORT: FigureDecl =
    FigureDecl::new("image.base_import", "base image: docker import", Ms);
pub const IMAGE_BASE_COLD: FigureDecl = FigureDecl::new(
    "image.base_cold",
    "base image build, cold (rootfs + import)",
    Ms,
);
pub const IMAGE_COMPILE_COLD: FigureDecl = FigureDecl::new(
    "image.compile_cold",
    "hermes binaries: cold compile (all deps + hermes)",
    Ms,
);
pub const IMAGE_COMPILE_CRATE: FigureDecl = FigureDecl::new(
    "image.compile_crate",
    "hermes binaries: hermes crate only",
    Ms,
);
pub const IMAGE_COMPILE_NOOP: FigureDecl =
    FigureDecl::new("image.compile_noop", "hermes binaries: nothing changed", Ms);

// ---------------------------------------------------------------------- boot

pub const BOOT_FLOOR: FigureDecl = FigureDecl::new(
    "boot.floor",
    "floor: docker start → bare s6-svscan answers",
    Ms,
);
pub const BOOT_PRODUCT: FigureDecl =
    FigureDecl::new("boot.product", "docker start → /run/hermes/ready", Ms);
pub const BOOT_FLOOR_STOP: FigureDecl =
    FigureDecl::new("boot.floor_stop", "floor: docker stop", Ms);
pub const BOOT_PRODUCT_STOP: FigureDecl = FigureDecl::new(
    "boot.product_stop",
    "docker stop (graceful s6 teardown)",
    Ms,
);

// ---------------------------------------------------------------------- exec

pub const EXEC_FLOOR: FigureDecl =
    FigureDecl::new("exec.floor", "floor: docker exec -u hermes C true", Ms);
pub const EXEC_S6_START: FigureDecl = FigureDecl::new(
    "exec.s6_start",
    "floor: s6-svc -u → up (bare s6, trivial service)",
    Ms,
);
pub const EXEC_S6_STOP: FigureDecl = FigureDecl::new("exec.s6_stop", "floor: s6-svc -d → down", Ms);
pub const EXEC_S6_RESTART: FigureDecl =
    FigureDecl::new("exec.s6_restart", "floor: s6-svc -t → new pid up", Ms);
pub const EXEC_VERSION: FigureDecl = FigureDecl::new("exec.version", "hermes --version", Ms);
pub const EXEC_STATUS: FigureDecl =
    FigureDecl::new("exec.status", "hermes status (no profiles)", Ms);
pub const EXEC_PROFILE_CREATE: FigureDecl =
    FigureDecl::new("exec.profile_create", "hermes profile create", Ms);
pub const EXEC_GATEWAY_START: FigureDecl =
    FigureDecl::new("exec.gateway_start", "hermes gateway start → s6 up", Ms);
pub const EXEC_GATEWAY_STOP: FigureDecl =
    FigureDecl::new("exec.gateway_stop", "hermes gateway stop → s6 down", Ms);
pub const EXEC_GATEWAY_RESTART: FigureDecl = FigureDecl::new(
    "exec.gateway_restart",
    "hermes gateway restart → new pid up",
    Ms,
);
pub const EXEC_PROFILE_DELETE: FigureDecl = FigureDecl::new(
    "exec.profile_delete",
    "hermes profile delete --yes (stopped)",
    Ms,
);

// ---------------------------------------------------------------------- scale

pub const SCALE_CREATE: FigureFamily = FigureFamily::new(
    "scale.create_{n}",
    "register {n} profile(s): time per create",
    Ms,
);
pub const SCALE_BOOT: FigureFamily = FigureFamily::new(
    "scale.boot_{n}",
    "docker restart → ready, {n} profiles on disk",
    Ms,
);

// ---------------------------------------------------------------------- memory

pub const MEMORY_GATEWAY: FigureDecl = FigureDecl::new(
    "memory.gateway",
    "idle gateway (hermes gateway run) VmRSS",
    Bytes,
);
pub const MEMORY_S6_SUPERVISE: FigureDecl =
    FigureDecl::new("memory.s6_supervise", "s6-supervise VmRSS (each)", Bytes);
pub const MEMORY_S6_LOG: FigureDecl =
    FigureDecl::new("memory.s6_log", "s6-log VmRSS (each)", Bytes);
pub const MEMORY_S6_SVSCAN: FigureDecl =
    FigureDecl::new("memory.s6_svscan", "s6-svscan (PID 1) VmRSS", Bytes);
pub const MEMORY_DASHBOARD: FigureDecl = FigureDecl::new(
    "memory.dashboard",
    "dashboard (hermes dashboard) VmRSS",
    Bytes,
);

// ---------------------------------------------------------------------- suite

pub const SUITE_WALL: FigureDecl = FigureDecl::new(
    "suite.wall",
    "conformance suite, warm (cargo test --test suite)",
    Ms,
);
pub const SUITE_CONTAINERS: FigureDecl = FigureDecl::new(
    "suite.containers",
    "containers the suite run created",
    Count,
);
pub const SUITE_CPU_BUSY: FigureDecl = FigureDecl::new(
    "suite.cpu_busy",
    "CPU busy during the suite run, whole machine, all cores",
    Ms,
);
pub const SUITE_CORES: FigureDecl =
    FigureDecl::new("suite.cores", "cores (cpuN lines of /proc/stat)", Count);
pub const SUITE_CONTAINER_CYCLE: FigureDecl = FigureDecl::new(
    "suite.container_cycle",
    "one scenario container: create + start → ready → remove",
    Ms,
);

// ---------------------------------------------------------------------- curves

pub const CURVES_FLOOR: FigureDecl = FigureDecl::new(
    "curves.floor",
    "floor: docker restart → bare s6-svscan answers",
    Ms,
);
pub const CURVES_BOOT: FigureFamily = FigureFamily::new(
    "curves.{mode}.boot_{n}",
    "restart → ready, {n} profiles, {run}",
    Ms,
);
/// A `/run` mode's boot curve that could not be measured at all.
pub const CURVES_BOOT_CURVE: FigureFamily =
    FigureFamily::new("curves.{mode}.boot", "boot curve, {run}", Ms);
/// The memory curve that could not be measured at all.
pub const CURVES_MEM: FigureDecl =
    FigureDecl::new("curves.mem", "memory with gateways running", Bytes);
pub const CURVES_MEM_CGROUP: FigureFamily = FigureFamily::new(
    "curves.mem.cgroup_{n}",
    "{n} gateways running: container anonymous memory",
    Bytes,
);
pub const CURVES_MEM_ALL_RSS: FigureFamily = FigureFamily::new(
    "curves.mem.all_rss_{n}",
    "{n} gateways running: Σ VmRSS of every process",
    Bytes,
);
pub const CURVES_MEM_GATEWAYS_RSS: FigureFamily = FigureFamily::new(
    "curves.mem.gateways_rss_{n}",
    "{n} gateways running: Σ VmRSS of the gateways",
    Bytes,
);

/// Every single figure, in table order.
pub const ALL: &[&FigureDecl] = &[
    &IMAGE_PRODUCT_SIZE,
    &IMAGE_BASE_SIZE,
    &IMAGE_PRODUCT_COLD,
    &IMAGE_PRODUCT_WARM,
    &IMAGE_BASE_ROOTFS,
    &IMAGE_BASE_IMPORT,
    &IMAGE_BASE_COLD,
    &IMAGE_COMPILE_COLD,
    &IMAGE_COMPILE_CRATE,
    &IMAGE_COMPILE_NOOP,
    &BOOT_FLOOR,
    &BOOT_PRODUCT,
    &BOOT_FLOOR_STOP,
    &BOOT_PRODUCT_STOP,
    &EXEC_FLOOR,
    &EXEC_S6_START,
    &EXEC_S6_STOP,
    &EXEC_S6_RESTART,
    &EXEC_VERSION,
    &EXEC_STATUS,
    &EXEC_PROFILE_CREATE,
    &EXEC_GATEWAY_START,
    &EXEC_GATEWAY_STOP,
    &EXEC_GATEWAY_RESTART,
    &EXEC_PROFILE_DELETE,
    &MEMORY_GATEWAY,
    &MEMORY_S6_SUPERVISE,
    &MEMORY_S6_LOG,
    &MEMORY_S6_SVSCAN,
    &MEMORY_DASHBOARD,
    &SUITE_WALL,
    &CURVES_FLOOR,
    &CURVES_MEM,
];

/// Every family.
pub const FAMILIES: &[&FigureFamily] = &[
    &SCALE_CREATE,
    &SCALE_BOOT,
    &CURVES_BOOT,
    &CURVES_BOOT_CURVE,
    &CURVES_MEM_CGROUP,
    &CURVES_MEM_ALL_RSS,
    &CURVES_MEM_GATEWAYS_RSS,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::Section;

    fn section_of(id: &str) -> &str {
        id.split('.').next().unwrap_or(id)
    }

    /// The section of every id is one the bench has (`image` is the product, base and
    /// compile sections' common one), and no two declarations share an id.
    #[test]
    fn ids_are_unique_and_in_known_sections() {
        let known = |s: &str| s == "image" || Section::ALL.iter().any(|x| x.name() == s);
        let mut seen = std::collections::HashSet::new();
        for d in ALL {
            assert!(known(section_of(&d.id)), "{}: unknown section", d.id);
            assert!(seen.insert(d.id.to_string()), "{} declared twice", d.id);
            assert!(!d.label.is_empty());
        }
        for f in FAMILIES {
            assert!(known(section_of(f.id)), "{}: unknown section", f.id);
            assert!(seen.insert(f.id.to_string()), "{} declared twice", f.id);
        }
    }

    #[test]
    fn a_family_member_is_filled_in_id_and_label() {
        let d = SCALE_BOOT.at(10);
        assert_eq!(d.id, "scale.boot_10");
        assert_eq!(d.label, "docker restart → ready, 10 profiles on disk");
        assert_eq!(d.unit, Unit::Ms);
        let vars = [
            ("{mode}", "tmpfs"),
            ("{run}", "--tmpfs /run"),
            ("{n}", "250"),
        ];
        let d = CURVES_BOOT.fill(&vars);
        assert_eq!(d.id, "curves.tmpfs.boot_250");
        assert_eq!(d.label, "restart → ready, 250 profiles, --tmpfs /run");
        assert_eq!(CURVES_BOOT.prefix(&vars[..2]), "curves.tmpfs.boot_");
        assert_eq!(CURVES_BOOT.count_of(&d.id, &vars[..2]), Some(250));
        assert_eq!(
            CURVES_BOOT.count_of("curves.fuse.boot_250", &vars[..2]),
            None
        );
        assert_eq!(CURVES_BOOT_CURVE.fill(&vars).id, "curves.tmpfs.boot");
    }

    #[test]
    fn failures_keep_the_declaration() {
        let f = EXEC_FLOOR.failed(&anyhow::anyhow!("no docker"));
        assert_eq!(
            (f.id.as_str(), f.label.as_str()),
            ("exec.floor", &*EXEC_FLOOR.label)
        );
        assert_eq!(f.section, "exec");
        assert_eq!(f.error.as_deref(), Some("no docker"));
        let f = BOOT_PRODUCT.durations_until(
            &[Duration::from_millis(5)],
            Some(&anyhow::anyhow!("stopped")),
        );
        assert_eq!(f.samples, vec![5.0]);
        assert!(f.error.is_some());
    }
}
