//! The container's own lifecycle (docs/contract.md §2.1, §2.2 point 7, §2.4).

use std::time::Duration;

use anyhow::{Result, anyhow, ensure};

use crate::container::tail;
use crate::image::progress;
use crate::support::STATE_DEADLINE;
use crate::{ContainerSpec, Ctx, wait};

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

/// The moment the container's PID 1 became the image's program and took hold of the stop
/// signal: `docker start` returns while runc's own init may still be about to exec `/init`, and
/// a stop signal that reaches PID 1 before `/init` blocks it is discarded by the kernel before
/// any instruction of the image runs (during the execve it is queued under runc's Go handler,
/// then dropped on the way back to user mode; after the execve's handler reset it is ignored at
/// once: a namespace's init gets no default-action signals). Measured with stops sent right
/// after `docker start` returned on a loaded 2-core machine: 2 of 400 hit runc's Go code
/// (exit 2), 5 of 400 that execve (137, nothing pending when stage 1 started). No image can
/// close that window, so the offsets count from the first moment the image owns the signal:
/// PID 1's `SigBlk` (or `SigCgt`) in `/proc/<pid>/status` holds SIGTERM, which `/init`'s first
/// instruction sets (init/trampoline.S). PID 1's `comm` leaving `runc:[2:INIT]` is not enough:
/// the kernel renames the task just before it resets the handlers, and a loaded machine can
/// hold PID 1 between that and `/init`'s first instruction for tens of milliseconds (an
/// 8-thread soak lost one stop that way: exit 137, no teardown in the log). On a remote engine,
/// where the container's PID is not in this host's /proc, they count from `docker start`
/// returning.
async fn pid1_holds_the_stop_signal(h: &crate::Container) -> Result<tokio::time::Instant> {
    let now = tokio::time::Instant::now();
    let info = h
        .docker()
        .inspect_container(
            &h.id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await?;
    // A remote engine's PID would name an unrelated process of this host.
    let Some(pid) = info
        .state
        .and_then(|s| s.pid)
        .filter(|p| *p > 0 && crate::docker::engine_is_local())
    else {
        return Ok(now);
    };
    let status = format!("/proc/{pid}/status");
    crate::wait::poll_every(
        &format!("{status} to show SIGTERM blocked or caught by the image's /init"),
        Duration::from_secs(5),
        Duration::from_micros(200),
        || async {
            match std::fs::read_to_string(&status) {
                // Not this host's process table (remote engine), or PID 1 already gone.
                Err(_) => Ok(Some(now)),
                Ok(text) if !text.starts_with("Name:\trunc:") && holds_sigterm(&text) => {
                    Ok(Some(tokio::time::Instant::now()))
                }
                Ok(text) => Err(anyhow!(
                    "{}",
                    text.lines()
                        .filter(|l| ["Name:", "SigBlk:", "SigCgt:"]
                            .iter()
                            .any(|k| l.starts_with(k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        },
    )
    .await
}

/// Whether a `/proc/<pid>/status` text shows SIGTERM (15, bit 14) blocked or caught.
fn holds_sigterm(status: &str) -> bool {
    const SIGTERM_BIT: u64 = 1 << (15 - 1);
    status.lines().any(|l| {
        ["SigBlk:", "SigCgt:"].iter().any(|key| {
            l.strip_prefix(key)
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                .is_some_and(|mask| mask & SIGTERM_BIT != 0)
        })
    })
}

/// The log lines after the first `seen` (the container's log spans every round).
fn this_round(log: &str, seen: usize) -> String {
    log.lines().skip(seen).collect::<Vec<_>>().join("\n")
}

/// Offsets into a boot at which `docker_stop_is_prompt` stops the container, counted from the
/// moment PID 1 runs the image's `/init` (see `pid1_holds_the_stop_signal`). Zero means the stop request
/// goes out on the API socket at once — it then reaches PID 1 some 10–25 ms later, while stage 1
/// runs or s6-svscan is starting; the others spread over the boot (stage 2 and cont-init run
/// until about 300 ms).
pub const STOP_OFFSETS_MS: [u64; 20] = [
    0, 0, 0, 0, 1, 2, 4, 6, 8, 10, 13, 16, 20, 25, 35, 50, 80, 120, 200, 300,
];
/// A stop slower than this is a stop that waited for something it should not have.
pub const PROMPT_STOP: Duration = Duration::from_secs(2);

/// `docker stop` tears everything down well inside Docker's 10 s grace, and nothing needs a
/// SIGKILL (exit 137): twenty times during a boot at the offsets above (a stop that reaches
/// PID 1 before s6-svscan listens must not be lost), then three times right after readiness
/// (the container's command is still handing the gateway to s6).
pub async fn docker_stop_is_prompt(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start(ContainerSpec::default().no_wait()).await?;
    h.stop().await?;
    h.wait_exit(Duration::from_secs(15)).await?;
    for (round, offset_ms) in STOP_OFFSETS_MS.iter().enumerate() {
        let offset = Duration::from_millis(*offset_ms);
        // Read before the start, so the failure text shows this round's boot only.
        let seen = h.logs().await?.lines().count();
        h.docker()
            .start_container(
                &h.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await?;
        let started = pid1_holds_the_stop_signal(&h).await?;
        // The stop's offset into the boot is the variable under test, not a wait for anything.
        tokio::time::sleep_until(started + offset).await;
        let took = h.stop().await?;
        let code = h.wait_exit(Duration::from_secs(5)).await?;
        ensure!(
            took < PROMPT_STOP && code != 137,
            "docker stop {offset_ms} ms into a boot took {took:.2?} and gave exit {code} (round {}): \
             {}\nthis round's log:\n{}",
            round + 1,
            if code == 137 {
                "Docker had to SIGKILL the container"
            } else {
                "slower than 2 s"
            },
            this_round(&h.logs().await?, seen)
        );
    }
    progress(format!(
        "docker stop during boot: {} stops at 0–300 ms, all under {PROMPT_STOP:?} without SIGKILL",
        STOP_OFFSETS_MS.len()
    ));
    for round in 1..=3 {
        h.start_again().await?;
        let took = h.stop().await?;
        let code = h.wait_exit(Duration::from_secs(5)).await?;
        ensure!(
            took < PROMPT_STOP && code != 137,
            "docker stop right after readiness took {took:.2?} and gave exit {code} (round {round})\nlog (last 30 lines):\n{}",
            tail(&h.logs().await?, 30)
        );
    }
    h.remove().await
}

/// A process started after the stop's TERM went out (here: hermes' own, which starts a fresh
/// `sleep` from its TERM trap; in the wild, a boot job forking its next command) must still be
/// told to go: the teardown keeps signalling until nothing is left, so the stop stays prompt
/// instead of waiting for the SIGKILL 3 s later. A stop during the boot once took 3.5–3.9 s
/// this way (`supervisors-ready` forked its next poll after the one TERM).
pub async fn stop_reaches_processes_started_during_it(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start(ContainerSpec::default()).await?;
    // As hermes, detached from the exec: on TERM it starts a sleep that never saw that TERM.
    h.sh(
        "sh -c 'trap \"sleep 60 & echo forked >/tmp/forked; exit 0\" TERM; \
         echo armed >/tmp/armed; while :; do sleep 1; done' </dev/null >/dev/null 2>&1 &",
    )
    .await?
    .succeeds();
    wait::poll_until("the TERM trap armed", STATE_DEADLINE, || async {
        let o = h.sh("cat /tmp/armed").await?;
        Ok::<_, anyhow::Error>(o.success().then_some(()))
    })
    .await?;
    let took = h.stop().await?;
    let code = h.wait_exit(Duration::from_secs(5)).await?;
    let logs = h.logs().await?;
    ensure!(
        took < PROMPT_STOP && code != 137,
        "docker stop took {took:.2?} and gave exit {code}: a process forked after the teardown's \
         TERM was left for the SIGKILL\nlog (last 20 lines):\n{}",
        tail(&logs, 20)
    );
    // The premise: the trap did fork its sleep during the stop (its mark is in `/tmp`, which
    // the next boot keeps).
    let mut again = h;
    again.start_again().await?;
    let o = again.sh("cat /tmp/forked").await?;
    o.succeeds_or("the TERM trap never forked its sleep: the stop proved nothing");
    again.remove().await
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
    // The warning is one line of its own that names the reason (not PID 1) and what PID 1 is.
    let warning = logs
        .lines()
        .find(|l| l.contains("warning: not PID 1 (pid "));
    ensure!(
        warning.is_some_and(|l| l.contains("PID 1 is '") && l.contains("without s6 supervision")),
        "no warning line naming why (not PID 1) and what PID 1 is; found {warning:?}\nlog:\n{logs}"
    );
    ensure!(
        !logs.contains("can only run as pid 1"),
        "s6-overlay's refusal leaked\nlog:\n{logs}"
    );
    h.remove().await
}

#[cfg(test)]
mod tests {
    use super::holds_sigterm;

    #[test]
    fn sigterm_is_read_from_the_blocked_or_caught_mask() {
        let status = |blk: &str, cgt: &str| {
            format!(
                "Name:\tinit\nSigPnd:\t0000000000000000\nSigBlk:\t{blk}\nSigIgn:\t0000000000000000\nSigCgt:\t{cgt}\n"
            )
        };
        // /init's first instruction: HUP, INT, QUIT, TERM blocked.
        assert!(holds_sigterm(&status(
            "0000000000004007",
            "0000000000000000"
        )));
        // s6-svscan later: caught.
        assert!(holds_sigterm(&status(
            "0000000000000000",
            "0000000000004000"
        )));
        // The execve's handler reset: nothing yet; and SIGUSR1 (bit 9) alone is not TERM.
        assert!(!holds_sigterm(&status(
            "0000000000000000",
            "0000000000000000"
        )));
        assert!(!holds_sigterm(&status(
            "0000000000000200",
            "0000000000000000"
        )));
    }
}
