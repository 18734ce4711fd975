//! The dashboard (SPEC §7): truly down unless enabled, restarted on crash when enabled,
//! parked on a refused public bind, and a page that shows the gateways as hermes sees them.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::s6probe::{SvStat, http_get, parse_svstat, svstat, wait_http, wait_svstat};
use crate::scenarios::lifecycle::create_profile;
use crate::{ContainerSpec, Ctx, Hermes, config, wait};

pub const DASHBOARD: &str = "/run/service/dashboard";
pub const DEFAULT_PORT: u16 = 9119;
const DEADLINE: Duration = Duration::from_secs(15);
/// Longer than s6's 1 s restart backoff, so a crash loop would be seen.
const STABILITY_WINDOW: Duration = Duration::from_millis(2500);

fn spec_with(vars: &[(&str, &str)]) -> ContainerSpec {
    vars.iter()
        .fold(ContainerSpec::default(), |s, (k, v)| s.env(k, v))
}

async fn nothing_listens(h: &Hermes, port: u16) -> Result<()> {
    let o = h
        .exec(&["bash", "-c", &format!("exec 3<>/dev/tcp/127.0.0.1/{port}")])
        .await?;
    ensure!(!o.success(), "something listens on {port}\n{o}");
    Ok(())
}

async fn dashboard_pids(h: &Hermes) -> Result<String> {
    let o = h
        .sh("pgrep -f '^/opt/hermes/bin/hermes dashboard|^hermes dashboard' || true")
        .await?;
    o.succeeds();
    Ok(o.out().to_string())
}

/// `s6-svstat -o up,wantedup` stays `false false` for the whole window.
async fn stays_down(h: &Hermes) -> Result<()> {
    let first = svstat(h, DASHBOARD).await?;
    ensure!(
        !first.up && !first.wanted_up,
        "dashboard should be down and not wanted up: {first:?}"
    );
    wait::holds_for(
        "dashboard down and not wanted up",
        STABILITY_WINDOW,
        || async {
            let o = h
                .exec(&["/command/s6-svstat", "-o", "up,wantedup,pid", DASHBOARD])
                .await
                .map_err(|e| e.to_string())?;
            match parse_svstat(o.out()) {
                Some(SvStat {
                    up: false,
                    wanted_up: false,
                    ..
                }) => Ok(()),
                other => Err(format!("{other:?} ({})", o.out())),
            }
        },
    )
    .await?;
    Ok(())
}

/// Disabled (unset or any non-truthy value): down, not wanted up, stays so; no process; no
/// listener on 9119.
pub async fn disabled(ctx: Ctx, value: Option<&'static str>) -> Result<()> {
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
    nothing_listens(&h, DEFAULT_PORT).await?;
    h.remove().await
}

async fn status_json(h: &Hermes, port: u16) -> Result<serde_json::Value> {
    let resp = http_get(h, port, "/api/status").await?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .with_context(|| format!("no HTTP body in {resp:?}"))?;
    serde_json::from_str(body).with_context(|| format!("/api/status is not JSON: {body:?}"))
}

fn gateway_up(status: &serde_json::Value, profile: &str) -> Option<bool> {
    status["gateways"]
        .as_array()?
        .iter()
        .find(|g| g["profile"] == profile)
        .and_then(|g| g["up"].as_bool())
}

/// Poll `/api/status` until it reports gateway `p` with `up` as given.
async fn wait_api_shows(h: &Hermes, p: &str, up: bool) -> Result<()> {
    wait::poll_until(
        &format!("the API to show {p} up={up}"),
        DEADLINE,
        || async {
            let s = status_json(h, DEFAULT_PORT)
                .await
                .map_err(|e| e.to_string())?;
            if gateway_up(&s, p) == Some(up) {
                Ok(Some(()))
            } else {
                Err(s.to_string())
            }
        },
    )
    .await
}

/// Enabled: up, as hermes, listening; the API follows a gateway's real state; the page names
/// each profile; a `kill -9` is followed by a new pid.
pub async fn enabled(ctx: Ctx, value: &'static str) -> Result<()> {
    let h = ctx.start(spec_with(&[("HERMES_DASHBOARD", value)])).await?;
    let st = wait_svstat(&h, DASHBOARD, "up", DEADLINE, |s| s.up && s.pid > 0).await?;
    h.exec(&["stat", "-c", "%u", &format!("/proc/{}", st.pid)])
        .await?
        .succeeds()
        .stdout_is("10000");
    wait_http(&h, DEFAULT_PORT, "/api/status", DEADLINE).await?;

    let p = "shown";
    create_profile(&h, p).await?;
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    wait_api_shows(&h, p, true).await?;
    let page = http_get(&h, DEFAULT_PORT, "/").await?;
    ensure!(
        page.contains("200") && page.contains(&format!("data-profile=\"{p}\"")),
        "page lacks {p}:\n{page}"
    );
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    wait_api_shows(&h, p, false).await?;

    // The dashboard runs as hermes, so hermes can kill it; s6 must bring it back.
    h.exec(&["kill", "-9", &st.pid.to_string()])
        .await?
        .succeeds();
    wait_svstat(&h, DASHBOARD, "up with a new pid", DEADLINE, |s| {
        s.up && s.pid > 0 && s.pid != st.pid
    })
    .await?;
    wait_http(&h, DEFAULT_PORT, "/api/status", DEADLINE).await?;
    h.remove().await
}

