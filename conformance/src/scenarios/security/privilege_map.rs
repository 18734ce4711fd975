//! Contract §10.1 proven, not only declared, and the privilege map.
//!
//! `root_touched_paths_are_declared`: a scripted session, as hermes, on the trace variant
//! (`hermes-s6-trace:*`, where stage 1 and everything it starts run under strace): profiles
//! created and deleted, gateways started, restarted and stopped, registrar requests (and a
//! refused one), a root leftover for `01` to repair, `docker restart`, then a `PUID` boot on
//! the same volume. Every path a root process created, wrote, renamed, removed, chowned,
//! chmoded or bound must match a row of the §10.1 table (parsed from `docs/contract.md` at
//! compile time); one that does not fails the scenario, naming path, program and call.
//!
//! `privilege_map_is_accepted`: the map (`crate::privilege::map`) from the product image and
//! the same session, written to `target/conformance/` and compared with
//! `docs/privilege-map.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail, ensure};
use tokio::sync::OnceCell;

use crate::container::{ContainerSpec, remove_volume, unique_name};
use crate::image::{Variant, progress};
use crate::privilege::map::{self, Map, RowCount};
use crate::privilege::strace::{self, RootOp};
use crate::privilege::table::{self, Row};
use crate::support::{HERMES_HOME, slot_dir, wait_svstat};
use crate::support::{processes, registrar_as};
use crate::{Container, Ctx, config};

