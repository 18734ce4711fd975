//! Hostile registrar clients: one killed mid-request leaves nothing in the scandir; whatever a
//! client sends, the helper runs with a fixed environment.

use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};

use super::{
    hidden_slot_dirs, hold_registrar_lock, registrar_processes, release_registrar_lock,
    wait_helpers,
};
use crate::scenarios::security::kit::supervision_is_live;
use crate::support::{
    REGISTRAR_SOCK, SCANDIR, STATE_DEADLINE, registrar_as, slot_dir, stat_as_root, supervised,
};
use crate::{Container, Ctx, wait};

/// Finding 5: a client killed mid-request leaves nothing half-made. As hermes: register `k`,
/// then `s6-sudo … unregister k` and, the moment `/run/service/.gateway-k.del.<pid>` appears
/// (the helper is mid-change), `kill -9` the client; three rounds. After each round the next
/// request (`register k`) succeeds and the scandir holds no `.gateway-*` dir. Then the sweep:
/// root plants what a helper killed by SIGKILL would leave (`.gateway-zz.new.99999`), and the
/// next hermes request removes it.
pub async fn registrar_client_killed_leaves_nothing(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    registrar_as(&h, "hermes", &["register", "k"])
        .await?
        .succeeds_or("precondition: `register k` as hermes");
    for round in 1..=3 {
        kill_client_mid_unregister(&h, round).await?;
        wait::poll_until(
            "the killed client's helper finishes (no hermes-registrar left)",
            Duration::from_secs(15),
            || async {
                let (n, _) = registrar_processes(&h).await?;
                if n == 0 {
                    Ok(Some(()))
                } else {
                    Err(anyhow!("{n} helpers run"))
                }
            },
        )
        .await?;
        registrar_as(&h, "hermes", &["register", "k"])
            .await?
            .succeeds_or("the next request after a killed client: `register k` as hermes");
        let hidden = hidden_slot_dirs(&h).await?;
        ensure!(
            hidden.is_empty(),
            "round {round}: after `kill -9` of hermes' `s6-sudo unregister k` mid-change and the next request, {SCANDIR} (root 0755) still holds {hidden:?}: {}",
            stat_as_root(
                &h,
                &hidden
                    .iter()
                    .map(|n| format!("{SCANDIR}/{n}"))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
            )
            .await
        );
        supervised(&h, &slot_dir("k")).await?;
    }
    let plant = format!("{SCANDIR}/.gateway-zz.new.99999");
    h.exec(&["mkdir", "-p", &format!("{plant}/log")])
        .as_root("plant what a helper killed by SIGKILL mid-register leaves, for the sweep to find")
        .await?
        .succeeds();
    ensure!(
        hidden_slot_dirs(&h).await? == vec![".gateway-zz.new.99999".to_string()],
        "precondition: the planted {plant} is listed"
    );
    registrar_as(&h, "hermes", &["unregister", "nosuch"])
        .await?
        .succeeds_or("`unregister nosuch` as hermes (the request whose sweep runs)");
    let hidden = hidden_slot_dirs(&h).await?;
    ensure!(
        hidden.is_empty(),
        "the request after a dead one did not sweep {SCANDIR}: {hidden:?} remain"
    );
    h.remove().await
}

