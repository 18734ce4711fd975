//! Coming from the original hermes-agent image (contract §1, §5): the habits of its users —
//! bare subcommands as the container's command, `PUID`/`PGID` (and `HERMES_UID`/`HERMES_GID`),
//! the `--user` guard, `HERMES_GATEWAY_BOOTSTRAP_STATE`, and the boot's repair of the product's
//! own files at the top of `$HERMES_HOME` — checked the way such a user would meet them.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};

use crate::support::{
    GATEWAY, HERMES_HOME, STATE_DEADLINE, assert_absent, create_profile, ensure_runs_as,
    profile_home, slot_dir, svstat, wait_svstat,
};
use crate::{Container, ContainerSpec, Ctx, wait};

const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// Runs the container with `spec` (a command that exits) to its end; returns exit code and log.
async fn run_to_exit(ctx: &Ctx, spec: ContainerSpec) -> Result<(i64, String)> {
    let h = ctx.start(spec.no_wait()).await?;
    let code = h.wait_exit(EXIT_DEADLINE).await?;
    let logs = h.logs().await?;
    h.remove().await?;
    Ok((code, logs))
}

/// `docker run IMG <args>` where `<args>` is a `hermes` subcommand or option: it runs as
/// `hermes <args>` with `hermes`' exit code and output; `docker run --init` too.
pub async fn bare_subcommands_run_hermes(ctx: Ctx) -> Result<()> {
    for (args, init, want) in [
        (&["--help"][..], false, "Usage: hermes"),
        (
            &["dashboard", "--help"][..],
            false,
            "Usage: hermes dashboard",
        ),
        (&["profile", "list"][..], false, "default  "),
        (&["--help"][..], true, "Usage: hermes"),
    ] {
        let mut spec = ContainerSpec::default().cmd(args);
        if init {
            spec = spec.docker_init();
        }
        let (code, logs) = run_to_exit(&ctx, spec).await?;
        ensure!(
            code == 0 && logs.contains(want),
            "`docker run{} IMG {}` exited {code}; expected 0 and {want:?} in its output:\n{logs}",
            if init { " --init" } else { "" },
            args.join(" ")
        );
        ensure!(
            !logs.contains("can only run as pid 1") && !logs.contains("No such file"),
            "`docker run IMG {}` did not reach hermes:\n{logs}",
            args.join(" ")
        );
    }
    // A usage error keeps hermes' exit code.
    let (code, logs) = run_to_exit(
        &ctx,
        ContainerSpec::default().cmd(&["profile", "nosuchverb"]),
    )
    .await?;
    ensure!(
        code == 2,
        "`docker run IMG profile nosuchverb` exited {code}, hermes' usage errors exit 2:\n{logs}"
    );
    Ok(())
}

/// `docker run IMG gateway run`: the main program is `hermes gateway run` as hermes, which hands
/// the default gateway to s6 (contract §6.4).
pub async fn bare_gateway_run_is_supervised(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(ContainerSpec::default().cmd(&["gateway", "run"]))
        .await?;
    // Up and wanted up: s6 supervises it, not merely started it once.
    let up = wait_svstat(&h, &slot_dir("default"), "up", STATE_DEADLINE, |s| {
        s.up && s.wanted_up && s.pid > 0
    })
    .await?;
    let o = h.exec(&["ps", "-eo", "uid=,args="]).await?;
    o.succeeds();
    // The main program's own command line (not stage 2's, which names it as an argument, and
    // not the supervised gateway's, which has `--replace`).
    let main = o
        .stdout_lines()
        .into_iter()
        .map(str::trim)
        .find(|l| {
            l.split_once(' ')
                .is_some_and(|(_, args)| args.trim() == "/opt/hermes/bin/hermes gateway run")
        })
        .map(str::to_string);
    ensure!(
        main.as_deref().is_some_and(|l| l.starts_with("10000 ")),
        "the container's main program `hermes gateway run` should run as uid 10000: {main:?}\n{o}"
    );
    ensure_runs_as(&h, up.pid, &GATEWAY, 10000, STATE_DEADLINE).await?;
    // The hand-over said so, and the unsupervised fallback did not run.
    let logs = h.logs().await?;
    ensure!(
        logs.contains("the gateway now runs under s6 supervision as gateway-default")
            && !logs.contains("in the foreground instead, unsupervised"),
        "the container's `hermes gateway run` should hand the gateway to s6, not fall back to \
         serving it unsupervised\nlog:\n{logs}"
    );
    h.remove().await
}

