//! The dashboard (docs/contract.md §7): truly down unless enabled, restarted on crash when enabled,
//! parked on a refused public bind, and a page that shows the gateways as hermes sees them.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::support::{
    DASHBOARD, DASHBOARD_PORT, DASHBOARD_PROGRAM, HttpResponse, STATE_DEADLINE, STAYS_DOWN_WINDOW,
    SvStat, create_profile, ensure_runs_as, get, get_with_basic, parse_response, s6::parse_svstat,
    svstat, wait_http, wait_svstat,
};
use crate::{Container, ContainerSpec, Ctx, config, wait};

/// The credentials of the public-bind scenarios, and `ops:s3cret` in base64.
const USER: &str = "ops";
const PASSWORD: &str = "s3cret";
const BASIC_OPS: &str = "b3BzOnMzY3JldA==";

fn spec_with(vars: &[(&str, &str)]) -> ContainerSpec {
    vars.iter()
        .fold(ContainerSpec::default(), |s, (k, v)| s.env(k, v))
}

async fn nothing_listens(h: &Container, port: u16) -> Result<()> {
    let o = h
        .exec(&["bash", "-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
        .await?;
    ensure!(!o.success(), "something listens on {port}\n{o}");
    Ok(())
}

async fn dashboard_pids(h: &Container) -> Result<String> {
    let o = h
        .sh("pgrep -f '^/opt/hermes/bin/hermes dashboard|^hermes dashboard' || true")
        .await?;
    o.succeeds();
    Ok(o.out().to_string())
}

/// `s6-svstat -o up,wantedup` stays `false false` for the whole window.
async fn stays_down(h: &Container) -> Result<()> {
    let first = svstat(h, DASHBOARD).await?;
    ensure!(
        !first.up && !first.wanted_up,
        "dashboard should be down and not wanted up: {first:?}"
    );
    wait::holds_for(
        "dashboard down and not wanted up",
        STAYS_DOWN_WINDOW,
        || async {
            let o = h
                .exec(&["/command/s6-svstat", "-o", "up,wantedup,pid", DASHBOARD])
                .await?;
            match parse_svstat(o.out()) {
                Some(SvStat {
                    up: false,
                    wanted_up: false,
                    ..
                }) => Ok(()),
                other => Err(anyhow!("{other:?} ({})", o.out())),
            }
        },
    )
    .await?;
    Ok(())
}

/// Disabled (unset or any non-truthy value): down, not wanted up, stays so; no process; no
/// listener on 9119.
pub async fn disabled_stays_down(ctx: Ctx, value: Option<&'static str>) -> Result<()> {
    let spec = match value {
        Some(v) => spec_with(&[("HERMES_DASHBOARD", v)]),
        None => ContainerSpec::default(),
    };
    let h = ctx.start(spec).await?;
    stays_down(&h).await?;
    let pids = dashboard_pids(&h).await?;
    ensure!(
        pids.is_empty(),
        "a dashboard process runs although disabled: {pids}"
    );
    nothing_listens(&h, DASHBOARD_PORT).await?;
    h.remove().await
}

async fn status_json(h: &Container, port: u16) -> Result<serde_json::Value> {
    let resp = get(h, port, "/api/status").await?;
    ensure!(resp.status == 200, "/api/status answered {resp:?}");
    resp.json()
}

fn gateway_up(status: &serde_json::Value, profile: &str) -> Option<bool> {
    status["gateways"]
        .as_array()?
        .iter()
        .find(|g| g["profile"] == profile)
        .and_then(|g| g["up"].as_bool())
}

/// Poll `/api/status` until it reports gateway `p` with `up` as given.
async fn wait_api_shows(h: &Container, p: &str, up: bool) -> Result<()> {
    wait::poll_until(
        &format!("the API to show {p} up={up}"),
        STATE_DEADLINE,
        || async {
            let s = status_json(h, DASHBOARD_PORT).await?;
            if gateway_up(&s, p) == Some(up) {
                Ok(Some(()))
            } else {
                Err(anyhow!("{s}"))
            }
        },
    )
    .await
}

/// Enabled: up, as hermes, listening; the API follows a gateway's real state; the page names
/// each profile; a `kill -9` is followed by a new pid.
pub async fn enabled_serves_and_survives_kill(ctx: Ctx, value: &'static str) -> Result<()> {
    let h = ctx.start(spec_with(&[("HERMES_DASHBOARD", value)])).await?;
    let st = wait_svstat(&h, DASHBOARD, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?;
    ensure_runs_as(&h, st.pid, &DASHBOARD_PROGRAM, 10000, STATE_DEADLINE).await?;
    wait_http(&h, DASHBOARD_PORT, "/api/status", STATE_DEADLINE).await?;

    let p = "shown";
    create_profile(&h, p).await?;
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    wait_api_shows(&h, p, true).await?;
    let page = get(&h, DASHBOARD_PORT, "/").await?;
    ensure!(
        page.status == 200
            && page
                .header("content-type")
                .is_some_and(|t| t.starts_with("text/html"))
            && page.body.contains(&format!("data-profile=\"{p}\"")),
        "page lacks {p}:\n{page:?}"
    );
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    wait_api_shows(&h, p, false).await?;

    // The dashboard runs as hermes, so hermes can kill it; s6 must bring it back.
    h.exec(&["kill", "-9", &st.pid.to_string()])
        .await?
        .succeeds();
    wait_svstat(&h, DASHBOARD, "up with a new pid", STATE_DEADLINE, |s| {
        s.up && s.pid > 0 && s.pid != st.pid
    })
    .await?;
    wait_http(&h, DASHBOARD_PORT, "/api/status", STATE_DEADLINE).await?;
    h.remove().await
}

/// `HERMES_DASHBOARD_PORT` moves it.
pub async fn port_override_moves_it(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(spec_with(&[
            ("HERMES_DASHBOARD", "1"),
            ("HERMES_DASHBOARD_PORT", "9120"),
        ]))
        .await?;
    wait_http(&h, 9120, "/api/status", STATE_DEADLINE).await?;
    nothing_listens(&h, DASHBOARD_PORT).await?;
    h.remove().await
}

/// A public bind without credentials: exit 78, parked down (the pid does not churn).
pub async fn public_bind_without_credentials_is_parked(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(spec_with(&[
            ("HERMES_DASHBOARD", "1"),
            ("HERMES_DASHBOARD_HOST", "0.0.0.0"),
        ]))
        .await?;
    wait::poll_until("the dashboard to exit 78", STATE_DEADLINE, || async {
        let o = h
            .exec(&["/command/s6-svstat", "-o", "up,exitcode", DASHBOARD])
            .await?;
        if o.out() == "false 78" {
            Ok(Some(()))
        } else {
            Err(anyhow!("{}", o.out()))
        }
    })
    .await?;
    stays_down(&h).await?;
    nothing_listens(&h, DASHBOARD_PORT).await?;
    let logs = h.logs().await?;
    ensure!(
        logs.contains("refusing"),
        "no refusal on the container's log:\n{logs}"
    );
    h.remove().await
}

fn public_with_credentials() -> ContainerSpec {
    spec_with(&[
        ("HERMES_DASHBOARD", "1"),
        ("HERMES_DASHBOARD_HOST", "0.0.0.0"),
        ("HERMES_DASHBOARD_BASIC_AUTH_USERNAME", USER),
        ("HERMES_DASHBOARD_BASIC_AUTH_PASSWORD", PASSWORD),
    ])
}

/// 401 with a Basic challenge, read from the status line and the header.
fn is_challenge(r: &HttpResponse) -> Result<()> {
    ensure!(r.status == 401, "expected 401:\n{r:?}");
    ensure!(
        r.header("www-authenticate")
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("basic ")),
        "401 without a Basic WWW-Authenticate challenge:\n{r:?}"
    );
    Ok(())
}

/// With credentials on a public bind: 401 without, 200 with.
pub async fn public_bind_with_credentials_requires_them(ctx: Ctx) -> Result<()> {
    let h = ctx.start(public_with_credentials()).await?;
    let anon = wait_http(&h, DASHBOARD_PORT, "/api/status", STATE_DEADLINE).await?;
    is_challenge(&parse_response(&anon)?)?;
    let authed = get_with_basic(&h, DASHBOARD_PORT, "/api/status", BASIC_OPS).await?;
    ensure!(
        authed.status == 200,
        "expected 200 with credentials:\n{authed:?}"
    );
    let v = authed.json()?;
    ensure!(
        v["manager"] == "s6" && v["gateways"].is_array(),
        "/api/status with credentials is not the s6 report: {v}"
    );
    // "ops:wrong" in base64.
    is_challenge(&get_with_basic(&h, DASHBOARD_PORT, "/", "b3BzOndyb25n").await?)?;
    h.remove().await
}

/// Idle connections the dashboard holds at once in the starvation scenario.
const IDLE_CONNECTIONS: usize = 200;

/// 200 connections opened and left idle (from inside the container, as hermes) must not keep
/// an authenticated request from being answered within one second: the old server's cap of 32
/// connections answered everyone else 503 until its 10 s read deadline freed them.
pub async fn idle_connections_do_not_starve_an_authenticated_request(ctx: Ctx) -> Result<()> {
    let h = ctx.start(public_with_credentials()).await?;
    is_challenge(&parse_response(
        &wait_http(&h, DASHBOARD_PORT, "/api/status", STATE_DEADLINE).await?,
    )?)?;

    // The holder opens the connections, says how many it has, and keeps them (sleep inherits
    // the descriptors) in the background, so this exec returns. Its life is bounded.
    let held = "/tmp/idle-connections";
    let holder = format!(
        "n=0; while [ $n -lt {IDLE_CONNECTIONS} ]; do \
           exec {{fd}}<>/dev/tcp/127.0.0.1/{DASHBOARD_PORT} || break; n=$((n + 1)); done; \
         echo $n > {held}.new && mv {held}.new {held}; exec sleep 120"
    );
    h.exec(&[
        "bash",
        "-c",
        "bash -c \"$1\" </dev/null >/dev/null 2>&1 &",
        "start-holder",
        &holder,
    ])
    .await?
    .succeeds();
    let opened = wait::poll_until(
        "the holder to open its connections",
        STATE_DEADLINE,
        || async {
            let o = h.exec(&["cat", held]).await?;
            if o.success() {
                Ok(Some(o.out().to_string()))
            } else {
                Err(anyhow!("{}", o.stderr.trim()))
            }
        },
    )
    .await?;
    ensure!(
        opened == IDLE_CONNECTIONS.to_string(),
        "the holder opened {opened} of {IDLE_CONNECTIONS} connections"
    );

    // Timed inside the container, so docker exec's own latency does not count; `timeout 1`
    // bounds connect, request and the whole response (the server closes after answering).
    // SIGPIPE is ignored so that a server which answers and closes before reading the request
    // (the old server's 503) still has its answer read and shown.
    let request = format!(
        "trap '' PIPE; exec 3<>/dev/tcp/127.0.0.1/{DASHBOARD_PORT} || exit 3; printf 'GET /api/status HTTP/1.0\\r\\nAuthorization: Basic {BASIC_OPS}\\r\\n\\r\\n' >&3; cat <&3"
    );
    let timed = "s=$(date +%s%N); timeout 1 bash -c \"$1\"; rc=$?; e=$(date +%s%N); \
                 echo \"answered in $(( (e - s) / 1000000 )) ms, exit $rc\" >&2; exit $rc";
    let o = h
        .exec(&["bash", "-c", timed, "timed-request", &request])
        .await?;
    let answer = parse_response(&o.stdout);
    ensure!(
        o.code != Some(124),
        "with {IDLE_CONNECTIONS} idle connections held, an authenticated request got no \
         complete answer within 1 s\n{o}"
    );
    let r = answer.with_context(|| {
        format!("with {IDLE_CONNECTIONS} idle connections held, no HTTP answer\n{o}")
    })?;
    ensure!(
        r.status == 200,
        "with {IDLE_CONNECTIONS} idle connections held, an authenticated request was answered \
         {} instead of 200 ({})\n{o}",
        r.status,
        o.stderr.trim()
    );
    ensure!(
        r.json()?["gateways"].is_array(),
        "not the status report: {}",
        r.body
    );
    crate::image::progress(format!(
        "dashboard with {IDLE_CONNECTIONS} idle connections: {}",
        o.stderr.trim()
    ));
    h.remove().await
}

/// Render the page in headless Chromium (on the host, from a file: no network needed) and
/// keep a screenshot under `target/` for people to look at.
pub async fn page_renders_in_headless_chromium(ctx: Ctx) -> Result<()> {
    let h = ctx.start(spec_with(&[("HERMES_DASHBOARD", "1")])).await?;
    for p in ["render-a", "render-b"] {
        create_profile(&h, p).await?;
    }
    h.exec(&["hermes", "-p", "render-a", "gateway", "start"])
        .await?
        .succeeds();
    let page = wait::poll_until(
        "the page to show render-a up, with its log",
        STATE_DEADLINE,
        || async {
            let resp = get(&h, DASHBOARD_PORT, "/").await?;
            let up = resp
                .body
                .contains("data-profile=\"render-a\" data-up=\"true\"");
            let logged = log_row(&resp.body, "render-a").is_some_and(|r| r.contains(BANNER));
            if resp.status == 200 && up && logged {
                Ok(Some(resp))
            } else {
                Err(anyhow!(
                    "HTTP {}, up: {up}, banner in log row: {logged}",
                    resp.status
                ))
            }
        },
    )
    .await?;
    let html = page.body;
    let dir = config::work_dir();
    std::fs::create_dir_all(&dir)?;
    let html_path = dir.join("dashboard.html");
    let png_path = dir.join("dashboard.png");
    std::fs::write(&html_path, &html)?;
    let _ = std::fs::remove_file(&png_path);
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| which(c))
        .context("chromium is not installed: run `make deps` (ci/install-deps.sh installs Debian's chromium)")?;
    let url = format!("file://{}", html_path.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ];
    let dom = run_bounded(
        tokio::process::Command::new(chromium)
            .args(common)
            .args(["--dump-dom", &url]),
    )
    .await?;
    for p in ["render-a", "render-b"] {
        ensure!(
            dom.contains(&format!("data-profile=\"{p}\"")),
            "rendered DOM lacks the row of {p}"
        );
    }
    ensure!(
        log_row(&dom, "render-a").is_some_and(|r| r.contains(BANNER)),
        "rendered DOM lacks render-a's log lines"
    );
    // The page refreshes itself with a script. From a file there is nothing to fetch, so once
    // its first refresh is due (virtual time: no real wait) it must say it cannot refresh:
    // proof that the script parses, runs and its timer fires. (A file has no response
    // headers, so the Content-Security-Policy is not in play here; a unit test checks that it
    // admits exactly the page's inline script and style.)
    let later = run_bounded(tokio::process::Command::new(chromium).args(common).args([
        "--virtual-time-budget=6000",
        "--dump-dom",
        &url,
    ]))
    .await?;
    ensure!(
        later.contains("Cannot refresh"),
        "after 6 s of virtual time the page does not report its failed refresh"
    );
    run_bounded(tokio::process::Command::new(chromium).args(common).args([
        "--window-size=1200,700",
        &format!("--screenshot={}", png_path.display()),
        &url,
    ]))
    .await?;
    let size = std::fs::metadata(&png_path).map(|m| m.len()).unwrap_or(0);
    ensure!(
        size > 2_000,
        "screenshot {} missing or empty ({size} bytes)",
        png_path.display()
    );
    crate::image::progress(format!("dashboard screenshot: {}", png_path.display()));
    h.remove().await
}

/// What a gateway prints first (contract §6.2); s6-log copies it into the log the page shows.
const BANNER: &str = "⚕ Hermes Gateway Starting";

/// The page's log row for profile `p`, up to its end.
fn log_row<'a>(html: &'a str, p: &str) -> Option<&'a str> {
    let start = html.find(&format!("<tr class=\"log\" data-profile=\"{p}\">"))?;
    let len = html[start..].find("</tr>")?;
    Some(&html[start..start + len])
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

async fn run_bounded(cmd: &mut tokio::process::Command) -> Result<String> {
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| anyhow::anyhow!("chromium did not finish within 60 s"))??;
    if !out.status.success() {
        bail!(
            "chromium failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r = parse_response(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"hermes\"\r\n\
             content-length: 2\r\n\r\nno",
        )
        .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"hermes\""));
        assert_eq!(r.header("Content-Length"), Some("2"));
        assert_eq!(r.body, "no");
        let ok = parse_response("HTTP/1.0 200 OK\r\n\r\n{\"a\":1}").unwrap();
        assert_eq!(ok.status, 200);
        assert_eq!(ok.json().unwrap()["a"], 1);
    }

    #[test]
    fn rejects_what_is_not_a_response() {
        for bad in [
            "",
            "200 OK\r\n\r\n",
            "HTTP/2 200\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\n", // the head never ended
            "<html>200</html>",
        ] {
            assert!(parse_response(bad).is_err(), "{bad:?}");
        }
    }
}
