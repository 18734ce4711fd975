//! What every attack scenario of this area is built from: the findings record ([`Breaches`]),
//! the refusal test, the preconditions that the tree under attack is live, the tree snapshot
//! that shows a trace, and the state changes hermes is entitled to make as triggers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::{Result, bail};

use crate::support::{
    Program, SCANDIR, STATE_DEADLINE, SvStat, first_line, program_of, slot_dir, stat_as_root,
    supervised, wait_svstat,
};
use crate::{Container, ExecOutcome};

/// hermes' workspace for payloads (in /tmp: hermes may write and exec there).
pub(crate) const WORK: &str = "/tmp/sec";
/// Every payload appends `<uid> <tag> …` here. A line starting with `0 ` is the proof.
pub(crate) const EVIDENCE: &str = "/tmp/sec/evidence";
/// The live copies of the static services (docs/contract.md §2.2).
pub(crate) const LIVE_COPIES: &str = "/run/s6-rc/servicedirs";
/// What every canary holds until a root process writes through a plant.
pub(crate) const CANARY_CONTENT: &str = "ORIGINAL";
/// A subscriber FIFO's name as s6 2.11.3.2 makes it (`ftrig1:@<tai64n>:<6 chars>`, seen in a
/// live `event/`): s6-supervise writes each event byte into every entry so named, following
/// links (docs/contract.md §10 promise 2).
pub(crate) const FTRIG_NAME: &str = "ftrig1:@400000006b0c537506dbe241:AAAAAA";

// ------------------------------------------------------------------------------------------
// Findings

/// What an attack achieved, gathered so that one failure message tells the whole story.
#[derive(Default)]
pub(crate) struct Breaches {
    /// Root acted on a plant (payload ran as uid 0, a canary changed, PID 1 obeyed hermes).
    pub(crate) effects: Vec<String>,
    /// Attack steps that were not refused, with the modes and owners that let them through.
    pub(crate) allowed: Vec<String>,
    /// What the attack left in the tree.
    pub(crate) traces: Vec<String>,
    /// Triggers that failed after something was already let through (explained by it).
    pub(crate) notes: Vec<String>,
}

impl Breaches {
    pub(crate) fn found_any(&self) -> bool {
        !(self.effects.is_empty() && self.allowed.is_empty() && self.traces.is_empty())
    }

    /// Run one attack step (`sh -c script`) as hermes: it must be refused. A step that is let
    /// through is recorded with `stat` of `guards` (the paths whose mode/owner should have
    /// stopped it). A step that fails without a permission error is not a refusal the scenario
    /// can credit: that ends the scenario as a setup problem.
    pub(crate) async fn must_refuse(
        &mut self,
        h: &Container,
        script: &str,
        guards: &[&str],
    ) -> Result<()> {
        let o = h.sh(script).await?;
        if o.success() {
            let modes = stat_as_root(h, guards).await;
            self.allowed.push(format!(
                "`{script}` as {} exited 0 (not refused); {modes}",
                o.user
            ));
            return Ok(());
        }
        ensure_refusal(&o)
    }

    /// A trigger (a state change hermes is entitled to make) failed. Before any breach that
    /// means the scenario cannot judge; after one, the breach explains it.
    pub(crate) fn trigger(&mut self, what: &str, r: Result<()>) -> Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if self.found_any() => {
                self.notes
                    .push(format!("trigger `{what}` failed: {}", first_line(&e)));
                Ok(())
            }
            Err(e) => Err(e.context(format!(
                "trigger `{what}` failed before any breach: the scenario cannot judge"
            ))),
        }
    }

    /// Pass, or fail with the proof first.
    pub(crate) fn verdict(self, attack: &str) -> Result<()> {
        let headline = if let Some(e) = self.effects.first() {
            format!("{attack}: root acted for hermes: {e}")
        } else if let Some(a) = self.allowed.first() {
            format!("{attack}: attack step not refused: {a}")
        } else if let Some(t) = self.traces.first() {
            format!("{attack}: the attack left a trace: {t}")
        } else {
            return Ok(());
        };
        let mut msg = headline;
        for (title, items) in [
            ("effects (root acted on hermes' plant)", &self.effects),
            ("attack steps not refused", &self.allowed),
            ("traces left in the tree", &self.traces),
            ("notes", &self.notes),
        ] {
            if !items.is_empty() {
                let _ = write!(msg, "\n{title}:");
                for i in items {
                    let _ = write!(msg, "\n  - {i}");
                }
            }
        }
        bail!(msg)
    }
}

/// A failed attack step counts as refused only when the kernel said no.
pub(crate) fn ensure_refusal(o: &ExecOutcome) -> Result<()> {
    let both = format!("{}\n{}", o.stderr, o.stdout);
    if both.contains("Permission denied") || both.contains("Operation not permitted") {
        return Ok(());
    }
    bail!(
        "{}\n{o}",
        o.headline(
            "attack step failed, but not with a permission error: the scenario cannot tell a refusal from a broken setup"
        )
    )
}

// ------------------------------------------------------------------------------------------
// Preconditions

/// PID 1 is s6-svscan and the static services every image has had are supervised: the tree
/// under attack is live. (Not the registrar: the attacks must not depend on it; the registrar
/// scenario proves it separately.)
pub(crate) async fn supervision_is_live(h: &Container) -> Result<()> {
    h.exec(&["cat", "/proc/1/comm"])
        .await?
        .succeeds()
        .stdout_is("s6-svscan");
    for svc in ["dashboard", "main-hermes"] {
        supervised(h, &format!("{SCANDIR}/{svc}")).await?;
    }
    Ok(())
}

