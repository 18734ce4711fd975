//! Boot contract (docs/contract.md §2, §4's premises), checked as hermes.

use anyhow::{Result, ensure};

use crate::container::READY_MARKER;
use crate::support::STATIC_SERVICES;
use crate::{Container, ContainerSpec, Ctx};

/// The cont-init chain, in the order docs/contract.md §2.3 fixes by file name.
pub const CONT_INIT: &[&str] = &[
    "01-hermes-setup",
    "015-supervise-perms",
    "02-reconcile-profiles",
];
/// The root static service hermes reaches only through its socket, never its supervisor.
pub const REGISTRAR: &str = "registrar";

/// PID 1 is s6-svscan, seen the way hermes can see it: through `/proc/1/comm`.
pub async fn pid1_is_s6_svscan(h: &Container) -> Result<()> {
    h.exec(&["cat", "/proc/1/comm"])
        .await?
        .succeeds()
        .stdout_is("s6-svscan");
    h.exec(&["test", "-d", "/run/s6/basedir"]).await?.succeeds();
    Ok(())
}

/// The project's premise: hermes cannot resolve `/proc/1/exe`, root can. Detection that
/// relies on it is blind for the user the product runs as.
pub async fn proc1_exe_is_root_only(h: &Container) -> Result<()> {
    // Explicitly hermes, whatever HERMES_CONFORMANCE_USER says: this is a fact about hermes.
    let as_hermes = h
        .exec_full(
            "hermes",
            &["readlink", "/proc/1/exe"],
            &[],
            crate::container::EXEC_DEADLINE,
        )
        .await?;
    as_hermes.fails();
    let as_root = h.exec(&["readlink", "/proc/1/exe"]).as_root("the other half of the premise is that root *can* read it, which is how root-only tests once hid the bug.").await?;
    as_root.succeeds();
    ensure!(
        as_root.out().ends_with("/s6-svscan"),
        "root sees /proc/1/exe -> {:?}, expected …/s6-svscan\n{as_root}",
        as_root.out()
    );
    Ok(())
}

/// The scandir and PID 1's scanner are root's (contract §2, §10): hermes reaches slots only
/// through the registrar, which listens on its socket once the boot is ready.
pub async fn scandir_is_roots(h: &Container) -> Result<()> {
    h.exec(&["stat", "-c", "%U:%G %a", "/run/service"])
        .await?
        .succeeds()
        .stdout_is("root:root 755");
    // hermes cannot even look inside the scanner's control directory.
    let control = h.exec(&["stat", "/run/service/.s6-svscan/control"]).await?;
    control.fails();
    ensure!(
        control.stderr.contains("Permission denied"),
        "stat of .s6-svscan/control as hermes should be refused (EACCES)\n{control}"
    );
    h.exec(&["test", "-S", "/run/hermes/registrar.sock"])
        .await?
        .succeeds();
    Ok(())
}

/// The static services are supervised and hermes can read their state.
pub async fn static_services_supervised(h: &Container) -> Result<()> {
    for svc in STATIC_SERVICES {
        let dir = format!("/run/service/{svc}");
        h.exec(&["/command/s6-svok", &dir]).await?.succeeds();
        h.exec(&["/command/s6-svstat", "-o", "up,wantedup", &dir])
            .await?
            .succeeds();
    }
    let dir = format!("/run/service/{REGISTRAR}");
    h.exec(&["/command/s6-svstat", "-o", "up", &dir]).as_root("hermes is given no rights on the registrar's supervisor (contract §2 `015`), so only root can see that it is supervised and up")
        .await?
        .succeeds()
        .stdout_is("true");
    let hermes_view = h.exec(&["/command/s6-svstat", &dir]).await?;
    hermes_view.fails();
    Ok(())
}

/// cont-init scripts ran in C-locale order, each to completion, before the user bundle came
/// up, and readiness came last.
pub async fn cont_init_ran_in_order(h: &Container) -> Result<()> {
    let listed = h.sh("cd /etc/cont-init.d && LC_ALL=C ls").await?;
    listed.succeeds();
    ensure!(
        listed.stdout_lines() == CONT_INIT,
        "/etc/cont-init.d holds {:?}, docs/contract.md §2.3 fixes {CONT_INIT:?}",
        listed.stdout_lines()
    );
    let log = h.exec(&["cat", "/run/hermes/boot-steps.log"]).await?;
    log.succeeds();
    let mut expected: Vec<String> = Vec::new();
    for s in CONT_INIT {
        expected.push(format!("cont-init {s} start"));
        expected.push(format!("cont-init {s} exit 0"));
    }
    expected.push("user-bundle up".into());
    expected.push("ready".into());
    let got: Vec<&str> = log.stdout_lines();
    ensure!(
        got == expected,
        "boot steps out of order or incomplete\n  expected: {expected:#?}\n  got: {got:#?}"
    );
    Ok(())
}

