//! Running one scenario: a shared runtime, the image built once per process, leftovers swept
//! once, the result recorded in the JSON report, and failures re-raised for libtest.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use anyhow::Result;
use bollard::Docker;
use futures_util::FutureExt;
use tokio::sync::{Mutex, OnceCell};

use crate::container::{Container, ContainerSpec, ExecDefaults, sweep_leftovers};
use crate::image::{Variant, ensure_image, progress};
use crate::{config, report};

/// One runtime for every scenario of a test binary. testcontainers shares one Docker client
/// across the process; a runtime per test would leave that client's connections bound to a
/// runtime that has already shut down.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("building the tokio runtime for the conformance suite")
});

/// Built images per variant, errors included (a failed build is not retried by every test).
/// One cell per variant, so a regression image being built never blocks scenarios that only
/// need the production image.
type ImageCell = Arc<OnceCell<Result<String, String>>>;
static IMAGES: LazyLock<Mutex<HashMap<Variant, ImageCell>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static SWEPT: OnceCell<()> = OnceCell::const_new();

/// What a scenario gets: the engine, the image under test, its own name and how its
/// containers' execs run.
#[derive(Clone)]
pub struct Ctx {
    pub docker: Docker,
    pub image: String,
    pub scenario: String,
    /// Given to every container this scenario starts; its root reasons are the scenario's,
    /// for its JSON record.
    pub exec: ExecDefaults,
}

impl Ctx {
    pub fn new(docker: Docker, image: String, scenario: &str) -> Self {
        Ctx {
            docker,
            image,
            scenario: scenario.to_string(),
            exec: ExecDefaults::scenario(),
        }
    }

    /// The same scenario against another image.
    pub fn with_image(&self, image: &str) -> Self {
        Ctx {
            image: image.to_string(),
            ..self.clone()
        }
    }

    /// The same scenario with its execs as `user`, with `env`; root reasons still the
    /// scenario's.
    fn exec_as(&self, user: &str, env: &[(&str, &str)]) -> Self {
        let exec = ExecDefaults {
            user: user.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            root_reasons: self.exec.root_reasons.clone(),
            costs: self.exec.costs.clone(),
        };
        Ctx {
            exec,
            ..self.clone()
        }
    }

    /// Exec as hermes whatever `HERMES_CONFORMANCE_USER` says.
    pub fn as_hermes(&self) -> Self {
        self.exec_as("hermes", &[])
    }

    /// The audit gap, reproduced: run as root, and tell `hermes` to stay root (instead of
    /// dropping to hermes at the door, `docs/contract.md` §6.6) — exactly how the historical
    /// tests ran.
    pub fn as_root_audit(&self) -> Self {
        self.exec_as("root", &[("HERMES_DOCKER_EXEC_AS_ROOT", "1")])
    }

    /// Start a container for this scenario and wait for its readiness marker.
    pub async fn start(&self, spec: ContainerSpec) -> Result<Container> {
        let exec = self.exec.clone();
        Container::start(&self.docker, &self.image, &self.scenario, spec, exec).await
    }

    /// The product as a person runs it: default command, no options.
    pub async fn start_default(&self) -> Result<Container> {
        self.start(ContainerSpec::default()).await
    }

    /// The product as a person runs it, in a container this scenario shares with the other
    /// scenarios of `pool` (`container/shared.rs`): for a scenario that only uses profiles of
    /// its own names (their gateways' derived ports distinct: `shared_pool_ports_are_distinct`)
    /// and reads what others leave alone. One that restarts, stops or kills its container, or
    /// asserts anything about every profile or process, uses `start`.
    pub async fn start_shared(&self, pool: &'static str) -> Result<Container> {
        Container::shared(&self.docker, &self.image, pool, self.exec.clone()).await
    }
}