/// `HERMES_DASHBOARD_PORT` moves it.
pub async fn port_override(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(spec_with(&[
            ("HERMES_DASHBOARD", "1"),
            ("HERMES_DASHBOARD_PORT", "9120"),
        ]))
        .await?;
    wait_http(&h, 9120, "/api/status", DEADLINE).await?;
    nothing_listens(&h, DEFAULT_PORT).await?;
    h.remove().await
}

/// A public bind without credentials: exit 78, parked down (the pid does not churn).
pub async fn public_bind_refused(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(spec_with(&[
            ("HERMES_DASHBOARD", "1"),
            ("HERMES_DASHBOARD_HOST", "0.0.0.0"),
        ]))
        .await?;
    wait::poll_until("the dashboard to exit 78", DEADLINE, || async {
        let o = h
            .exec(&["/command/s6-svstat", "-o", "up,exitcode", DASHBOARD])
            .await
            .map_err(|e| e.to_string())?;
        if o.out() == "false 78" {
            Ok(Some(()))
        } else {
            Err(o.out().to_string())
        }
    })
    .await?;
    stays_down(&h).await?;
    nothing_listens(&h, DEFAULT_PORT).await?;
    let logs = h.logs().await?;
    ensure!(
        logs.contains("refusing"),
        "no refusal on the container's log:\n{logs}"
    );
    h.remove().await
}

/// With credentials on a public bind: 401 without, 200 with.
pub async fn public_bind_with_credentials(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(spec_with(&[
            ("HERMES_DASHBOARD", "1"),
            ("HERMES_DASHBOARD_HOST", "0.0.0.0"),
            ("HERMES_DASHBOARD_BASIC_AUTH_USERNAME", "ops"),
            ("HERMES_DASHBOARD_BASIC_AUTH_PASSWORD", "s3cret"),
        ]))
        .await?;
    let anon = wait_http(&h, DEFAULT_PORT, "/api/status", DEADLINE).await?;
    ensure!(
        anon.starts_with("HTTP/1.1 401") || anon.starts_with("HTTP/1.0 401"),
        "expected 401:\n{anon}"
    );
    // "ops:s3cret" in base64.
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{DEFAULT_PORT} && printf 'GET /api/status HTTP/1.0\\r\\nAuthorization: Basic b3BzOnMzY3JldA==\\r\\n\\r\\n' >&3 && timeout 5 cat <&3"
    );
    let authed = h.exec(&["bash", "-c", &script]).await?;
    authed.succeeds();
    ensure!(
        authed.stdout.contains(" 200 "),
        "expected 200 with credentials:\n{authed}"
    );
    let wrong = "exec 3<>/dev/tcp/127.0.0.1/9119 && printf 'GET / HTTP/1.0\\r\\nAuthorization: Basic b3BzOndyb25n\\r\\n\\r\\n' >&3 && timeout 5 cat <&3";
    let bad = h.exec(&["bash", "-c", wrong]).await?;
    ensure!(
        bad.stdout.contains(" 401 "),
        "wrong password must get 401:\n{bad}"
    );
    h.remove().await
}

/// Render the page in headless Chromium (on the host, from a file: no network needed) and
/// keep a screenshot under `target/` for people to look at.
pub async fn page_renders_in_chromium(ctx: Ctx) -> Result<()> {
    let h = ctx.start(spec_with(&[("HERMES_DASHBOARD", "1")])).await?;
    for p in ["render-a", "render-b"] {
        create_profile(&h, p).await?;
    }
    h.exec(&["hermes", "-p", "render-a", "gateway", "start"])
        .await?
        .succeeds();
    let page = wait::poll_until("the page to show render-a up", DEADLINE, || async {
        let resp = http_get(&h, DEFAULT_PORT, "/")
            .await
            .map_err(|e| e.to_string())?;
        if resp.contains("data-profile=\"render-a\" data-up=\"true\"") {
            Ok(Some(resp))
        } else {
            Err(resp.lines().next().unwrap_or_default().to_string())
        }
    })
    .await?;
    let html = page
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(page);
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