/// hermes' ids as `id` reports them inside the container.
async fn hermes_ids(h: &Container) -> Result<String> {
    let o = h
        .exec(&["sh", "-c", "echo $(id -u hermes) $(id -g hermes)"])
        .await?;
    o.succeeds();
    Ok(o.out().to_string())
}

/// The whole lifecycle as the remapped hermes: a new slot is readable and controllable, its
/// gateway runs as the new uid, and it can be stopped and deleted. The first check is the raw
/// s6 one, so a slot skeleton that ignores the remap fails with s6's own `Permission denied`.
pub async fn lifecycle_as(h: &Container, uid: &str, p: &str) -> Result<()> {
    create_profile(h, p).await?;
    let dir = slot_dir(p);
    h.exec(&["/command/s6-svstat", &dir]).await?.succeeds();
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    let up = wait_svstat(h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?;
    let want: u32 = uid.parse().context("the remapped uid")?;
    ensure_runs_as(h, up.pid, &GATEWAY, want, STATE_DEADLINE).await?;
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    wait_svstat(h, &dir, "down", STATE_DEADLINE, |s| !s.up && !s.wanted_up).await?;
    h.exec(&["hermes", "profile", "delete", p, "--yes"])
        .await?
        .succeeds();
    assert_absent(h, &dir, "profile delete left the slot").await?;
    Ok(())
}

/// `PUID=1000 PGID=1000` on a volume whose files belong to 1000, as a host user's bind-mounted
/// directory would: hermes becomes 1000:1000, the whole lifecycle works as hermes, and what
/// hermes writes there is 1000:1000 — usable by the host user.
pub async fn puid_matches_a_host_directory(ctx: Ctx) -> Result<()> {
    let volume = crate::container::unique_name("puid");
    let result = async {
        let seed = ctx
            .start(ContainerSpec::default().data_volume(&volume))
            .await?;
        seed.sh("chown -R 1000:1000 /opt/data")
            .as_root("make the volume look like a host directory owned by uid 1000")
            .await?
            .succeeds();
        seed.remove().await?;
        let h = ctx
            .start(
                ContainerSpec::default()
                    .data_volume(&volume)
                    .env("PUID", "1000")
                    .env("PGID", "1000"),
            )
            .await?;
        ensure!(
            hermes_ids(&h).await? == "1000 1000",
            "hermes' ids are {}",
            hermes_ids(&h).await?
        );
        lifecycle_as(&h, "1000", "hosted").await?;
        create_profile(&h, "kept").await?;
        h.exec(&[
            "stat",
            "-c",
            "%u:%g",
            &profile_home("kept"),
            &format!("{}/SOUL.md", profile_home("kept")),
        ])
        .await?
        .succeeds()
        .stdout_is("1000:1000\n1000:1000");
        h.remove().await
    }
    .await;
    crate::container::remove_volume(&ctx.docker, &volume).await;
    result
}

/// `HERMES_UID`/`HERMES_GID` beat `PUID`/`PGID`; a NAS-style `PUID=99 PGID=100` works.
pub async fn remap_variants(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(
            ContainerSpec::default()
                .env("PUID", "1000")
                .env("PGID", "1000")
                .env("HERMES_UID", "2000")
                .env("HERMES_GID", "2001"),
        )
        .await?;
    ensure!(
        hermes_ids(&h).await? == "2000 2001",
        "HERMES_UID/GID must win: {}",
        hermes_ids(&h).await?
    );
    lifecycle_as(&h, "2000", "winner").await?;
    h.remove().await?;
    let h = ctx
        .start(
            ContainerSpec::default()
                .env("PUID", "99")
                .env("PGID", "100"),
        )
        .await?;
    ensure!(
        hermes_ids(&h).await? == "99 100",
        "NAS ids: {}",
        hermes_ids(&h).await?
    );
    lifecycle_as(&h, "99", "nas").await?;
    h.remove().await
}

/// `PUID=0`, `PUID=abc`, `PUID=70000`: refused with one line each; the boot goes on as 10000.
pub async fn bad_puid_is_refused(ctx: Ctx) -> Result<()> {
    for bad in ["0", "abc", "70000"] {
        let h = ctx.start(ContainerSpec::default().env("PUID", bad)).await?;
        ensure!(
            hermes_ids(&h).await? == "10000 10000",
            "PUID={bad}: hermes is {}",
            hermes_ids(&h).await?
        );
        let logs = h.logs().await?;
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(&format!("PUID={bad}")))
            .collect();
        ensure!(
            lines.len() == 1 && lines[0].contains("ignoring"),
            "PUID={bad}: expected one line ignoring it, the log has {lines:?}\n{logs}"
        );
        h.exec(&["hermes", "status"]).await?.succeeds();
        h.remove().await?;
    }
    Ok(())
}