/// `hermes profile create <p>` as hermes, and its slot and logger supervised and down.
pub(crate) async fn profile_with_slot(h: &Container, p: &str) -> Result<String> {
    h.exec(&["hermes", "profile", "create", p])
        .await?
        .succeeds();
    let dir = slot_dir(p);
    supervised(h, &dir).await?;
    supervised(h, &format!("{dir}/log")).await?;
    wait_svstat(h, &dir, "down (a fresh slot)", STATE_DEADLINE, |s| !s.up).await?;
    Ok(dir)
}

/// Every uid (real, effective, saved, filesystem) of `pid` is hermes' (10000), read once the
/// process has become `prog` (see [`program_of`]).
pub(crate) async fn runs_as_hermes(
    h: &Container,
    pid: i64,
    prog: &Program,
) -> Result<Option<String>> {
    let seen = program_of(h, pid, prog, STATE_DEADLINE).await?;
    if seen.all_uids_are(10000) {
        Ok(None)
    } else {
        Ok(Some(format!(
            "{} (pid {pid}, {:?}) runs with uids {} (real effective saved fs), not 10000",
            prog.what, seen.cmdline, seen.uids
        )))
    }
}

// ------------------------------------------------------------------------------------------
// Trace detection

/// Every entry under `roots` (type, owner, mode, path, link target), hidden ones included,
/// except the contents of `supervise/` and `event/`, which s6 itself changes at every state
/// change. As root: hermes cannot list `.s6-svscan` (0700), where a plant would hide.
pub(crate) async fn tree(h: &Container, roots: &[&str]) -> Result<BTreeSet<String>> {
    let script = format!(
        "for r in {}; do [ -e \"$r\" ] || [ -L \"$r\" ] || continue; \
         find \"$r\" \\( -path '*/supervise/*' -o -path '*/event/*' \\) -prune -o -printf '%y %u:%g %m %p %l\\n'; done",
        roots.join(" ")
    );
    let o = h
        .sh(&script)
        .as_root("the tree's owners and modes, including dirs hermes may not list")
        .await?;
    o.succeeds();
    Ok(o.stdout_lines().into_iter().map(str::to_string).collect())
}

/// Record every difference between two trees as a trace.
pub(crate) fn record_traces(b: &mut Breaches, before: &BTreeSet<String>, after: &BTreeSet<String>) {
    for added in after.difference(before) {
        b.traces.push(format!("appeared: {added}"));
    }
    for gone in before.difference(after) {
        b.traces.push(format!("vanished or changed: {gone}"));
    }
}

// ------------------------------------------------------------------------------------------
// Triggers hermes is entitled to

/// `s6-svc <flag> dir` as hermes, then poll until `want` holds.
pub(crate) async fn svc_and_wait(
    h: &Container,
    dir: &str,
    flag: &str,
    what: &str,
    want: impl Fn(&SvStat) -> bool,
) -> Result<()> {
    let o = h.exec(&["/command/s6-svc", flag, dir]).await?;
    if !o.success() {
        bail!("{}\n{o}", o.headline("s6-svc as hermes failed"));
    }
    wait_svstat(h, dir, what, STATE_DEADLINE, want).await?;
    Ok(())
}

/// A down→up→down cycle of the gateway through the CLI, as a person would.
pub(crate) async fn cycle_gateway(h: &Container, p: &str) -> Result<()> {
    let dir = slot_dir(p);
    let o = h.exec(&["hermes", "-p", p, "gateway", "start"]).await?;
    if !o.success() {
        bail!("{}\n{o}", o.headline("gateway start failed"));
    }
    wait_svstat(h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?;
    let o = h.exec(&["hermes", "-p", p, "gateway", "stop"]).await?;
    if !o.success() {
        bail!("{}\n{o}", o.headline("gateway stop failed"));
    }
    wait_svstat(h, &dir, "down", STATE_DEADLINE, |s| !s.up).await?;
    Ok(())
}

/// Down then up (a service that is up: a logger, `main-hermes`).
pub(crate) async fn bounce(h: &Container, dir: &str) -> Result<()> {
    svc_and_wait(h, dir, "-d", "down", |s| !s.up).await?;
    svc_and_wait(h, dir, "-u", "up", |s| s.up).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_leads_with_the_effect() {
        assert!(Breaches::default().verdict("x").is_ok());
        let b = Breaches {
            effects: vec!["payload ran as uid 0".into()],
            allowed: vec!["`mkdir /run/service/evil` exited 0".into()],
            traces: vec!["appeared: d /run/service/evil".into()],
            notes: vec![],
        };
        let msg = format!("{:#}", b.verdict("a new slot").unwrap_err());
        let first = msg.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "a new slot: root acted for hermes: payload ran as uid 0"
        );
        assert!(
            msg.contains("attack steps not refused:\n  - `mkdir"),
            "{msg}"
        );
        let only_trace = Breaches {
            traces: vec!["appeared: f /run/service/x".into()],
            ..Breaches::default()
        };
        assert!(only_trace.verdict("t").is_err());
    }

    #[test]
    fn traces_name_both_directions() {
        let before: BTreeSet<String> = ["a".to_string(), "b".to_string()].into();
        let after: BTreeSet<String> = ["b".to_string(), "c".to_string()].into();
        let mut b = Breaches::default();
        record_traces(&mut b, &before, &after);
        assert_eq!(b.traces, vec!["appeared: c", "vanished or changed: a"]);
    }
}
