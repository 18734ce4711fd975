//! The status report (contract §6.5): per slot, s6's view (read as hermes with `s6-svstat`)
//! next to the profile's state file. One source for `hermes status --json` and the dashboard.

use crate::app::Ctx;
use crate::names;
use crate::ports;
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
    /// This boot's failed steps (cont-init programs, the user bundle), from stage2's log.
    pub boot: BootReport,
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
            ports::effective(
                &ctx.paths,
                profile,
                std::env::var("API_SERVER_PORT").ok().as_deref(),
            )
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
        boot: boot_report(std::path::Path::new(BOOT_STEPS_LOG)),
        gateways,
    })
}

/// Where stage2 records the boot's steps, one line each (ARCHITECTURE.md, "Boot steps log").
pub const BOOT_STEPS_LOG: &str = "/run/hermes/boot-steps.log";

/// A boot step of this boot that did not succeed.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    /// `cont-init <name>` or `user-bundle`.
    pub step: String,
    /// The cont-init program's exit code (`None` for the user bundle).
    pub exit_code: Option<i32>,
}

/// What the current boot's steps log says went wrong.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct BootReport {
    pub failed_steps: Vec<FailedStep>,
    /// The steps log could not be read (absent is not an error: not booted by stage2).
    pub error: Option<String>,
}

/// The failed steps in a boot steps log: `cont-init <name> exit <code>` with a code other than
/// 0, and `user-bundle failed`. Unknown lines are ignored.
pub fn failed_steps(log: &str) -> Vec<FailedStep> {
    log.lines()
        .filter_map(|l| {
            if l.trim() == "user-bundle failed" {
                return Some(FailedStep {
                    step: "user-bundle".into(),
                    exit_code: None,
                });
            }
            let rest = l.strip_prefix("cont-init ")?;
            let (name, code) = rest.rsplit_once(" exit ")?;
            let code = code.trim();
            (code != "0").then(|| FailedStep {
                step: format!("cont-init {name}"),
                exit_code: code.parse().ok(),
            })
        })
        .collect()
}

/// The current boot's failed steps, read from `path`.
pub fn boot_report(path: &std::path::Path) -> BootReport {
    match std::fs::read_to_string(path) {
        Ok(log) => BootReport {
            failed_steps: failed_steps(&log),
            error: None,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BootReport::default(),
        Err(e) => BootReport {
            failed_steps: Vec::new(),
            error: Some(format!("cannot read {}: {e}", path.display())),
        },
    }
}

impl FailedStep {
    /// `cont-init 02-reconcile-profiles exit 1`, `user-bundle`.
    pub fn describe(&self) -> String {
        match self.exit_code {
            Some(c) => format!("{} exit {c}", self.step),
            None => self.step.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_steps_are_the_nonzero_exits_and_a_failed_bundle() {
        let log = "cont-init 01-hermes-setup start\n\
                   cont-init 01-hermes-setup exit 0\n\
                   cont-init 02-reconcile-profiles start\n\
                   cont-init 02-reconcile-profiles exit 1\n\
                   cont-init 03-odd name start\n\
                   cont-init 03-odd name exit 126\n\
                   user-bundle failed\n";
        assert_eq!(
            failed_steps(log),
            vec![
                FailedStep {
                    step: "cont-init 02-reconcile-profiles".into(),
                    exit_code: Some(1)
                },
                FailedStep {
                    step: "cont-init 03-odd name".into(),
                    exit_code: Some(126)
                },
                FailedStep {
                    step: "user-bundle".into(),
                    exit_code: None
                },
            ]
        );
        assert_eq!(
            failed_steps(log)[0].describe(),
            "cont-init 02-reconcile-profiles exit 1"
        );
        let clean = "cont-init 01-hermes-setup start\ncont-init 01-hermes-setup exit 0\nuser-bundle up\nready\n";
        assert!(failed_steps(clean).is_empty());
    }

    #[test]
    fn boot_report_of_a_missing_log_is_clean_and_of_an_unreadable_one_says_so() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(boot_report(&t.path().join("absent")), BootReport::default());
        // A directory cannot be read as a file.
        let r = boot_report(t.path());
        assert!(r.failed_steps.is_empty());
        assert!(r.error.is_some());
        std::fs::write(t.path().join("log"), "cont-init x exit 3\n").unwrap();
        assert_eq!(
            boot_report(&t.path().join("log")).failed_steps,
            vec![FailedStep {
                step: "cont-init x".into(),
                exit_code: Some(3)
            }]
        );
    }
}
