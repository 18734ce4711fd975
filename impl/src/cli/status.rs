//! `hermes status`, `hermes gateway status`, `hermes profile list`: the report itself is
//! `crate::status`, shared with the dashboard; this prints it.

use super::{CliError, Ctx};
use crate::names;
pub use crate::status::{GatewayInfo, gateway_info, report};
use serde::Serialize;

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
    if let Some(e) = &g.state_error {
        s.push_str(&format!("  state_error={}", e.replace(['\n', '\r'], " ")));
    }
    s
}

pub fn print_all(ctx: &Ctx, only: Option<&str>, json: bool) -> Result<i32, CliError> {
    let r = report(ctx, only)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        println!("Manager: {}", r.manager_label);
        for f in &r.boot.failed_steps {
            println!(
                "boot step failed: {} (this boot; see docker logs)",
                f.describe()
            );
        }
        if let Some(e) = &r.boot.error {
            println!("boot steps: {e}");
        }
        for g in &r.gateways {
            println!("{}", line(g));
        }
    }
    Ok(0)
}

/// `default` first, then the profiles on disk (`profile::names`), sorted.
pub fn profile_names(ctx: &Ctx) -> Vec<String> {
    std::iter::once(names::DEFAULT_PROFILE.to_string())
        .chain(crate::profile::names(&ctx.paths))
        .collect()
}

#[derive(Serialize)]
struct ProfileRow {
    profile: String,
    slot: String,
}

pub fn list_profiles(ctx: &Ctx, json: bool) -> Result<i32, CliError> {
    for bad in crate::profile::scan(&ctx.paths).1 {
        eprintln!(
            "hermes: skipping {}/{bad}: not a valid profile name",
            ctx.paths.profiles_dir().display()
        );
    }
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
