//! SPEC §10, adversarial: hermes cannot become root. Anything running as hermes (the agent and
//! every tool it runs) may be hostile, so every scenario here *is* hermes attacking the
//! supervision tree, whatever `HERMES_CONFORMANCE_USER` says (`Ctx::as_hermes`): "root can act
//! as root" proves nothing.
//!
//! Shape of every attack scenario:
//! 1. prove the precondition (the target exists, is supervised, the payload works when run as
//!    hermes), so that a refusal can never be the side effect of a broken setup;
//! 2. make each attack step as hermes — each must be refused *with a permission error*;
//! 3. trigger what would make root act on the plant (a state change, a rescan, a restart),
//!    using only rights hermes legitimately has;
//! 4. check the *effect* — payload evidence written as uid 0, a root-owned canary changed, a
//!    trace left in the tree — not merely the exit code of the attacker's command.
//!
//! Findings are collected in [`Breaches`] instead of failing at the first one, so that on a
//! vulnerable image the failure leads with the proof (root ran hermes' code or wrote through
//! hermes' link), then lists the steps that were let through with the mode and owner of what
//! should have stopped them.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::container::EXEC_DEADLINE;
use crate::s6probe::{
    DASHBOARD_PROGRAM, GATEWAY, HERMES_HOME, Program, SCANDIR, SvStat, profile_home, program_of,
    slot_dir, wait_svstat,
};
use crate::{Container, ContainerSpec, Ctx, ExecOutcome, wait};

/// How long a state change may take to show in s6.
pub(crate) const STATE_DEADLINE: Duration = Duration::from_secs(15);
/// How long to keep watching for a plant to be run by root. Longer than s6's 1 s restart
/// backoff, so a planted service gets several chances to run.
const WATCH: Duration = Duration::from_secs(4);
/// hermes' workspace for payloads (in /tmp: hermes may write and exec there).
pub(crate) const WORK: &str = "/tmp/sec";
/// Every payload appends `<uid> <tag> …` here. A line starting with `0 ` is the proof.
const EVIDENCE: &str = "/tmp/sec/evidence";
/// The live copies of the static services (SPEC §2 point 3).
const LIVE_COPIES: &str = "/run/s6-rc/servicedirs";
/// The registrar's socket (SPEC §3.3).
pub(crate) const REGISTRAR_SOCK: &str = "/run/hermes/registrar.sock";
/// What every canary holds until a root process writes through a plant.
const CANARY_CONTENT: &str = "ORIGINAL";
/// The static services hermes may read and control (contract §2 `015`); the registrar's
/// supervisor is root's alone, hermes reaches the registrar through its socket only.
const STATIC_SERVICES: &[&str] = &["dashboard", "main-hermes"];
/// A subscriber FIFO's name as s6 2.11.3.2 makes it (`ftrig1:@<tai64n>:<6 chars>`, seen in a
/// live `event/`): s6-supervise writes each event byte into every entry so named, following
/// links (SPEC §10 point 2).
const FTRIG_NAME: &str = "ftrig1:@400000006b0c537506dbe241:AAAAAA";

// ------------------------------------------------------------------------------------------
// Findings

/// What an attack achieved, gathered so that one failure message tells the whole story.
#[derive(Default)]
struct Breaches {
    /// Root acted on a plant (payload ran as uid 0, a canary changed, PID 1 obeyed hermes).
    effects: Vec<String>,
    /// Attack steps that were not refused, with the modes and owners that let them through.
    allowed: Vec<String>,
    /// What the attack left in the tree.
    traces: Vec<String>,
    /// Triggers that failed after something was already let through (explained by it).
    notes: Vec<String>,
}

impl Breaches {
    fn found_any(&self) -> bool {
        !(self.effects.is_empty() && self.allowed.is_empty() && self.traces.is_empty())
    }

