//! Containers left by conformance runs that were killed: found by label, removed when the
//! process that started them is gone.

use std::collections::HashMap;

use anyhow::Result;
use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use super::{LABEL, LABEL_KEPT, LABEL_OWNER};

/// Remove containers left by conformance runs whose process is gone (a killed run).
/// Containers of live processes (a concurrent `cargo test`) and those kept on purpose
/// (`TESTCONTAINERS_COMMAND=keep`) are left alone.
pub async fn sweep_leftovers(docker: &Docker) -> Result<usize> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL}=1")])]);
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let list = docker.list_containers(Some(opts)).await?;
    let mut removed = 0;
    for c in list {
        let owner = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_OWNER))
            .and_then(|p| p.parse::<i32>().ok());
        let alive = owner.is_some_and(|pid| {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        });
        let kept = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_KEPT))
            .is_some_and(|v| v == "1");
        if alive || kept {
            continue;
        }
        if let Some(id) = c.id
            && force_remove(docker, &id).await.is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// `docker rm -f -v`: the container, running or not, and its anonymous volumes.
pub async fn force_remove(docker: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    docker.remove_container(id, Some(opts)).await
}
