//! What the dashboard shows. The per-gateway state is exactly `hermes status --json`'s
//! (`crate::status::report`, s6-svstat as hermes); this adds a `/health` probe per gateway,
//! the static services and, for the page, each gateway's last log lines. A failing s6 call
//! shows up as an `error`, never as invented state.

use super::logtail;
use crate::app::Ctx;
use crate::s6::detect::Detection;
use crate::status::{self, GatewayInfo};
use crate::timefmt;
use crate::web::client::{self, Answer};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The static services of the image (docs/contract.md §7), in display order.
pub const STATIC_SERVICES: &[&str] = &["dashboard", "main-hermes"];

/// A health probe must never hold the page up for long; the page refreshes every 5 s anyway.
pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Serialize, Debug)]
pub struct Gateway {
    #[serde(flatten)]
    pub info: GatewayInfo,
    /// `ok`, `down` or `error: …`.
    pub health: String,
    /// The last lines of the gateway's log, or why they cannot be read; only gathered for the
    /// page (`/api/status` stays the status report).
    #[serde(skip)]
    pub log: Option<Result<Vec<String>, String>>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    /// `None` when s6-svstat failed (see `error`).
    pub up: Option<bool>,
    pub pid: Option<u32>,
    pub uptime_secs: Option<u64>,
    pub error: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct Status {
    /// `s6` or `none`.
    pub manager: &'static str,
    pub manager_label: String,
    /// Why no supervisor was detected (`None` on s6).
    pub reason: Option<String>,
    /// Listing the gateways failed (e.g. the scandir is unreadable).
    pub error: Option<String>,
    pub generated_at: i64,
    pub gateways: Vec<Gateway>,
    pub services: Vec<Service>,
    /// This boot's failed steps, as in `hermes status --json`.
    pub boot: status::BootReport,
}

/// Gathers everything for one page (`with_logs`) or API response. The s6 calls and file
/// reads block, so they run on the runtime's small blocking pool; the health probes then run
/// concurrently, so N gateways cost one probe timeout, not N.
pub async fn gather(ctx: Arc<Ctx>, with_logs: bool) -> Status {
    let generated_at = timefmt::now_epoch();
    let blocking = tokio::task::spawn_blocking(move || collect(&ctx, with_logs, generated_at));
    let mut st = match blocking.await {
        Ok(st) => st,
        Err(e) => failed(&Detection::None("?".into()), generated_at, e.to_string()),
    };
    let probes: Vec<_> = st
        .gateways
        .iter()
        .map(|g| {
            let probe = worth_probing(&g.info);
            let port = g.info.port;
            tokio::spawn(async move {
                if probe {
                    health(client::get_status(port, "/health", HEALTH_TIMEOUT).await)
                } else {
                    "down".to_string()
                }
            })
        })
        .collect();
    for (g, probe) in st.gateways.iter_mut().zip(probes) {
        g.health = probe.await.unwrap_or_else(|_| "error: probe failed".into());
    }
    st
}

/// The blocking half of `gather`: the report, the services and (for the page) the logs.
/// Health is filled in afterwards.
fn collect(ctx: &Ctx, with_logs: bool, generated_at: i64) -> Status {
    let mut st = match status::report(ctx, None) {
        Ok(r) => Status {
            manager: r.manager,
            manager_label: r.manager_label,
            reason: r.reason,
            error: None,
            generated_at,
            gateways: r
                .gateways
                .into_iter()
                .map(|info| Gateway {
                    info,
                    health: String::new(),
                    log: None,
                })
                .collect(),
            services: Vec::new(),
            boot: r.boot,
        },
        Err(e) => failed(&ctx.detection, generated_at, e.to_string()),
    };
    st.services = services(ctx);
    if with_logs {
        for g in &mut st.gateways {
            let path = logtail::current(&ctx.paths, &g.info.profile);
            g.log = Some(
                logtail::last_lines(&path, logtail::LINES).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => "no log yet".to_string(),
                    _ => e.to_string(),
                }),
            );
        }
    }
    st
}

/// A status with no gateways and the reason they could not be listed.
fn failed(detection: &Detection, generated_at: i64, error: String) -> Status {
    let (manager, label, reason) = match detection {
        Detection::S6 => ("s6", "s6 (container supervisor)".to_string(), None),
        Detection::None(why) => ("none", format!("none ({why})"), Some(why.clone())),
    };
    Status {
        manager,
        manager_label: label,
        reason,
        error: Some(error),
        generated_at,
        gateways: Vec::new(),
        services: Vec::new(),
        // Listing the gateways failed; the boot's own record is read all the same.
        boot: status::boot_report(std::path::Path::new(status::BOOT_STEPS_LOG)),
    }
}

fn services(ctx: &Ctx) -> Vec<Service> {
    if !ctx.detection.is_s6() {
        return Vec::new();
    }
    let m = ctx.control();
    STATIC_SERVICES
        .iter()
        .map(|name| match m.service_status(name) {
            Ok(s) => Service {
                name: name.to_string(),
                up: Some(s.up),
                pid: s.pid,
                uptime_secs: s.up.then_some(s.updown_for),
                error: None,
            },
            Err(e) => Service {
                name: name.to_string(),
                up: None,
                pid: None,
                uptime_secs: None,
                error: Some(e.to_string()),
            },
        })
        .collect()
}

/// Known down (or no slot) is "down" without a probe; up or unknown (an s6 error) is
/// probed, since the endpoint's answer is the truth either way.
pub fn worth_probing(g: &GatewayInfo) -> bool {
    g.registered && g.up != Some(false)
}

