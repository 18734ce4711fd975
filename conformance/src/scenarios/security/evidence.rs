//! Payloads and canaries: how an attack proves root acted for hermes. A payload is a script
//! hermes wrote that logs the uid it ran as; a canary is a root-owned file only a root process
//! writing through hermes' link could change.

use std::time::Duration;

use anyhow::{Result, anyhow, ensure};

use super::kit::{Breaches, CANARY_CONTENT, EVIDENCE, WORK};
use crate::container::EXEC_DEADLINE;
use crate::{Container, wait};

// ------------------------------------------------------------------------------------------
// Payloads and evidence

/// A hermes-written script under /tmp that, when run, appends `<uid> <tag> argv0=… args=…
/// cwd=…` to the evidence file and then does `then` (hand over to what it replaced, so a
/// vulnerable image keeps working and the failure shows the payload, not a broken boot).
/// Proven by a dry run as hermes: the evidence then holds `10000 <tag>`, so an empty evidence
/// file later means "never ran", not "cannot run".
pub(crate) async fn payload(h: &Container, tag: &str, then: &str, sourced: bool) -> Result<String> {
    let path = format!("{WORK}/{tag}");
    let body = format!(
        "#!/bin/sh\n\
         # planted by the conformance suite (docs/contract.md §10): record who runs it, then hand over\n\
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
pub(crate) async fn root_evidence(h: &Container) -> Result<Vec<String>> {
    let o = h.exec(&["cat", EVIDENCE]).await?;
    o.succeeds();
    Ok(o.stdout
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("0"))
        .map(str::to_string)
        .collect())
}

/// Watch the evidence for `window`; root lines become an effect naming what ran.
pub(crate) async fn watch_for_root(
    h: &Container,
    b: &mut Breaches,
    window: Duration,
    what: &str,
) -> Result<()> {
    let r = wait::holds_for(&format!("no {what} running as root"), window, || async {
        match root_evidence(h).await {
            Ok(lines) if lines.is_empty() => Ok(()),
            Ok(lines) => Err(anyhow!("{}", lines.join(" | "))),
            Err(e) => Err(anyhow!("(cannot read {EVIDENCE}: {e})")),
        }
    })
    .await;
    if r.is_err() {
        record_root_evidence(h, b, what).await?;
    }
    Ok(())
}

/// Turn root evidence lines (if any) into effects, one per payload that ran.
pub(crate) async fn record_root_evidence(
    h: &Container,
    b: &mut Breaches,
    what: &str,
) -> Result<()> {
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
pub(crate) struct Canary {
    pub(crate) path: String,
}

impl Canary {
    pub(crate) async fn new(h: &Container, label: &str) -> Result<Canary> {
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
    pub(crate) async fn state(&self, h: &Container) -> Result<String> {
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
    pub(crate) async fn changed(&self, h: &Container) -> Result<Option<String>> {
        let now = self.state(h).await?;
        let want = format!("root:root 644 \"{CANARY_CONTENT}\"");
        Ok((now != want).then(|| format!("{} is now {now} (was {want})", self.path)))
    }
}
