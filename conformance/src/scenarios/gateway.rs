//! The gateway process as a person configures it (docs/contract.md §6.2, §6.4): `API_SERVER_PORT`,
//! a port it cannot bind (startup_failed, exit 78, parked), and the two opt-outs of supervision.

use std::time::Duration;

use anyhow::{Result, anyhow, ensure};

use crate::support::{
    GATEWAY, STAYS_DOWN_WINDOW, create_profile, expected_port, parse_response, profile_home,
    program_of, read_json, slot_dir, svstat, svstat_exit, wait_http, wait_svstat,
};
use crate::{Container, ContainerSpec, Ctx, wait};

/// Longer than `STATE_DEADLINE`: these waits include a gateway binding its port and writing
/// its state after s6 reports it up.
const DEADLINE: Duration = Duration::from_secs(20);
/// What `hermes gateway run` says when it hands the gateway to s6 (docs/contract.md §6.4).
const HANDED_TO_S6: &str = "the gateway now runs under s6 supervision";
/// What it says when s6 refused the hand-over and it serves unsupervised instead.
const FALLBACK: &str = "running it in the foreground instead, unsupervised";

/// `GET /health` on `port`: status 200 and the JSON it serves.
async fn health(h: &Container, port: u16) -> Result<serde_json::Value> {
    let r = parse_response(&wait_http(h, port, "/health", DEADLINE).await?)?;
    ensure!(
        r.status == 200,
        "GET /health on port {port}: status {}, expected 200: {r:?}",
        r.status
    );
    r.json()
}

