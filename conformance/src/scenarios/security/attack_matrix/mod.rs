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

mod model;
mod scripts;

use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::container::Container;
use crate::privilege::table::{self, Row};
use crate::{ContainerSpec, Ctx};
use model::{
    CANARY, CANARY_DIR, Case, PLANTS, Plant, SCRATCH, VOLUME, Visit, components,
    expected_case_line, home_at, rounds,
};
use scripts::{
    hermes_plants, hermes_prepare, hermes_restore, q, root_hardlinks, root_sources, snapshot_script,
};

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
    // Each round puts hermes' tree back in the next round's first exec (the leaf boot's, after
    // the last round): four execs a round instead of seven.
    let mut previous: &[Case] = &[];
    for round in &rounds {
        run_round(&h, previous, round, &baseline.stdout, &mut breaches).await?;
        previous = round;
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
    plant(&h, previous, &leaf).await?;
    h.sh(&root_hardlinks(&leaf))
        .as_root("makes the hard links fs.protected_hardlinks stops hermes from making")
        .await?
        .succeeds();
    let mut h = h;
    let logs_before = h.logs().await.unwrap_or_default().len();
    h.restart()
        .await
        .context("the boot with the plants in place did not become ready")?;
    let logs = h.logs().await?;
    let boot_log = logs.get(logs_before..).unwrap_or(&logs).to_string();
    let now = h
        .sh(&snapshot_script(&leaf))
        .as_root(
            "reads owner, mode and content of root files hermes cannot read (/etc, the canaries)",
        )
        .await?;
    now.succeeds();
    check_round(
        &leaf,
        &boot_log,
        &now.stdout,
        &baseline.stdout,
        "docker restart",
        &mut breaches,
    );

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
    h.exec(&[HERMES_BOOT, "setup"])
        .as_root("runs the boot's root step 01 exactly as the boot does, once per round of plants")
        .await
}

/// Plants a round: hermes puts the previous round's tree back and makes its own dirs for this
/// one, root leaves its files, hermes plants (root's hard links come with the step, which
/// follows at once: `run_round`).
async fn plant(h: &Container, previous: &[Case], round: &[Case]) -> Result<()> {
    h.sh(&format!(
        "{} && {}",
        hermes_restore(previous),
        hermes_prepare(round)
    ))
    .await?
    .succeeds_or(
        "hermes puts the previous round's tree back and makes its own dirs for this round",
    );
    h.sh(&root_sources(round))
        .as_root("leaves root-owned files on the volume, as a root `docker exec` does")
        .await?
        .succeeds();
    h.sh(&hermes_plants(round))
        .await?
        .succeeds_or("hermes plants this round");
    Ok(())
}

/// The boot's root steps; `setup` is `01`.
const HERMES_BOOT: &str = "/opt/hermes/bin/hermes-boot";
/// Separates the step's output from the snapshot's in `run_round`'s one root exec.
const SNAPSHOT_MARK: &str = "@@ snapshot after the step";
/// The exit code of `run_round`'s root exec when root's hard links could not be made.
const HARDLINKS_FAILED: i64 = 97;

async fn run_round(
    h: &Container,
    previous: &[Case],
    round: &[Case],
    baseline: &str,
    breaches: &mut Vec<String>,
) -> Result<()> {
    plant(h, previous, round).await?;
    // Root's hard links, `01` exactly as the boot runs it (root, the container's environment,
    // `HERMES_HOME` included; only its parent is a shell here), then the snapshot: one exec.
    let o = h
        .sh(&format!(
            "{{ {} ; }} || exit {HARDLINKS_FAILED}; {HERMES_BOOT} setup 2>&1; \
             echo '{SNAPSHOT_MARK}'; {}",
            root_hardlinks(round),
            snapshot_script(round)
        ))
        .as_root(
            "makes the hard links fs.protected_hardlinks stops hermes from making, runs the \
             boot's root step 01 as the boot does, then reads owner, mode and content of root \
             files hermes cannot read (/etc, the canaries)",
        )
        .await?;
    ensure!(
        o.code != Some(HARDLINKS_FAILED),
        "root's hard links for this round could not be made: the round would prove nothing\n{o}"
    );
    o.succeeds();
    let Some((said, now)) = o.stdout.split_once(&format!("{SNAPSHOT_MARK}\n")) else {
        bail!("the snapshot's marker is missing from the round's output\n{o}");
    };
    check_round(round, said, now, baseline, "hermes-boot setup", breaches);
    Ok(())
}

/// `now` is the snapshot taken after the step (`snapshot_script`), `said` what the step said.
fn check_round(
    round: &[Case],
    said: &str,
    now: &str,
    baseline: &str,
    step: &str,
    breaches: &mut Vec<String>,
) {
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
    let (before, after) = (keyed(baseline), keyed(now));
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
}
