//! The scripted session, run once per test process on the trace variant and shared by both
//! scenarios: what it does, the traces it collects, and the preconditions that make them count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use tokio::sync::OnceCell;

use crate::container::{ContainerSpec, remove_volume, unique_name};
use crate::image::Variant;
use crate::privilege::strace::{self, RootOp};
use crate::support::{HERMES_HOME, STATE_DEADLINE, registrar_as, slot_dir, wait_svstat};
use crate::{Container, Ctx};

/// Where the trace variant's stage 1 writes its logs (root 0700; docker/trace/stage1).
const TRACE_DIR: &str = "/var/log/hermes-trace";
/// The session's profiles (normalised to `<p>` in the map).
pub(super) const PROFILES: &[&str] = &["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
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
    pub(super) fn ops(&self) -> impl Iterator<Item = (&str, &RootOp)> {
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

pub(super) async fn hermes_ok(h: &Container, argv: &[&str]) -> Result<()> {
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
        wait_svstat(&h, &slot_dir("alpha"), "up", STATE_DEADLINE, |s| s.up).await?;
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
pub(super) fn preconditions(s: &Session) -> Result<()> {
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