/// `docker run --user 1000:1000` is refused before anything runs, naming the supported way;
/// `--user` equal to hermes' uid runs the command directly.
pub async fn user_guard(ctx: Ctx) -> Result<()> {
    let (code, logs) = run_to_exit(
        &ctx,
        ContainerSpec::default()
            .user("1000:1000")
            .cmd(&["sh", "-c", "echo ran-as-$(id -u)"]),
    )
    .await?;
    ensure!(
        code == 1
            && !logs.contains("ran-as-")
            && logs.contains("not supported")
            && logs.contains("HERMES_UID")
            && logs.contains("PUID"),
        "--user 1000:1000: expected exit 1 before running anything, saying the uid is not supported and naming HERMES_UID/PUID; got exit {code}:\n{logs}"
    );
    ensure!(
        logs.lines().filter(|l| !l.trim().is_empty()).count() == 1,
        "--user 1000:1000: expected exactly one line:\n{logs}"
    );
    let (code, logs) = run_to_exit(
        &ctx,
        ContainerSpec::default()
            .user("10000")
            .cmd(&["sh", "-c", "echo ran-as-$(id -u)"]),
    )
    .await?;
    ensure!(
        code == 0 && logs.contains("ran-as-10000"),
        "--user 10000 (hermes): the command should run directly; exit {code}:\n{logs}"
    );
    Ok(())
}

