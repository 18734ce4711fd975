//! What the CLI prints (docs/contract.md §6.1, §6.5) and how it treats files it cannot use:
//! `profile list`, `gateway status` as text, `status --json` reporting an unusable state file,
//! and a FIFO planted in place of the state file or its lock.

use std::time::Duration;

use crate::support::SHARED_PRODUCT;
use anyhow::{Context, Result, bail, ensure};

use crate::support::{
    MANAGER_S6, STATE_DEADLINE, assert_absent, create_profile, expected_port, profile_home,
    slot_dir, svstat, wait_svstat,
};
use crate::{Container, Ctx, wait};

/// A verb that meets a FIFO must answer well inside this (the bug was a hang).
const NO_HANG: Duration = Duration::from_secs(8);

/// `profile list` as (profile, slot state) rows, parsed from its text.
async fn profile_rows(h: &Container) -> Result<Vec<(String, String)>> {
    let o = h.exec(&["hermes", "profile", "list"]).await?;
    o.succeeds();
    o.stdout_lines()
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [p, state] => Ok((p.to_string(), state.to_string())),
                _ => bail!("`hermes profile list` line {l:?} is not `<profile>  <state>`\n{o}"),
            }
        })
        .collect()
}

fn rows(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect()
}

/// `profile list` (docs/contract.md §6.1): `default` first, then every profile sorted, each with
/// its slot's state as s6 reports it; `--json` says the same.
pub async fn profile_list(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    // The container's command hands the default gateway to s6.
    wait_svstat(&h, &slot_dir("default"), "up", STATE_DEADLINE, |s| s.up).await?;
    for p in ["zeta", "alpha"] {
        create_profile(&h, p).await?;
    }
    h.exec(&["hermes", "-p", "zeta", "gateway", "start"])
        .await?
        .succeeds();
    wait_svstat(&h, &slot_dir("zeta"), "up", STATE_DEADLINE, |s| s.up).await?;
    let want = rows(&[("default", "up"), ("alpha", "down"), ("zeta", "up")]);
    let got = profile_rows(&h).await?;
    ensure!(got == want, "profile list: expected {want:?}, got {got:?}");
    let js = h.exec(&["hermes", "profile", "list", "--json"]).await?;
    js.succeeds();
    let v: serde_json::Value = serde_json::from_str(js.out())
        .with_context(|| format!("profile list --json is not JSON\n{js}"))?;
    let from_json: Vec<(String, String)> = v
        .as_array()
        .with_context(|| format!("profile list --json is not an array: {v}"))?
        .iter()
        .map(|r| {
            (
                r["profile"].as_str().unwrap_or("?").to_string(),
                r["slot"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    ensure!(
        from_json == want,
        "profile list --json: expected {want:?}, got {v}"
    );
    h.exec(&["hermes", "-p", "zeta", "gateway", "stop"])
        .await?
        .succeeds();
    let got = profile_rows(&h).await?;
    let want = rows(&[("default", "up"), ("alpha", "down"), ("zeta", "down")]);
    ensure!(got == want, "after stop: expected {want:?}, got {got:?}");
    h.remove().await
}

/// One slot's line of `gateway status`/`status`: `<slot>  <state>  pid=…  uptime=…
/// desired=…  port=…`, as a map (the slot and state under `slot` and `state`).
fn parse_status_line(line: &str) -> Result<std::collections::BTreeMap<String, String>> {
    let mut f = line.split_whitespace();
    let mut m = std::collections::BTreeMap::new();
    m.insert("slot".to_string(), f.next().unwrap_or_default().to_string());
    m.insert(
        "state".to_string(),
        f.next().unwrap_or_default().to_string(),
    );
    for kv in f {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("field {kv:?} of status line {line:?} is not key=value"))?;
        m.insert(k.to_string(), v.to_string());
    }
    for k in ["pid", "uptime", "desired", "port"] {
        ensure!(m.contains_key(k), "status line {line:?} has no {k}=");
    }
    Ok(m)
}

/// `hermes -p p gateway status` as text (docs/contract.md §6.5): the manager line, then the slot's
/// line with what s6 says (up/down, pid, uptime) and what was asked (desired state), and its port.
async fn gateway_status(
    h: &Container,
    p: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    let o = h.exec(&["hermes", "-p", p, "gateway", "status"]).await?;
    o.succeeds();
    let lines = o.stdout_lines();
    ensure!(
        lines.len() == 2 && lines[0] == MANAGER_S6,
        "gateway status should print {MANAGER_S6:?} and one slot line\n{o}"
    );
    parse_status_line(lines[1])
}

pub async fn gateway_status_text(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let p = "shown";
    create_profile(&h, p).await?;
    let port = expected_port(p).to_string();
    let m = gateway_status(&h, p).await?;
    let want_down = |m: &std::collections::BTreeMap<String, String>, desired: &str| {
        m["slot"] == format!("gateway-{p}")
            && m["state"] == "down"
            && m["pid"] == "-"
            && m["uptime"] == "-"
            && m["desired"] == desired
            && m["port"] == port
    };
    ensure!(
        want_down(&m, "-"),
        "a fresh profile's status: expected down, no pid, no desired state, port {port}: {m:?}"
    );
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    let up = wait_svstat(&h, &slot_dir(p), "up", STATE_DEADLINE, |s| {
        s.up && s.pid > 0
    })
    .await?;
    let m = gateway_status(&h, p).await?;
    let uptime_ok = m["uptime"]
        .strip_suffix('s')
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n < 600);
    ensure!(
        m["slot"] == format!("gateway-{p}")
            && m["state"] == "up"
            && m["pid"] == up.pid.to_string()
            && uptime_ok
            && m["desired"] == "running"
            && m["port"] == port,
        "status of a started gateway: expected up, pid {} (s6's), an uptime in seconds, desired running, port {port}: {m:?}",
        up.pid
    );
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    let m = gateway_status(&h, p).await?;
    ensure!(
        want_down(&m, "stopped"),
        "status of a stopped gateway: expected down, no pid, desired stopped, port {port}: {m:?}"
    );
    // `hermes status`: the same manager line, then one line per slot.
    let all = h.exec(&["hermes", "status"]).await?;
    all.succeeds();
    let lines = all.stdout_lines();
    ensure!(
        lines.first() == Some(&MANAGER_S6),
        "hermes status must start with {MANAGER_S6:?}\n{all}"
    );
    let slots: Vec<String> = lines[1..]
        .iter()
        .map(|l| parse_status_line(l).map(|m| m["slot"].clone()))
        .collect::<Result<_>>()?;
    ensure!(
        slots == ["gateway-default", "gateway-shown"],
        "hermes status should list gateway-default and gateway-{p}, got {slots:?}\n{all}"
    );
    h.remove().await
}

/// The entry for `p` in `hermes status --json`.
async fn status_json_of(h: &Container, p: &str) -> Result<serde_json::Value> {
    let o = h
        .exec_full(&h.user, &["hermes", "status", "--json"], &[], NO_HANG)
        .await?;
    o.succeeds();
    let v: serde_json::Value =
        serde_json::from_str(o.out()).with_context(|| format!("status --json is not JSON\n{o}"))?;
    v["gateways"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["profile"] == p))
        .cloned()
        .with_context(|| format!("status --json has no entry for {p}: {v}"))
}

/// Runs `verb` on `p` (bounded: a hang is the bug) and expects exit 1 with one line that says
/// `refusing` and names `path`.
async fn refuses(h: &Container, p: &str, verb: &str, path: &str) -> Result<()> {
    let o = h
        .exec_full(&h.user, &["hermes", "-p", p, "gateway", verb], &[], NO_HANG)
        .await
        .with_context(|| format!("`hermes -p {p} gateway {verb}` hung on the FIFO at {path}"))?;
    o.code_is(1)
        .stderr_contains("refusing")
        .stderr_contains(path);
    Ok(())
}

/// Replace `path` with a FIFO, as hermes (who owns the directory) could.
async fn plant_fifo(h: &Container, path: &str) -> Result<()> {
    h.exec(&["sh", "-c", "rm -f \"$1\" && mkfifo \"$1\"", "sh", path])
        .await?
        .succeeds_or(&format!("cannot plant a FIFO at {path}"));
    Ok(())
}

/// A FIFO in place of `.gateway_state.lock`, then of `gateway_state.json`: `gateway stop` and
/// `start` answer at once, exit 1, `refusing` and the path; the gateway keeps running (the
/// verb changed nothing, and no planned-stop marker is left claiming a stop that was never
/// recorded); `status --json` reports the unusable state file instead of hiding it — as it
/// does for a corrupt one.
pub async fn fifo_state_files_are_refused(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    let p = "fifo";
    let home = profile_home(p);
    let dir = slot_dir(p);
    create_profile(&h, p).await?;
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    let up = wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?;
    let lock = format!("{home}/.gateway_state.lock");
    let state = format!("{home}/gateway_state.json");
    // s6 says up once it forked the run script; the gateway then records `running` itself
    // (through the lock). Plant only after that, or its record races the plant.
    wait::poll_until(
        "the gateway's own `running` record",
        STATE_DEADLINE,
        || async {
            let o = h.exec(&["cat", &state]).await?;
            let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
            if v["gateway_state"] == "running" {
                Ok(Some(()))
            } else {
                bail!("{state}: {}", o.stdout.trim())
            }
        },
    )
    .await?;
    let marker = format!("{home}/.gateway-planned-stop.json");
    let still_running = |what: &'static str| {
        let h = &h;
        let dir = dir.clone();
        let marker = marker.clone();
        async move {
            let st = svstat(h, &dir).await?;
            ensure!(
                st.up && st.wanted_up && st.pid == up.pid,
                "{what}: the gateway should be untouched (pid {}), s6 says {st:?}",
                up.pid
            );
            assert_absent(
                h,
                &marker,
                &format!("{what}: the marker was left behind: it claims a planned stop that was not recorded"),
            )
            .await?;
            anyhow::Ok(())
        }
    };

    plant_fifo(&h, &lock).await?;
    refuses(&h, p, "stop", &lock).await?;
    still_running("stop refused for a FIFO lock").await?;

    h.exec(&["rm", "-f", &lock]).await?.succeeds();
    plant_fifo(&h, &state).await?;
    refuses(&h, p, "stop", &state).await?;
    still_running("stop refused for a FIFO state file").await?;
    refuses(&h, p, "start", &state).await?;
    let g = status_json_of(&h, p).await?;
    let why = g["state_error"].as_str().unwrap_or_default();
    ensure!(
        why.contains("refusing") && why.contains(&state),
        "status --json hides the FIFO at {state}: expected state_error naming it, got {g}"
    );
    ensure!(
        g["up"] == true && g["pid"] == up.pid,
        "status --json should still report s6's view (up, pid {}): {g}",
        up.pid
    );

    // A corrupt (regular) state file is reported the same way.
    h.exec(&[
        "sh",
        "-c",
        "rm -f \"$1\" && echo '{\"gateway_state\": \"runn' > \"$1\"",
        "sh",
        &state,
    ])
    .await?
    .succeeds();
    let g = status_json_of(&h, p).await?;
    ensure!(
        g["state_error"]
            .as_str()
            .is_some_and(|w| w.contains("corrupt")),
        "status --json hides the corrupt {state}: {g}"
    );
    h.remove().await
}
