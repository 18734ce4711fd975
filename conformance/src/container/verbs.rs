//! Docker's lifecycle verbs on the container: stop, kill, restart, start again, the exit code
//! and the log, each with a deadline. `docker_restart` and `docker_start` are the bare API
//! calls (the bench times its own wait after them); `restart` and `start_again` also wait for
//! the next boot's readiness marker.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bollard::query_parameters::{
    LogsOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::Container;

impl Container {
    /// `docker restart` with Docker's usual 10 s grace, then wait for the next boot's marker.
    pub async fn restart(&mut self) -> Result<Duration> {
        let restart_took = self.docker_restart(10).await?;
        self.wait_ready().await?;
        Ok(restart_took)
    }

    /// `docker restart` with `grace` seconds for the stop: the API call alone, timed, no wait
    /// for readiness (the bench times its own wait inside the container).
    pub async fn docker_restart(&self, grace: i32) -> Result<Duration> {
        self.exclusive("docker restart")?;
        let t = Instant::now();
        let opts = RestartContainerOptionsBuilder::default().t(grace).build();
        self.docker
            .restart_container(&self.id, Some(opts))
            .await
            .with_context(|| format!("docker restart {}", self.name))?;
        Ok(t.elapsed())
    }

    /// `docker stop` (SIGTERM, 10 s grace); returns how long it took.
    pub async fn stop(&self) -> Result<Duration> {
        self.exclusive("docker stop")?;
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
        self.exclusive("docker kill")?;
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
        self.docker_start().await?;
        self.wait_ready().await?;
        Ok(())
    }

    /// `docker start` of a stopped container: the API call alone, no wait for readiness.
    pub async fn docker_start(&self) -> Result<()> {
        self.exclusive("docker start")?;
        self.docker
            .start_container(
                &self.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .with_context(|| format!("docker start {}", self.name))
    }

    /// `None` while the container runs, else its exit code (as the engine reports it).
    pub async fn exited(&self) -> Result<Option<Option<i64>>> {
        let info = self.docker.inspect_container(&self.id, None).await?;
        let state = info.state.unwrap_or_default();
        Ok((state.running != Some(true)).then_some(state.exit_code))
    }

    /// Wait for the container to exit and return its exit code: Docker's wait endpoint
    /// (`docker wait`), which answers when the container stops, bounded by `deadline`.
    pub async fn wait_exit(&self, deadline: Duration) -> Result<i64> {
        let opts = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let wait = async {
            let mut answers = self.docker.wait_container(&self.id, Some(opts));
            match answers.next().await {
                Some(Ok(r)) => Ok(r.status_code),
                // bollard reports a non-zero exit status as an error; here it is the answer.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Ok(code)
                }
                Some(Err(e)) => Err(anyhow!(e).context(format!("docker wait {}", self.name))),
                None => bail!("docker wait {}: the engine answered nothing", self.name),
            }
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(code) => code,
            Err(_) => bail!(
                "timed out after {deadline:?} waiting for {} to exit; last observation: still \
                 running",
                self.name
            ),
        }
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
}
