//! The matrix's model: what hermes plants (`Plant`), where (`Component`, from §10.1's
//! hermes-writable rows), each plant at each component (`Case`), packed into rounds whose
//! plants cannot disturb each other, and what the root step must have said and left.

use std::fmt::Write as _;

use anyhow::{Result, bail};

use crate::privilege::table::Row;

/// The volume `HERMES_HOME` sits below.
pub(super) const VOLUME: &str = "/opt/data";
/// hermes' own scratch dir on the volume (renames must stay on one file system).
pub(super) const SCRATCH: &str = "/opt/data/.mx";
/// Root canaries outside `$HERMES_HOME` (not on the volume).
pub(super) const CANARY_DIR: &str = "/opt/matrix-canary";
/// What every canary file holds.
pub(super) const CANARY: &str = "matrix-canary";
/// The product's own top-level names `01` repairs (`$HERMES_HOME/*`): `hermes::boot::setup::
/// TOP_LEVEL`, which this crate cannot import (it tests the image, not the library), and the
/// names contract §10.1's `$HERMES_HOME/*` row lists.
pub(super) const TOP_LEVEL: &[&str] = &[
    "gateway_state.json",
    ".gateway_state.lock",
    ".gateway-planned-stop.json",
    ".profiles.lock",
    "gateway.pid",
    "processes.json",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Plant {
    SymFile,
    SymDir,
    HardLink,
    Fifo,
    Private,
}

pub(super) const PLANTS: [Plant; 5] = [
    Plant::SymFile,
    Plant::SymDir,
    Plant::HardLink,
    Plant::Fifo,
    Plant::Private,
];

impl Plant {
    pub(super) fn name(self) -> &'static str {
        match self {
            Plant::SymFile => "symlink to a root file",
            Plant::SymDir => "symlink to a root directory",
            Plant::HardLink => "hard link to a root file",
            Plant::Fifo => "FIFO",
            Plant::Private => "root-private entry renamed into place",
        }
    }
}

/// How the root step meets a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Visit {
    /// On the walk to the home (above it, or the home itself).
    Walk,
    /// A directory `01` makes or opens (`logs`, `logs/gateways`, `profiles`).
    Ensure,
    /// An entry `01` repairs through a handle (below `logs/`, `profiles/`, the top-level names).
    Repair,
    /// Below the home but not repaired without a remap (`$HERMES_HOME/**`'s other entries).
    Untouched,
}

/// One component hermes can replace, relative to the volume.
#[derive(Debug, Clone)]
pub(super) struct Component {
    /// Path relative to the volume; `{u}` is replaced by a name unique to the case.
    pub(super) rel: String,
    pub(super) visit: Visit,
    /// The §10.1 pattern it came from.
    pub(super) row: String,
    /// A directory in the tree as the product makes it (a private plant there is a 0700
    /// directory, elsewhere a 0600 file).
    pub(super) dir: bool,
}

impl Component {
    /// A directory of hermes' own making the component sits in (a profile dir named for the
    /// case), relative to the volume: hermes makes it before the plant.
    pub(super) fn needs(&self) -> Option<&str> {
        let (parent, _) = self.rel.rsplit_once('/')?;
        parent.contains("{u}").then_some(parent)
    }

    /// For a component on the walk to the home: a root 0755 directory outside the home that
    /// holds the rest of the path, as `/opt/hermes` holds `bin` (the home-midpath-symlink-followed
    /// regression): a link to it is what makes root reach a real root directory if it follows the
    /// link.
    pub(super) fn walk_canary(&self, home_rel: &str) -> Option<(String, String)> {
        if self.visit != Visit::Walk {
            return None;
        }
        let dir = format!("{CANARY_DIR}/walk-{}", self.rel.replace('/', "_"));
        let rest = home_rel
            .strip_prefix(&self.rel)
            .unwrap_or("")
            .trim_start_matches('/');
        Some((dir, rest.to_string()))
    }
}

/// One plant at one component.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) id: usize,
    pub(super) comp: Component,
    pub(super) plant: Plant,
    /// The component's path with `{u}` filled in, relative to the volume.
    pub(super) rel: String,
}

impl Case {
    pub(super) fn path(&self) -> String {
        format!("{VOLUME}/{}", self.rel)
    }
    pub(super) fn aside(&self) -> String {
        format!("{SCRATCH}/aside-{}", self.id)
    }
    /// Where root leaves the case's root-owned file or directory. For a private entry that
    /// is the component's own parent: hermes renames it within that directory, as finding 2
    /// of the repair-hands-over-private-files regression did (moving a directory it does not own to
    /// another parent needs write access to the directory itself, which hermes lacks).
    pub(super) fn source(&self) -> String {
        match self.plant {
            Plant::Private => format!("{}/.mx-src-{}", self.parent(), self.id),
            _ => format!("{SCRATCH}/src-{}", self.id),
        }
    }
    pub(super) fn parent(&self) -> String {
        let p = self.path();
        p[..p.rfind('/').unwrap_or(0)].to_string()
    }
    /// Where hermes puts the plant away after the round (same parent: see `source`).
    pub(super) fn trash(&self) -> String {
        format!("{}/.mx-trash-{}", self.parent(), self.id)
    }
    pub(super) fn label(&self) -> String {
        format!(
            "{} at {} (row `{}`)",
            self.plant.name(),
            self.path(),
            self.comp.row
        )
    }
    /// The words the step must have said about this case, if any.
    pub(super) fn expected_words(&self) -> Option<&'static str> {
        match (self.plant, self.comp.visit) {
            (_, Visit::Untouched) | (Plant::Fifo, _) => None,
            (Plant::SymFile | Plant::SymDir, _) => Some("refusing"),
            (Plant::HardLink, Visit::Repair) => Some("refusing"),
            (Plant::HardLink, _) => None,
            (Plant::Private, Visit::Walk) if !self.rel.ends_with("home") => None,
            (Plant::Private, _) => Some("left to root"),
        }
    }
}