/// The image every scenario of this process runs against: `HERMES_CONFORMANCE_IMAGE` if set,
/// else the freshly built image of `variant`.
pub async fn image_for(docker: &Docker, variant: &Variant) -> Result<String> {
    if variant.is_production()
        && let Some(image) = config::image_override()
    {
        docker
            .inspect_image(&image)
            .await
            .map_err(|e| anyhow::anyhow!("{}={image}: no such image ({e})", config::ENV_IMAGE))?;
        return Ok(image);
    }
    let cell = IMAGES
        .lock()
        .await
        .entry(variant.clone())
        .or_default()
        .clone();
    cell.get_or_init(|| async {
        ensure_image(docker, variant)
            .await
            .map_err(|e| format!("building the image of {} failed: {e:#}", variant.label()))
    })
    .await
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Connect to Docker or end the test with one clear line (or skip, when explicitly asked).
fn docker_or_bail() -> Option<Docker> {
    if let Some(e) = config::retired_keep_error() {
        panic!("{e}");
    }
    match RUNTIME.block_on(crate::docker::connect()) {
        Ok(d) => Some(d),
        Err(e) if config::skip_without_docker() => {
            progress(format!("SKIPPED: {e}"));
            None
        }
        Err(e) => panic!("{e:#}"),
    }
}

/// The running test's own name, as `cargo test`, nextest and the JUnit report show it (e.g.
/// `gateway::non_truthy_opt_out_is_supervised::case_1_zero`). libtest runs every test on a
/// thread named after the test, so the scenario's name is derived from its test function and
/// cannot drift from it; a filter copied from the summary selects exactly that scenario.
pub fn current_test_name() -> String {
    match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        other => panic!(
            "conformance::run must be called from a #[test] function (libtest names that \
             thread after the test); this thread is named {other:?}"
        ),
    }
}

/// Run the calling test's scenario against the production image.
pub fn run<F, Fut>(scenario: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    run_variant(&Variant::production(), scenario)
}

/// Run the calling test's scenario against the image of `variant`.
pub fn run_variant<F, Fut>(variant: &Variant, scenario: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let name = current_test_name();
    let name = name.as_str();
    let Some(docker) = docker_or_bail() else {
        return;
    };
    let started = Instant::now();
    let mut image_name = String::new();
    let mut root_reasons = None;
    let mut costs = None;
    let outcome: Result<Result<()>, Box<dyn std::any::Any + Send>> = RUNTIME.block_on(async {
        SWEPT
            .get_or_init(|| async {
                match sweep_leftovers(&docker).await {
                    Ok(0) => {}
                    Ok(n) => progress(format!("swept {n} container(s) left by a killed run")),
                    Err(e) => progress(format!("could not sweep leftovers: {e}")),
                }
            })
            .await;
        let image = match image_for(&docker, variant).await {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        image_name = image.clone();
        let ctx = Ctx::new(docker.clone(), image, name);
        root_reasons = Some(ctx.exec.root_reasons.clone());
        costs = Some(ctx.exec.costs.clone());
        AssertUnwindSafe(scenario(ctx)).catch_unwind().await
    });
    let (passed, message) = match &outcome {
        Ok(Ok(())) => (true, String::new()),
        Ok(Err(e)) => (false, format!("{e:#}")),
        Err(panic) => (false, panic_text(panic.as_ref())),
    };
    report::append(&report::ScenarioRecord {
        scenario: name.to_string(),
        passed,
        duration_ms: started.elapsed().as_millis(),
        message: message.lines().take(12).collect::<Vec<_>>().join("\n"),
        user: config::scenario_user(),
        image: image_name,
        root_execs: root_reasons.map(|r| r.all()).unwrap_or_default(),
        containers: costs.as_ref().map_or(0, |c| c.counts().0),
        execs: costs.as_ref().map_or(0, |c| c.counts().1),
        run: String::new(), // filled in by report::append
    });
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("scenario {name} failed: {e:#}"),
        Err(p) => std::panic::resume_unwind(p),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic without a message".into()
    }
}
