//! One container per scenario (or one per pool for the scenarios that need none of their own):
//! started with testcontainers, labelled so a killed run's leftovers can be swept, exec'd into
//! with bollard **as hermes by default**. By concern: `hermes_image` (the image as
//! testcontainers' `Image`), `spec` (how to run it), `exec` (commands inside it, root only with
//! a reason), `readiness` (the boot's marker), `verbs` (docker stop/kill/restart/start, exit
//! codes, logs), `leftovers` (containers of killed runs) and `shared` (the pools).

mod exec;
mod hermes_image;
mod leftovers;
mod readiness;
mod shared;
mod spec;
mod verbs;

pub use exec::{Costs, Exec, ExecDefaults, RootReasons};
pub use hermes_image::HermesImage;
pub use leftovers::sweep_leftovers;
pub use spec::{ContainerSpec, remove_volume, unique_name};

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, Result};
use bollard::Docker;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ImageExt};

use crate::config;

pub const LABEL: &str = "hermes.conformance";
pub const LABEL_OWNER: &str = "hermes.conformance.owner";
pub const LABEL_SCENARIO: &str = "hermes.conformance.scenario";
/// The run's name from `HERMES_CONFORMANCE_RUN`, when given (the bench's suite section).
pub const LABEL_RUN: &str = "hermes.conformance.run";
/// Set on containers started under `TESTCONTAINERS_COMMAND=keep`: the sweep of killed runs'
/// leftovers leaves them for the person who asked to inspect them.
pub const LABEL_KEPT: &str = "hermes.conformance.kept";

/// The per-boot readiness marker written by stage 2 (`docs/contract.md` §2.2, point 6).
pub const READY_MARKER: &str = "/run/hermes/ready";
/// Deadline for one exec unless the caller gives another.
pub const EXEC_DEADLINE: Duration = Duration::from_secs(30);
/// Deadline for a boot to reach readiness.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A running container under test.
pub struct Container {
    docker: Docker,
    handle: Option<ContainerAsync<HermesImage>>,
    pub id: String,
    pub name: String,
    /// The user `exec` runs as (from the [`ExecDefaults`] it started with).
    pub user: String,
    /// Content of the readiness marker of the current boot, once seen.
    pub boot_id: Option<String>,
    /// Extra environment for every `exec`/`sh` as the scenario user.
    pub exec_env: Vec<(String, String)>,
    /// Where `as_root` execs leave their reasons (the scenario's, given by `Ctx::start`).
    pub root_reasons: RootReasons,
    /// Where this container's execs are counted (the scenario's).
    pub costs: Costs,
    /// The pool this container is shared in (`Ctx::start_shared`): the lifecycle verbs refuse.
    shared: Option<&'static str>,
}

impl Container {
    /// Start a container of `image` for `scenario`, its execs running by `exec`, and, unless
    /// told not to, wait for readiness.
    pub async fn start(
        docker: &Docker,
        image: &str,
        scenario: &str,
        spec: ContainerSpec,
        exec: ExecDefaults,
    ) -> Result<Container> {
        let name = unique_name(scenario);
        let mut req = HermesImage::new(image, &spec)?
            .with_container_name(&name)
            .with_label(LABEL, "1")
            .with_label(LABEL_OWNER, std::process::id().to_string())
            .with_label(LABEL_SCENARIO, scenario)
            .with_label(
                LABEL_KEPT,
                if config::keep_containers() { "1" } else { "0" },
            )
            .with_startup_timeout(Duration::from_secs(60));
        if let Some(run) = config::run_label() {
            req = req.with_label(LABEL_RUN, run);
        }
        if let Some(user) = &spec.user {
            req = req.with_user(user);
        }
        let tmpfs_run = spec.tmpfs_run;
        let docker_init = spec.docker_init;
        req = req.with_host_config_modifier(move |hc| {
            // testcontainers publishes every exposed port on the engine's host by default; the
            // suite reaches the container only through exec, so nothing is published (a remote
            // engine's host ports are not ours to take).
            hc.publish_all_ports = Some(false);
            if tmpfs_run {
                // Exactly what `docker run --tmpfs /run` gives: Docker's default tmpfs options,
                // which include noexec. The stage layer must cope with that (`docs/contract.md`
                // §2.2, point 3).
                hc.tmpfs = Some(HashMap::from([("/run".to_string(), String::new())]));
            }
            if docker_init {
                hc.init = Some(true);
            }
        });
        exec.costs.container();
        let handle = req
            .start()
            .await
            .with_context(|| format!("starting container {name} from {image}"))?;
        let id = handle.id().to_string();
        let mut h = Container {
            docker: docker.clone(),
            handle: Some(handle),
            id,
            name,
            user: exec.user,
            boot_id: None,
            exec_env: exec.env,
            root_reasons: exec.root_reasons,
            costs: exec.costs,
            shared: None,
        };
        if !spec.no_wait {
            h.wait_ready().await?;
        }
        Ok(h)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Remove the container now, or, under `TESTCONTAINERS_COMMAND=keep`, leave it (the
    /// handle's drop keeps it) and say where it is. A shared container's view removes nothing
    /// (the process's exit does).
    pub async fn remove(mut self) -> Result<()> {
        if let Some(h) = self.handle.take()
            && !config::keep_containers()
        {
            h.rm().await?;
        }
        Ok(())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // The handle itself removes the container on drop, or keeps it when testcontainers'
        // TESTCONTAINERS_COMMAND=keep says so; this only names what is kept.
        if config::keep_containers() && self.handle.is_some() {
            crate::image::progress(format!("keeping container {} ({})", self.name, self.id));
        }
    }
}

/// The last `n` lines of `text` (container logs in failure messages).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