/// Things each boot step leaves behind, made once by that step and never touched again in the
/// boot, in the order docs/contract.md §2.2 fixes: (step, path, whether its birth time (`%W`) or
/// its modification time (`%Y`) is the step's moment). `015` is left out: what it changes (the
/// modes of `supervise/control`) is changed again by the bundle's `s6-svc -u` writing into the same
/// FIFO, so no time of its own survives.
const BOOT_ARTIFACTS: &[(&str, &str, char)] = &[
    (
        "01-hermes-setup made $HERMES_HOME/profiles",
        "/opt/data/profiles",
        'W',
    ),
    (
        "02-reconcile-profiles registered gateway-default",
        "/run/service/gateway-default/type",
        'Y',
    ),
    (
        "02-reconcile-profiles wrote the boot log",
        "/opt/data/logs/container-boot.log",
        'Y',
    ),
    (
        "the user bundle brought main-hermes up",
        "/run/service/main-hermes/supervise/status",
        'Y',
    ),
    ("stage 2 wrote the readiness marker", READY_MARKER, 'Y'),
];

/// The boot order seen from outside stage 2's own account of itself: the timestamps the
/// filesystem gave each step's artifacts never run backwards. (Kernel file times are coarse,
/// so two steps inside one clock tick tie: ties are allowed, inversions are not.) A birth time
/// the filesystem does not keep is left out, and the message says so.
pub async fn boot_order_seen_from_outside(h: &Container) -> Result<()> {
    let mut seen: Vec<(&str, f64)> = Vec::new();
    let mut skipped = Vec::new();
    for (what, path, field) in BOOT_ARTIFACTS {
        let o = h
            .exec(&["stat", "-c", &format!("%.9{field}"), path])
            .await?;
        o.succeeds_or(&format!("cannot stat {path}, left by: {what}"));
        let t: f64 = o
            .out()
            .parse()
            .map_err(|e| anyhow::anyhow!("stat of {path} gave {:?}: {e}", o.out()))?;
        if t <= 0.0 {
            skipped.push(*path);
            continue;
        }
        seen.push((what, t));
    }
    ensure!(
        seen.len() >= BOOT_ARTIFACTS.len() - 1,
        "too few boot artifacts have times to order (no birth time for {skipped:?})"
    );
    for pair in seen.windows(2) {
        let ((a, ta), (b, tb)) = (pair[0], pair[1]);
        ensure!(
            ta <= tb,
            "boot order broken, seen from the files the steps left: `{b}` at {tb:.6} came before `{a}` at {ta:.6}; all: {seen:?}"
        );
    }
    Ok(())
}

/// Everything above, for one container.
pub async fn boot_contract_holds(h: &Container) -> Result<()> {
    pid1_is_s6_svscan(h).await?;
    proc1_exe_is_root_only(h).await?;
    scandir_is_roots(h).await?;
    static_services_supervised(h).await?;
    cont_init_ran_in_order(h).await?;
    boot_order_seen_from_outside(h).await?;
    Ok(())
}

/// The boot contract holds with `/run` as the image's directory and as a (noexec) tmpfs.
pub async fn boot_contract(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    if tmpfs_run {
        // Prove the variant really is the hostile one: Docker mounts it noexec.
        h.sh("grep ' /run ' /proc/mounts")
            .await?
            .succeeds()
            .stdout_contains("noexec");
    }
    boot_contract_holds(&h).await?;
    h.remove().await
}

/// The readiness marker is per boot: a restart replaces it (and it is readable by hermes).
pub async fn ready_marker_is_per_boot(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    let first = h.boot_id.clone().unwrap_or_default();
    h.restart().await?; // waits for a marker whose content differs from `first`
    let second = h.exec(&["cat", READY_MARKER]).await?;
    second.succeeds();
    ensure!(
        second.out() != first && !second.out().is_empty(),
        "marker not renewed by the restart: before {first:?}, after {:?}",
        second.out()
    );
    // The new boot is a whole boot, not a leftover: the contract holds again.
    boot_contract_holds(&h).await?;
    h.remove().await
}

