//! `privilege_map_is_accepted`: the map of this run against `docs/privilege-map.md`; and the
//! product image carries nothing of the trace variant.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};

use super::declared::check;
use super::session::PROFILES;
use super::session::hermes_ok;
use super::session::session;
use crate::container::ContainerSpec;
use crate::image::{Variant, progress};
use crate::privilege::map::{self, Map};
use crate::privilege::table::{self};
use crate::support::{HERMES_HOME, STATE_DEADLINE, processes, slot_dir, wait_svstat};
use crate::{Container, Ctx, config};

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
    wait_svstat(h, &slot_dir("alpha"), "up", STATE_DEADLINE, |s| s.up).await?;
    wait_svstat(h, "/run/service/dashboard", "up", STATE_DEADLINE, |s| s.up).await?;
    // A run script is root until it drops to hermes: poll (bounded) until two listings in a
    // row agree.
    let last: std::sync::Mutex<Option<BTreeSet<String>>> = std::sync::Mutex::new(None);
    let last = &last;
    let settled = crate::wait::poll_until(
        "the root process list to settle",
        STATE_DEADLINE,
        || async move {
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
        },
    )
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