    /// Run one attack step (`sh -c script`) as hermes: it must be refused. A step that is let
    /// through is recorded with `stat` of `guards` (the paths whose mode/owner should have
    /// stopped it). A step that fails without a permission error is not a refusal the scenario
    /// can credit: that ends the scenario as a setup problem.
    async fn must_refuse(&mut self, h: &Container, script: &str, guards: &[&str]) -> Result<()> {
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
    fn trigger(&mut self, what: &str, r: Result<()>) -> Result<()> {
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
    fn verdict(self, attack: &str) -> Result<()> {
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

pub(crate) fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A failed attack step counts as refused only when the kernel said no.
fn ensure_refusal(o: &ExecOutcome) -> Result<()> {
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

/// `stat -c '%A %U:%G %n'` of `paths`, one `;`-separated line. As root: hermes cannot stat
/// inside the root-only dirs whose modes are being reported.
pub(crate) async fn stat_as_root(h: &Container, paths: &[&str]) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let script = format!(
        "for p in {}; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then stat -c '%A %U:%G %n' \"$p\"; else echo \"(absent) $p\"; fi; done",
        paths.join(" ")
    );
    match h
        .sh(&script)
        .as_root(
            "evidence for a failure message: hermes cannot stat inside the dirs being attacked",
        )
        .await
    {
        Ok(o) if !o.out().is_empty() => o.stdout_lines().join("; "),
        Ok(o) => format!("(stat as root printed nothing: {})", o.headline("stat")),
        Err(e) => format!("(stat as root failed: {})", first_line(&e)),
    }
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

/// An s6-supervise answers for `dir` (polled: a rescan is asynchronous).
pub(crate) async fn supervised(h: &Container, dir: &str) -> Result<()> {
    wait::poll_until(
        &format!("precondition: {dir} supervised"),
        STATE_DEADLINE,
        || async {
            let o = h
                .exec(&["/command/s6-svok", dir])
                .await
                .map_err(|e| e.to_string())?;
            if o.success() {
                Ok(Some(()))
            } else {
                Err(format!("s6-svok exit {:?}: {}", o.code, o.stderr.trim()))
            }
        },
    )
    .await
}

/// `hermes profile create <p>` as hermes, and its slot and logger supervised and down.
async fn profile_with_slot(h: &Container, p: &str) -> Result<String> {
    h.exec(&["hermes", "profile", "create", p])
        .await?
        .succeeds();
    let dir = slot_dir(p);
    supervised(h, &dir).await?;
    supervised(h, &format!("{dir}/log")).await?;
    wait_svstat(h, &dir, "down (a fresh slot)", STATE_DEADLINE, |s| !s.up).await?;
    Ok(dir)
}

const LOGGER: Program = Program {
    what: "the gateway's logger",
    comm: "s6-log",
    arg: "s6-log",
};
const MAIN_HERMES: Program = Program {
    what: "main-hermes",
    comm: "sleep",
    arg: "sleep",
};

/// Every uid (real, effective, saved, filesystem) of `pid` is hermes' (10000), read once the
/// process has become `prog` (see [`program_of`]).
async fn runs_as_hermes(h: &Container, pid: i64, prog: &Program) -> Result<Option<String>> {
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
// Payloads and evidence

/// A hermes-written script under /tmp that, when run, appends `<uid> <tag> argv0=… args=…
/// cwd=…` to the evidence file and then does `then` (hand over to what it replaced, so a
/// vulnerable image keeps working and the failure shows the payload, not a broken boot).
/// Proven by a dry run as hermes: the evidence then holds `10000 <tag>`, so an empty evidence
/// file later means "never ran", not "cannot run".
async fn payload(h: &Container, tag: &str, then: &str, sourced: bool) -> Result<String> {
    let path = format!("{WORK}/{tag}");
    let body = format!(
        "#!/bin/sh\n\
         # planted by the conformance suite (SPEC §10): record who runs it, then hand over\n\
         echo \"$(id -u) {tag} argv0=$0 args=$* cwd=$(pwd)\" >>{EVIDENCE}\n\
         [ \"${{SEC_DRY_RUN-}}\" = 1 ] && exit 0\n\
         {then}\n"
    );
    let script = format!(
        "mkdir -p {WORK} && cat >{path} <<'PAYLOAD_EOF'\n{body}PAYLOAD_EOF\nchmod 0755 {path}"
    );
    h.sh(&script).await?.succeeds();
    // Sourced payloads are read by `sh` (the noexec /run trick), the others exec'd directly,
    // which also proves /tmp allows exec.
    let argv: Vec<&str> = if sourced {
        vec!["sh", path.as_str()]
    } else {
        vec![path.as_str()]
    };
    h.exec_full("hermes", &argv, &[("SEC_DRY_RUN", "1")], EXEC_DEADLINE)
        .await?
        .succeeds();
    let ev = h.exec(&["cat", EVIDENCE]).await?;
    ev.succeeds();
    ensure!(
        ev.stdout
            .lines()
            .any(|l| l.starts_with(&format!("10000 {tag} "))),
        "precondition: the dry run of payload {path} as hermes left no `10000 {tag}` line in {EVIDENCE}\n{ev}"
    );
    Ok(path)
}

/// Evidence lines written by uid 0.
async fn root_evidence(h: &Container) -> Result<Vec<String>> {
    let o = h.exec(&["cat", EVIDENCE]).await?;
    o.succeeds();
    Ok(o.stdout
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("0"))
        .map(str::to_string)
        .collect())
}

/// Watch the evidence for `window`; root lines become an effect naming what ran.
async fn watch_for_root(
    h: &Container,
    b: &mut Breaches,
    window: Duration,
    what: &str,
) -> Result<()> {
    let r = wait::holds_for(&format!("no {what} running as root"), window, || async {
        match root_evidence(h).await {
            Ok(lines) if lines.is_empty() => Ok(()),
            Ok(lines) => Err(lines.join(" | ")),
            Err(e) => Err(format!("(cannot read {EVIDENCE}: {e})")),
        }
    })
    .await;
    if r.is_err() {
        record_root_evidence(h, b, what).await?;
    }
    Ok(())
}

/// Turn root evidence lines (if any) into effects, one per payload that ran.
async fn record_root_evidence(h: &Container, b: &mut Breaches, what: &str) -> Result<()> {
    let lines = root_evidence(h).await?;
    let mut tags: Vec<&str> = Vec::new();
    for tag in lines.iter().filter_map(|l| l.split_whitespace().nth(1)) {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    for tag in tags {
        let mine: Vec<&String> = lines
            .iter()
            .filter(|l| l.split_whitespace().nth(1) == Some(tag))
            .collect();
        b.effects.push(format!(
            "{what} (payload {WORK}/{tag}) executed as uid 0: {EVIDENCE} reads {:?} ({} such line(s))",
            mine[0],
            mine.len()
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Canaries

/// A root-owned file standing in for `/etc/shadow`: hermes cannot write it, so any change can
/// only come from a root process writing through hermes' plant. Made by the scenario, so no
/// real system file is ever put at risk.
struct Canary {
    path: String,
}

impl Canary {
    async fn new(h: &Container, label: &str) -> Result<Canary> {
        let path = format!("/etc/hermes-canary.{label}");
        h.sh(&format!(
            "printf %s {CANARY_CONTENT} >'{path}' && chown root:root '{path}' && chmod 0644 '{path}'"
        )).as_root("the canary must be a file only root can write")
        .await?
        .succeeds();
        let c = Canary { path };
        // Precondition: hermes itself cannot write it, so a change proves root did.
        let o = h.sh(&format!("printf X >'{}'", c.path)).await?;
        if o.success() {
            o.fail_because(&format!(
                "precondition: hermes can write the canary {} itself",
                c.path
            ));
        }
        ensure!(
            c.changed(h).await?.is_none(),
            "precondition: canary {} not pristine",
            c.path
        );
        Ok(c)
    }

    /// `owner:group mode "content"` as root sees it (the content escaped: root may write bytes).
    async fn state(&self, h: &Container) -> Result<String> {
        let o = h
            .sh(&format!(
                "stat -c '%U:%G %a' '{0}' && od -An -tx1 -v '{0}'",
                self.path
            )).as_root("read the canary exactly as it is, whatever a write through a link did to its mode.")
            .await?;
        o.succeeds();
        let mut lines = o.stdout.lines();
        let meta = lines.next().unwrap_or_default().trim().to_string();
        let bytes: Vec<u8> = lines
            .flat_map(str::split_whitespace)
            .filter_map(|x| u8::from_str_radix(x, 16).ok())
            .collect();
        Ok(format!("{meta} \"{}\"", bytes.escape_ascii()))
    }

    /// `Some(description)` when content, owner or mode differ from the original.
    async fn changed(&self, h: &Container) -> Result<Option<String>> {
        let now = self.state(h).await?;
        let want = format!("root:root 644 \"{CANARY_CONTENT}\"");
        Ok((now != want).then(|| format!("{} is now {now} (was {want})", self.path)))
    }
}

// ------------------------------------------------------------------------------------------
// Trace detection

/// Every entry under `roots` (type, owner, mode, path, link target), hidden ones included,
/// except the contents of `supervise/` and `event/`, which s6 itself changes at every state
/// change. As root: hermes cannot list `.s6-svscan` (0700), where a plant would hide.
async fn tree(h: &Container, roots: &[&str]) -> Result<BTreeSet<String>> {
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
fn record_traces(b: &mut Breaches, before: &BTreeSet<String>, after: &BTreeSet<String>) {
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
async fn svc_and_wait(
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
async fn cycle_gateway(h: &Container, p: &str) -> Result<()> {
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
async fn bounce(h: &Container, dir: &str) -> Result<()> {
    svc_and_wait(h, dir, "-d", "down", |s| !s.up).await?;
    svc_and_wait(h, dir, "-u", "up", |s| s.up).await
}

// ==========================================================================================
// 1. A new slot in the scandir

/// hermes makes its own service directory in `/run/service` and asks PID 1 to rescan: the
/// `run` would execute as root. With `noexec_run` (`docker run --tmpfs /run`), where no file
/// under /run may be executed, the same attack is made with links to image programs only:
/// `run -> /bin/false`, `finish -> /bin/sh`, and the payload in a file named `1` in the slot,
/// which s6 runs as `./finish 1 …` = `sh 1 …`.
pub async fn new_slot_never_runs_as_root(ctx: Ctx, noexec_run: bool) -> Result<()> {
    let h = ctx
        .as_hermes()
        .start(ContainerSpec::default().tmpfs_run(noexec_run))
        .await?;
    supervision_is_live(&h).await?;
    let evil = format!("{SCANDIR}/evil");
    let attack = if noexec_run {
        let mounts = h.exec(&["grep", " /run ", "/proc/mounts"]).await?;
        mounts.succeeds();
        ensure!(
            mounts.out().contains("noexec"),
            "precondition: /run is not mounted noexec\n{mounts}"
        );
        let p = payload(&h, "evil-finish-1", "exit 0", true).await?;
        format!(
            "mkdir {evil} && ln -s /bin/false {evil}/run && ln -s /bin/sh {evil}/finish && cp {p} {evil}/1"
        )
    } else {
        let p = payload(&h, "evil-run", "exec sleep 600", false).await?;
        format!("mkdir {evil} && cp {p} {evil}/run && chmod 0755 {evil}/run")
    };
    let roots = [SCANDIR, LIVE_COPIES];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();
    b.must_refuse(&h, &attack, &[SCANDIR]).await?;
    b.must_refuse(
        &h,
        &format!("/command/s6-svscanctl -a {SCANDIR}"),
        &[
            &format!("{SCANDIR}/.s6-svscan"),
            &format!("{SCANDIR}/.s6-svscan/control"),
        ],
    )
    .await?;
    let what = if noexec_run {
        "the planted slot's finish (`sh 1`)"
    } else {
        "the planted run script"
    };
    watch_for_root(&h, &mut b, WATCH, what).await?;
    record_traces(&mut b, &before, &tree(&h, &roots).await?);
    b.verdict("a new slot in the scandir")?;
    h.remove().await
}

// ==========================================================================================
// 2. hermes' own slot

/// How hermes tries to replace its own slot's `run`.
#[derive(Debug, Clone, Copy)]
pub enum Replace {
    /// `ln -sfn /tmp/… run`
    Link,
    /// `rm run` and write a script in its place.
    Script,
}

/// After `hermes profile create alpha`, hermes replaces `gateway-alpha/run`, then starts its
/// gateway: the replacement must have been refused, the gateway must run as 10000 and the
/// payload must never have run as root.
pub async fn own_slot_run_cannot_be_replaced(ctx: Ctx, how: Replace) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let dir = profile_with_slot(&h, "alpha").await?;
    let run = format!("{dir}/run");
    // Precondition: `run` is the link to the image's program (which the payload hands over to).
    let orig = h.exec(&["readlink", &run]).await?;
    orig.succeeds();
    let orig = orig.out().to_string();
    ensure!(
        orig.starts_with('/') && !orig.starts_with("/run/"),
        "precondition: {run} is not a link to a program in the image: {orig:?}"
    );
    let p = payload(&h, "alpha-run", &format!("exec {orig} \"$@\""), false).await?;
    let before = tree(&h, &[&dir]).await?;
    let mut b = Breaches::default();
    let attack = match how {
        Replace::Link => format!("ln -sfn {p} {run}"),
        Replace::Script => format!("rm -f {run} && cp {p} {run} && chmod 0755 {run}"),
    };
    b.must_refuse(&h, &attack, &[&dir, &run]).await?;
    record_traces(&mut b, &before, &tree(&h, &[&dir]).await?);

    let started = async {
        let o = h
            .exec(&["hermes", "-p", "alpha", "gateway", "start"])
            .await?;
        if !o.success() {
            bail!("{}\n{o}", o.headline("gateway start failed"));
        }
        wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await
    }
    .await;
    watch_for_root(&h, &mut b, Duration::from_secs(2), "the planted run script").await?;
    match started {
        Ok(up) => {
            if let Some(e) = runs_as_hermes(&h, up.pid, &GATEWAY).await? {
                b.effects.push(e);
            }
        }
        Err(e) => b.trigger("hermes -p alpha gateway start", Err(e))?,
    }
    b.verdict("replacing the run of hermes' own slot")?;
    h.remove().await
}

// ==========================================================================================
// 3. The scanner's own directory

/// hermes swaps PID 1's `.s6-svscan` for its own (or plants into it) a `SIGTERM` and a
/// `finish`, which s6-svscan runs as root at the next `docker stop`. After a `docker restart`
/// nothing of the plant may have run as root.
pub async fn scanner_dir_cannot_be_replaced(ctx: Ctx) -> Result<()> {
    let mut h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let scan = format!("{SCANDIR}/.s6-svscan");
    h.sh(&format!(
        "test \"$(readlink /proc/1/cwd)\" = {SCANDIR} && test -e {scan}/finish"
    )).as_root("hermes may not read PID 1's cwd or list .s6-svscan; this proves that PID 1 scans /run/service and that `.s6-svscan/finish` is what it will exec at the stop.")
    .await?
    .succeeds();
    let old = format!("{SCANDIR}/.old");
    // Hand over to the originals (moved to .old by the attack), so a vulnerable image still
    // stops promptly and the evidence is the only difference.
    let sigterm = payload(
        &h,
        "scan-SIGTERM",
        &format!("[ -e {old}/SIGTERM ] && exec {old}/SIGTERM \"$@\"; exit 0"),
        false,
    )
    .await?;
    let finish = payload(
        &h,
        "scan-finish",
        &format!("[ -e {old}/finish ] && exec {old}/finish \"$@\"; exit 0"),
        false,
    )
    .await?;
    let roots = [SCANDIR];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();
    // The swap: a new .s6-svscan whose `control` leads to the real FIFO, so that
    // `s6-svscanctl -t` still reaches PID 1 and it execs the planted finish.
    b.must_refuse(
        &h,
        &format!(
            "cd {SCANDIR} && mv .s6-svscan .old && mkdir .s6-svscan && ln -s ../.old/control .s6-svscan/control \
             && ln -s {sigterm} .s6-svscan/SIGTERM && ln -s {finish} .s6-svscan/finish"
        ),
        &[SCANDIR, &scan],
    )
    .await?;
    b.must_refuse(&h, &format!("ln -sfn {sigterm} {scan}/SIGTERM"), &[&scan])
        .await?;
    b.must_refuse(&h, &format!("ln -sfn {finish} {scan}/finish"), &[&scan])
        .await?;
    record_traces(&mut b, &before, &tree(&h, &roots).await?);
    let restarted = h.restart().await.map(|_| ());
    b.trigger("docker restart", restarted)?;
    record_root_evidence(&h, &mut b, "the plant in .s6-svscan").await?;
    b.verdict("replacing PID 1's .s6-svscan")?;
    h.remove().await
}

// ==========================================================================================
// 4 and 5. Links root would write through

/// One link hermes tries to plant, pointing at its own canary.
struct Plant {
    /// Where the link goes.
    link: String,
    /// The directory that must refuse it.
    dir: String,
    canary: Canary,
}

/// Plant a link to a fresh canary at each `dir/name`, then make every state change hermes is
/// entitled to (gateway start/stop, logger down/up, `main-hermes` down/up): no canary may
/// change, and no link may be in place.
async fn links_not_written_through(
    ctx: Ctx,
    targets: &[(&str, &str)],
    attack: &str,
    effect: &str,
) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let slot = profile_with_slot(&h, "alpha").await?;
    let main = format!("{SCANDIR}/main-hermes");
    let mut plants = Vec::new();
    for (dir_rel, name) in targets {
        let dir = format!("{SCANDIR}/{dir_rel}");
        h.exec(&["test", "-d", &dir]).as_root("the target dir may be one hermes cannot stat (that is the point); it must exist, or a refusal would prove nothing.").await?.succeeds();
        let label = format!("{dir_rel}/{name}").replace(['/', ':', '@'], ".");
        let canary = Canary::new(&h, &label).await?;
        plants.push(Plant {
            link: format!("{dir}/{name}"),
            dir,
            canary,
        });
    }
    let mut b = Breaches::default();
    for p in &plants {
        b.must_refuse(
            &h,
            &format!("ln -sfn {} '{}'", p.canary.path, p.link),
            &[&p.dir],
        )
        .await?;
    }
    for p in &plants {
        let o = h
            .exec(&["test", "-L", &p.link])
            .as_root("hermes cannot look inside these dirs when they are right.")
            .await?;
        if o.success() {
            b.traces.push(format!(
                "link in place: {}",
                stat_as_root(&h, &[&p.link]).await
            ));
        }
    }
    let r = cycle_gateway(&h, "alpha").await;
    b.trigger("gateway start/stop of alpha", r)?;
    let r = bounce(&h, &format!("{slot}/log")).await;
    b.trigger("s6-svc -d/-u of gateway-alpha/log", r)?;
    let r = bounce(&h, &main).await;
    b.trigger("s6-svc -d/-u of main-hermes", r)?;
    // s6-supervise may write just after the new state becomes visible: keep watching the
    // canaries for a moment (a change ends the window at once; it is reported below).
    let _ = wait::holds_for("canaries unchanged", Duration::from_secs(1), || async {
        for p in &plants {
            if let Some(change) = p.canary.changed(&h).await.map_err(|e| e.to_string())? {
                return Err(change);
            }
        }
        Ok(())
    })
    .await;
    for p in &plants {
        if let Some(change) = p.canary.changed(&h).await? {
            b.effects
                .push(format!("{effect} through {}: {change}", p.link));
        }
    }
    b.verdict(attack)?;
    h.remove().await
}

/// Links in `supervise/` (ours, the logger's, a static service's): root s6-supervise writes
/// `status.new` and `death_tally` there, following a link hermes planted.
pub async fn supervise_links_not_written_through(ctx: Ctx) -> Result<()> {
    links_not_written_through(
        ctx,
        &[
            ("gateway-alpha/supervise", "status.new"),
            ("gateway-alpha/supervise", "death_tally"),
            ("gateway-alpha/log/supervise", "status.new"),
            ("gateway-alpha/log/supervise", "death_tally"),
            ("main-hermes/supervise", "status.new"),
            ("main-hermes/supervise", "death_tally"),
        ],
        "links in supervise/",
        "root s6-supervise wrote its state",
    )
    .await
}

/// Subscriber links in `event/` (ours, the logger's, a static service's): at every state
/// change root s6-supervise writes the event byte into every `ftrig1:…` entry.
pub async fn event_links_not_written_through(ctx: Ctx) -> Result<()> {
    links_not_written_through(
        ctx,
        &[
            ("gateway-alpha/event", FTRIG_NAME),
            ("gateway-alpha/log/event", FTRIG_NAME),
            ("main-hermes/event", FTRIG_NAME),
        ],
        "subscriber links in event/",
        "root s6-supervise wrote an event byte",
    )
    .await
}

// ==========================================================================================
// 6. Service directories and the scanner's control

/// hermes adds files to its slot and its `log/` (a `log/finish` would run as root when the
/// logger stops), changes the static services' live copies, repoints a static service's entry
/// in the scandir at its own directory, and renames its slot away. All refused; after the
/// state changes and the rescan that would act on them, nothing ran as root and nothing moved.
pub async fn service_dirs_are_immutable(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let slot = profile_with_slot(&h, "alpha").await?;
    let log = format!("{slot}/log");
    let main_live = format!("{LIVE_COPIES}/main-hermes");
    let dash_live = format!("{LIVE_COPIES}/dashboard");
    let dash_run = h.exec(&["readlink", &format!("{dash_live}/run")]).await?;
    dash_run.succeeds();
    let dash_run = dash_run.out().to_string();
    ensure!(
        dash_run.starts_with('/'),
        "precondition: {dash_live}/run is not a link to a program in the image: {dash_run:?}"
    );
    let log_finish = payload(&h, "log-finish", "exit 0", false).await?;
    let main_finish = payload(&h, "main-finish", "exit 0", false).await?;
    let dash_payload = payload(&h, "dashboard-run", &format!("exec {dash_run}"), false).await?;
    let fake_run = payload(&h, "fake-main-run", "exec sleep 600", false).await?;
    let fake = format!("{WORK}/fake-main");
    h.sh(&format!("mkdir -p {fake} && ln -sfn {fake_run} {fake}/run"))
        .await?
        .succeeds();

    let roots = [SCANDIR, LIVE_COPIES];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();
    b.must_refuse(&h, &format!("touch {slot}/sec-extra"), &[&slot])
        .await?;
    b.must_refuse(&h, &format!("touch {log}/sec-extra"), &[&log])
        .await?;
    b.must_refuse(&h, &format!("ln -s {log_finish} {log}/finish"), &[&log])
        .await?;
    b.must_refuse(&h, &format!("touch {main_live}/sec-extra"), &[&main_live])
        .await?;
    b.must_refuse(
        &h,
        &format!("ln -s {main_finish} {main_live}/finish"),
        &[&main_live],
    )
    .await?;
    b.must_refuse(
        &h,
        &format!("ln -sfn {dash_payload} {dash_live}/run"),
        &[&dash_live],
    )
    .await?;
    b.must_refuse(
        &h,
        &format!("rm {SCANDIR}/main-hermes && ln -s {fake} {SCANDIR}/main-hermes"),
        &[SCANDIR],
    )
    .await?;
    record_traces(&mut b, &before, &tree(&h, &roots).await?);

    // What would act on the plants, each a right hermes has: the logger and main-hermes
    // stop and start (finish runs), the dashboard is asked up (run runs), and a profile is
    // created (a rescan, which would adopt the repointed entry).
    let r = bounce(&h, &log).await;
    b.trigger("s6-svc -d/-u of gateway-alpha/log", r)?;
    let r = bounce(&h, &main_live).await;
    b.trigger("s6-svc -d/-u of main-hermes", r)?;
    let o = h.exec(&["/command/s6-svc", "-u", &dash_live]).await?;
    let r = if o.success() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}", o.headline("s6-svc -u dashboard")))
    };
    b.trigger("s6-svc -u of dashboard", r)?;
    let o = h.exec(&["hermes", "profile", "create", "beta"]).await?;
    let r = if o.success() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}", o.headline("profile create beta")))
    };
    b.trigger("hermes profile create beta (a rescan)", r)?;
    watch_for_root(
        &h,
        &mut b,
        WATCH,
        "a payload planted in a service directory",
    )
    .await?;

    // Last, as it takes the slot the other steps use: rename the slot away.
    let hidden = format!("{SCANDIR}/.x");
    b.must_refuse(&h, &format!("mv {slot} {hidden}"), &[SCANDIR, &slot])
        .await?;
    let in_place = h
        .sh(&format!("test -d {slot} && ! test -e {hidden}"))
        .await?;
    if !in_place.success() {
        b.traces.push(format!(
            "{slot} renamed away: {}",
            stat_as_root(&h, &[&slot, &hidden]).await
        ));
    } else if let Err(e) = supervised(&h, &slot).await {
        b.traces
            .push(format!("{slot} no longer supervised: {}", first_line(&e)));
    }
    b.verdict("changing service directories")?;
    h.remove().await
}

/// `s6-svscanctl` to PID 1's scanner as hermes: `-a` (rescan), `-an` (rescan and drop what
/// vanished), and last `-t` (tear the tree down). All refused, and the tree is still there.
pub async fn scanner_control_refused(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let scan = format!("{SCANDIR}/.s6-svscan");
    let control = format!("{scan}/control");
    h.exec(&["test", "-p", &control])
        .as_root("proves the FIFO PID 1 listens on is there (hermes may not be able to see it).")
        .await?
        .succeeds();
    let mut b = Breaches::default();
    for flag in ["-a", "-an", "-t"] {
        b.must_refuse(
            &h,
            &format!("/command/s6-svscanctl {flag} {SCANDIR}"),
            &[&scan, &control],
        )
        .await?;
    }
    // The effect of an obeyed `-t`: the supervision tree (and so the container) goes away.
    let what = "the supervision tree (container running, main-hermes supervised)";
    let held = wait::holds_for(what, WATCH, || {
        let h = &h;
        async move {
            if let Some(code) = h.exited().await.map_err(|e| e.to_string())? {
                return Err(format!("the container stopped (exit code {code:?})"));
            }
            let o = h
                .exec(&["/command/s6-svok", &format!("{SCANDIR}/main-hermes")])
                .await
                .map_err(|e| e.to_string())?;
            if !o.success() {
                return Err(format!(
                    "main-hermes no longer supervised (s6-svok exit {:?}) {}",
                    o.code,
                    o.stderr.trim()
                ));
            }
            Ok(())
        }
    })
    .await;
    if let Err(e) = held {
        b.effects.push(format!(
            "PID 1 obeyed hermes' s6-svscanctl: {}",
            first_line(&e)
        ));
    }
    b.verdict("s6-svscanctl to PID 1's scanner")?;
    h.remove().await
}

// ==========================================================================================
// 7. Writable directories

/// Directories hermes may write (SPEC §10 point 2), each with everything below it.
const WRITABLE_ALLOWED: &[&str] = &[
    HERMES_HOME,
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/dev/mqueue",
    "/run/lock",
];

fn writable_allowed(path: &str) -> bool {
    WRITABLE_ALLOWED
        .iter()
        .any(|a| path == *a || path.starts_with(&format!("{a}/")))
}

/// As hermes, every directory it can write lies under the allowlist: nothing root writes at
/// runtime sits in a directory hermes chose.
pub async fn only_allowlisted_dirs_writable(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let h = ctx
        .as_hermes()
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    supervision_is_live(&h).await?;
    // A slot of hermes' own, so that the skeleton the registrar writes is covered too.
    profile_with_slot(&h, "alpha").await?;
    // find exits 1 on the dirs hermes cannot read: expected, so only its output counts.
    let o = h
        .exec_full(
            "hermes",
            &[
                "sh",
                "-c",
                "timeout 90 find / \\( -path /proc -o -path /sys \\) -prune -o -type d -writable -exec stat -c '%A %U:%G %n' {} + 2>/dev/null; true",
            ],
            &[],
            Duration::from_secs(120),
        )
        .await?;
    o.succeeds();
    let found: Vec<(&str, &str)> = o
        .stdout_lines()
        .into_iter()
        .filter_map(|l| {
            // "%A %U:%G %n": the path is everything after the second space.
            let mut it = l.splitn(3, ' ');
            let (_, _, path) = (it.next()?, it.next()?, it.next()?);
            Some((path, l))
        })
        .collect();
    // Precondition: the scan worked — the dirs hermes must be able to write were found.
    for must in ["/tmp", HERMES_HOME] {
        ensure!(
            found.iter().any(|(p, _)| p == &must),
            "precondition: the writable-dir scan as hermes did not list {must}: the scan did not work\n{o}"
        );
    }
    let mut offenders: Vec<(&str, &str)> = found
        .iter()
        .filter(|(p, _)| !writable_allowed(p))
        .copied()
        .collect();
    offenders.sort();
    let offenders: Vec<&str> = offenders.into_iter().map(|(_, l)| l).collect();
    ensure!(
        offenders.is_empty(),
        "hermes can write {} director{} outside {} (tmpfs_run={tmpfs_run}); first: {}\n{}",
        offenders.len(),
        if offenders.len() == 1 { "y" } else { "ies" },
        WRITABLE_ALLOWED.join(", "),
        offenders[0],
        offenders.join("\n")
    );
    h.remove().await
}

// ==========================================================================================
// 8. Root processes

/// The root processes SPEC §10 point 3 allows (besides PID 1, which must be s6-svscan).
const ROOT_ALLOWED: &[&str] = &[
    "s6-supervise",
    "s6-ipcserverd",
    "s6-ipcserver-access",
    "s6-sudod",
    "hermes-registrar",
];

/// One `ps` row.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub(crate) pid: i64,
    pub(crate) uids: [i64; 3],
    pub(crate) comm: String,
    pub(crate) args: String,
}

impl Proc {
    pub(crate) fn any_root(&self) -> bool {
        self.uids.contains(&0)
    }
    fn allowed_root(&self) -> bool {
        (self.pid == 1 && self.comm == "s6-svscan")
            // The kernel keeps 15 bytes of a name in comm (`hermes-registra`).
            || ROOT_ALLOWED
                .iter()
                .any(|name| self.comm == name[..name.len().min(15)])
            // stage 2, the parent waiting for the main program: a script, so its comm is its
            // name and its args name the file.
            || self.comm == "stage2"
            || self.args.split_whitespace().take(2).any(|a| a.ends_with("/stage2"))
    }
    fn describe(&self) -> String {
        format!(
            "pid {} uids {:?} (real effective saved) comm {} args {:?}",
            self.pid, self.uids, self.comm, self.args
        )
    }
}

pub(crate) async fn processes(h: &Container) -> Result<Vec<Proc>> {
    // ps exec'd directly: no shell of ours in the list.
    let o = h
        .exec(&["ps", "-eo", "pid=,ruid=,euid=,suid=,comm=,args="])
        .await?;
    o.succeeds();
    let mut out = Vec::new();
    for line in o.stdout_lines() {
        let mut it = line.split_whitespace();
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok());
        let (Some(pid), Some(r), Some(e), Some(s), Some(comm)) = (
            parse(it.next()),
            parse(it.next()),
            parse(it.next()),
            parse(it.next()),
            it.next(),
        ) else {
            bail!("unparsable ps line {line:?}\n{o}");
        };
        out.push(Proc {
            pid,
            uids: [r, e, s],
            comm: comm.to_string(),
            args: it.collect::<Vec<_>>().join(" "),
        });
    }
    Ok(out)
}

/// With a gateway up (and the dashboard, when enabled), every root process is supervision,
/// stage 2 or the registrar, and the gateway, its logger, `main-hermes` and the dashboard run
/// with every uid 10000.
pub async fn root_processes_are_supervision_only(ctx: Ctx, dashboard: bool) -> Result<()> {
    let mut spec = ContainerSpec::default();
    if dashboard {
        spec = spec.env("HERMES_DASHBOARD", "1");
    }
    let h = ctx.as_hermes().start(spec).await?;
    supervision_is_live(&h).await?;
    let slot = profile_with_slot(&h, "alpha").await?;
    h.exec(&["hermes", "-p", "alpha", "gateway", "start"])
        .await?
        .succeeds();
    let mut must_be_hermes = vec![
        (
            &GATEWAY,
            wait_svstat(&h, &slot, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?,
        ),
        (
            &LOGGER,
            wait_svstat(&h, &format!("{slot}/log"), "up", STATE_DEADLINE, |s| {
                s.up && s.pid > 0
            })
            .await?,
        ),
        (
            &MAIN_HERMES,
            wait_svstat(
                &h,
                &format!("{SCANDIR}/main-hermes"),
                "up",
                STATE_DEADLINE,
                |s| s.up && s.pid > 0,
            )
            .await?,
        ),
    ];
    if dashboard {
        must_be_hermes.push((
            &DASHBOARD_PROGRAM,
            wait_svstat(
                &h,
                &format!("{SCANDIR}/dashboard"),
                "up",
                STATE_DEADLINE,
                |s| s.up && s.pid > 0,
            )
            .await?,
        ));
    }
    let mut problems = Vec::new();
    for (prog, st) in &must_be_hermes {
        if let Some(p) = runs_as_hermes(&h, st.pid, prog).await? {
            problems.push(p);
        }
    }
    // A run script starts as root and drops to hermes: a root process seen in that instant
    // is not a finding, one that stays is. So wait (bounded) for the list to be clean.
    let clean = wait::poll_until(
        "no root process beyond supervision, stage 2 and the registrar",
        Duration::from_secs(3),
        || async {
            let procs = processes(&h).await.map_err(|e| e.to_string())?;
            ensure_pid1(&procs).map_err(|e| e.to_string())?;
            let bad: Vec<String> = procs
                .iter()
                .filter(|p| p.any_root() && !p.allowed_root())
                .map(Proc::describe)
                .collect();
            if bad.is_empty() {
                Ok(Some(()))
            } else {
                Err(bad.join("\n"))
            }
        },
    )
    .await;
    if let Err(e) = clean {
        problems.push(format!("root processes outside SPEC §10 point 3: {e}"));
    }
    ensure!(
        problems.is_empty(),
        "root processes (dashboard={dashboard}): {}\n{}",
        problems[0].lines().next().unwrap_or_default(),
        problems.join("\n")
    );
    h.remove().await
}

fn ensure_pid1(procs: &[Proc]) -> Result<()> {
    match procs.iter().find(|p| p.pid == 1) {
        Some(p) if p.comm == "s6-svscan" => Ok(()),
        Some(p) => bail!("PID 1 is not s6-svscan: {}", p.describe()),
        None => bail!("no PID 1 in the process list"),
    }
}

// ==========================================================================================
// 9. The registrar

/// `s6-sudo -e <registrar> args…` as `user`.
pub(crate) async fn registrar_as(h: &Container, user: &str, args: &[&str]) -> Result<ExecOutcome> {
    let mut argv = vec!["/command/s6-sudo", "-e", REGISTRAR_SOCK];
    argv.extend_from_slice(args);
    h.exec_full(user, &argv, &[], EXEC_DEADLINE).await
}

/// The registrar refuses foreign uids, bad names, names that are paths (to a static service
/// or the scandir itself), unknown verbs and extra arguments: exit 1 or 2, one line, nothing
/// created or removed, the static services still supervised.
pub async fn registrar_refusals(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let registrar = format!("{SCANDIR}/registrar");
    let o = h.exec(&["test", "-e", &registrar]).await?;
    ensure!(
        o.success(),
        "precondition: there is no registrar: {registrar} does not exist (SPEC §3.3), so its refusals cannot be tested"
    );
    // Precondition: the registrar serves hermes (a valid register and unregister work and are
    // logged), so every refusal below is the registrar's decision.
    let o = h.exec(&["test", "-S", REGISTRAR_SOCK]).await?;
    if !o.success() {
        o.fail_because(&format!(
            "precondition: the registrar's socket {REGISTRAR_SOCK} is not a socket"
        ));
    }
    registrar_as(&h, "hermes", &["register", "secok"])
        .await?
        .succeeds();
    supervised(&h, &slot_dir("secok")).await?;
    wait::poll_until("the registrar's log line", STATE_DEADLINE, || async {
        let logs = h.logs().await.map_err(|e| e.to_string())?;
        if logs.contains("hermes-registrar: uid=10000 verb=register profile=secok result=") {
            Ok(Some(()))
        } else {
            Err("no `hermes-registrar: uid=10000 verb=register profile=secok result=` line".into())
        }
    })
    .await?;
    registrar_as(&h, "hermes", &["unregister", "secok"])
        .await?
        .succeeds();
    h.exec(&["test", "!", "-e", &slot_dir("secok")])
        .await?
        .succeeds();

    let roots = [SCANDIR, LIVE_COPIES, "/opt/data/profiles"];
    let before = tree(&h, &roots).await?;
    let mut b = Breaches::default();

    // Foreign uids (Docker gives a bare uid the root group: try it with and without).
    for user in ["4242", "4242:4242"] {
        for args in [&["register", "x4242"][..], &["unregister", "default"][..]] {
            let o = registrar_as(&h, user, args).await?;
            if o.success() {
                b.allowed.push(format!(
                    "`{}` as {user} exited 0: the registrar served a foreign uid",
                    o.command_line()
                ));
            }
        }
    }

    let long = "a".repeat(65);
    let requests: Vec<Vec<&str>> = vec![
        vec!["register", "../x"],
        vec!["register", "Bad"],
        vec!["register", ""],
        vec!["register", "default/.."],
        vec!["register", long.as_str()],
        vec!["register", "../dashboard"],
        vec!["unregister", "../dashboard"],
        vec!["unregister", "../registrar"],
        vec!["unregister", "default/.."],
        vec!["unregister", "../x"],
        vec!["chmod", "alpha"],
        vec!["register-all"],
        vec![],
        vec!["register"],
        vec!["register", "alpha", "extra"],
        vec!["register", "alpha", "--start", "extra"],
        vec!["register", "alpha", "--stop"],
        vec!["unregister", "alpha", "extra"],
    ];
    for args in &requests {
        let o = registrar_as(&h, "hermes", args).await?;
        let lines = o
            .stdout
            .lines()
            .chain(o.stderr.lines())
            .filter(|l| !l.trim().is_empty())
            .count();
        if !matches!(o.code, Some(1 | 2)) || lines != 1 {
            b.allowed.push(format!(
                "{} (want exit 1 or 2 and exactly one line, got {lines} line(s); stdout {:?} stderr {:?})",
                o.headline("registrar request not refused as specified"),
                o.stdout.trim(),
                o.stderr.trim()
            ));
        }
    }
    record_traces(&mut b, &before, &tree(&h, &roots).await?);
    for svc in STATIC_SERVICES {
        if let Err(e) = supervised(&h, &format!("{SCANDIR}/{svc}")).await {
            b.effects
                .push(format!("static service {svc} lost: {}", first_line(&e)));
        }
    }
    if let Err(e) = supervised(&h, &slot_dir("default")).await {
        b.effects
            .push(format!("gateway-default lost: {}", first_line(&e)));
    }
    // And the registrar itself still serves hermes after all that.
    let again = registrar_as(&h, "hermes", &["register", "secok2"]).await?;
    if !again.success() {
        b.effects
            .push(again.headline("the registrar stopped serving hermes"));
    }
    b.verdict("registrar refusals")?;
    h.remove().await
}

// ==========================================================================================
// 10. Concurrent create/delete of one name

/// What one round left for profile `mix`.
#[derive(Debug, Default)]
struct MixState {
    profile_dir: bool,
    soul: bool,
    slot_dir: bool,
    missing: Vec<String>,
    svstat_ok: bool,
    hidden: Vec<String>,
    supervisors: Vec<String>,
}

impl MixState {
    fn whole(&self) -> bool {
        self.profile_dir && self.soul && self.slot_dir && self.missing.is_empty() && self.svstat_ok
    }
    fn none(&self) -> bool {
        !self.profile_dir && !self.slot_dir && self.supervisors.is_empty()
    }
}

async fn mix_state(h: &Container) -> Result<MixState> {
    let p = profile_home("mix");
    let s = slot_dir("mix");
    let script = format!(
        "[ -d {p} ] && echo profile; [ -f {p}/SOUL.md ] && echo soul; [ -d {s} ] && echo slot; \
         if [ -d {s} ]; then for f in type run finish log/run; do [ -e {s}/$f ] || [ -L {s}/$f ] || echo missing=$f; done; \
         /command/s6-svstat {s} >/dev/null 2>&1 && echo svstat; fi; \
         ls -A {SCANDIR} | grep '^\\.gateway-mix' | sed 's|^|hidden={SCANDIR}/|'; \
         ls -A {HERMES_HOME}/profiles | grep '^\\..*mix' | sed 's|^|hidden={HERMES_HOME}/profiles/|'; true"
    );
    let o = h.sh(&script).await?;
    o.succeeds();
    let mut st = MixState::default();
    for l in o.stdout_lines() {
        match l {
            "profile" => st.profile_dir = true,
            "soul" => st.soul = true,
            "slot" => st.slot_dir = true,
            "svstat" => st.svstat_ok = true,
            _ => {
                if let Some(f) = l.strip_prefix("missing=") {
                    st.missing.push(f.to_string());
                } else if let Some(x) = l.strip_prefix("hidden=") {
                    st.hidden.push(x.to_string());
                }
            }
        }
    }
    // pgrep exec'd directly (a `sh -c` of ours would match its own pattern).
    let o = h
        .exec(&["pgrep", "-a", "-f", "s6-supervise gateway-mix(/log)?$"])
        .await?;
    st.supervisors = o.stdout_lines().into_iter().map(str::to_string).collect();
    Ok(st)
}

/// 10 rounds of 5 concurrent `profile create mix` and 5 `profile delete mix --yes`: after each
/// round, either the profile (with SOUL.md) and a whole, working slot exist, or neither; no
/// staging leftovers in the scandir or the profiles dir.
pub async fn concurrent_create_delete_whole_or_none(ctx: Ctx, rounds: usize) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let round_script = format!(
        "mkdir -p {WORK}; for i in 1 2 3 4 5; do \
         hermes profile create mix >{WORK}/create-$i.log 2>&1 & \
         hermes profile delete mix --yes >{WORK}/delete-$i.log 2>&1 & \
         done; wait; for f in {WORK}/create-*.log {WORK}/delete-*.log; do echo \"== $f\"; cat \"$f\"; done"
    );
    let (mut wholes, mut nones) = (0, 0);
    for round in 1..=rounds {
        let o = h
            .exec_full(
                "hermes",
                &["sh", "-c", &round_script],
                &[],
                Duration::from_secs(180),
            )
            .await?;
        o.succeeds();
        let st = mix_state(&h).await?;
        ensure!(
            st.hidden.is_empty(),
            "round {round}: staging leftovers for mix: {:?}\nstate: {st:?}\nCLI output:\n{}",
            st.hidden,
            o.stdout
        );
        if st.whole() {
            wholes += 1;
            let slot = slot_dir("mix");
            h.exec(&["/command/s6-svc", "-U", &slot]).await?.succeeds();
            wait_svstat(&h, &slot, "up", STATE_DEADLINE, |s| s.up && s.pid > 0)
                .await
                .with_context(|| format!("round {round}: the whole slot of mix does not start"))?;
        } else if st.none() {
            nones += 1;
        } else {
            bail!(
                "round {round}: half-made profile mix (neither whole nor none): {st:?}\n{}\nCLI output:\n{}",
                stat_as_root(
                    &h,
                    &[
                        &profile_home("mix"),
                        &slot_dir("mix"),
                        &format!("{}/log", slot_dir("mix"))
                    ]
                )
                .await,
                o.stdout
            );
        }
    }
    crate::image::progress(format!(
        "security/concurrent: {rounds} rounds: {wholes} whole, {nones} none"
    ));
    h.remove().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_is_by_path_component() {
        for ok in [
            "/opt/data",
            "/opt/data/profiles/x",
            "/tmp",
            "/tmp/sec",
            "/run/lock",
            "/dev/shm",
        ] {
            assert!(writable_allowed(ok), "{ok}");
        }
        for bad in [
            "/opt/database",
            "/run",
            "/run/service",
            "/tmpx",
            "/run/lockx",
            "/var",
        ] {
            assert!(!writable_allowed(bad), "{bad}");
        }
    }

    fn proc(pid: i64, uid: i64, comm: &str, args: &str) -> Proc {
        Proc {
            pid,
            uids: [uid, uid, uid],
            comm: comm.into(),
            args: args.into(),
        }
    }

    #[test]
    fn root_allowlist_knows_truncated_comms_and_pid1() {
        assert!(proc(1, 0, "s6-svscan", "s6-svscan /run/service").allowed_root());
        assert!(!proc(9, 0, "s6-svscan", "s6-svscan /tmp/x").allowed_root());
        assert!(proc(40, 0, "hermes-registra", "/opt/hermes/bin/hermes-registrar").allowed_root());
        assert!(proc(41, 0, "s6-ipcserver-ac", "s6-ipcserver-access -v 2").allowed_root());
        assert!(
            proc(
                7,
                0,
                "sh",
                "/bin/sh /etc/hermes-s6/stage2 hermes gateway run"
            )
            .allowed_root()
        );
        assert!(!proc(50, 0, "sleep", "/usr/bin/sleep infinity").allowed_root());
        assert!(!proc(51, 0, "hermes", "hermes gateway run").allowed_root());
        assert!(proc(52, 0, "sleep", "x").any_root());
        assert!(!proc(53, 10000, "sleep", "x").any_root());
    }

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
