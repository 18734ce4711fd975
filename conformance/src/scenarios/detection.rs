//! s6 detection as hermes (SPEC §4): positive, PID 1 not s6-svscan, basedir missing.

use anyhow::Result;

use crate::{ContainerSpec, Ctx};

pub const MANAGER_S6: &str = "Manager: s6 (container supervisor)";

/// On the product image, hermes detects s6.
pub async fn status_reports_s6(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    h.exec(&["hermes", "status"])
        .await?
        .succeeds()
        .stdout_contains(MANAGER_S6);
    h.remove().await
}

/// With PID 1 not s6-svscan (entrypoint overridden), no supervisor is reported.
pub async fn no_s6_when_pid1_is_not_svscan(ctx: Ctx) -> Result<()> {
    let h = ctx
        .start(
            ContainerSpec::default()
                .entrypoint("sleep")
                .cmd(&["600"])
                .no_wait(),
        )
        .await?;
    h.exec(&["cat", "/proc/1/comm"])
        .await?
        .succeeds()
        .stdout_is("sleep");
    let st = h.exec(&["hermes", "status"]).await?;
    st.stdout_lacks(MANAGER_S6).stdout_contains("Manager: none");
    h.remove().await
}

/// With `/run/s6/basedir` gone, no supervisor is reported even though PID 1 is s6-svscan.
pub async fn no_s6_without_basedir(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    // Root opt-in: /run/s6 is root's; removing basedir is the test's fault injection, not
    // something the product or hermes would do.
    h.exec_as_root(&["rm", "-rf", "/run/s6/basedir"])
        .await?
        .succeeds();
    let st = h.exec(&["hermes", "status"]).await?;
    st.stdout_lacks(MANAGER_S6).stdout_contains("Manager: none");
    h.remove().await
}
