//! A profile's gateway run by hand: a created slot is down and whole, start/stop/restart
//! follow s6, the static services obey hermes, root at the door becomes hermes, and a missing
//! profile is explained.

use anyhow::{Result, anyhow, ensure};

use super::assert_slot_layout;
use crate::support::{
    GATEWAY, HERMES_HOME, SCANDIR, SHARED_PRODUCT, STATE_DEADLINE, create_profile, ensure_runs_as,
    expected_port, profile_home, read_json, slot_dir, svstat, wait_http, wait_svstat,
};
use crate::{Ctx, wait};

/// After `profile create p`: the slot exists with the exact layout, is supervised, is down
/// and not wanted up.
pub async fn create_publishes_a_down_slot(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    create_profile(&h, "alpha").await?;
    h.exec(&["test", "-f", &format!("{}/SOUL.md", profile_home("alpha"))])
        .await?
        .succeeds();
    assert_slot_layout(&h, "alpha").await?;
    let dir = slot_dir("alpha");
    wait::poll_until("gateway-alpha to be supervised", STATE_DEADLINE, || async {
        let o = h.exec(&["/command/s6-svok", &dir]).await?;
        if o.success() {
            Ok(Some(()))
        } else {
            Err(anyhow!("{}", o.stderr.trim()))
        }
    })
    .await?;
    let st = svstat(&h, &dir).await?;
    ensure!(
        !st.up && !st.wanted_up,
        "fresh slot must be down and not wanted up: {st:?}"
    );
    h.remove().await
}

/// `gateway stop` right after `gateway start` (one shell, no pause): s6 reports the slot up as
/// soon as it forks the run script, so the stop's SIGTERM often reaches the gateway before it
/// runs its own code — the run script dies of it and the gateway never records anything. When
/// `gateway stop` has returned 0 the state file must say `stopped` all the same (intent and
/// state), with no planned-stop marker left behind; checked at once, in every round.
pub async fn stop_right_after_start_records_stopped(ctx: Ctx) -> Result<()> {
    const ROUNDS: usize = 10;
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    let p = "quick";
    create_profile(&h, p).await?;
    let home = profile_home(p);
    let state_path = format!("{home}/gateway_state.json");
    for round in 1..=ROUNDS {
        h.sh(&format!(
            "hermes -p {p} gateway start >/dev/null && hermes -p {p} gateway stop >/dev/null"
        ))
        .await?
        .succeeds_or(&format!("round {round}: start then stop"));
        let state = read_json(&h, &state_path).await?;
        ensure!(
            state["gateway_state"] == "stopped" && state["desired_state"] == "stopped",
            "round {round}: `gateway stop` returned 0 but {state_path} says {state}"
        );
        h.exec(&[
            "test",
            "!",
            "-e",
            &format!("{home}/.gateway-planned-stop.json"),
        ])
        .await?
        .succeeds_or(&format!(
            "round {round}: a planned-stop marker was left behind"
        ));
    }
    h.remove().await
}

/// start → up as UID 10000, health on the derived port, banner in the log and `docker logs`;
/// stop → down with intent recorded; restart → a new pid; status tells the truth.
pub async fn start_stop_restart(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    let p = "beta";
    let dir = slot_dir(p);
    create_profile(&h, p).await?;

    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    let up = wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?;
    ensure_runs_as(&h, up.pid, &GATEWAY, 10000, STATE_DEADLINE).await?;
    let port = expected_port(p);
    let health =
        crate::support::parse_response(&wait_http(&h, port, "/health", STATE_DEADLINE).await?)?;
    ensure!(
        health.status == 200,
        "GET /health on {port}: status {}, expected 200:\n{health:?}",
        health.status
    );
    let body = health.json()?;
    ensure!(
        body["profile"] == p && body["pid"] == up.pid,
        "GET /health on {port} should name profile {p:?} and pid {} (s6's): {body}",
        up.pid
    );

    let current = format!("{HERMES_HOME}/logs/gateways/{p}/current");
    wait::poll_until(
        "the banner in the gateway's log",
        STATE_DEADLINE,
        || async {
            let o = h.exec(&["cat", &current]).await?;
            if o.stdout.contains("Hermes Gateway Starting") {
                Ok(Some(()))
            } else {
                Err(anyhow!("{o}"))
            }
        },
    )
    .await?;
    // This gateway's own banner (the container may be shared: other gateways log theirs).
    let banner = format!("Hermes Gateway Starting (profile={p},");
    wait::poll_until("the banner in docker logs", STATE_DEADLINE, || async {
        let logs = h.logs().await?;
        if logs.contains(&banner) {
            Ok(Some(()))
        } else {
            Err(anyhow!("banner not in docker logs yet"))
        }
    })
    .await?;

    // status agrees with s6.
    let status = h
        .exec(&["hermes", "-p", p, "gateway", "status", "--json"])
        .await?;
    status.succeeds();
    let js: serde_json::Value = serde_json::from_str(status.out())
        .map_err(|e| anyhow::anyhow!("gateway status --json is not JSON ({e})\n{status}"))?;
    let g = &js["gateways"][0];
    ensure!(
        js["manager"] == "s6"
            && js["gateways"].as_array().map(Vec::len) == Some(1)
            && g["profile"] == p
            && g["up"] == true
            && g["pid"] == up.pid
            && g["desired_state"] == "running"
            && g["port"] == port,
        "gateway status --json disagrees with s6 (pid {}, up) or the intent (running, port {port}): {js}",
        up.pid
    );

    // restart → a new pid.
    h.exec(&["hermes", "-p", p, "gateway", "restart"])
        .await?
        .succeeds();
    let again = wait_svstat(&h, &dir, "up with a new pid", STATE_DEADLINE, |s| {
        s.up && s.pid > 0 && s.pid != up.pid
    })
    .await?;
    ensure!(again.pid != up.pid);

    // stop → down, intent and state recorded.
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    let down = wait_svstat(&h, &dir, "down", STATE_DEADLINE, |s| !s.up).await?;
    ensure!(!down.wanted_up, "stopped gateway still wanted up: {down:?}");
    let state_path = format!("{}/gateway_state.json", profile_home(p));
    let state = wait::poll_until(
        "gateway_state.json to say stopped",
        STATE_DEADLINE,
        || async {
            let v = read_json(&h, &state_path).await?;
            if v["gateway_state"] == "stopped" {
                Ok(Some(v))
            } else {
                Err(anyhow!("{v}"))
            }
        },
    )
    .await?;
    ensure!(
        state["desired_state"] == "stopped",
        "desired_state not stopped: {state}"
    );
    h.remove().await
}

