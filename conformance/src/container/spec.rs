//! How to run the container for one scenario, and the names and volumes it uses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bollard::Docker;

use crate::wait;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How to run the container for one scenario.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Mount `/run` as a tmpfs, as `docker run --tmpfs /run` would: `noexec`.
    pub tmpfs_run: bool,
    pub env: Vec<(String, String)>,
    /// Replace the image's command.
    pub cmd: Option<Vec<String>>,
    /// Replace the image's entrypoint (PID 1 then is not ours).
    pub entrypoint: Option<String>,
    /// `docker run --init`: Docker's init is PID 1 and `/init` is not.
    pub docker_init: bool,
    /// A named volume mounted at `$HERMES_HOME`.
    pub data_volume: Option<String>,
    /// Do not wait for the readiness marker after start.
    pub no_wait: bool,
    /// `docker run --user`: the user the container's process starts as.
    pub user: Option<String>,
}

impl ContainerSpec {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn tmpfs_run(mut self, on: bool) -> Self {
        self.tmpfs_run = on;
        self
    }
    pub fn cmd(mut self, argv: &[&str]) -> Self {
        self.cmd = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn entrypoint(mut self, e: &str) -> Self {
        self.entrypoint = Some(e.into());
        self
    }
    pub fn docker_init(mut self) -> Self {
        self.docker_init = true;
        self
    }
    pub fn data_volume(mut self, name: &str) -> Self {
        self.data_volume = Some(name.into());
        self
    }
    pub fn no_wait(mut self) -> Self {
        self.no_wait = true;
        self
    }
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }
}

/// A Docker object name unique to this process and call (`hermes-conf-<pid>-<n>-<tag>`), for
/// containers and volumes alike: a scenario run twice in one process (the sensitivity test
/// does) never meets its own leftovers.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("hermes-conf-{}-{n}-{}", std::process::id(), slug(tag))
}

/// `s` as a name part: lower-case alphanumerics, everything else `-`, at most 40 characters.
fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(40);
    out.trim_matches('-').to_string()
}

/// Removes a named volume once no container uses it any more (a container being removed may
/// still hold it for a moment): polls with a deadline, and says so if it could not.
pub async fn remove_volume(docker: &Docker, volume: &str) {
    let removed = wait::poll_until(
        &format!("volume {volume} to be removed"),
        Duration::from_secs(10),
        || async {
            docker
                .remove_volume(
                    volume,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
                .map(Some)
                .map_err(|e| e.to_string())
        },
    )
    .await;
    if let Err(e) = removed {
        crate::image::progress(format!("could not remove {volume}: {e}"));
    }
}
