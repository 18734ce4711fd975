//! Commands inside the container: as the scenario user (hermes) by default, as root only with
//! a reason that the failure text and the scenario's record carry.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

use crate::exec::ExecOutcome;
use crate::{config, dump, wait};

use super::{Container, EXEC_DEADLINE};

impl Container {
    /// `argv` as the scenario user (hermes by default): `.await` it, or first ask for root
    /// with a reason (`.as_root("why")`), another deadline or extra environment.
    pub fn exec<'a>(&'a self, argv: &[&str]) -> Exec<'a> {
        Exec {
            c: self,
            argv: argv.iter().map(|a| a.to_string()).collect(),
            root_reason: None,
            env: Vec::new(),
            deadline: EXEC_DEADLINE,
        }
    }

    /// A shell snippet as the scenario user (`sh -c script`), built like `exec`.
    pub fn sh<'a>(&'a self, script: &str) -> Exec<'a> {
        self.exec(&["sh", "-c", script])
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
            root_reason: None,
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
        self.costs.exec();
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
                    return Err("still running".to_string());
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
}

/// One `docker exec` being set up (see `Container::exec`). Root is a property of the call, with
/// its reason: the reason shows in the exec's failure text and the scenario's JSON record, so
/// a reader never has to guess why a scenario left hermes.
#[must_use = "an exec does nothing until it is awaited"]
pub struct Exec<'a> {
    c: &'a Container,
    argv: Vec<String>,
    root_reason: Option<&'static str>,
    env: Vec<(String, String)>,
    deadline: Duration,
}

impl<'a> Exec<'a> {
    /// Run as root, for `reason` (it must say what root gives the scenario that hermes cannot).
    /// Root's exec gets only the environment given to this call, not the scenario's.
    pub fn as_root(mut self, reason: &'static str) -> Self {
        self.root_reason = Some(reason);
        self
    }

    /// Another deadline than `EXEC_DEADLINE`.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// One more environment variable for this exec.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    async fn run(self) -> Result<ExecOutcome> {
        let user = match self.root_reason {
            Some(reason) => {
                self.c.root_reasons.record(reason);
                "root"
            }
            None => self.c.user.as_str(),
        };
        let argv: Vec<&str> = self.argv.iter().map(String::as_str).collect();
        let scenario_env = if self.root_reason.is_some() {
            &[][..]
        } else {
            &self.c.exec_env[..]
        };
        let env: Vec<(&str, &str)> = scenario_env
            .iter()
            .chain(&self.env)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut o = self.c.exec_full(user, &argv, &env, self.deadline).await?;
        o.root_reason = self.root_reason.map(str::to_string);
        Ok(o)
    }
}

impl<'a> std::future::IntoFuture for Exec<'a> {
    type Output = Result<ExecOutcome>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// How a container's execs run unless one asks for root: the user, extra environment, and
/// where root execs leave their reasons. Given once, when the container starts
/// ([`Container::start`]); a scenario's [`Ctx`](crate::Ctx) carries the set its containers get.
#[derive(Debug, Clone)]
pub struct ExecDefaults {
    /// `hermes` unless `HERMES_CONFORMANCE_USER` (or a `Ctx` variant) says otherwise.
    pub user: String,
    /// Extra environment for every exec as `user`.
    pub env: Vec<(String, String)>,
    pub root_reasons: RootReasons,
    /// What the scenario's containers cost the engine, for its JSON record.
    pub costs: Costs,
}

impl ExecDefaults {
    /// A scenario's: as `HERMES_CONFORMANCE_USER` (hermes unless set), no extra environment.
    pub fn scenario() -> Self {
        Self::as_user(&config::scenario_user())
    }

    /// As `user`, no extra environment.
    pub fn as_user(user: &str) -> Self {
        ExecDefaults {
            user: user.to_string(),
            env: Vec::new(),
            root_reasons: RootReasons::default(),
            costs: Costs::default(),
        }
    }
}

/// The reasons a scenario gave for its root execs, shared by its containers and read by the
/// runner into the scenario's JSON record.
#[derive(Debug, Clone, Default)]
pub struct RootReasons(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl RootReasons {
    pub fn record(&self, reason: &str) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !v.iter().any(|r| r == reason) {
            v.push(reason.to_string());
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// How many containers a scenario started and how many execs it ran in them (permission dumps
/// and readiness waits included): the two things that cost the engine CPU (a container cycle
/// ~1.2 s, an exec ~90 ms here; docs/benchmarks.md), counted per scenario so the summary shows
/// where a run's time goes.
#[derive(Debug, Clone, Default)]
pub struct Costs(std::sync::Arc<[std::sync::atomic::AtomicU32; 2]>);

impl Costs {
    pub fn container(&self) {
        self.0[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn exec(&self) {
        self.0[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// (containers, execs) so far.
    pub fn counts(&self) -> (u32, u32) {
        let get = |i: usize| self.0[i].load(std::sync::atomic::Ordering::Relaxed);
        (get(0), get(1))
    }
}
