//! One container per scenario: started with testcontainers, labelled so a killed run's
//! leftovers can be swept, exec'd into with bollard **as hermes by default**.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::exec::ExecOutcome;
use crate::{config, dump, wait};

pub const LABEL: &str = "hermes.conformance";
pub const LABEL_OWNER: &str = "hermes.conformance.owner";
pub const LABEL_SCENARIO: &str = "hermes.conformance.scenario";

/// The per-boot readiness marker written by stage 2 (SPEC §2 point 6).
pub const READY_MARKER: &str = "/run/hermes/ready";
/// Deadline for one exec unless the caller gives another.
pub const EXEC_DEADLINE: Duration = Duration::from_secs(30);
/// Deadline for a boot to reach readiness.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

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

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A Docker object name unique to this process and call (`hermes-conf-<pid>-<n>-<tag>`): a
/// scenario run twice in one process (the sensitivity test does) never meets its own leftovers.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("hermes-conf-{}-{n}-{}", std::process::id(), slug(tag))
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

/// A running container under test.
pub struct Hermes {
    docker: Docker,
    handle: Option<ContainerAsync<GenericImage>>,
    pub id: String,
    pub name: String,
    /// The user `exec` runs as: `hermes` unless `HERMES_CONFORMANCE_USER` says otherwise.
    pub user: String,
    /// Content of the readiness marker of the current boot, once seen.
    pub boot_id: Option<String>,
    /// Extra environment for every `exec`/`sh` as the scenario user.
    pub exec_env: Vec<(String, String)>,
}

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