/// Where the trace variant's stage 1 writes its logs (root 0700; docker/trace/stage1).
const TRACE_DIR: &str = "/var/log/hermes-trace";
/// The session's profiles (normalised to `<p>` in the map).
const PROFILES: &[&str] = &["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
const DEADLINE: Duration = Duration::from_secs(15);

/// One boot's trace, read.
#[derive(Debug)]
pub struct Boot {
    pub label: String,
    pub trace: strace::Trace,
}

/// The session's result: every boot's trace.
#[derive(Debug)]
pub struct Session {
    pub boots: Vec<Boot>,
    pub took: Duration,
}

impl Session {
    fn ops(&self) -> impl Iterator<Item = (&str, &RootOp)> {
        self.boots
            .iter()
            .flat_map(|b| b.trace.ops.iter().map(move |o| (b.label.as_str(), o)))
    }
}

static SESSION: OnceCell<Result<Arc<Session>, String>> = OnceCell::const_new();

/// The trace session, run once per test process (both scenarios of this module use it).
pub async fn session(ctx: &Ctx) -> Result<Arc<Session>> {
    SESSION
        .get_or_init(|| async {
            run_session(ctx)
                .await
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
        })
        .await
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Every trace file of the container, read as root: `(file name, contents)`.
async fn read_traces(h: &Container) -> Result<Vec<(String, String)>> {
    let o = h
        .sh(&format!(
            "for f in {TRACE_DIR}/boot.*; do [ -f \"$f\" ] || continue; printf '\\n=== %s\\n' \"$f\"; cat \"$f\"; done"
        ))
        .as_root("the strace logs are in a root-only directory (root 0700) by design: hermes must not read or plant in them")
        .deadline(Duration::from_secs(60))
        .await?;
    o.succeeds();
    let mut files = Vec::new();
    for chunk in o.stdout.split("\n=== ").skip(1) {
        let (name, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        files.push((name.to_string(), body.to_string()));
    }
    ensure!(
        !files.is_empty(),
        "precondition: the trace image left no trace file in {TRACE_DIR} (as root: `ls` found none): stage 1 did not run under strace, so nothing can be proven\n{o}"
    );
    Ok(files)
}

async fn hermes_ok(h: &Container, argv: &[&str]) -> Result<()> {
    h.exec(argv).await?.succeeds();
    Ok(())
}

async fn run_session(ctx: &Ctx) -> Result<Session> {
    let started = Instant::now();
    let image = crate::runner::image_for(&ctx.docker, &Variant::trace()).await?;
    let volume = unique_name("trace-session");
    let on = ctx.as_hermes().with_image(&image);
    let outcome = async {
        let mut boots = Vec::new();
        let mut h = on
            .start(ContainerSpec::default().data_volume(&volume))
            .await?;
        for p in ["alpha", "beta", "gamma"] {
            hermes_ok(&h, &["hermes", "profile", "create", p]).await?;
        }
        hermes_ok(&h, &["hermes", "-p", "alpha", "gateway", "start"]).await?;
        wait_svstat(&h, &slot_dir("alpha"), "up", DEADLINE, |s| s.up).await?;
        hermes_ok(&h, &["hermes", "-p", "alpha", "gateway", "restart"]).await?;
        hermes_ok(&h, &["hermes", "-p", "beta", "gateway", "start"]).await?;
        hermes_ok(&h, &["hermes", "-p", "alpha", "gateway", "stop"]).await?;
        hermes_ok(&h, &["hermes", "profile", "delete", "gamma", "--yes"]).await?;
        registrar_as(&h, "hermes", &["register", "delta"])
            .await?
            .succeeds();
        registrar_as(&h, "hermes", &["unregister", "delta"])
            .await?
            .succeeds();
        registrar_as(&h, "hermes", &["register", "../registrar"])
            .await?
            .fails();
        h.exec(&["touch", &format!("{HERMES_HOME}/profiles/beta/left-by-root")])
            .as_root("a root `docker exec` leftover in a profile, which 01 gives back to hermes at the next boot: the repair is a root chown the trace must see")
            .await?
            .succeeds();
        h.restart().await?;
        hermes_ok(&h, &["hermes", "profile", "create", "epsilon"]).await?;
        hermes_ok(&h, &["hermes", "-p", "beta", "gateway", "stop"]).await?;
        for (f, body) in read_traces(&h).await? {
            boots.push(Boot {
                label: format!("default ids, {f}"),
                trace: strace::read(&body),
            });
        }
        ensure!(
            boots.len() == 2,
            "precondition: two boots (start and docker restart) should have left two trace files in {TRACE_DIR}, found {}: {:?}",
            boots.len(),
            boots.iter().map(|b| &b.label).collect::<Vec<_>>()
        );
        h.remove().await?;
        // The same volume, booted with PUID/PGID and `/run` a tmpfs: stage 1 rewrites the user
        // database and makes `/run/lock` in the empty `/run`, and 01 gives hermes' previous
        // ids' files to the new ones.
        let h = on
            .start(
                ContainerSpec::default()
                    .tmpfs_run(true)
                    .data_volume(&volume)
                    .env("PUID", "1000")
                    .env("PGID", "1000"),
            )
            .await?;
        hermes_ok(&h, &["hermes", "profile", "create", "zeta"]).await?;
        for (f, body) in read_traces(&h).await? {
            boots.push(Boot {
                label: format!("PUID=1000, tmpfs /run, {f}"),
                trace: strace::read(&body),
            });
        }
        h.remove().await?;
        anyhow::Ok(boots)
    }
    .await;
    remove_volume(&ctx.docker, &volume).await;
    let boots = outcome?;
    Ok(Session {
        boots,
        took: started.elapsed(),
    })
}

/// The trace captured what it must have, or the setup is broken and nothing is proven.
fn preconditions(s: &Session) -> Result<()> {
    for b in &s.boots {
        ensure!(
            b.trace.root_calls > 100,
            "precondition: the trace of {} holds only {} root calls ({} in all): strace did not follow the boot",
            b.label,
            b.trace.root_calls,
            b.trace.calls
        );
        ensure!(
            b.trace.unreadable.len() <= 2,
            "precondition: {} lines of the trace of {} could not be read, first: {:?}",
            b.trace.unreadable.len(),
            b.label,
            b.trace.unreadable.first()
        );
    }
    let saw = |what: &str, f: &dyn Fn(&RootOp) -> bool| -> Result<()> {
        ensure!(
            s.ops().any(|(_, o)| f(o)),
            "precondition: the trace did not capture {what}: the trace setup is broken (or the product no longer does it), so the session proves nothing"
        );
        Ok(())
    };
    saw(
        "the registrar's rename of gateway-alpha into /run/service (hermes-registrar, rename)",
        &|o| o.actor.exe == "hermes-registrar" && o.op == "rename" && o.path == slot_dir("alpha"),
    )?;
    saw(
        "01's chown of the root leftover profiles/beta/left-by-root (hermes-boot setup, chown)",
        &|o| {
            o.actor.exe == "hermes-boot"
                && o.actor.sub.as_deref() == Some("setup")
                && o.op == "chown"
                && o.path == format!("{HERMES_HOME}/profiles/beta/left-by-root")
        },
    )?;
    saw("stage 1's scandir (/run/service, create)", &|o| {
        o.actor.exe == "stage1" && o.path == "/run/service" && o.op == "create"
    })?;
    saw("s6-supervise's supervise/status of a slot", &|o| {
        o.actor.exe == "s6-supervise" && o.path.ends_with("/supervise/status")
    })?;
    saw("the PUID boot's rewrite of /etc/passwd (stage1)", &|o| {
        o.actor.exe == "stage1" && o.path == "/etc/passwd"
    })?;
    saw("the tmpfs boot's /run/lock (stage1, create)", &|o| {
        o.actor.exe == "stage1" && o.path == "/run/lock" && o.op == "create"
    })?;
    saw("the registrar's socket (bind)", &|o| {
        o.op == "bind" && o.path == "/run/hermes/registrar.sock"
    })?;
    Ok(())
}

/// Each root operation against the table: the unmatched ones (with why), and per row what it
/// matched.
fn check(s: &Session, rows: &[Row]) -> (Vec<String>, Vec<RowCount>) {
    let mut unmatched: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut per_row: Vec<(usize, BTreeSet<String>, BTreeSet<String>)> = rows
        .iter()
        .map(|_| (0, BTreeSet::new(), BTreeSet::new()))
        .collect();
    for (boot, o) in s.ops() {
        let by_path: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].matches_path(&o.path, HERMES_HOME))
            .collect();
        let by_actor: Vec<usize> = by_path
            .iter()
            .copied()
            .filter(|&i| rows[i].names_actor(&o.actor))
            .collect();
        match by_actor.iter().copied().find(|&i| rows[i].declares(&o.op)) {
            Some(i) => {
                per_row[i].0 += 1;
                per_row[i].1.insert(o.path.clone());
                per_row[i].2.insert(o.op.clone());
            }
            None => {
                let why = if by_path.is_empty() {
                    "no row matches the path".to_string()
                } else if by_actor.is_empty() {
                    format!(
                        "the path matches row(s) at line(s) {} but not for this program",
                        lines(rows, &by_path)
                    )
                } else {
                    format!(
                        "row(s) at line(s) {} match path and program but do not declare `{}`",
                        lines(rows, &by_actor),
                        o.op
                    )
                };
                let tool = o
                    .tool
                    .as_ref()
                    .map(|t| format!(" (via {t})"))
                    .unwrap_or_default();
                let key = format!(
                    "{} — {} by {}{tool}, {}: {why}",
                    o.path, o.op, o.actor, o.syscall
                );
                let e = unmatched
                    .entry(key)
                    .or_insert((0, format!("{boot}: {}", o.call)));
                e.0 += 1;
            }
        }
    }
    let unmatched = unmatched
        .into_iter()
        .map(|(k, (n, ex))| format!("{k} [{n}x; e.g. {ex}]"))
        .collect();
    let counts = rows
        .iter()
        .zip(per_row)
        .map(|(r, (calls, paths, ops))| RowCount {
            row: r.key(),
            calls,
            paths: paths.len(),
            ops: ops.into_iter().collect(),
        })
        .collect();
    (unmatched, counts)
}

fn lines(rows: &[Row], idx: &[usize]) -> String {
    idx.iter()
        .map(|&i| rows[i].line.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Contract §10.1: every path a root process touched in the trace session is declared.
pub async fn root_touched_paths_are_declared(ctx: Ctx) -> Result<()> {
    let rows = table::rows()?;
    let s = session(&ctx).await?;
    preconditions(&s)?;
    let (unmatched, counts) = check(&s, &rows);
    let ops: usize = s.boots.iter().map(|b| b.trace.ops.len()).sum();
    progress(format!(
        "trace session: {} boots, {ops} root file operations, {} rows, {} unmatched ({:.1?})",
        s.boots.len(),
        rows.len(),
        unmatched.len(),
        s.took
    ));
    for c in &counts {
        progress(format!(
            "  §10.1: {} calls, {} paths, ops [{}]: {}",
            c.calls,
            c.paths,
            c.ops.join(", "),
            c.row
        ));
    }
    if !unmatched.is_empty() {
        bail!(
            "{} root-touched path(s) match no row of contract §10.1 (docs/contract.md); add a row, with why it is safe, or stop the product touching them. First: {}\n{}",
            unmatched.len(),
            unmatched[0],
            unmatched.join("\n")
        );
    }
    Ok(())
}

/// `find … -writable` as hermes, pruned to the topmost entries.
async fn writable(h: &Container) -> Result<BTreeSet<String>> {
    let o = h
        .exec_full(
            "hermes",
            &[
                "sh",
                "-c",
                &format!(
                    "timeout 60 find / /run /dev /dev/shm /dev/mqueue {HERMES_HOME} -xdev -writable -printf '%y %#m %u:%g %p\\n' 2>/dev/null; true"
                ),
            ],
            &[],
            Duration::from_secs(90),
        )
        .await?;
    o.succeeds();
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    for l in o.stdout_lines() {
        let mut it = l.splitn(4, ' ');
        let (Some(t), Some(m), Some(own), Some(p)) = (it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        entries.insert(p.to_string(), format!("{t} {m} {own}"));
    }
    ensure!(
        entries.contains_key("/tmp") && entries.contains_key(HERMES_HOME),
        "precondition: the writable scan as hermes did not list /tmp and {HERMES_HOME}: the scan did not work\n{o}"
    );
    let mut kept: BTreeSet<String> = BTreeSet::new();
    let mut tops: Vec<String> = Vec::new();
    for (p, what) in &entries {
        if tops
            .iter()
            .any(|t| p.starts_with(&format!("{t}/")) || t == "/")
        {
            continue;
        }
        tops.push(p.clone());
        kept.insert(format!("{what} {p}"));
    }
    Ok(kept)
}

/// Root processes on the product image, shaped.
async fn root_processes(ctx: &Ctx) -> Result<BTreeSet<String>> {
    let c = ctx
        .as_hermes()
        .start(ContainerSpec::default().env("HERMES_DASHBOARD", "1"))
        .await?;
    let list = root_processes_of(&c).await;
    c.remove().await?;
    list
}

async fn root_processes_of(h: &Container) -> Result<BTreeSet<String>> {
    hermes_ok(h, &["hermes", "profile", "create", "alpha"]).await?;
    hermes_ok(h, &["hermes", "-p", "alpha", "gateway", "start"]).await?;
    wait_svstat(h, &slot_dir("alpha"), "up", DEADLINE, |s| s.up).await?;
    wait_svstat(h, "/run/service/dashboard", "up", DEADLINE, |s| s.up).await?;
    // A run script is root until it drops to hermes: poll (bounded) until two listings in a
    // row agree.
    let last: std::sync::Mutex<Option<BTreeSet<String>>> = std::sync::Mutex::new(None);
    let last = &last;
    let settled =
        crate::wait::poll_until("the root process list to settle", DEADLINE, || async move {
            let now: BTreeSet<String> = processes(h)
                .await?
                .iter()
                .filter(|p| p.any_root())
                .map(|p| map::shape(&format!("{} | {}", p.comm, p.args), PROFILES))
                .collect();
            let mut prev = last.lock().expect("not poisoned");
            if prev.as_ref() == Some(&now) {
                return Ok(Some(now));
            }
            let seen = format!("{now:?}");
            *prev = Some(now);
            Err(anyhow!("{seen}"))
        })
        .await?;
    Ok(settled)
}

/// The privilege map of this run, written to `target/conformance/` and compared with
/// `docs/privilege-map.md` (see `crate::privilege::map`).
pub async fn privilege_map_is_accepted(ctx: Ctx) -> Result<()> {
    let rows = table::rows()?;
    let scans = async {
        let mut out = Vec::new();
        for tmpfs_run in [false, true] {
            let h = ctx
                .as_hermes()
                .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
                .await?;
            hermes_ok(&h, &["hermes", "profile", "create", "alpha"]).await?;
            let w = writable(&h).await?;
            h.remove().await?;
            out.push(w);
        }
        anyhow::Ok(out)
    };
    let (scans, procs, s) = tokio::join!(scans, root_processes(&ctx), session(&ctx));
    let (scans, procs, s) = (scans?, procs?, s?);
    let mut m = Map::default();
    for (i, w) in scans.into_iter().enumerate() {
        for e in w {
            m.insert(i, e);
        }
    }
    for p in procs {
        m.insert(2, p);
    }
    for b in &s.boots {
        for (exe, argv) in &b.trace.root_execs {
            let args = argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" ");
            m.insert(3, map::shape(&format!("{exe} | {args}"), PROFILES));
        }
    }
    for r in &rows {
        m.insert(4, r.key());
    }
    m.counts = check(&s, &rows).1;
    let (md, json) = map::write_run_files(&m)?;
    let accepted = map::accepted_path();
    if config::truthy(std::env::var(map::ENV_ACCEPT).ok().as_deref()) {
        std::fs::write(&accepted, m.markdown())?;
        progress(format!(
            "privilege map accepted: wrote {} ({}=1); commit it",
            accepted.display(),
            map::ENV_ACCEPT
        ));
        return Ok(());
    }
    let hint = format!(
        "the map of this run is {} (and {}). If the change is deliberate, accept it with `{}=1 cargo test -p conformance --test suite -- security::privilege_map_is_accepted` (or `make privilege-map`) and commit {}",
        md.display(),
        json.display(),
        map::ENV_ACCEPT,
        map::ACCEPTED
    );
    let Ok(old) = std::fs::read_to_string(&accepted) else {
        bail!(
            "there is no accepted privilege map {}: {hint}",
            accepted.display()
        );
    };
    let d = map::diff(&map::parse_markdown(&old), &m.sections);
    if d.is_empty() {
        return Ok(());
    }
    let grew = d.iter().filter(|x| x.1 == '+').count();
    let shrank = d.len() - grew;
    let text = d
        .iter()
        .map(|(sec, sign, e)| format!("{sign} [{sec}] {e}"))
        .collect::<Vec<_>>()
        .join("\n");
    if grew > 0 {
        bail!(
            "the privilege map GREW by {grew} entr{} (and shrank by {shrank}) against {}: hermes can write more, or more runs or writes as root:\n{text}\n{hint}",
            if grew == 1 { "y" } else { "ies" },
            map::ACCEPTED
        );
    }
    bail!(
        "the privilege map shrank by {shrank} entr{} against {} (nothing grew): good, but accept it, so that the entries cannot come back unnoticed:\n{text}\n{hint}",
        if shrank == 1 { "y" } else { "ies" },
        map::ACCEPTED
    )
}

/// The product image has nothing of the trace variant: no strace, no wrapper in place of stage
/// 1, no trace directory — and the same probe sees all three in the trace image, so it can fail.
pub async fn production_carries_no_trace(ctx: Ctx) -> Result<()> {
    let probe = "for p in /usr/bin/strace /opt/hermes/trace /var/log/hermes-trace; do \
                 if [ -e \"$p\" ]; then echo \"present $p\"; else echo \"absent $p\"; fi; done; \
                 echo \"stage1 mentions strace: $(grep -c strace /etc/hermes-s6/stage1)\"";
    let prod = ctx.as_hermes().start_default().await?;
    prod.sh(probe).await?.stdout_is(
        "absent /usr/bin/strace\nabsent /opt/hermes/trace\nabsent /var/log/hermes-trace\nstage1 mentions strace: 0",
    );
    prod.remove().await?;
    let image = crate::runner::image_for(&ctx.docker, &Variant::trace()).await?;
    let traced = ctx.as_hermes().with_image(&image).start_default().await?;
    let o = traced.sh(probe).await?;
    o.stdout_contains("present /usr/bin/strace")
        .stdout_contains("present /opt/hermes/trace")
        .stdout_contains("present /var/log/hermes-trace")
        .stdout_lacks("stage1 mentions strace: 0");
    // PID 1 runs traced there: its tracer is a root strace (the product never has one).
    let procs = processes(&traced).await?;
    ensure!(
        procs.iter().any(|p| p.comm == "strace" && p.any_root()),
        "the trace image runs no root strace, so its session would trace nothing: {:?}",
        procs.iter().map(|p| &p.comm).collect::<Vec<_>>()
    );
    traced.remove().await
}