/// hermes can read, stop and start the static services it is given (contract §2 `015`), and
/// sees each change by polling their status — s6's `event/` dirs are root's, so `s6-svwait`
/// is not available to hermes (§10).
pub async fn static_services_controllable_by_hermes(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    for svc in ["main-hermes", "dashboard"] {
        let dir = format!("{SCANDIR}/{svc}");
        h.exec(&["/command/s6-svstat", &dir]).await?.succeeds();
        h.exec(&["/command/s6-svc", "-d", &dir]).await?.succeeds();
        wait_svstat(&h, &dir, "down", STATE_DEADLINE, |s| !s.up && !s.wanted_up).await?;
        h.exec(&["/command/s6-svc", "-u", &dir]).await?.succeeds();
        // The dashboard is disabled here: it runs, exits 0 and its finish parks it again, so
        // only main-hermes can be seen to come up.
        if svc == "main-hermes" {
            wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up).await?;
        }
    }
    h.remove().await
}

/// A root `docker exec` of `hermes profile create` drops to hermes first (docs/contract.md §6.6),
/// unless HERMES_DOCKER_EXEC_AS_ROOT is truthy.
pub async fn root_at_the_door_drops_to_hermes(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    h.exec(&["hermes", "profile", "create", "rooted"])
        .as_root("this scenario is about what happens when a person forgets `-u hermes`")
        .await?
        .succeeds();
    // Everything of the profile is hermes's (the slot is root's by design, contract §3.2, and
    // checked as such).
    let strays = h
        .sh(&format!("find {} ! -user hermes", profile_home("rooted")))
        .await?;
    strays.succeeds().stdout_is("");
    assert_slot_layout(&h, "rooted").await?;
    h.exec(&["hermes", "-p", "rooted", "gateway", "start"])
        .await?
        .succeeds();
    wait_svstat(&h, &slot_dir("rooted"), "up", STATE_DEADLINE, |s| s.up).await?;

    // Only 1/true/yes keep root; anything else still drops.
    for (value, stays_root) in [
        ("1", true),
        ("yes", true),
        ("TRUE", true),
        ("2", false),
        ("no", false),
    ] {
        let p = format!("asroot{}", value.to_ascii_lowercase());
        h.exec(&["hermes", "profile", "create", &p])
            .as_root("which values of HERMES_DOCKER_EXEC_AS_ROOT keep a root exec root")
            .env("HERMES_DOCKER_EXEC_AS_ROOT", value)
            .await?
            .succeeds();
        let owner = h.exec(&["stat", "-c", "%U", &profile_home(&p)]).await?;
        owner.succeeds();
        let want = if stays_root { "root" } else { "hermes" };
        ensure!(
            owner.out() == want,
            "HERMES_DOCKER_EXEC_AS_ROOT={value}: profile owned by {}, expected {want}",
            owner.out()
        );
    }
    h.remove().await
}

/// `gateway start` on a profile that does not exist: exit 1 and the hint to create it.
pub async fn start_of_missing_profile_explains(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    h.exec(&["hermes", "-p", "ghost", "gateway", "start"])
        .await?
        .code_is(1)
        .stderr_contains("hermes profile create ghost");
    h.remove().await
}