/// The race this round needs: the hidden `.del.<pid>` dir lives from the helper's rename until
/// s6-supervise lets go (one or two of its 10 ms polls). The watch loop uses only shell builtins
/// (a glob, `kill -0`), so it looks every few microseconds instead of forking `ls` per look; on
/// a loaded 2-core machine the scheduler can still hide the window, so a missed round (the
/// client finished first: `k` is gone) registers `k` again and retries, up to five times. The
/// scenario fails only if the kill never lands mid-change.
async fn kill_client_mid_unregister(h: &Container, round: u32) -> Result<()> {
    let sock = REGISTRAR_SOCK;
    let script = format!(
        "/command/s6-sudo -e {sock} unregister k >/dev/null 2>&1 & c=$!; \
         while kill -0 $c 2>/dev/null; do \
           for d in {SCANDIR}/.gateway-k.del.*; do \
             if [ -d \"$d\" ]; then kill -9 $c; echo killed; exit 0; fi; \
           done; \
         done; echo missed"
    );
    let mut seen = Vec::new();
    for attempt in 1..=5 {
        let o = h.sh(&script).deadline(Duration::from_secs(20)).await?;
        o.succeeds();
        if o.out() == "killed" {
            return Ok(());
        }
        seen.push(format!("attempt {attempt}: {}", o.out()));
        registrar_as(h, "hermes", &["register", "k"])
            .await?
            .succeeds_or("after a missed round, `register k` as hermes again");
    }
    bail!(
        "round {round}: precondition: the `s6-sudo unregister k` client (hermes) must be killed while {SCANDIR}/.gateway-k.del.<pid> exists (mid-change); every attempt saw the client finish first: {}",
        seen.join("; ")
    )
}

/// Finding 6: whatever the client's environment, the helper and its children run with a fixed
/// one. As hermes, `s6-sudo` WITHOUT `-e` and with `IPCREMOTEPATH`, `PATH`, `PROTO`,
/// `IPCREMOTEEUID` and `HERMES_EVIL` set; root holds the lock so the helper waits, and root
/// reads `/proc/<helper>/environ`: exactly `PATH=/command:/usr/bin:/bin` and
/// `HERMES_REGISTRAR_CLIENT_UID=10000`. The request then completes, logged with `uid=10000`.
pub async fn registrar_helper_environment_is_fixed(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let holder = hold_registrar_lock(&h, 30).await?;
    let client = async {
        h.exec_full(
            "hermes",
            &["/command/s6-sudo", REGISTRAR_SOCK, "register", "envx"],
            &[
                ("IPCREMOTEPATH", "/tmp/sec-evil-path"),
                ("PATH", "/tmp/sec-evil-bin:/command:/usr/bin:/bin"),
                ("PROTO", "EVIL"),
                ("IPCREMOTEEUID", "0"),
                ("HERMES_EVIL", "from-the-client"),
            ],
            Duration::from_secs(20),
        )
        .await
    };
    let observe = async {
        let r: Result<String> = async {
            wait_helpers(&h, 1, "hermes' helper waiting for the lock", Duration::from_secs(10))
                .await?;
            let o = h
                .sh("p=$(pgrep -x hermes-registra); cat /proc/$p/cmdline | tr '\\000' ' '; echo; tr '\\000' '\\n' < /proc/$p/environ")
                .as_root("read the root helper's environment (/proc/<pid>/environ is root's)")
                .await?;
            o.succeeds();
            Ok(o.stdout.clone())
        }
        .await;
        release_registrar_lock(&h, &holder).await?;
        r
    };
    let (client, seen) = tokio::join!(client, observe);
    let seen = seen?;
    let mut lines = seen.lines();
    let cmdline = lines.next().unwrap_or_default();
    ensure!(
        cmdline.contains("register envx"),
        "precondition: the helper observed is hermes' request (cmdline {cmdline:?})"
    );
    let mut env: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    env.sort_unstable();
    ensure!(
        env == [
            "HERMES_REGISTRAR_CLIENT_UID=10000",
            "PATH=/command:/usr/bin:/bin"
        ],
        "root hermes-registrar for `s6-sudo {REGISTRAR_SOCK} register envx` (hermes, no -e, client variables set) runs with {env:?}; want only PATH=/command:/usr/bin:/bin and HERMES_REGISTRAR_CLIENT_UID=10000"
    );
    client?.succeeds_or("`s6-sudo register envx` as hermes once the lock is free");
    wait::poll_until(
        "the request's log line with uid=10000",
        STATE_DEADLINE,
        || async {
            let logs = h.logs().await?;
            if logs.contains("hermes-registrar: uid=10000 verb=register profile=envx result=ok") {
                Ok(Some(()))
            } else {
                Err(anyhow!(
                    "no `hermes-registrar: uid=10000 verb=register profile=envx result=ok` line"
                ))
            }
        },
    )
    .await?;
    h.remove().await
}
