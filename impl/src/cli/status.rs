//! `hermes status`, `hermes gateway status`, `hermes profile list`.

use super::{CliError, Ctx};
use crate::names;
use crate::s6::detect::Detection;
use crate::state;
use serde::Serialize;
use std::fs;

#[derive(Serialize, Debug)]
pub struct GatewayInfo {
    pub profile: String,
    pub slot: String,
    pub registered: bool,
    pub up: Option<bool>,
    pub wanted_up: Option<bool>,
    pub normally_up: Option<bool>,
    pub pid: Option<u32>,
    /// Seconds up; `None` when down.
    pub uptime_secs: Option<u64>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub desired_state: Option<String>,
    pub gateway_state: Option<String>,
    pub port: u16,
    pub error: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct StatusReport {
    /// `s6` or `none`.
    pub manager: &'static str,
    pub manager_label: String,
    /// Why no supervisor was detected (`None` on s6).
    pub reason: Option<String>,
    pub gateways: Vec<GatewayInfo>,
}

fn str_key(s: &state::State, k: &str) -> Option<String> {
    s.get(k).and_then(|v| v.as_str()).map(str::to_string)
}

pub fn gateway_info(ctx: &Ctx, profile: &str) -> GatewayInfo {
    let st = state::read(&ctx.paths.profile_home(profile))
        .ok()
        .flatten()
        .unwrap_or_default();
    let port = st
        .get("port")
        .and_then(|v| v.as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| {
            names::port_for(profile, std::env::var("API_SERVER_PORT").ok().as_deref())
        });
    let mut info = GatewayInfo {
        profile: profile.to_string(),
        slot: names::slot_name(profile),
        registered: false,
        up: None,
        wanted_up: None,
        normally_up: None,
        pid: None,
        uptime_secs: None,
        exit_code: None,
        signal: None,
        desired_state: str_key(&st, "desired_state"),
        gateway_state: str_key(&st, "gateway_state"),
        port,
        error: None,
    };
    if !ctx.detection.is_s6() {
        return info;
    }
    let m = ctx.control();
    info.registered = m.is_registered(profile);
    if !info.registered {
        return info;
    }
    match m.status(profile) {
        Ok(s) => {
            info.up = Some(s.up);
            info.wanted_up = Some(s.wanted_up);
            info.normally_up = Some(s.normally_up);
            info.pid = s.pid;
            info.uptime_secs = s.up.then_some(s.updown_for);
            info.exit_code = s.exit_code;
            info.signal = s.signal;
        }
        Err(e) => info.error = Some(e.to_string()),
    }
    info
}

pub fn report(ctx: &Ctx, only: Option<&str>) -> Result<StatusReport, CliError> {
    let (manager, manager_label, reason) = match &ctx.detection {
        Detection::S6 => ("s6", "s6 (container supervisor)".to_string(), None),
        Detection::None(why) => (
            "none",
            format!("none (no supervisor detected: {why})"),
            Some(why.clone()),
        ),
    };
    let profiles = match (only, &ctx.detection) {
        (Some(p), _) => vec![p.to_string()],
        (None, Detection::S6) => ctx.control().list()?,
        (None, Detection::None(_)) => Vec::new(),
    };
    let gateways = profiles.iter().map(|p| gateway_info(ctx, p)).collect();
    Ok(StatusReport {
        manager,
        manager_label,
        reason,
        gateways,
    })
}

pub fn line(g: &GatewayInfo) -> String {
    let dash = || "-".to_string();
    let state = match (g.registered, g.up, &g.error) {
        (_, _, Some(_)) => "unknown",
        (false, _, _) => "unregistered",
        (true, Some(true), _) => "up",
        (true, _, _) => "down",
    };
    let mut s = format!(
        "{}  {state}  pid={}  uptime={}  desired={}  port={}",
        g.slot,
        g.pid.map_or_else(dash, |p| p.to_string()),
        g.uptime_secs.map_or_else(dash, |u| format!("{u}s")),
        g.desired_state.clone().unwrap_or_else(dash),
        g.port
    );
    if let Some(e) = &g.error {
        s.push_str(&format!("  error={e}"));
    }
    s
}

pub fn print_all(ctx: &Ctx, only: Option<&str>, json: bool) -> Result<i32, CliError> {
    let r = report(ctx, only)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        println!("Manager: {}", r.manager_label);
        for g in &r.gateways {
            println!("{}", line(g));
        }
    }
    Ok(0)
}

/// `default` first, then `profiles/<name>/` holding `SOUL.md`, sorted.
pub fn profile_names(ctx: &Ctx) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(ctx.paths.profiles_dir()) {
        for e in rd.filter_map(Result::ok) {
            if let Ok(n) = e.file_name().into_string()
                && !n.starts_with('.')
                && e.path().join("SOUL.md").exists()
            {
                out.push(n);
            }
        }
    }
    out.sort();
    out.insert(0, names::DEFAULT_PROFILE.to_string());
    out
}

#[derive(Serialize)]
struct ProfileRow {
    profile: String,
    slot: String,
}

pub fn list_profiles(ctx: &Ctx, json: bool) -> Result<i32, CliError> {
    let rows: Vec<ProfileRow> = profile_names(ctx)
        .into_iter()
        .map(|p| {
            let g = gateway_info(ctx, &p);
            let slot = match (ctx.detection.is_s6(), g.registered, g.up) {
                (false, _, _) => "no supervisor",
                (true, false, _) => "no slot",
                (true, true, Some(true)) => "up",
                (true, true, Some(false)) => "down",
                (true, true, None) => "unknown",
            };
            ProfileRow {
                profile: p,
                slot: slot.to_string(),
            }
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        for r in rows {
            println!("{}  {}", r.profile, r.slot);
        }
    }
    Ok(0)
}
