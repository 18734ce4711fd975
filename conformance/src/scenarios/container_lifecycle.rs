//! The container's own lifecycle (SPEC §2 points 1, 7, 8).

use std::time::Duration;

use anyhow::{Result, ensure};

use crate::image::progress;
use crate::{ContainerSpec, Ctx};

/// The main program's exit code becomes the container's.
pub async fn main_exit_code_is_container_exit_code(ctx: Ctx, code: i64) -> Result<()> {
    let script = format!("exit {code}");
    let h = ctx
        .start(
            ContainerSpec::default()
                .cmd(&["sh", "-c", &script])
                .no_wait(),
        )
        .await?;
    let got = h.wait_exit(Duration::from_secs(20)).await?;
    ensure!(
        got == code,
        "command exited {code}, container exited {got}\nlog:\n{}",
        h.logs().await?
    );
    h.remove().await
}

/// `docker stop` tears everything down well inside Docker's 10 s grace, and nothing needs a
/// SIGKILL (exit 137): checked three times right after readiness (the container's command is
/// still handing the gateway to s6) and three times right after `docker start` (PID 1 may
/// still be `/init`) — the two moments slow shutdowns were found in.
pub async fn docker_stop_is_prompt(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    for round in 1..=3 {
        let took = h.stop().await?;
        let code = h.wait_exit(Duration::from_secs(5)).await?;
        progress(format!(
            "docker stop took {took:.0?} (round {round}, exit {code})"
        ));
        ensure!(
            took < Duration::from_secs(5),
            "docker stop took {took:?} in round {round}: the stage layer did not shut down promptly (exit {code})\nlog:\n{}",
            h.logs().await?
        );
        ensure!(
            code != 137,
            "round {round}: something had to be SIGKILLed (exit 137) during docker stop ({took:?})\nlog:\n{}",
            h.logs().await?
        );
        if round < 3 {
            h.start_again().await?;
        }
    }
    // And while it boots: a stop right after `docker start`, while /init (sh) may still be
    // PID 1 and cont-init may be running, must be just as prompt.
    for round in 1..=3 {
        h.docker()
            .start_container(
                &h.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await?;
        let took = h.stop().await?;
        let code = h.wait_exit(Duration::from_secs(5)).await?;
        progress(format!(
            "docker stop during boot took {took:.0?} (round {round}, exit {code})"
        ));
        ensure!(
            took < Duration::from_secs(5) && code != 137,
            "docker stop during boot took {took:?} and gave exit {code} (round {round})\nlog:\n{}",
            h.logs().await?
        );
    }
    h.remove().await
}

/// With `docker run --init`, `/init` is not PID 1: it warns and still runs the command as
/// hermes, never "can only run as pid 1".
pub async fn not_pid1_still_runs_the_command(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(
            ContainerSpec::default()
                .docker_init()
                .cmd(&["sh", "-c", "echo fallback-ran-as-$(id -u)"])
                .no_wait(),
        )
        .await?;
    let code = h.wait_exit(Duration::from_secs(20)).await?;
    let logs = h.logs().await?;
    ensure!(code == 0, "container exited {code}\nlog:\n{logs}");
    ensure!(
        logs.contains("fallback-ran-as-10000"),
        "command did not run as hermes\nlog:\n{logs}"
    );
    ensure!(
        logs.contains("warning"),
        "no warning about not being PID 1\nlog:\n{logs}"
    );
    ensure!(
        !logs.contains("can only run as pid 1"),
        "s6-overlay's refusal leaked\nlog:\n{logs}"
    );
    h.remove().await
}