/// With `API_SERVER_PORT` set, the gateway serves `/health` on that port and records it; a
/// second gateway that wants the same (taken) port records `startup_failed` with the reason,
/// exits 78, and its finish script parks it: down, not wanted up, and it stays so — no crash
/// loop — while the first keeps serving.
pub async fn api_server_port_and_a_taken_port(ctx: Ctx) -> Result<()> {
    const PORT: u16 = 9555;
    let h = ctx
        .start(ContainerSpec::default().env("API_SERVER_PORT", &PORT.to_string()))
        .await?;
    ensure!(
        expected_port("default") != PORT && expected_port("second") != PORT,
        "pick a port no profile of this scenario derives"
    );
    // The container's command hands the default gateway to s6; it must bind API_SERVER_PORT.
    let up = wait_svstat(&h, &slot_dir("default"), "up", DEADLINE, |s| {
        s.up && s.pid > 0
    })
    .await?;
    let body = health(&h, PORT).await?;
    ensure!(
        body["profile"] == "default" && body["pid"] == up.pid,
        "GET /health on API_SERVER_PORT={PORT} should be the default gateway (pid {}): {body}",
        up.pid
    );
    let state_path = format!("{}/gateway_state.json", profile_home("default"));
    wait::poll_until(
        "the default gateway to record its port",
        DEADLINE,
        || async {
            let v = read_json(&h, &state_path).await?;
            if v["gateway_state"] == "running" && v["port"] == PORT {
                Ok(Some(()))
            } else {
                Err(anyhow!("{v}"))
            }
        },
    )
    .await?;

    let p = "second";
    let dir = slot_dir(p);
    create_profile(&h, p).await?;
    // The CLI's own verdict is not the point (the gateway may be seen up for an instant before
    // it fails to bind); what s6 and the state file say afterwards is.
    let start = h.exec(&["hermes", "-p", p, "gateway", "start"]).await?;
    let parked = wait::poll_until(
        &format!("{dir} to be parked after exit 78"),
        DEADLINE,
        || async {
            match svstat_exit(&h, &dir).await {
                Ok(s) if !s.up && !s.wanted_up && s.exit_code == 78 => Ok(Some(s)),
                Ok(s) => Err(anyhow!("{s:?}")),
                Err(e) => Err(e),
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n`hermes -p {p} gateway start` said:\n{start}"))?;
    let state = read_json(&h, &format!("{}/gateway_state.json", profile_home(p))).await?;
    ensure!(
        state["gateway_state"] == "startup_failed"
            && state["exit_reason"]
                .as_str()
                .is_some_and(|r| r.contains(&PORT.to_string())),
        "{p}: expected gateway_state=startup_failed with an exit_reason naming port {PORT}: {state}"
    );
    wait::holds_for(
        &format!("{p} staying parked (no crash loop)"),
        STAYS_DOWN_WINDOW,
        || async {
            match svstat_exit(&h, &dir).await {
                Ok(s) if s == parked => Ok(()),
                Ok(s) => Err(anyhow!("s6 says {s:?}")),
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    let still = svstat(&h, &slot_dir("default")).await?;
    ensure!(
        still.up && still.pid == up.pid,
        "the default gateway, which holds the port, should be untouched: {still:?}, was pid {}",
        up.pid
    );
    h.remove().await
}

/// How a person opts out of supervision (docs/contract.md §6.4).
#[derive(Debug, Clone, Copy)]
pub enum OptOut {
    /// `hermes gateway run --no-supervise` as the container's command.
    Flag,
    /// `HERMES_GATEWAY_NO_SUPERVISE=<value>` with the default command.
    Env(&'static str),
}

/// Opted out, the container's command serves the default gateway itself, in the foreground:
/// `/health` answers from the main program (uid 10000, not a child of s6-supervise), the slot
/// stays down and not wanted up, and nothing claims the gateway went to s6.
pub async fn opt_out_runs_in_the_foreground(ctx: Ctx, how: OptOut) -> Result<()> {
    let spec = match how {
        OptOut::Flag => {
            ContainerSpec::default().cmd(&["hermes", "gateway", "run", "--no-supervise"])
        }
        OptOut::Env(v) => ContainerSpec::default().env("HERMES_GATEWAY_NO_SUPERVISE", v),
    };
    let h = ctx.start(spec).await?;
    let port = expected_port("default");
    let body = health(&h, port).await?;
    let pid = body["pid"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("/health names no pid: {body}"))?;
    let seen = program_of(&h, pid, &GATEWAY, DEADLINE).await?;
    ensure!(
        seen.all_uids_are(10000) && seen.parent != "s6-supervise",
        "{how:?}: the gateway (pid {pid}) should run as 10000 outside supervision; its parent is {:?}, uids {}",
        seen.parent,
        seen.uids
    );
    let dir = slot_dir("default");
    wait::holds_for(
        &format!("{dir} staying down while the gateway runs in the foreground"),
        STAYS_DOWN_WINDOW,
        || async {
            match svstat(&h, &dir).await {
                Ok(s) if !s.up && !s.wanted_up => Ok(()),
                Ok(s) => Err(anyhow!("s6 says {s:?}")),
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    let logs = h.logs().await?;
    ensure!(
        !logs.contains(HANDED_TO_S6) && !logs.contains(FALLBACK),
        "{how:?}: the opt-out was not honoured: the log says the gateway went to s6 (or fell back)\n{logs}"
    );
    h.remove().await
}

/// The counterpart, differing in the variable's value only: a value that is not truthy leaves
/// the gateway supervised — up, wanted up, a child of s6-supervise running as 10000, the
/// hand-over said once, and no fallback to the foreground.
pub async fn non_truthy_opt_out_is_supervised(ctx: Ctx, value: &'static str) -> Result<()> {
    let h = ctx
        .start(ContainerSpec::default().env("HERMES_GATEWAY_NO_SUPERVISE", value))
        .await?;
    let up = wait_svstat(
        &h,
        &slot_dir("default"),
        "up and wanted up",
        DEADLINE,
        |s| s.up && s.wanted_up && s.pid > 0,
    )
    .await?;
    // Judged once the run script has exec'd the gateway: until then the pid is the script,
    // which starts as root by design and drops to hermes on its way.
    let seen = program_of(&h, up.pid, &GATEWAY, DEADLINE).await?;
    ensure!(
        seen.all_uids_are(10000) && seen.parent == "s6-supervise",
        "HERMES_GATEWAY_NO_SUPERVISE={value:?}: the gateway (pid {}) should be s6-supervise's child as 10000; parent {:?}, uids {}",
        up.pid,
        seen.parent,
        seen.uids
    );
    let body = health(&h, expected_port("default")).await?;
    ensure!(
        body["pid"] == up.pid,
        "/health is served by another process than the supervised gateway {}: {body}",
        up.pid
    );
    let logs = wait::poll_until("the hand-over line in the log", DEADLINE, || async {
        let l = h.logs().await?;
        if l.contains(HANDED_TO_S6) {
            Ok(Some(l))
        } else {
            Err(anyhow!("no hand-over line yet"))
        }
    })
    .await?;
    ensure!(
        !logs.contains(FALLBACK),
        "the gateway fell back to running unsupervised:\n{logs}"
    );
    h.remove().await
}
