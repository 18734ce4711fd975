//! Contract §10 promises 2, 5 and 6, generated from the declared list (§10.1) rather than
//! from a list of attacks someone thought of: for every row of the table, for every
//! component of it that hermes can create, rename or replace, hermes plants each of
//! - a symlink to a root canary file, and one to a root canary directory,
//! - a hard link to a root file (made by root: `fs.protected_hardlinks` stops hermes, but a
//!   kernel without it would not, and the product's own guard is what is under test),
//! - a FIFO,
//! - a root-owned private file or directory (0600/0700, left by a root `docker exec`)
//!   renamed into place;
//!
//! then the root step that touches the path runs (`01`, exactly as the boot runs it, and at
//! the end one real `docker restart`), and the scenario checks that no root-owned file
//! outside `$HERMES_HOME` changed owner, mode or content, that nothing root-private was handed
//! to hermes, and that the step said `refusing` (or `left to root`) where it refused. Rows
//! hermes cannot write are checked the other way: no component of them is hermes-writable,
//! with and without a tmpfs `/run`. `HERMES_HOME` sits 1, 2 or 3 levels below the volume.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::container::Container;
use crate::privilege::table::{self, Row};
use crate::{ContainerSpec, Ctx};

/// The volume `HERMES_HOME` sits below.
const VOLUME: &str = "/opt/data";
/// hermes' own scratch dir on the volume (renames must stay on one file system).
const SCRATCH: &str = "/opt/data/.mx";
/// Root canaries outside `$HERMES_HOME` (not on the volume).
const CANARY_DIR: &str = "/opt/matrix-canary";
/// What every canary file holds.
const CANARY: &str = "matrix-canary";
/// The product's own top-level names `01` repairs (`$HERMES_HOME/*`): `hermes::boot::setup::
/// TOP_LEVEL`, which this crate cannot import (it tests the image, not the library), and the
/// names contract §10.1's `$HERMES_HOME/*` row lists.
const TOP_LEVEL: &[&str] = &[
    "gateway_state.json",
    ".gateway_state.lock",
    ".gateway-planned-stop.json",
    ".profiles.lock",
    "gateway.pid",
    "processes.json",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Plant {
    SymFile,
    SymDir,
    HardLink,
    Fifo,
    Private,
}

const PLANTS: [Plant; 5] = [
    Plant::SymFile,
    Plant::SymDir,
    Plant::HardLink,
    Plant::Fifo,
    Plant::Private,
];

impl Plant {
    fn name(self) -> &'static str {
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
enum Visit {
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
struct Component {
    /// Path relative to the volume; `{u}` is replaced by a name unique to the case.
    rel: String,
    visit: Visit,
    /// The §10.1 pattern it came from.
    row: String,
    /// A directory in the tree as the product makes it (a private plant there is a 0700
    /// directory, elsewhere a 0600 file).
    dir: bool,
}

impl Component {
    /// A directory of hermes' own making the component sits in (a profile dir named for the
    /// case), relative to the volume: hermes makes it before the plant.
    fn needs(&self) -> Option<&str> {
        let (parent, _) = self.rel.rsplit_once('/')?;
        parent.contains("{u}").then_some(parent)
    }

    /// For a component on the walk to the home: a root 0755 directory outside the home that
    /// holds the rest of the path, as `/opt/hermes` holds `bin` (finding 1 of issue 19): a
    /// link to it is what makes root reach a real root directory if it follows the link.
    fn walk_canary(&self, home_rel: &str) -> Option<(String, String)> {
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
struct Case {
    id: usize,
    comp: Component,
    plant: Plant,
    /// The component's path with `{u}` filled in, relative to the volume.
    rel: String,
}

impl Case {
    fn path(&self) -> String {
        format!("{VOLUME}/{}", self.rel)
    }
    fn aside(&self) -> String {
        format!("{SCRATCH}/aside-{}", self.id)
    }
    /// Where root leaves the case's root-owned file or directory. For a private entry that
    /// is the component's own parent: hermes renames it within that directory, as finding 2
    /// of issue 19 did (moving a directory it does not own to another parent needs write
    /// access to the directory itself, which hermes lacks).
    fn source(&self) -> String {
        match self.plant {
            Plant::Private => format!("{}/.mx-src-{}", self.parent(), self.id),
            _ => format!("{SCRATCH}/src-{}", self.id),
        }
    }
    fn parent(&self) -> String {
        let p = self.path();
        p[..p.rfind('/').unwrap_or(0)].to_string()
    }
    /// Where hermes puts the plant away after the round (same parent: see `source`).
    fn trash(&self) -> String {
        format!("{}/.mx-trash-{}", self.parent(), self.id)
    }
    fn label(&self) -> String {
        format!(
            "{} at {} (row `{}`)",
            self.plant.name(),
            self.path(),
            self.comp.row
        )
    }
    /// The words the step must have said about this case, if any.
    fn expected_words(&self) -> Option<&'static str> {
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
fn home_at(depth: usize) -> String {
    let mut p = VOLUME.to_string();
    for i in 1..depth {
        let _ = write!(p, "/n{i}");
    }
    p + "/home"
}

/// The components of every hermes-writable row of §10.1, for a home at `home_rel` (relative
/// to the volume).
fn components(rows: &[Row], home_rel: &str) -> Result<Vec<Component>> {
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
fn rounds(cases: Vec<Case>) -> Vec<Vec<Case>> {
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

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// hermes' directories a round's components sit in (a profile dir of its own making).
fn hermes_prepare(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        if let Some(needs) = c.comp.needs() {
            let dir = format!("{VOLUME}/{}", needs.replace("{u}", &c.id.to_string()));
            let _ = write!(s, "mkdir -p {} && ", q(&dir));
        }
    }
    s + "true"
}

/// Root's side of a round, before hermes plants: the private entries and hard-link sources.
fn root_sources(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        let src = q(&c.source());
        match c.plant {
            Plant::Private if c.comp.dir => {
                let _ = write!(
                    s,
                    "mkdir {src} && echo secret >{src}/inner && chmod 0600 {src}/inner && chmod 0700 {src} && "
                );
            }
            Plant::Private | Plant::HardLink => {
                let mode = if c.plant == Plant::Private {
                    "0600"
                } else {
                    "0644"
                };
                let _ = write!(s, "echo secret >{src} && chmod {mode} {src} && ");
            }
            _ => {}
        }
    }
    s + "true"
}

/// hermes' side: the real component set aside, then the plant (a hard link is root's, after).
fn hermes_plants(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        let (p, aside) = (q(&c.path()), q(&c.aside()));
        let _ = write!(
            s,
            "{{ [ ! -e {p} ] && [ ! -L {p} ] || mv {p} {aside}; }} && "
        );
        let plant = match c.plant {
            Plant::SymFile => format!("ln -s {CANARY_DIR}/file {p}"),
            Plant::SymDir => match c.comp.walk_canary("") {
                Some((dir, _)) => format!("ln -s {dir} {p}"),
                None => format!("ln -s {CANARY_DIR}/dir {p}"),
            },
            // Root's, once the component is aside (`root_hardlinks`).
            Plant::HardLink => continue,
            Plant::Fifo => format!("mkfifo {p}"),
            Plant::Private => format!("mv {} {p}", q(&c.source())),
        };
        let _ = write!(s, "{plant} && ");
    }
    s + "true"
}

fn root_hardlinks(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round.iter().filter(|c| c.plant == Plant::HardLink) {
        let _ = write!(s, "ln {} {} && ", q(&c.source()), q(&c.path()));
    }
    s + "true"
}

/// What root must have left alone: owner, mode, links, size and content of everything under
/// `/etc`, `/opt/hermes` and the canaries, plus each case's root source.
fn snapshot_script(round: &[Case]) -> String {
    let mut s = format!(
        "find /etc /opt/hermes {CANARY_DIR} -xdev -printf '%U:%G %m %n %s %y %p\\n' \
         | grep -v -e ' /etc/hosts$' -e ' /etc/hostname$' -e ' /etc/resolv.conf$' | sort; \
         sha256sum {CANARY_DIR}/file {CANARY_DIR}/dir/file /opt/hermes/bin/* | sed 's/^/sha /'; "
    );
    for c in round {
        match c.plant {
            Plant::Private => {
                let _ = write!(
                    s,
                    "echo \"case {} $(stat -c '%u:%g %a' {p}) $(stat -c '%u:%g %a' {p}/inner 2>/dev/null)\"; ",
                    c.id,
                    p = q(&c.path())
                );
            }
            Plant::HardLink => {
                let _ = write!(
                    s,
                    "echo \"case {} $(stat -c '%u:%g %a %h' {p}) $(cat {p})\"; ",
                    c.id,
                    p = q(&c.source())
                );
            }
            _ => {}
        }
    }
    s
}

/// What each case's root source must still be after the step.
fn expected_case_line(c: &Case) -> Option<String> {
    match c.plant {
        Plant::Private if c.comp.dir => Some(format!("case {} 0:0 700 0:0 600", c.id)),
        Plant::Private => Some(format!("case {} 0:0 600 ", c.id)),
        Plant::HardLink => Some(format!("case {} 0:0 644 2 secret", c.id)),
        _ => None,
    }
}

/// hermes' cleanup: the plant removed, the real component back.
fn hermes_restore(round: &[Case]) -> String {
    let mut s = String::new();
    for c in round {
        let (p, aside) = (q(&c.path()), q(&c.aside()));
        let trash = q(&c.trash());
        let _ = write!(
            s,
            "{{ [ ! -e {p} ] && [ ! -L {p} ] || mv {p} {trash}; }} && {{ [ ! -e {aside} ] || mv {aside} {p}; }} && "
        );
    }
    s + "true"
}

/// The rows hermes cannot write: no component of any of them may be hermes-writable. For
/// each pattern, every directory that holds one of its components: the ancestors of its
/// literal part and, where it ends in `**`, every directory below that.
async fn unwritable_rows_hold(
    h: &Container,
    rows: &[Row],
    home: &str,
) -> Result<(usize, Vec<String>)> {
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    // (literal prefix, row): the directories below the prefix that the row covers.
    let mut deep: Vec<(String, &Row)> = Vec::new();
    for row in rows.iter().filter(|r| !r.hermes_writable) {
        for pat in &row.patterns() {
            let pat = pat.replace("$HERMES_HOME", home);
            let literal: Vec<&str> = pat
                .trim_start_matches('/')
                .split('/')
                .take_while(|c| !c.contains(['<', '*']))
                .collect();
            let mut p = String::new();
            dirs.insert("/".into());
            for comp in &literal[..literal.len().saturating_sub(1)] {
                p.push('/');
                p.push_str(comp);
                dirs.insert(p.clone());
            }
            if pat.contains('*') || pat.contains('<') {
                let full = format!("/{}", literal.join("/"));
                dirs.insert(full.clone());
                deep.push((full, row));
            }
        }
    }
    // Every directory below the deep prefixes that its pattern covers, as root: hermes
    // cannot list some of them.
    let prefixes: BTreeSet<&String> = deep.iter().map(|(p, _)| p).collect();
    let list = h
        .sh(&format!(
            "find {} -xdev -type d 2>/dev/null",
            prefixes.iter().map(|d| q(d)).collect::<Vec<_>>().join(" ")
        ))
        .as_root(
            "lists every directory under /run's root-owned trees, some of which hermes cannot read",
        )
        .await?;
    for d in list.stdout.lines() {
        if deep
            .iter()
            .any(|(prefix, row)| d.starts_with(prefix.as_str()) && row.matches_path(d, home))
        {
            dirs.insert(d.to_string());
        }
    }
    let script: String = dirs
        .iter()
        .map(|d| {
            format!(
                "[ -w {0} ] && echo \"writable: $(stat -c '%A %U:%G' {0}) {0}\"; ",
                q(d)
            )
        })
        .collect();
    let o = h.sh(&(script + "true")).await?;
    o.succeeds();
    Ok((dirs.len(), o.stdout.lines().map(str::to_string).collect()))
}

pub async fn attack_matrix(ctx: Ctx, depth: usize, tmpfs_run: bool) -> Result<()> {
    let started = Instant::now();
    let rows = table::rows()?;
    let home = home_at(depth);
    let home_rel = home
        .strip_prefix(&format!("{VOLUME}/"))
        .unwrap()
        .to_string();
    let h = ctx
        .as_hermes()
        .start(
            ContainerSpec::default()
                .env("HERMES_HOME", &home)
                .tmpfs_run(tmpfs_run)
                // No gateway writing into the home while hermes plants there: the main
                // program is a sleep, and gateway-default stays down (no state file).
                .cmd(&["sleep", "2147483647"]),
        )
        .await?;
    let mut breaches: Vec<String> = Vec::new();

    // /run and the other root-only trees: nothing of them is hermes-writable.
    let (checked, writable) = unwritable_rows_hold(&h, &rows, &home).await?;
    for w in writable {
        breaches.push(format!(
            "a directory holding a path root touches is hermes-writable (§10.1 says it is not): {w}"
        ));
    }

    // The home as hermes makes it, then `01` once: the tree is sound before anything is planted.
    h.sh(&format!("mkdir -p {} {SCRATCH}", q(&home)))
        .await?
        .succeeds();
    let comps = components(&rows, &home_rel)?;
    let walk_canaries: String = comps
        .iter()
        .filter_map(|c| c.walk_canary(&home_rel))
        .map(|(dir, rest)| format!(" && mkdir -p {}", q(&format!("{dir}/{rest}"))))
        .collect();
    h.sh(&format!(
        "mkdir -p {CANARY_DIR}/dir && printf {CANARY} >{CANARY_DIR}/file && printf {CANARY} >{CANARY_DIR}/dir/file \
         && chmod 0600 {CANARY_DIR}/file && chmod 0700 {CANARY_DIR}/dir{walk_canaries}"
    ))
    .as_root("makes the root canaries the plants point at (outside $HERMES_HOME)")
    .await?
    .succeeds();
    let first = run_step(&h).await?;
    ensure!(
        first.success() && !first.stderr.contains("refusing"),
        "precondition: `hermes-boot setup` on the clean home {home} must succeed and refuse nothing\n{first}"
    );
    h.sh(&format!(
        "test -d {0}/logs/gateways && test -d {0}/profiles && test -O {0}/profiles",
        q(&home)
    ))
    .await?
    .succeeds_or("precondition: 01 made the home's dirs, hermes-owned");
    let baseline = h
        .sh(&snapshot_script(&[]))
        .as_root(
            "reads owner, mode and content of root files hermes cannot read (/etc, the canaries)",
        )
        .await?;
    baseline.succeeds();

    let mut cases = Vec::new();
    for comp in &comps {
        for plant in PLANTS {
            let id = cases.len();
            let rel = comp.rel.replace("{u}", &id.to_string());
            cases.push(Case {
                id,
                comp: comp.clone(),
                plant,
                rel,
            });
        }
    }
    let total = cases.len();
    let rounds = rounds(cases);
    let nrounds = rounds.len();
    for round in &rounds {
        run_round(&h, round, &baseline.stdout, &mut breaches).await?;
    }

    // One real boot on a round of leaf plants: the step as the boot itself runs it.
    let leaf: Vec<Case> = rounds
        .iter()
        .flatten()
        .filter(|c| c.comp.visit == Visit::Repair && c.plant != Plant::Fifo)
        .take(8)
        .cloned()
        .map(|mut c| {
            c.id += total;
            c.rel = c.comp.rel.replace("{u}", &c.id.to_string());
            c
        })
        .collect();
    plant(&h, &leaf).await?;
    let mut h = h;
    let logs_before = h.logs().await.unwrap_or_default().len();
    h.restart()
        .await
        .context("the boot with the plants in place did not become ready")?;
    let logs = h.logs().await?;
    let boot_log = logs.get(logs_before..).unwrap_or(&logs).to_string();
    check_round(
        &h,
        &leaf,
        &boot_log,
        &baseline.stdout,
        "docker restart",
        &mut breaches,
    )
    .await?;

    let elapsed = started.elapsed();
    let summary = format!(
        "attack matrix (HERMES_HOME {home}, depth {depth}, /run {}): {} rows, {} components, {} plants: {} cases in {} rounds + 1 boot; {} root-only directories checked; {:.1} s",
        if tmpfs_run { "tmpfs" } else { "image fs" },
        rows.len(),
        comps.len(),
        PLANTS.len(),
        total,
        nrounds,
        checked,
        elapsed.as_secs_f64()
    );
    crate::image::progress(&summary);
    if !breaches.is_empty() {
        bail!(
            "{summary}\n{} breach(es), first: {}\n  - {}",
            breaches.len(),
            breaches[0],
            breaches.join("\n  - ")
        );
    }
    h.remove().await
}

/// `01` as the boot runs it: root, the container's environment (`HERMES_HOME` included).
async fn run_step(h: &Container) -> Result<crate::ExecOutcome> {
    h.exec(&["/opt/hermes/bin/hermes-boot", "setup"])
        .as_root("runs the boot's root step 01 exactly as the boot does, once per round of plants")
        .await
}

/// Plants a round: hermes' own dirs, root's leftovers, hermes' plants, root's hard links.
async fn plant(h: &Container, round: &[Case]) -> Result<()> {
    h.sh(&hermes_prepare(round))
        .await?
        .succeeds_or("hermes makes its own dirs for this round");
    h.sh(&root_sources(round))
        .as_root("leaves root-owned files on the volume, as a root `docker exec` does")
        .await?
        .succeeds();
    h.sh(&hermes_plants(round))
        .await?
        .succeeds_or("hermes plants this round");
    h.sh(&root_hardlinks(round))
        .as_root("makes the hard links fs.protected_hardlinks stops hermes from making")
        .await?
        .succeeds();
    Ok(())
}

async fn run_round(
    h: &Container,
    round: &[Case],
    baseline: &str,
    breaches: &mut Vec<String>,
) -> Result<()> {
    plant(h, round).await?;
    let step = run_step(h).await?;
    let said = format!("{}{}", step.stdout, step.stderr);
    check_round(h, round, &said, baseline, "hermes-boot setup", breaches).await?;
    h.sh(&hermes_restore(round))
        .await?
        .succeeds_or("hermes puts its tree back");
    Ok(())
}

async fn check_round(
    h: &Container,
    round: &[Case],
    said: &str,
    baseline: &str,
    step: &str,
    breaches: &mut Vec<String>,
) -> Result<()> {
    let now = h
        .sh(&snapshot_script(round))
        .as_root(
            "reads owner, mode and content of root files hermes cannot read (/etc, the canaries)",
        )
        .await?;
    now.succeeds();
    // Lines are `uid:gid mode links size type path` (or `sha <sum> <path>`): keyed by path.
    let keyed = |text: &str| -> std::collections::BTreeMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with("case "))
            .map(|l| {
                let path = l.rsplit(' ').next().unwrap_or(l).to_string();
                let key = if l.starts_with("sha ") {
                    format!("{path} (content)")
                } else {
                    path
                };
                (key, l.to_string())
            })
            .collect()
    };
    let (before, after) = (keyed(baseline), keyed(&now.stdout));
    let who = round
        .iter()
        .map(|c| c.label())
        .collect::<Vec<_>>()
        .join("; ");
    for (path, was) in &before {
        match after.get(path) {
            Some(is) if is == was => {}
            // Values outside backquotes: they are what the product did, not a command quoted.
            Some(is) => breaches.push(format!(
                "after {step} with [{who}]: root file changed owner, mode or content: {path}: was {was}, is now {is}"
            )),
            None => breaches.push(format!("after {step} with [{who}]: root file gone: {path} (was {was})")),
        }
    }
    for (path, is) in after.iter().filter(|(p, _)| !before.contains_key(*p)) {
        breaches.push(format!(
            "after {step} with [{who}]: root file changed: new entry {path} ({is}) where only root writes"
        ));
    }
    for c in round {
        if let Some(want) = expected_case_line(c) {
            let got = now
                .stdout
                .lines()
                .find(|l| l.starts_with(&format!("case {} ", c.id)))
                .unwrap_or("(missing)");
            if !got.starts_with(want.trim_end()) {
                let field = |l: &str, i: usize| l.split(' ').nth(i).unwrap_or("?").to_string();
                breaches.push(format!(
                    "{step}: {}: handed over or changed: {} is now {} mode {} (was root's, {} mode {})",
                    c.label(),
                    c.path(),
                    field(got, 2),
                    field(got, 3),
                    field(&want, 2),
                    field(&want, 3)
                ));
            }
        }
        if let Some(word) = c.expected_words() {
            let named = said
                .lines()
                .any(|l| l.contains(word) && l.contains(&c.path()));
            if !named {
                breaches.push(format!(
                    "{step}: {}: the step did not say `{word}` naming {} (it said: {})",
                    c.label(),
                    c.path(),
                    said.lines()
                        .filter(|l| l.contains("setup"))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hermes_writable_row_expands_and_rounds_never_overlap() {
        let rows = table::rows().unwrap();
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
