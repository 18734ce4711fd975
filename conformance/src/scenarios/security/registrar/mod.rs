//! Contract §3.3 and §10 promise 4, adversarial: the registrar as a hostile hermes uses it.
//! `default` and reserved names are refused for both verbs; clients that never read their
//! answer pin no root process and a per-uid cap refuses the rest clearly; a client killed
//! mid-request leaves nothing in the scandir; the helper runs with a fixed environment
//! whatever the client sends. Shared here: the registrar's processes, its lock and the slots it
//! hides while staging.

mod clients;
mod load;
mod refusals;

pub use clients::{registrar_client_killed_leaves_nothing, registrar_helper_environment_is_fixed};
pub use load::{concurrent_create_delete_whole_or_none, registrar_never_pinned_and_capped_per_uid};
pub use refusals::{registrar_refusals, registrar_refuses_default_and_reserved};

use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};

use crate::support::SCANDIR;
use crate::{Container, wait};

pub(super) const LOCK_FILE: &str = "/run/hermes/registrar.lock";

/// How many root `hermes-registrar` and `s6-sudod` processes run now (comm, as hermes: /proc
/// shows every process's name). `hermes-registra`: the kernel keeps 15 bytes.
pub(super) async fn registrar_processes(h: &Container) -> Result<(usize, usize)> {
    let o = h
        .sh("echo $(pgrep -c -x hermes-registra) $(pgrep -c -x s6-sudod)")
        .await?;
    o.succeeds();
    let mut it = o.out().split_whitespace().map(|n| n.parse::<usize>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Ok((a, b)),
        _ => bail!(
            "{}",
            o.headline("counting hermes-registrar and s6-sudod processes")
        ),
    }
}

/// Polls until exactly `n` helpers run (`what` says why that many), within `limit`.
pub(super) async fn wait_helpers(
    h: &Container,
    n: usize,
    what: &str,
    limit: Duration,
) -> Result<()> {
    wait::poll_until(what, limit, || async {
        let (helpers, sudods) = registrar_processes(h).await?;
        if helpers == n {
            Ok(Some(()))
        } else {
            Err(anyhow!("{helpers} root hermes-registrar and {sudods} s6-sudod processes run, want {n} helpers"))
        }
    })
    .await
}

/// Holds the registrar's lock as root with `s6-setlock` (a POSIX lock, which the helper's
/// open-file-description lock conflicts with), so requests queue; returns the holder's pid.
pub(super) async fn hold_registrar_lock(h: &Container, secs: u32) -> Result<String> {
    let o = h
        .sh(&format!(
            "/command/s6-setlock {LOCK_FILE} sleep {secs} >/dev/null 2>&1 & echo $!"
        ))
        .as_root("hold the registrar's root-only lock so that requests wait their turn")
        .await?;
    o.succeeds();
    let pid = o.out().trim().to_string();
    ensure!(
        !pid.is_empty(),
        "{}",
        o.headline("no pid for the lock holder")
    );
    Ok(pid)
}

pub(super) async fn release_registrar_lock(h: &Container, pid: &str) -> Result<()> {
    h.exec(&["kill", pid])
        .as_root("end the root lock holder this scenario started")
        .await?
        .succeeds();
    Ok(())
}

/// Hidden `.gateway-*` entries of the scandir (staging and deletion dirs), listed as hermes
/// (`/run/service` is root 0755).
pub(super) async fn hidden_slot_dirs(h: &Container) -> Result<Vec<String>> {
    let o = h
        .sh(&format!("ls -A {SCANDIR} | grep '^\\.gateway-' || true"))
        .await?;
    o.succeeds();
    Ok(o.stdout_lines().into_iter().map(str::to_string).collect())
}
