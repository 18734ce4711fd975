//! Typed checks on files inside the container: each names, when it fails, the command, the
//! user it ran as, the path, and the mode and owner of what was found there.

use anyhow::{Context, Result, bail};

use super::first_line;
use crate::Container;

/// `path` does not exist for the scenario user (`test ! -e`: a dangling link counts as gone,
/// as it always did). When it does, the failure says `why`, the exec (command, user, status)
/// and what stands there (`stat` as the same user: `%A %U:%G %F`).
pub async fn assert_absent(h: &Container, path: &str, why: &str) -> Result<()> {
    let o = h.exec(&["test", "!", "-e", path]).await?;
    if o.success() {
        return Ok(());
    }
    let found = match h.exec(&["stat", "-c", "%A %U:%G %F", path]).await {
        Ok(s) if s.success() => s.out().to_string(),
        Ok(s) => format!("(stat failed: {})", s.stderr.trim()),
        Err(e) => format!("(stat failed: {})", first_line(&e)),
    };
    bail!(
        "{}\n{path} is there: {found}\n{o}",
        o.headline(&format!("{why}: expected {path} to be absent"))
    )
}

/// `stat -c '%A %U:%G %n'` of `paths`, one `;`-separated line. As root: hermes cannot stat
/// inside the root-only dirs whose modes are being reported.
pub async fn stat_as_root(h: &Container, paths: &[&str]) -> String {
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

/// Read and parse a JSON file as the scenario user.
pub async fn read_json(h: &Container, path: &str) -> Result<serde_json::Value> {
    let o = h.exec(&["cat", path]).await?;
    o.succeeds();
    serde_json::from_str(&o.stdout).with_context(|| format!("{path} is not JSON: {:?}", o.stdout))
}
