//! docs/contract.md §10, writable directories: everything hermes may write lies under the
//! allowlist, so nothing root writes at runtime sits in a directory hermes chose.

use std::time::Duration;

use anyhow::{Result, ensure};

use super::kit::{profile_with_slot, supervision_is_live};
use crate::support::HERMES_HOME;
use crate::{ContainerSpec, Ctx};

/// Directories hermes may write (docs/contract.md §10 promise 2), each with everything below it.
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
}
