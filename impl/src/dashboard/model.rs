//! What the dashboard shows. The per-gateway state is exactly `hermes status --json`'s
//! (`crate::status::report`, s6-svstat as hermes); this adds a `/health` probe per gateway and
//! the static services. A failing s6 call shows up as an `error`, never as invented state.

use crate::app::Ctx;
use crate::s6::detect::Detection;
use crate::status::{self, GatewayInfo};
use crate::timefmt;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The static services of the image (SPEC §7), in display order.
pub const STATIC_SERVICES: &[&str] = &["dashboard", "main-hermes"];

/// A health probe must never hold the page up for long; the page refreshes every 5 s anyway.
pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Serialize, Debug)]
pub struct Gateway {
    #[serde(flatten)]
    pub info: GatewayInfo,
    /// `ok`, `down` or `error: …`.
    pub health: String,
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
}

/// Gathers everything for one page or API response.
pub fn gather(ctx: &Ctx) -> Status {
    let generated_at = timefmt::now_epoch();
    let services = services(ctx);
    match status::report(ctx, None) {
        Ok(r) => Status {
            manager: r.manager,
            manager_label: r.manager_label,
            reason: r.reason,
            error: None,
            generated_at,
            gateways: with_health(r.gateways),
            services,
        },
        Err(e) => {
            let (manager, label, reason) = match &ctx.detection {
                Detection::S6 => ("s6", "s6 (container supervisor)".to_string(), None),
                Detection::None(why) => ("none", format!("none ({why})"), Some(why.clone())),
            };
            Status {
                manager,
                manager_label: label,
                reason,
                error: Some(e.to_string()),
                generated_at,
                gateways: Vec::new(),
                services,
            }
        }
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

/// Probes in parallel so N gateways cost one timeout, not N.
fn with_health(infos: Vec<GatewayInfo>) -> Vec<Gateway> {
    let healths: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = infos
            .iter()
            .map(|g| {
                // Known down (or no slot) is "down" without a probe; up or unknown (s6 error)
                // is probed, since the endpoint's answer is the truth either way.
                let probe = g.registered && g.up != Some(false);
                let port = g.port;
                s.spawn(move || {
                    if probe {
                        probe_health(port)
                    } else {
                        "down".into()
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| "error: probe panicked".into()))
            .collect()
    });
    infos
        .into_iter()
        .zip(healths)
        .map(|(info, health)| Gateway { info, health })
        .collect()
}

/// `GET /health` on 127.0.0.1:<port>, the whole exchange bounded by `HEALTH_TIMEOUT`.
pub fn probe_health(port: u16) -> String {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + HEALTH_TIMEOUT;
    let timed_out = || format!("error: no answer within {} ms", HEALTH_TIMEOUT.as_millis());
    let mut s = match TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return "down".into(),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return timed_out(),
        Err(e) => return format!("error: {e}"),
    };
    let _ = s.set_write_timeout(Some(HEALTH_TIMEOUT));
    if let Err(e) = s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n") {
        return format!("error: {e}");
    }
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return timed_out();
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A signal to this process (a child exiting) is not an answer: read again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return timed_out();
            }
            Err(e) => return format!("error: {e}"),
        }
    }
    health_from_status_line(&String::from_utf8_lossy(&buf))
}

/// `HTTP/1.x 200 …` → `ok`; any other status → `error: HTTP <code>`.
pub fn health_from_status_line(response: &str) -> String {
    let line = response.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some("200")) if v.starts_with("HTTP/") => "ok".into(),
        (Some(v), Some(code)) if v.starts_with("HTTP/") => format!("error: HTTP {code}"),
        _ if line.is_empty() => "error: empty response".into(),
        _ => "error: not an HTTP response".into(),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::net::TcpListener;

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
                },
                Gateway {
                    info: info("<b>x", Some(false)),
                    health: "down".into(),
                },
                Gateway {
                    info: broken,
                    health: "error: HTTP 500".into(),
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
        }
    }

    #[test]
    fn json_shape() {
        let v = serde_json::to_value(fixture()).unwrap();
        assert_eq!(v["manager"], "s6");
        assert_eq!(v["generated_at"], 1_700_000_000);
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
    fn status_lines() {
        assert_eq!(health_from_status_line("HTTP/1.1 200 OK\r\n"), "ok");
        assert_eq!(
            health_from_status_line("HTTP/1.0 503 Busy\r\n"),
            "error: HTTP 503"
        );
        assert_eq!(health_from_status_line(""), "error: empty response");
        assert_eq!(
            health_from_status_line("SSH-2.0-x\r\n"),
            "error: not an HTTP response"
        );
    }

    #[test]
    fn probe_ok_and_down() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            crate::gateway::health::serve(l, std::sync::Arc::new("{}".into()))
        });
        assert_eq!(probe_health(port), "ok");
        // A port nobody listens on: bind, learn the port, close.
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(probe_health(free), "down");
    }

    #[test]
    fn probe_times_out_on_silent_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        // Accepts (via the backlog) but never answers.
        let started = Instant::now();
        let h = probe_health(port);
        assert!(h.starts_with("error: no answer"), "{h}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(l);
    }

    #[test]
    fn known_down_is_not_probed() {
        let mut unregistered = info("gone", None);
        unregistered.registered = false;
        let gs = with_health(vec![info("off", Some(false)), unregistered]);
        assert_eq!(gs[0].health, "down");
        assert_eq!(gs[1].health, "down");
    }
}
