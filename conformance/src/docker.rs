//! Connecting to the Docker engine, with the one clear line a person needs when it is absent.

use anyhow::{Context, Result};
use bollard::Docker;

/// Whether the engine runs on this host (no `DOCKER_HOST`, or a `unix://` one), so that its
/// containers' PIDs are in this host's `/proc`.
pub fn engine_is_local() -> bool {
    std::env::var("DOCKER_HOST").map_or(true, |h| h.is_empty() || h.starts_with("unix://"))
}

/// Connect (honours `DOCKER_HOST`) and check the engine answers.
pub async fn connect() -> Result<Docker> {
    // `connect_with_defaults`, not `_local_defaults`: the latter ignores a `tcp://` DOCKER_HOST
    // and would quietly talk to this host's socket while testcontainers used the remote one.
    let docker = Docker::connect_with_defaults()
        .context("Docker engine unreachable: cannot create a client (is DOCKER_HOST valid?)")?;
    docker.ping().await.map_err(|e| {
        anyhow::anyhow!(
            "Docker engine unreachable: ping failed ({e}); the conformance suite needs a running \
             Docker engine (set {}=1 to skip instead)",
            crate::config::ENV_SKIP_NO_DOCKER
        )
    })?;
    Ok(docker)
}