/// `HERMES_HOME` `depth` levels below the volume: `/opt/data/home`, `/opt/data/n1/home`, …
pub(super) fn home_at(depth: usize) -> String {
    let mut p = VOLUME.to_string();
    for i in 1..depth {
        let _ = write!(p, "/n{i}");
    }
    p + "/home"
}

/// The components of every hermes-writable row of §10.1, for a home at `home_rel` (relative
/// to the volume).
pub(super) fn components(rows: &[Row], home_rel: &str) -> Result<Vec<Component>> {
    let mut out: Vec<Component> = Vec::new();
    let mut push = |rel: String, visit, row: &str, dir: bool| {
        if !out.iter().any(|c| c.rel == rel) {
            out.push(Component {
                rel,
                visit,
                row: row.to_string(),
                dir,
            });
        }
    };
    for row in rows.iter().filter(|r| r.hermes_writable) {
        for pat in &row.patterns() {
            let Some(rest) = pat.strip_prefix("$HERMES_HOME") else {
                bail!(
                    "§10.1 row `{pat}` is hermes-writable but not under $HERMES_HOME: the matrix does not know where to plant"
                );
            };
            match rest {
                "" => {
                    // Every component from the volume down to the home.
                    let parts: Vec<&str> = home_rel.split('/').collect();
                    for i in 1..=parts.len() {
                        push(parts[..i].join("/"), Visit::Walk, pat, true);
                    }
                }
                "/logs" | "/profiles" | "/logs/gateways" => {
                    push(format!("{home_rel}{rest}"), Visit::Ensure, pat, true)
                }
                "/logs/**" => {
                    push(format!("{home_rel}/logs/m{{u}}"), Visit::Repair, pat, false);
                    push(
                        format!("{home_rel}/logs/gateways/m{{u}}"),
                        Visit::Repair,
                        pat,
                        false,
                    );
                }
                "/profiles/**" => {
                    push(
                        format!("{home_rel}/profiles/p{{u}}"),
                        Visit::Repair,
                        pat,
                        true,
                    );
                    push(
                        format!("{home_rel}/profiles/base-{{u}}/f"),
                        Visit::Repair,
                        pat,
                        false,
                    );
                }
                "/*" => {
                    for t in TOP_LEVEL {
                        push(format!("{home_rel}/{t}"), Visit::Repair, pat, false);
                    }
                }
                "/**" => push(format!("{home_rel}/x{{u}}"), Visit::Untouched, pat, false),
                other => bail!(
                    "§10.1 row `$HERMES_HOME{other}`: the matrix has no expansion for it; add one \
                     to `attack_matrix::components`"
                ),
            }
        }
    }
    Ok(out)
}

/// Packs cases into rounds whose plants cannot disturb each other: no case's path is another's
/// ancestor or the same path.
pub(super) fn rounds(cases: Vec<Case>) -> Vec<Vec<Case>> {
    let mut rounds: Vec<Vec<Case>> = Vec::new();
    let conflict = |a: &Case, b: &Case| {
        let (pa, pb) = (format!("{}/", a.rel), format!("{}/", b.rel));
        pa.starts_with(&pb) || pb.starts_with(&pa)
    };
    for case in cases {
        match rounds
            .iter_mut()
            .find(|r| r.iter().all(|c| !conflict(c, &case)))
        {
            Some(r) => r.push(case),
            None => rounds.push(vec![case]),
        }
    }
    rounds
}

/// What each case's root source must still be after the step.
pub(super) fn expected_case_line(c: &Case) -> Option<String> {
    match c.plant {
        Plant::Private if c.comp.dir => Some(format!("case {} 0:0 700 0:0 600", c.id)),
        Plant::Private => Some(format!("case {} 0:0 600 ", c.id)),
        Plant::HardLink => Some(format!("case {} 0:0 644 2 secret", c.id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn every_hermes_writable_row_expands_and_rounds_never_overlap() {
        let rows = crate::privilege::table::rows().unwrap();
        for depth in 1..=3 {
            let home = home_at(depth);
            let rel = home.strip_prefix("/opt/data/").unwrap();
            let comps = components(&rows, rel).unwrap();
            assert_eq!(
                comps.iter().filter(|c| c.visit == Visit::Walk).count(),
                depth,
                "{home}"
            );
            let cases: Vec<Case> = comps
                .iter()
                .flat_map(|c| PLANTS.map(|p| (c.clone(), p)))
                .enumerate()
                .map(|(id, (comp, plant))| Case {
                    id,
                    rel: comp.rel.replace("{u}", &id.to_string()),
                    comp,
                    plant,
                })
                .collect();
            let n = cases.len();
            let rs = rounds(cases);
            assert_eq!(rs.iter().map(Vec::len).sum::<usize>(), n);
            for r in &rs {
                for a in r {
                    for b in r {
                        if a.id != b.id {
                            assert!(!format!("{}/", a.rel).starts_with(&format!("{}/", b.rel)));
                        }
                    }
                }
            }
        }
    }
}