/// `HERMES_GATEWAY_BOOTSTRAP_STATE=running` on a fresh volume: the first boot starts the
/// default gateway; the seeded file is never clobbered afterwards; a link in its place is
/// refused and its target unchanged.
pub async fn bootstrap_state_seeds_once(ctx: Ctx) -> Result<()> {
    let state = format!("{HERMES_HOME}/gateway_state.json");
    let spec = ContainerSpec::default()
        .env("HERMES_GATEWAY_BOOTSTRAP_STATE", "running")
        // Not the default command, which would start the gateway itself (contract §6.4).
        .cmd(&["sleep", "infinity"]);
    let mut h = ctx.start(spec).await?;
    wait_svstat(&h, &slot_dir("default"), "up", STATE_DEADLINE, |s| s.up).await?;
    wait::poll_until(
        "the seed's line in the container log",
        STATE_DEADLINE,
        || async {
            let logs = h.logs().await?;
            if logs.contains("seeded /opt/data/gateway_state.json") {
                Ok(Some(()))
            } else {
                Err(anyhow!("no `seeded` line"))
            }
        },
    )
    .await?;
    // The operator stops it; the next boot must not seed over that.
    h.exec(&["hermes", "gateway", "stop"]).await?.succeeds();
    h.restart().await?;
    let st = svstat(&h, &slot_dir("default")).await?;
    ensure!(
        !st.up && !st.wanted_up,
        "an existing state file was clobbered by the seed: {st:?}"
    );
    // A link in the file's place: refused, nothing written through it.
    h.sh("printf ORIGINAL > /etc/hermes-canary && chmod 644 /etc/hermes-canary")
        .as_root("a root-owned target, as a real system file would be.")
        .await?
        .succeeds();
    h.exec(&[
        "sh",
        "-c",
        &format!("rm -f {state} && ln -s /etc/hermes-canary {state}"),
    ])
    .await?
    .succeeds();
    h.restart().await?;
    h.exec(&["cat", "/etc/hermes-canary"])
        .await?
        .succeeds()
        .stdout_is("ORIGINAL");
    let logs = h.logs().await?;
    ensure!(
        logs.lines()
            .any(|l| l.contains("refusing") && l.contains(&state)),
        "no line refusing {state}:\n{logs}"
    );
    h.remove().await
}

/// Any other value of `HERMES_GATEWAY_BOOTSTRAP_STATE` is ignored with one line.
pub async fn bootstrap_state_other_values_ignored(ctx: Ctx) -> Result<()> {
    for value in ["stopped", "garbage"] {
        let h = ctx
            .start(
                ContainerSpec::default()
                    .env("HERMES_GATEWAY_BOOTSTRAP_STATE", value)
                    .cmd(&["sleep", "infinity"]),
            )
            .await?;
        h.exec(&[
            "test",
            "!",
            "-e",
            &format!("{HERMES_HOME}/gateway_state.json"),
        ])
        .await?
        .succeeds();
        let logs = h.logs().await?;
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("HERMES_GATEWAY_BOOTSTRAP_STATE"))
            .collect();
        ensure!(
            lines.len() == 1 && lines[0].contains("ignoring") && lines[0].contains(value),
            "value {value}: expected one line ignoring it, got {lines:?}\n{logs}"
        );
        h.remove().await?;
    }
    Ok(())
}

/// After a root `docker exec` wrote into `$HERMES_HOME` itself, the next boot gives the
/// product's own top-level files back to hermes, leaves everything else alone, and refuses a
/// link among them.
pub async fn top_level_repair(ctx: Ctx) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().cmd(&["sleep", "infinity"]))
        .await?;
    h.sh(&format!(
        "echo '{{\"gateway_state\":\"stopped\"}}' > {HERMES_HOME}/gateway_state.json && \
         touch {HERMES_HOME}/.gateway_state.lock {HERMES_HOME}/a-file-of-roots && \
         ln -s /etc/passwd {HERMES_HOME}/.profiles.lock"
    ))
    .as_root("the leftovers of a person's `docker exec` without `-u hermes`.")
    .await?
    .succeeds();
    h.restart().await?;
    let owners = h
        .exec(&[
            "stat",
            "-c",
            "%U %n",
            &format!("{HERMES_HOME}/gateway_state.json"),
            &format!("{HERMES_HOME}/.gateway_state.lock"),
            &format!("{HERMES_HOME}/a-file-of-roots"),
            "/etc/passwd",
        ])
        .await?;
    owners.succeeds().stdout_is(&format!(
        "hermes {HERMES_HOME}/gateway_state.json\nhermes {HERMES_HOME}/.gateway_state.lock\nroot {HERMES_HOME}/a-file-of-roots\nroot /etc/passwd"
    ));
    let logs = h.logs().await?;
    ensure!(
        logs.lines()
            .any(|l| l.contains("refusing") && l.contains(".profiles.lock")),
        "no line refusing the planted {HERMES_HOME}/.profiles.lock:\n{logs}"
    );
    h.remove().await
}