/// Remove containers left by conformance runs whose process is gone (a killed run).
/// Containers of live processes (a concurrent `cargo test`) are left alone.
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
        if alive {
            continue;
        }
        if let Some(id) = c.id {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            if docker.remove_container(&id, Some(opts)).await.is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

impl Hermes {
    /// Start a container of `image` for `scenario` and, unless told not to, wait for readiness.
    pub async fn start(
        docker: &Docker,
        image: &str,
        scenario: &str,
        spec: ContainerSpec,
    ) -> Result<Hermes> {
        let (repo, tag) = image
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("image {image:?} has no tag"))?;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("hermes-conf-{}-{n}-{}", std::process::id(), slug(scenario));
        let mut img = GenericImage::new(repo, tag);
        if let Some(e) = &spec.entrypoint {
            img = img.with_entrypoint(e);
        }
        let mut req = img
            .with_container_name(&name)
            .with_label(LABEL, "1")
            .with_label(LABEL_OWNER, std::process::id().to_string())
            .with_label(LABEL_SCENARIO, scenario)
            .with_startup_timeout(Duration::from_secs(60));
        for (k, v) in &spec.env {
            req = req.with_env_var(k, v);
        }
        if let Some(cmd) = &spec.cmd {
            req = req.with_cmd(cmd.clone());
        }
        if let Some(user) = &spec.user {
            req = req.with_user(user);
        }
        if let Some(vol) = &spec.data_volume {
            req = req.with_mount(Mount::volume_mount(vol.clone(), "/opt/data"));
        }
        let tmpfs_run = spec.tmpfs_run;
        let docker_init = spec.docker_init;
        req = req.with_host_config_modifier(move |hc| {
            if tmpfs_run {
                // Exactly what `docker run --tmpfs /run` gives: Docker's default tmpfs options,
                // which include noexec. The stage layer must cope with that (SPEC §2 point 3).
                hc.tmpfs = Some(HashMap::from([("/run".to_string(), String::new())]));
            }
            if docker_init {
                hc.init = Some(true);
            }
        });
        let handle = req
            .start()
            .await
            .with_context(|| format!("starting container {name} from {image}"))?;
        let id = handle.id().to_string();
        let mut h = Hermes {
            docker: docker.clone(),
            handle: Some(handle),
            id,
            name,
            user: config::scenario_user(),
            boot_id: None,
            exec_env: Vec::new(),
        };
        if !spec.no_wait {
            h.wait_ready().await?;
        }
        Ok(h)
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Run `argv` as the scenario user (hermes by default).
    pub async fn exec(&self, argv: &[&str]) -> Result<ExecOutcome> {
        let env: Vec<(&str, &str)> = self
            .exec_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.exec_full(&self.user, argv, &env, EXEC_DEADLINE).await
    }

    /// Run a shell snippet as the scenario user.
    pub async fn sh(&self, script: &str) -> Result<ExecOutcome> {
        self.exec(&["sh", "-c", script]).await
    }

    /// Run `argv` as root. Callers must say, in a comment, why root is needed there.
    pub async fn exec_as_root(&self, argv: &[&str]) -> Result<ExecOutcome> {
        self.exec_full("root", argv, &[], EXEC_DEADLINE).await
    }

    /// Run a shell snippet as root. Callers must say, in a comment, why.
    pub async fn sh_as_root(&self, script: &str) -> Result<ExecOutcome> {
        self.exec_as_root(&["sh", "-c", script]).await
    }

    /// The general form: user, argv, extra environment, deadline.
    pub async fn exec_full(
        &self,
        user: &str,
        argv: &[&str],
        env: &[(&str, &str)],
        deadline: Duration,
    ) -> Result<ExecOutcome> {
        let started = Instant::now();
        let fut = self.exec_inner(user, argv, env);
        let (code, stdout, stderr) = match tokio::time::timeout(deadline, fut).await {
            Ok(r) => {
                r.with_context(|| format!("docker exec as {user} of {argv:?} in {}", self.name))?
            }
            Err(_) => bail!(
                "docker exec as {user} of {argv:?} in {} did not finish within {deadline:?}",
                self.name
            ),
        };
        let mut outcome = ExecOutcome {
            cmd: argv.iter().map(|s| s.to_string()).collect(),
            user: user.to_string(),
            env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            code,
            stdout,
            stderr,
            elapsed: started.elapsed(),
            permission_dump: None,
        };
        if !outcome.success() && outcome.hit_permission_error() {
            outcome.permission_dump = Some(self.permission_dump(&outcome.command_line()).await);
        }
        Ok(outcome)
    }

    async fn exec_inner(
        &self,
        user: &str,
        argv: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(Option<i64>, String, String)> {
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let created = self
            .docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(user.to_string()),
                    cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                    env: if env.is_empty() { None } else { Some(env) },
                    ..Default::default()
                },
            )
            .await?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        match self.docker.start_exec(&created.id, None).await? {
            StartExecResults::Attached { mut output, .. } => {
                while let Some(frame) = output.next().await {
                    match frame? {
                        LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                        LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                        LogOutput::Console { message } => stdout.extend_from_slice(&message),
                        LogOutput::StdIn { .. } => {}
                    }
                }
            }
            StartExecResults::Detached => {
                bail!("exec started detached although attached was asked")
            }
        }
        // The exit code is set once the output stream has ended; poll briefly in case the
        // engine is slow to record it.
        let exec_id = created.id.clone();
        let docker = self.docker.clone();
        let code = wait::poll_until("the exec's exit code", Duration::from_secs(5), || {
            let docker = docker.clone();
            let exec_id = exec_id.clone();
            async move {
                let info = docker
                    .inspect_exec(&exec_id)
                    .await
                    .map_err(|e| e.to_string())?;
                if info.running == Some(true) {
                    return Err("still running".into());
                }
                Ok(Some(info.exit_code))
            }
        })
        .await?;
        Ok((
            code,
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        ))
    }

    /// Modes and owners of the s6 control files relevant to `command`, read as root: hermes
    /// cannot stat inside root-only `supervise/` dirs, which is exactly what is being diagnosed.
    pub async fn permission_dump(&self, command: &str) -> String {
        let script = dump::script_for(command);
        match self.exec_inner("root", &["sh", "-c", &script], &[]).await {
            Ok((_, out, err)) => format!("{out}{err}"),
            Err(e) => format!("(permission dump failed: {e})"),
        }
    }

    /// Wait until the readiness marker of a boot other than the last one seen exists.
    pub async fn wait_ready(&mut self) -> Result<String> {
        let previous = self.boot_id.clone();
        let docker = self.docker.clone();
        let id = self.id.clone();
        let me = &*self;
        let marker = wait::poll_until(
            &format!("readiness marker {READY_MARKER} in {}", self.name),
            READY_DEADLINE,
            || {
                let previous = previous.clone();
                let docker = docker.clone();
                let id = id.clone();
                async move {
                    // A container that already exited will never become ready: say so at once.
                    if let Ok(info) = docker.inspect_container(&id, None).await {
                        let state = info.state.unwrap_or_default();
                        if state.running == Some(false) {
                            return Err(format!(
                                "container is not running (exit code {:?})",
                                state.exit_code
                            ));
                        }
                    }
                    // Read as hermes: the marker must be readable by the user that waits on it.
                    let o = me
                        .exec_full(
                            "hermes",
                            &["cat", READY_MARKER],
                            &[],
                            Duration::from_secs(10),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    if !o.success() {
                        return Err(format!(
                            "cat {READY_MARKER}: exit {:?}: {}",
                            o.code,
                            o.stderr.trim()
                        ));
                    }
                    let content = o.out().to_string();
                    if previous.as_deref() == Some(content.as_str()) {
                        return Err(format!("marker still from the previous boot ({content})"));
                    }
                    Ok(Some(content))
                }
            },
        )
        .await;
        match marker {
            Ok(m) => {
                self.boot_id = Some(m.clone());
                Ok(m)
            }
            Err(e) => {
                let logs = self.logs().await.unwrap_or_default();
                bail!("{e}\ncontainer log (last 40 lines):\n{}", tail(&logs, 40))
            }
        }
    }

    /// `docker restart` with Docker's usual 10 s grace, then wait for the next boot's marker.
    pub async fn restart(&mut self) -> Result<Duration> {
        let t = Instant::now();
        let opts = RestartContainerOptionsBuilder::default().t(10).build();
        self.docker
            .restart_container(&self.id, Some(opts))
            .await
            .with_context(|| format!("docker restart {}", self.name))?;
        let restart_took = t.elapsed();
        self.wait_ready().await?;
        Ok(restart_took)
    }

    /// `docker stop` (SIGTERM, 10 s grace); returns how long it took.
    pub async fn stop(&self) -> Result<Duration> {
        let t = Instant::now();
        let opts = StopContainerOptionsBuilder::default().t(10).build();
        self.docker
            .stop_container(&self.id, Some(opts))
            .await
            .with_context(|| format!("docker stop {}", self.name))?;
        Ok(t.elapsed())
    }

    /// `docker kill` (SIGKILL to PID 1: no shutdown runs).
    pub async fn kill(&self) -> Result<()> {
        self.docker
            .kill_container(
                &self.id,
                None::<bollard::query_parameters::KillContainerOptions>,
            )
            .await
            .with_context(|| format!("docker kill {}", self.name))
    }

    /// `docker start` of a stopped container, then wait for the new boot's marker.
    pub async fn start_again(&mut self) -> Result<()> {
        self.docker
            .start_container(
                &self.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .with_context(|| format!("docker start {}", self.name))?;
        self.wait_ready().await?;
        Ok(())
    }

    /// Wait for the container to exit and return its exit code.
    pub async fn wait_exit(&self, deadline: Duration) -> Result<i64> {
        let docker = self.docker.clone();
        let id = self.id.clone();
        wait::poll_until(&format!("{} to exit", self.name), deadline, || {
            let docker = docker.clone();
            let id = id.clone();
            async move {
                let info = docker
                    .inspect_container(&id, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let state = info.state.unwrap_or_default();
                if state.running == Some(true) {
                    return Err("still running".into());
                }
                Ok(state.exit_code)
            }
        })
        .await
    }

    /// The container's log (stdout and stderr interleaved as Docker stored them).
    pub async fn logs(&self) -> Result<String> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut s = self.docker.logs(&self.id, Some(opts));
        let mut out = Vec::new();
        let read = async {
            while let Some(frame) = s.next().await {
                out.extend_from_slice(&frame?.into_bytes());
            }
            Ok::<_, bollard::errors::Error>(())
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .map_err(|_| anyhow!("reading the log of {} timed out", self.name))??;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Remove the container now (or keep it, when `HERMES_CONFORMANCE_KEEP` asks).
    pub async fn remove(mut self) -> Result<()> {
        if let Some(h) = self.handle.take() {
            if config::keep_containers() {
                crate::image::progress(format!("keeping container {} ({})", self.name, self.id));
                std::mem::forget(h);
            } else {
                h.rm().await?;
            }
        }
        Ok(())
    }
}

impl Drop for Hermes {
    fn drop(&mut self) {
        if config::keep_containers()
            && let Some(h) = self.handle.take()
        {
            crate::image::progress(format!("keeping container {} ({})", self.name, self.id));
            std::mem::forget(h);
        }
        // Otherwise testcontainers removes the container when the handle drops.
    }
}

/// The last `n` lines of `text` (container logs in failure messages).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
