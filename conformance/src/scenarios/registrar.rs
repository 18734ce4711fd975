//! Contract §3.3 and §10 promise 4, adversarial: the registrar as a hostile hermes uses it.
//! `default` and reserved names are refused for both verbs; clients that never read their
//! answer pin no root process and a per-uid cap refuses the rest clearly; a client killed
//! mid-request leaves nothing in the scandir; the helper runs with a fixed environment
//! whatever the client sends. The test names stay `security::registrar_*` (the wrappers in
//! `tests/suite/security.rs`).

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::s6probe::{SCANDIR, profile_home, slot_dir};
use crate::scenarios::security::{
    REGISTRAR_SOCK, STATE_DEADLINE, WORK, first_line, registrar_as, stat_as_root, supervised,
    supervision_is_live,
};
use crate::{Container, Ctx, wait};

const LOCK_FILE: &str = "/run/hermes/registrar.lock";

/// How many root `hermes-registrar` and `s6-sudod` processes run now (comm, as hermes: /proc
/// shows every process's name). `hermes-registra`: the kernel keeps 15 bytes.
async fn registrar_processes(h: &Container) -> Result<(usize, usize)> {
    let o = h
        .sh("echo $(pgrep -c -x hermes-registra) $(pgrep -c -x s6-sudod)")
        .await?;
    o.succeeds();
    let mut it = o.out().split_whitespace().map(|n| n.parse::<usize>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Ok((a, b)),
        _ => bail!(
            "{}",
            o.headline("counting hermes-registrar and s6-sudod processes")
        ),
    }
}

/// Polls until exactly `n` helpers run (`what` says why that many), within `limit`.
async fn wait_helpers(h: &Container, n: usize, what: &str, limit: Duration) -> Result<()> {
    wait::poll_until(what, limit, || async {
        let (helpers, sudods) = registrar_processes(h).await.map_err(|e| e.to_string())?;
        if helpers == n {
            Ok(Some(()))
        } else {
            Err(format!("{helpers} root hermes-registrar and {sudods} s6-sudod processes run, want {n} helpers"))
        }
    })
    .await
}

/// Holds the registrar's lock as root with `s6-setlock` (a POSIX lock, which the helper's
/// open-file-description lock conflicts with), so requests queue; returns the holder's pid.
async fn hold_registrar_lock(h: &Container, secs: u32) -> Result<String> {
    let o = h
        .sh(&format!(
            "/command/s6-setlock {LOCK_FILE} sleep {secs} >/dev/null 2>&1 & echo $!"
        ))
        .as_root("hold the registrar's root-only lock so that requests wait their turn")
        .await?;
    o.succeeds();
    let pid = o.out().trim().to_string();
    ensure!(
        !pid.is_empty(),
        "{}",
        o.headline("no pid for the lock holder")
    );
    Ok(pid)
}

async fn release_registrar_lock(h: &Container, pid: &str) -> Result<()> {
    h.exec(&["kill", pid])
        .as_root("end the root lock holder this scenario started")
        .await?
        .succeeds();
    Ok(())
}

/// Hidden `.gateway-*` entries of the scandir (staging and deletion dirs), listed as hermes
/// (`/run/service` is root 0755).
async fn hidden_slot_dirs(h: &Container) -> Result<Vec<String>> {
    let o = h
        .sh(&format!("ls -A {SCANDIR} | grep '^\\.gateway-' || true"))
        .await?;
    o.succeeds();
    Ok(o.stdout_lines().into_iter().map(str::to_string).collect())
}

/// Finding 3 (contract §3.1): no request creates or deletes `default`, nor any reserved name.
/// As hermes, `s6-sudo -e /run/hermes/registrar.sock unregister default` (and `register default
/// [--start]`, and each reserved name with both verbs) exits 2 with one line naming the name;
/// gateway-default stays, supervised.
pub async fn registrar_refuses_default_and_reserved(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let default_slot = slot_dir("default");
    supervised(&h, &default_slot)
        .await
        .context("precondition: gateway-default is supervised")?;
    // Precondition: the registrar serves hermes, so a refusal below is its decision.
    registrar_as(&h, "hermes", &["unregister", "nosuchslot"])
        .await?
        .succeeds_or(
            "precondition: the registrar serves hermes (unregister of a missing slot is ok)",
        );
    let mut bad = Vec::new();
    for name in ["default", "hermes", "test", "tmp", "root", "sudo"] {
        for req in [
            vec!["unregister", name],
            vec!["register", name],
            vec!["register", name, "--start"],
        ] {
            let o = registrar_as(&h, "hermes", &req).await?;
            let lines: Vec<&str> = o
                .stdout
                .lines()
                .chain(o.stderr.lines())
                .filter(|l| !l.trim().is_empty())
                .collect();
            if o.code != Some(2) || lines.len() != 1 || !lines[0].contains(&format!("\"{name}\"")) {
                bad.push(format!(
                    "`{}` as hermes: want exit 2 and one line naming {name:?}; got exit {:?}, stdout {:?}, stderr {:?}",
                    o.command_line(),
                    o.code,
                    o.stdout.trim(),
                    o.stderr.trim()
                ));
            }
        }
    }
    let o = h.exec(&["test", "-d", &default_slot]).await?;
    if !o.success() {
        bad.push(format!(
            "{default_slot} (root 0755, gateway-default) is gone after the requests above: {}",
            stat_as_root(&h, &[&default_slot]).await
        ));
    } else if let Err(e) = supervised(&h, &default_slot).await {
        bad.push(format!(
            "gateway-default no longer supervised: {}",
            first_line(&e)
        ));
    }
    ensure!(
        bad.is_empty(),
        "the registrar did not refuse default/reserved names:\n  - {}",
        bad.join("\n  - ")
    );
    h.remove().await
}

