//! docs/contract.md §10, root processes: with everything up, what runs as root is
//! supervision, stage 2 and the registrar, and every service runs with all uids hermes'.

use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};

use super::kit::{profile_with_slot, runs_as_hermes, supervision_is_live};
use crate::support::procs::{LOGGER, MAIN_HERMES};
use crate::support::{
    DASHBOARD_PROGRAM, GATEWAY, Proc, SCANDIR, STATE_DEADLINE, processes, wait_svstat,
};
use crate::{ContainerSpec, Ctx, wait};

/// The root processes docs/contract.md §10 promise 3 allows (besides PID 1, which must be
/// s6-svscan).
const ROOT_ALLOWED: &[&str] = &[
    "s6-supervise",
    "s6-ipcserverd",
    "s6-ipcserver-access",
    "s6-sudod",
    "hermes-registrar",
];

/// A root process the contract allows: PID 1 as s6-svscan, the supervision and registrar
/// programs, and stage 2.
fn allowed_root(p: &Proc) -> bool {
    (p.pid == 1 && p.comm == "s6-svscan")
        // The kernel keeps 15 bytes of a name in comm (`hermes-registra`).
        || ROOT_ALLOWED
            .iter()
            .any(|name| p.comm == name[..name.len().min(15)])
        // stage 2, the parent waiting for the main program: a script, so its comm is its
        // name and its args name the file.
        || p.comm == "stage2"
        || p.args.split_whitespace().take(2).any(|a| a.ends_with("/stage2"))
}

/// With a gateway up (and the dashboard, when enabled), every root process is supervision,
/// stage 2 or the registrar, and the gateway, its logger, `main-hermes` and the dashboard run
/// with every uid 10000.
pub async fn root_processes_are_supervision_only(ctx: Ctx, dashboard: bool) -> Result<()> {
    let mut spec = ContainerSpec::default();
    if dashboard {
        spec = spec.env("HERMES_DASHBOARD", "1");
    }
    let h = ctx.as_hermes().start(spec).await?;
    supervision_is_live(&h).await?;
    let slot = profile_with_slot(&h, "alpha").await?;
    h.exec(&["hermes", "-p", "alpha", "gateway", "start"])
        .await?
        .succeeds();
    let mut must_be_hermes = vec![
        (
            &GATEWAY,
            wait_svstat(&h, &slot, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?,
        ),
        (
            &LOGGER,
            wait_svstat(&h, &format!("{slot}/log"), "up", STATE_DEADLINE, |s| {
                s.up && s.pid > 0
            })
            .await?,
        ),
        (
            &MAIN_HERMES,
            wait_svstat(
                &h,
                &format!("{SCANDIR}/main-hermes"),
                "up",
                STATE_DEADLINE,
                |s| s.up && s.pid > 0,
            )
            .await?,
        ),
    ];
    if dashboard {
        must_be_hermes.push((
            &DASHBOARD_PROGRAM,
            wait_svstat(
                &h,
                &format!("{SCANDIR}/dashboard"),
                "up",
                STATE_DEADLINE,
                |s| s.up && s.pid > 0,
            )
            .await?,
        ));
    }
    let mut problems = Vec::new();
    for (prog, st) in &must_be_hermes {
        if let Some(p) = runs_as_hermes(&h, st.pid, prog).await? {
            problems.push(p);
        }
    }
    // A run script starts as root and drops to hermes: a root process seen in that instant
    // is not a finding, one that stays is. So wait (bounded) for the list to be clean.
    let clean = wait::poll_until(
        "no root process beyond supervision, stage 2 and the registrar",
        Duration::from_secs(3),
        || async {
            let procs = processes(&h).await?;
            ensure_pid1(&procs)?;
            let bad: Vec<String> = procs
                .iter()
                .filter(|p| p.any_root() && !allowed_root(p))
                .map(Proc::describe)
                .collect();
            if bad.is_empty() {
                Ok(Some(()))
            } else {
                Err(anyhow!("{}", bad.join("\n")))
            }
        },
    )
    .await;
    if let Err(e) = clean {
        problems.push(format!(
            "root processes outside docs/contract.md §10 promise 3: {e}"
        ));
    }
    ensure!(
        problems.is_empty(),
        "root processes (dashboard={dashboard}): {}\n{}",
        problems[0].lines().next().unwrap_or_default(),
        problems.join("\n")
    );
    h.remove().await
}

fn ensure_pid1(procs: &[Proc]) -> Result<()> {
    match procs.iter().find(|p| p.pid == 1) {
        Some(p) if p.comm == "s6-svscan" => Ok(()),
        Some(p) => bail!("PID 1 is not s6-svscan: {}", p.describe()),
        None => bail!("no PID 1 in the process list"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i64, uid: i64, comm: &str, args: &str) -> Proc {
        Proc {
            pid,
            uids: [uid, uid, uid],
            comm: comm.into(),
            args: args.into(),
        }
    }

    #[test]
    fn root_allowlist_knows_truncated_comms_and_pid1() {
        assert!(allowed_root(&proc(
            1,
            0,
            "s6-svscan",
            "s6-svscan /run/service"
        )));
        assert!(!allowed_root(&proc(9, 0, "s6-svscan", "s6-svscan /tmp/x")));
        assert!(allowed_root(&proc(
            40,
            0,
            "hermes-registra",
            "/opt/hermes/bin/hermes-registrar"
        )));
        assert!(allowed_root(&proc(
            41,
            0,
            "s6-ipcserver-ac",
            "s6-ipcserver-access -v 2"
        )));
        assert!(allowed_root(&proc(
            7,
            0,
            "sh",
            "/bin/sh /etc/hermes-s6/stage2 hermes gateway run"
        )));
        assert!(!allowed_root(&proc(
            50,
            0,
            "sleep",
            "/usr/bin/sleep infinity"
        )));
        assert!(!allowed_root(&proc(51, 0, "hermes", "hermes gateway run")));
        assert!(proc(52, 0, "sleep", "x").any_root());
        assert!(!proc(53, 10000, "sleep", "x").any_root());
    }
}
