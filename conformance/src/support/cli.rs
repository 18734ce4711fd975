//! The product's own verbs as steps many scenarios take: create a profile, pick names whose
//! ports do not collide, ask the registrar directly.

use anyhow::Result;

use super::product::{REGISTRAR_SOCK, expected_port};
use crate::container::EXEC_DEADLINE;
use crate::{Container, ExecOutcome};

/// `hermes profile create <p>` as the scenario user; it must succeed.
pub async fn create_profile(h: &Container, p: &str) -> Result<()> {
    h.exec(&["hermes", "profile", "create", p])
        .await?
        .succeeds();
    Ok(())
}

/// `base`, or `base` with a letter appended, whichever first derives a port not in `taken`
/// (which then holds it too).
pub fn name_with_own_port(base: &str, taken: &mut Vec<u16>) -> String {
    let name = std::iter::once(base.to_string())
        .chain(('a'..='z').map(|c| format!("{base}{c}")))
        .find(|n| !taken.contains(&expected_port(n)))
        .unwrap_or_else(|| base.to_string());
    taken.push(expected_port(&name));
    name
}

/// `s6-sudo -e <registrar> args…` as `user`: the registrar asked directly, past the CLI.
pub async fn registrar_as(h: &Container, user: &str, args: &[&str]) -> Result<ExecOutcome> {
    let mut argv = vec!["/command/s6-sudo", "-e", REGISTRAR_SOCK];
    argv.extend_from_slice(args);
    h.exec_full(user, &argv, &[], EXEC_DEADLINE).await
}

/// `hermes -p <p> gateway start` as hermes, then s6 says the slot is up; `gateway stop`, then
/// s6 says down: a profile taken once round its running state and left stopped.
pub async fn start_then_stop(h: &Container, p: &str) -> Result<()> {
    let dir = super::product::slot_dir(p);
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    super::s6::wait_svstat(h, &dir, "up", super::windows::STATE_DEADLINE, |s| s.up).await?;
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    super::s6::wait_svstat(h, &dir, "down", super::windows::STATE_DEADLINE, |s| !s.up).await?;
    Ok(())
}
