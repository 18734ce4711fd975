//! The status report (contract §6.5): per slot, s6's view (read as hermes with `s6-svstat`)
//! next to the profile's state file. One source for `hermes status --json` and the dashboard.

use crate::app::Ctx;
use crate::names;
use crate::s6::{self, detect::Detection};
use crate::state;
use serde::Serialize;

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
    /// Why the profile's `gateway_state.json` could not be used (a FIFO or link in its place,
    /// unreadable, corrupt): reported, never hidden behind an empty state.
    pub state_error: Option<String>,
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

/// One slot's state from s6 (as hermes) and the profile's state file; an s6 failure is kept in
/// `error`, never turned into invented state.
pub fn gateway_info(ctx: &Ctx, profile: &str) -> GatewayInfo {
    let (st, state_error) = match state::read(&ctx.paths.profile_home(profile)) {
        Ok(st) => (st.unwrap_or_default(), None),
        Err(why) => (state::GatewayState::default(), Some(why)),
    };
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
        desired_state: st.desired_state.as_ref().map(state::Recorded::label),
        gateway_state: st.gateway_state.as_ref().map(state::Recorded::label),
        port,
        error: None,
        state_error,
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

/// Every slot's state (or just `only`'s), as `hermes status --json` prints it and the
/// dashboard serves it. Fails only when the slots cannot be listed.
pub fn report(ctx: &Ctx, only: Option<&str>) -> Result<StatusReport, s6::Error> {
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
