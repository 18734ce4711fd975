//! Containers shared by scenarios that say they can share one (`Ctx::start_shared`): scenarios
//! that only create, start, stop and delete profiles of their own names, read the image and
//! never restart, stop, kill or reconfigure the container. A container cycle costs about 1.2 s
//! of CPU on the two-core machines this suite runs on (docs/benchmarks.md), and the suite is
//! CPU-bound: a scenario that needs none of its own should not pay for one.
//!
//! A pool's container starts on the first scenario's request (with the default spec: the
//! product as a person runs it) and is removed when the test process exits (`atexit`; a
//! killed run's is swept by `sweep_leftovers` like any other). Each scenario gets a view of
//! it: execs as that scenario's user, counted and reasoned for that scenario; `remove` on a
//! view does nothing, and the lifecycle verbs refuse. Under nextest (one process per test) a
//! pool holds one scenario, which is exactly the cost of `Ctx::start`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use bollard::Docker;
use tokio::sync::OnceCell;

use super::leftovers::force_remove;
use super::{Container, ContainerSpec, ExecDefaults};
use crate::config;

/// A pool's container as the first scenario started it; kept for the life of the process.
struct Owner {
    container: Container,
}

type Cell = Arc<OnceCell<Result<Owner, String>>>;

/// One cell per (image, pool): a regression image gets its own.
static POOLS: LazyLock<Mutex<HashMap<(String, &'static str), Cell>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static CLEANUP: Once = Once::new();

impl Container {
    /// A view of `pool`'s container of `image`, started now if this is its first scenario.
    pub async fn shared(
        docker: &Docker,
        image: &str,
        pool: &'static str,
        exec: ExecDefaults,
    ) -> Result<Container> {
        let cell = POOLS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((image.to_string(), pool))
            .or_default()
            .clone();
        let owner = cell
            .get_or_init(|| async {
                CLEANUP.call_once(|| {
                    // SAFETY: registers a plain `extern "C" fn` with no arguments, as atexit
                    // requires; it runs once, on the main thread, as the process exits.
                    unsafe { libc::atexit(remove_pools) };
                });
                Container::start(
                    docker,
                    image,
                    &format!("shared-{pool}"),
                    ContainerSpec::default(),
                    exec.clone(),
                )
                .await
                .map(|container| Owner { container })
                .map_err(|e| format!("{e:#}"))
            })
            .await
            .as_ref()
            .map_err(|e| anyhow!("the shared {pool:?} container did not start: {e}"))?;
        let c = &owner.container;
        // A container an earlier scenario broke is named as such, not met as a mystery later.
        if let Some(code) = c.exited().await? {
            bail!(
                "the shared {pool:?} container {} is no longer running (exit code {code:?}): a \
                 scenario sharing it stopped it",
                c.name
            );
        }
        Ok(Container {
            docker: docker.clone(),
            handle: None,
            id: c.id.clone(),
            name: c.name.clone(),
            user: exec.user,
            boot_id: c.boot_id.clone(),
            exec_env: exec.env,
            root_reasons: exec.root_reasons,
            costs: exec.costs,
            shared: Some(pool),
        })
    }

    /// Refuses `verb` on a shared container: the scenarios sharing it must not see it go.
    pub(super) fn exclusive(&self, verb: &str) -> Result<()> {
        match self.shared {
            Some(pool) => bail!(
                "{verb} {}: this container is shared by the {pool:?} scenarios; a scenario that \
                 restarts, stops, starts or kills its container asks for its own (Ctx::start)",
                self.name
            ),
            None => Ok(()),
        }
    }
}

/// Removes every pool's container as the process exits (unless kept on purpose). Errors are
/// dropped: the next run's sweep removes whatever is left.
extern "C" fn remove_pools() {
    let _ = std::panic::catch_unwind(|| {
        if config::keep_containers() {
            return;
        }
        let ids: Vec<String> = POOLS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(|cell| cell.get()?.as_ref().ok().map(|o| o.container.id.clone()))
            .collect();
        if ids.is_empty() {
            return;
        }
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(docker) = crate::docker::connect().await else {
                return;
            };
            for id in ids {
                let _ =
                    tokio::time::timeout(Duration::from_secs(20), force_remove(&docker, &id)).await;
            }
        });
    });
}