/// A cont-init step that fails is visible to `hermes status`, text and `--json`, not only in
/// the container log (docs/contract.md §6.5). The failure is one hermes can cause on its own
/// volume: a directory where the boot log goes (`$HERMES_HOME/logs/container-boot.log`), so
/// `02-reconcile-profiles` cannot write it and exits non-zero. The boot still becomes ready (stage2
/// goes on after a failed step); the report belongs to that boot only: once the obstacle is gone,
/// the next boot reports no failed step.
pub async fn failed_cont_init_step_in_status(ctx: Ctx) -> Result<()> {
    const STEP: &str = "cont-init 02-reconcile-profiles";
    // The dashboard is on: its API and page must say what `hermes status` says.
    let mut h = ctx
        .start(ContainerSpec::default().env("HERMES_DASHBOARD", "1"))
        .await?;
    let failed_steps = |json: &str| -> Result<Vec<serde_json::Value>> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| anyhow::anyhow!("the status report is not JSON ({e}): {json:?}"))?;
        let steps = v
            .pointer("/boot/failed_steps")
            .and_then(|s| s.as_array())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no boot.failed_steps array in {v:#}"))?;
        Ok(steps)
    };

    // A clean boot: nothing failed, and status says nothing about failed steps.
    let clean = h.exec(&["hermes", "status", "--json"]).await?;
    clean.succeeds();
    let steps = failed_steps(&clean.stdout)?;
    ensure!(
        steps.is_empty(),
        "a clean boot reports failed steps: {steps:?}"
    );
    h.exec(&["hermes", "status"])
        .await?
        .succeeds()
        .stdout_lacks("failed");

    // hermes puts a directory where the boot log goes, then the container restarts.
    h.sh("rm -f \"$HERMES_HOME/logs/container-boot.log\" && mkdir \"$HERMES_HOME/logs/container-boot.log\"")
        .await?
        .succeeds();
    h.restart().await?;
    let log = h.exec(&["cat", "/run/hermes/boot-steps.log"]).await?;
    log.succeeds();
    ensure!(
        log.stdout_lines()
            .iter()
            .any(|l| l.starts_with(&format!("{STEP} exit ")) && *l != format!("{STEP} exit 0")),
        "the premise failed: {STEP} did not fail\n{}",
        log.stdout
    );

    let text = h.exec(&["hermes", "status"]).await?;
    text.succeeds()
        .stdout_contains(&format!("boot step failed: {STEP} exit 1"));
    let json = h.exec(&["hermes", "status", "--json"]).await?;
    json.succeeds();
    let steps = failed_steps(&json.stdout)?;
    let want = serde_json::json!({ "step": STEP, "exit_code": 1 });
    ensure!(
        steps == vec![want.clone()],
        "hermes status --json: boot.failed_steps = {steps:?}, expected [{want}]"
    );
    let port = crate::support::DASHBOARD_PORT;
    crate::support::wait_http(&h, port, "/api/status", std::time::Duration::from_secs(20)).await?;
    let api = crate::support::get(&h, port, "/api/status").await?;
    ensure!(api.status == 200, "/api/status answered {api:?}");
    let api_steps = failed_steps(&api.body)?;
    ensure!(
        api_steps == vec![want.clone()],
        "the dashboard's /api/status: boot.failed_steps = {api_steps:?}, expected [{want}]"
    );
    let page = crate::support::get(&h, port, "/").await?;
    ensure!(
        page.status == 200
            && page
                .body
                .contains(&format!("boot step failed: {STEP} exit 1")),
        "the dashboard page does not show the failed step {STEP}: status {}\n{}",
        page.status,
        page.body
    );

    // The obstacle removed, the next boot is clean again: the report is per boot.
    h.sh("rmdir \"$HERMES_HOME/logs/container-boot.log\"")
        .await?
        .succeeds();
    h.restart().await?;
    let again = h.exec(&["hermes", "status", "--json"]).await?;
    again.succeeds();
    let steps = failed_steps(&again.stdout)?;
    ensure!(
        steps.is_empty(),
        "the boot after the fix still reports {steps:?}"
    );
    h.remove().await
}
