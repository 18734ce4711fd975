//! s6 detection as hermes (docs/contract.md §4): positive, PID 1 not s6-svscan, basedir missing —
//! each negative differs from the positive in exactly one of the two conditions — and what the CLI
//! does off s6: profiles without slots, and no supervisor to start or stop anything.

use crate::support::SHARED_PRODUCT;
use anyhow::{Result, anyhow, ensure};

use crate::support::{HERMES_HOME, MANAGER_S6, assert_absent, profile_home, slot_dir};
use crate::{Container, ContainerSpec, Ctx};

pub const MANAGER_NONE: &str = "Manager: none";

/// On the product image, hermes detects s6.
pub async fn status_reports_s6(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    h.exec(&["hermes", "status"])
        .await?
        .succeeds()
        .stdout_contains(MANAGER_S6);
    h.remove().await
}

/// The two premises of detection, as hermes sees them: what `/proc/1/comm` says and whether
/// `/run/s6/basedir` is a directory.
async fn premises(h: &Container) -> Result<(String, bool)> {
    let comm = h.exec(&["cat", "/proc/1/comm"]).await?;
    comm.succeeds();
    let basedir = h.exec(&["test", "-d", "/run/s6/basedir"]).await?.success();
    Ok((comm.out().to_string(), basedir))
}

/// Off s6 (docs/contract.md §4): `hermes status` names no supervisor, `profile create` makes the
/// profile and no slot, and start/stop/restart say that no supervisor is available (exit 1).
async fn behaves_off_s6(h: &Container) -> Result<()> {
    let st = h.exec(&["hermes", "status"]).await?;
    st.succeeds()
        .stdout_lacks(MANAGER_S6)
        .stdout_contains(MANAGER_NONE);
    let p = "offs6";
    h.exec(&["hermes", "profile", "create", p])
        .await?
        .succeeds();
    h.exec(&["test", "-f", &format!("{}/SOUL.md", profile_home(p))])
        .await?
        .succeeds_or("profile create off s6 made no profile");
    assert_absent(h, &slot_dir(p), "profile create off s6 made a slot").await?;
    for verb in ["start", "stop", "restart"] {
        let o = h.exec(&["hermes", "-p", p, "gateway", verb]).await?;
        o.code_is(1).stderr_contains("no supervisor available");
    }
    h.exec(&["hermes", "profile", "delete", p, "--yes"])
        .await?
        .succeeds();
    assert_absent(
        h,
        &profile_home(p),
        "profile delete off s6 left the profile",
    )
    .await?;
    Ok(())
}

/// PID 1 is not s6-svscan, and that is the only difference: `/run/s6/basedir` is there (made
/// by the replacement entrypoint, as root, before it becomes PID 1's `sleep`). An
/// implementation that checks only the basedir would call this s6.
pub async fn no_s6_when_pid1_is_not_svscan(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(
            ContainerSpec::default()
                .entrypoint("sh")
                .cmd(&[
                    "-c",
                    &format!(
                        "mkdir -p /run/s6/basedir /run/service && chown hermes:hermes {HERMES_HOME} && exec sleep 600"
                    ),
                ])
                .no_wait(),
        )
        .await?;
    let (comm, basedir) = crate::wait::poll_until(
        "the replacement entrypoint to become `sleep` with /run/s6/basedir made",
        std::time::Duration::from_secs(15),
        || async {
            match premises(&h).await {
                Ok((comm, true)) if comm == "sleep" => Ok(Some((comm, true))),
                Ok(seen) => Err(anyhow!("{seen:?}")),
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    ensure!(comm == "sleep" && basedir, "premises: {comm} {basedir}");
    behaves_off_s6(&h).await?;
    h.remove().await
}

/// `/run/s6/basedir` is gone, and that is the only difference: PID 1 is still s6-svscan.
pub async fn no_s6_without_basedir(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    h.exec(&["rm", "-rf", "/run/s6/basedir"]).as_root("/run/s6 is root's; removing basedir is the test's fault injection, not something the product or hermes would do.")
        .await?
        .succeeds();
    let (comm, basedir) = premises(&h).await?;
    ensure!(
        comm == "s6-svscan" && !basedir,
        "the fault injection did not leave exactly one condition false: comm={comm:?}, basedir={basedir}"
    );
    behaves_off_s6(&h).await?;
    h.remove().await
}