/// The health column's words for a probe's outcome.
pub fn health(answer: Answer) -> String {
    match answer {
        Answer::Status(200) => "ok".into(),
        Answer::Status(code) => format!("error: HTTP {code}"),
        Answer::Refused => "down".into(),
        Answer::TimedOut => format!("error: no answer within {} ms", HEALTH_TIMEOUT.as_millis()),
        Answer::Failed(e) => format!("error: {e}"),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn info(profile: &str, up: Option<bool>) -> GatewayInfo {
        GatewayInfo {
            profile: profile.into(),
            slot: format!("gateway-{profile}"),
            registered: true,
            up,
            wanted_up: up,
            normally_up: Some(false),
            pid: up.filter(|u| *u).map(|_| 4242),
            uptime_secs: up.filter(|u| *u).map(|_| 3725),
            exit_code: None,
            signal: None,
            desired_state: Some("running".into()),
            gateway_state: Some("running".into()),
            port: 9321,
            error: None,
            state_error: None,
        }
    }

    /// A fixed value for rendering tests.
    pub fn fixture() -> Status {
        let mut broken = info("broken", None);
        broken.error = Some("s6-svstat: fatal: unable to read status: <Permission denied>".into());
        Status {
            manager: "s6",
            manager_label: "s6 (container supervisor)".into(),
            reason: None,
            error: None,
            generated_at: 1_700_000_000,
            gateways: vec![
                Gateway {
                    info: info("default", Some(true)),
                    health: "ok".into(),
                    log: Some(Ok(vec![
                        "2026-05-07T12:00:00.000000001  ⚕ Hermes Gateway Starting".into(),
                        "<script>alert(1)</script>".into(),
                    ])),
                },
                Gateway {
                    info: info("<b>x", Some(false)),
                    health: "down".into(),
                    log: Some(Err("no log yet".into())),
                },
                Gateway {
                    info: broken,
                    health: "error: HTTP 500".into(),
                    log: None,
                },
            ],
            services: vec![
                Service {
                    name: "dashboard".into(),
                    up: Some(true),
                    pid: Some(77),
                    uptime_secs: Some(12),
                    error: None,
                },
                Service {
                    name: "main-hermes".into(),
                    up: Some(false),
                    pid: None,
                    uptime_secs: None,
                    error: None,
                },
            ],
            boot: status::BootReport::default(),
        }
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(fixture()).unwrap();
        assert_eq!(v["manager"], "s6");
        assert_eq!(v["generated_at"], 1_700_000_000);
        assert_eq!(v["boot"]["failed_steps"], serde_json::json!([]));
        let g = &v["gateways"][0];
        for k in [
            "profile",
            "slot",
            "registered",
            "up",
            "pid",
            "uptime_secs",
            "desired_state",
            "gateway_state",
            "port",
            "health",
        ] {
            assert!(g.get(k).is_some(), "gateway key {k} missing: {g}");
        }
        assert_eq!(g["profile"], "default");
        assert_eq!(g["up"], true);
        assert_eq!(g["pid"], 4242);
        assert_eq!(g["port"], 9321);
        assert_eq!(g["health"], "ok");
        // Unknown state stays unknown, with the s6 error next to it.
        assert!(v["gateways"][2]["up"].is_null());
        assert!(
            v["gateways"][2]["error"]
                .as_str()
                .unwrap()
                .contains("Permission")
        );
        let s = &v["services"][0];
        for k in ["name", "up", "pid", "uptime_secs"] {
            assert!(s.get(k).is_some(), "service key {k} missing: {s}");
        }
        assert_eq!(v["services"][1]["name"], "main-hermes");
        assert!(v["services"][1]["pid"].is_null());
    }

    #[test]
    fn logs_stay_out_of_the_api() {
        let v = serde_json::to_value(fixture()).unwrap();
        assert!(v["gateways"][0].get("log").is_none());
    }

    #[test]
    fn known_down_is_not_probed() {
        let mut unregistered = info("gone", None);
        unregistered.registered = false;
        assert!(!worth_probing(&unregistered));
        assert!(!worth_probing(&info("off", Some(false))));
        assert!(worth_probing(&info("on", Some(true))));
        assert!(worth_probing(&info("unknown", None)));
    }

    #[test]
    fn health_words() {
        assert_eq!(health(Answer::Status(200)), "ok");
        assert_eq!(health(Answer::Status(503)), "error: HTTP 503");
        assert_eq!(health(Answer::Refused), "down");
        assert_eq!(health(Answer::TimedOut), "error: no answer within 300 ms");
        assert_eq!(
            health(Answer::Failed("connection reset".into())),
            "error: connection reset"
        );
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn probes_a_real_health_endpoint() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        crate::gateway::health::spawn(l, "{}".into()).unwrap();
        let answer = rt().block_on(client::get_status(port, "/health", HEALTH_TIMEOUT));
        assert_eq!(health(answer), "ok");
    }

    #[test]
    fn without_a_supervisor_nothing_is_probed() {
        let root = tempfile::tempdir().unwrap();
        let ctx = Arc::new(Ctx {
            paths: crate::paths::Paths::under(root.path()),
            detection: Detection::None("test".into()),
        });
        let st = rt().block_on(gather(ctx, true));
        assert_eq!(st.manager, "none");
        assert!(st.gateways.is_empty() && st.services.is_empty() && st.error.is_none());
    }
}
