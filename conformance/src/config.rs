//! The suite's environment variables, read in one place.

use std::path::PathBuf;

/// Run against this existing image instead of building one.
pub const ENV_IMAGE: &str = "HERMES_CONFORMANCE_IMAGE";
/// The user scenarios exec as by default (`hermes`; `root` shows the audit gap).
pub const ENV_USER: &str = "HERMES_CONFORMANCE_USER";
/// testcontainers' own switch: `keep` leaves every container for inspection instead of
/// removing it when its handle drops. The suite follows it (and labels kept containers so the
/// next run's sweep leaves them alone).
pub const ENV_TESTCONTAINERS_COMMAND: &str = "TESTCONTAINERS_COMMAND";
/// The suite's own keep switch before it followed testcontainers'; now refused with a pointer.
pub const ENV_KEEP_RETIRED: &str = "HERMES_CONFORMANCE_KEEP";
/// Skip (instead of fail) when no Docker engine is reachable. Off unless set to a truthy value.
pub const ENV_SKIP_NO_DOCKER: &str = "HERMES_CONFORMANCE_SKIP_WITHOUT_DOCKER";
/// A name for this run: every container it starts carries it as the label
/// `hermes.conformance.run`, so the bench counts the containers of its own suite run and no
/// one else's.
pub const ENV_RUN: &str = "HERMES_CONFORMANCE_RUN";

/// `HERMES_CONFORMANCE_RUN`, when set and not blank.
pub fn run_label() -> Option<String> {
    std::env::var(ENV_RUN)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `1`, `true`, `yes` (any case) are true; anything else is false — the product's own rule.
pub fn truthy(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes")
    )
}

fn env_truthy(name: &str) -> bool {
    truthy(std::env::var(name).ok().as_deref())
}

/// The user every scenario execs as unless it explicitly opts into root.
pub fn scenario_user() -> String {
    std::env::var(ENV_USER)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "hermes".to_string())
}

/// `TESTCONTAINERS_COMMAND=keep`: testcontainers keeps the containers; the suite says so.
pub fn keep_containers() -> bool {
    std::env::var(ENV_TESTCONTAINERS_COMMAND).is_ok_and(|v| v.trim() == "keep")
}

/// The retired `HERMES_CONFORMANCE_KEEP`, when set: an error naming its successor (keeping
/// would otherwise silently not happen).
pub fn retired_keep_error() -> Option<String> {
    std::env::var_os(ENV_KEEP_RETIRED).map(|_| {
        format!(
            "{ENV_KEEP_RETIRED} is retired: to keep containers for inspection set \
             {ENV_TESTCONTAINERS_COMMAND}=keep (testcontainers' own switch)"
        )
    })
}

pub fn skip_without_docker() -> bool {
    env_truthy(ENV_SKIP_NO_DOCKER)
}

pub fn image_override() -> Option<String> {
    std::env::var(ENV_IMAGE)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// The repository root (the workspace), found from this crate's manifest.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance/ lives inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        }
        None => repo_root().join("target"),
    }
}

/// Where the suite keeps its own files: lock, rootfs tarball, reports, screenshots.
pub fn work_dir() -> PathBuf {
    target_dir().join("conformance")
}

#[cfg(test)]
mod tests {
    use super::truthy;

    #[test]
    fn truthiness_matches_the_spec() {
        for yes in ["1", "true", "TRUE", "Yes", " yes "] {
            assert!(truthy(Some(yes)), "{yes:?} must be truthy");
        }
        for no in ["0", "false", "no", "", "garbage", "2", "on"] {
            assert!(!truthy(Some(no)), "{no:?} must be false");
        }
        assert!(!truthy(None));
    }
}