/// Finding 4: 20 clients whose stdout is a full pipe nobody reads pin no root process, and
/// hermes' share of the registrar is capped with a clear refusal while root still gets
/// through.
///
/// Part 1, as hermes: a FIFO filled to its 64 KiB and held open read-write by a process that
/// never reads is the stdout of 20 `s6-sudo … register Bad<i>` (each refused, so each helper
/// has a line to answer). Within a few seconds `hermes profile create` as hermes and a root
/// request both succeed, no root helper or s6-sudod remains, and the FIFO holds exactly its
/// 65536 zero bytes (the answers were dropped: the pipe stayed full throughout).
///
/// Part 2: root holds the registrar's lock, hermes starts 8 `s6-sudo … register cap<i>` (its
/// whole share, waiting their turn; not `hermes profile create`, which serialises on the
/// profile-set lock); a `hermes profile create` then is refused at once with "the slot registrar is
/// busy: 8 requests in flight", while a root request is still admitted (a 9th helper); once
/// the lock is released, every one of them succeeds and no helper remains.
pub async fn registrar_never_pinned_and_capped_per_uid(ctx: Ctx) -> Result<()> {
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let sock = REGISTRAR_SOCK;
    let start = format!(
        "set -e; mkdir -p {WORK}/nr; cd {WORK}/nr; rm -f fifo pids; mkfifo fifo; \
         sleep 60 3<>fifo >/dev/null 2>&1 & echo $! > holder; \
         exec 3<>fifo; timeout 5 head -c 65536 /dev/zero >&3; \
         for i in $(seq 1 20); do /command/s6-sudo -e {sock} register Bad$i >&3 2>/dev/null & echo $! >> pids; done; \
         echo started $(wc -l < pids)"
    );
    let o = h.sh(&start).deadline(Duration::from_secs(15)).await?;
    o.succeeds().stdout_contains("started 20");
    // Root first, while hermes' share is full of non-reading clients: root has its own.
    let root_req = h
        .exec(&["/command/s6-sudo", "-e", sock, "register", "rootnr"])
        .as_root("root's own request must get through whatever hermes' clients do")
        .deadline(Duration::from_secs(10))
        .await?;
    root_req.succeeds_or("`s6-sudo -e /run/hermes/registrar.sock register rootnr` as root");
    // hermes' own create: its share may still be full for a moment (each non-reading client
    // holds one for at most the helper's answer deadline): only "busy" may be retried.
    let what = "`hermes profile create nrok` as hermes with 20 non-reading clients open";
    let t = std::time::Instant::now();
    let busy = std::cell::Cell::new(0usize);
    let created = wait::poll_until(
        &format!("{what} to get past \"the slot registrar is busy\""),
        Duration::from_secs(8),
        || {
            let (h, busy) = (&h, &busy);
            async move {
                let o = h
                    .exec(&["hermes", "profile", "create", "nrok"])
                    .deadline(Duration::from_secs(10))
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                if o.success() {
                    return Ok(Some(Ok(())));
                }
                let said = format!("{}{}", o.stdout, o.stderr);
                if said.contains("the slot registrar is busy") {
                    // The only answer worth another try: a share held for a moment.
                    busy.set(busy.get() + 1);
                    Err(said.trim().to_string())
                } else {
                    Ok(Some(Err(o.headline(what))))
                }
            }
        },
    )
    .await?;
    created.map_err(anyhow::Error::msg)?;
    crate::image::progress(format!(
        "security/registrar: create nrok succeeded after {:?} ({} busy tries)",
        t.elapsed(),
        busy.get()
    ));
    wait_helpers(
        &h,
        0,
        "no root hermes-registrar left once the non-reading clients have lost their answers",
        Duration::from_secs(5),
    )
    .await?;
    let o = h
        .sh(&format!(
            "cd {WORK}/nr; for p in $(cat pids); do kill -0 $p 2>/dev/null && echo alive=$p; done; \
             exec 4<fifo; dd bs=4096 count=32 iflag=nonblock <&4 2>/dev/null > drained; \
             echo total=$(wc -c < drained) nonzero=$(tr -d '\\000' < drained | wc -c); \
             kill $(cat holder)"
        ))
        .await?;
    o.succeeds();
    ensure!(
        !o.out().contains("alive="),
        "non-reading s6-sudo clients (hermes) still waiting after their helpers should have exited: {}",
        o.out()
    );
    ensure!(
        o.out().contains("total=65536 nonzero=0"),
        "precondition: the FIFO {WORK}/nr/fifo (hermes' stdout for the 20 clients) must have stayed full (65536 zero bytes), so every answer met a full pipe; found {}",
        o.out()
    );
    let logs = h.logs().await?;
    ensure!(
        logs.contains("hermes-registrar: uid=10000 verb=register profile=Bad"),
        "precondition: a root helper ran for a non-reading client (no `hermes-registrar: uid=10000 verb=register profile=Bad…` line in the container log)"
    );
    let (_, sudods) = registrar_processes(&h).await?;
    ensure!(
        sudods == 0,
        "{sudods} root s6-sudod still run after every client is gone"
    );

    // Part 2: the per-uid share.
    let holder = hold_registrar_lock(&h, 30).await?;
    let o = h
        .sh(&format!(
            "mkdir -p {WORK}/cap; cd {WORK}/cap; for i in $(seq 1 8); do \
             (/command/s6-sudo -e {sock} register cap$i > out.$i 2>&1; echo $? > rc.$i) >/dev/null 2>&1 & done; echo ok"
        ))
        .await?;
    o.succeeds();
    wait_helpers(
        &h,
        8,
        "8 hermes requests (hermes' whole share) waiting for the lock root holds",
        Duration::from_secs(10),
    )
    .await?;
    let busy = h
        .exec(&["hermes", "profile", "create", "capx"])
        .deadline(Duration::from_secs(10))
        .await?;
    let said = format!("{}{}", busy.stdout, busy.stderr);
    ensure!(
        busy.code == Some(1) && said.contains("the slot registrar is busy: 8 requests in flight"),
        "{}\nwant exit 1 and `the slot registrar is busy: 8 requests in flight` (hermes, uid 10000, has 8 requests waiting)",
        busy.headline("`hermes profile create capx` as hermes beyond its share")
    );
    h.exec(&["test", "!", "-e", &profile_home("capx")])
        .await?
        .succeeds_or("a create refused as busy leaves no profile capx");
    let root_req = async {
        h.exec(&["/command/s6-sudo", "-e", sock, "register", "rootcap"])
            .as_root("root's request while hermes holds its whole share")
            .deadline(Duration::from_secs(20))
            .await
    };
    let admitted_then_release = async {
        let r = wait_helpers(
            &h,
            9,
            "root's request admitted (a 9th helper) while hermes' 8 wait",
            Duration::from_secs(10),
        )
        .await;
        release_registrar_lock(&h, &holder).await?;
        r
    };
    let (root_req, admitted) = tokio::join!(root_req, admitted_then_release);
    admitted?;
    root_req?.succeeds_or("`s6-sudo -e /run/hermes/registrar.sock register rootcap` as root");
    wait_helpers(&h, 0, "every queued request done", Duration::from_secs(15)).await?;
    let o = h
        .sh(&format!("cd {WORK}/cap; for i in $(seq 1 8); do echo \"cap$i rc=$(cat rc.$i) $(cat out.$i)\"; done"))
        .await?;
    o.succeeds();
    ensure!(
        o.stdout_lines().iter().all(|l| l.contains(" rc=0 ")),
        "the 8 queued `s6-sudo -e {sock} register cap<i>` as hermes must all succeed once the lock is free:\n{}",
        o.out()
    );
    h.remove().await
}

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
                let (n, _) = registrar_processes(&h).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    Ok(Some(()))
                } else {
                    Err(format!("{n} helpers run"))
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
            let logs = h.logs().await.map_err(|e| e.to_string())?;
            if logs.contains("hermes-registrar: uid=10000 verb=register profile=envx result=ok") {
                Ok(Some(()))
            } else {
                Err(
                    "no `hermes-registrar: uid=10000 verb=register profile=envx result=ok` line"
                        .into(),
                )
            }
        },
    )
    .await?;
    h.remove().await
}
