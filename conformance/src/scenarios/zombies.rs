//! PID 1 reaps orphans (SPEC §2 point 9): no zombie outlives its re-parenting by 2 s.

use std::time::Duration;

use anyhow::Result;

use crate::{Ctx, wait};

/// Start `count` orphans as hermes (each a `sleep` whose parent exits at once, so it is
/// re-parented to PID 1), then poll until every one of them is gone from `/proc` — reaped,
/// not lingering as `Z`. Fails after 2 s past their exit, listing what is left.
pub async fn orphans_are_reaped(ctx: Ctx, count: usize) -> Result<()> {
    let h = ctx.start_default().await?;
    let dir = h.exec(&["mktemp", "-d"]).await?;
    dir.succeeds();
    let pids = format!("{}/pids", dir.out());
    // Each subshell backgrounds a short sleep, records its pid and exits: the sleep is orphaned.
    let spawn = format!(
        "i=0; while [ $i -lt {count} ]; do ( sleep 0.2 & echo $! >> {pids} ); i=$((i+1)); done"
    );
    h.sh(&spawn).await?.succeeds();
    let check = format!(
        "n=0; z=''; while read p; do if [ -e /proc/$p ]; then n=$((n+1)); \
         s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null); [ \"$s\" = Z ] && z=\"$z $p\"; fi; done < {pids}; \
         echo \"$n${{z:+ zombies:$z}}\"; [ $n -eq 0 ]"
    );
    wait::poll_until(
        &format!("{count} orphan(s) to be reaped by PID 1"),
        Duration::from_millis(2200), // 0.2 s of sleep + the 2 s the contract allows
        || async {
            let o = h.sh(&check).await.map_err(|e| e.to_string())?;
            if o.success() {
                Ok(Some(()))
            } else {
                Err(format!("still present: {}", o.out()))
            }
        },
    )
    .await?;
    h.sh(&format!("[ $(wc -l < {pids}) -eq {count} ]"))
        .await?
        .succeeds();
    h.exec(&["sh", "-c", "ps -eo stat= | grep -c '^Z' || true"])
        .await?
        .succeeds()
        .stdout_is("0");
    h.remove().await
}
