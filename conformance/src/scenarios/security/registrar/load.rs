//! The registrar under load: clients that never read their answer pin no root process and a
//! per-uid cap refuses the rest clearly; concurrent creates and deletes of one name leave the
//! profile and its slot whole or absent.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use super::{hold_registrar_lock, registrar_processes, release_registrar_lock, wait_helpers};
use crate::scenarios::security::kit::{WORK, supervision_is_live};
use crate::support::{
    HERMES_HOME, REGISTRAR_SOCK, SCANDIR, STATE_DEADLINE, assert_absent, profile_home, slot_dir,
    stat_as_root, wait_svstat,
};
use crate::{Container, Ctx, wait};

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
    assert_absent(
        &h,
        &profile_home("capx"),
        "a create refused as busy leaves no profile capx",
    )
    .await?;
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

/// What one round left for profile `mix`.
#[derive(Debug, Default)]
struct MixState {
    profile_dir: bool,
    soul: bool,
    slot_dir: bool,
    missing: Vec<String>,
    svstat_ok: bool,
    hidden: Vec<String>,
    supervisors: Vec<String>,
}

impl MixState {
    fn whole(&self) -> bool {
        self.profile_dir && self.soul && self.slot_dir && self.missing.is_empty() && self.svstat_ok
    }
    fn none(&self) -> bool {
        !self.profile_dir && !self.slot_dir && self.supervisors.is_empty()
    }
}

async fn mix_state(h: &Container) -> Result<MixState> {
    let p = profile_home("mix");
    let s = slot_dir("mix");
    let script = format!(
        "[ -d {p} ] && echo profile; [ -f {p}/SOUL.md ] && echo soul; [ -d {s} ] && echo slot; \
         if [ -d {s} ]; then for f in type run finish log/run; do [ -e {s}/$f ] || [ -L {s}/$f ] || echo missing=$f; done; \
         /command/s6-svstat {s} >/dev/null 2>&1 && echo svstat; fi; \
         ls -A {SCANDIR} | grep '^\\.gateway-mix' | sed 's|^|hidden={SCANDIR}/|'; \
         ls -A {HERMES_HOME}/profiles | grep '^\\..*mix' | sed 's|^|hidden={HERMES_HOME}/profiles/|'; true"
    );
    let o = h.sh(&script).await?;
    o.succeeds();
    let mut st = MixState::default();
    for l in o.stdout_lines() {
        match l {
            "profile" => st.profile_dir = true,
            "soul" => st.soul = true,
            "slot" => st.slot_dir = true,
            "svstat" => st.svstat_ok = true,
            _ => {
                if let Some(f) = l.strip_prefix("missing=") {
                    st.missing.push(f.to_string());
                } else if let Some(x) = l.strip_prefix("hidden=") {
                    st.hidden.push(x.to_string());
                }
            }
        }
    }
    // pgrep exec'd directly (a `sh -c` of ours would match its own pattern).
    let o = h
        .exec(&["pgrep", "-a", "-f", "s6-supervise gateway-mix(/log)?$"])
        .await?;
    st.supervisors = o.stdout_lines().into_iter().map(str::to_string).collect();
    Ok(st)
}

/// 10 rounds of 5 concurrent `profile create mix` and 5 `profile delete mix --yes`: after each
/// round, either the profile (with SOUL.md) and a whole, working slot exist, or neither; no
/// staging leftovers in the scandir or the profiles dir.
pub async fn concurrent_create_delete_whole_or_none(ctx: Ctx) -> Result<()> {
    let rounds = 10;
    let h = ctx.as_hermes().start_default().await?;
    supervision_is_live(&h).await?;
    let round_script = format!(
        "mkdir -p {WORK}; for i in 1 2 3 4 5; do \
         hermes profile create mix >{WORK}/create-$i.log 2>&1 & \
         hermes profile delete mix --yes >{WORK}/delete-$i.log 2>&1 & \
         done; wait; for f in {WORK}/create-*.log {WORK}/delete-*.log; do echo \"== $f\"; cat \"$f\"; done"
    );
    let (mut wholes, mut nones) = (0, 0);
    for round in 1..=rounds {
        let o = h
            .exec_full(
                "hermes",
                &["sh", "-c", &round_script],
                &[],
                Duration::from_secs(180),
            )
            .await?;
        o.succeeds();
        let st = mix_state(&h).await?;
        ensure!(
            st.hidden.is_empty(),
            "round {round}: staging leftovers for mix: {:?}\nstate: {st:?}\nCLI output:\n{}",
            st.hidden,
            o.stdout
        );
        if st.whole() {
            wholes += 1;
            let slot = slot_dir("mix");
            h.exec(&["/command/s6-svc", "-U", &slot]).await?.succeeds();
            wait_svstat(&h, &slot, "up", STATE_DEADLINE, |s| s.up && s.pid > 0)
                .await
                .with_context(|| format!("round {round}: the whole slot of mix does not start"))?;
        } else if st.none() {
            nones += 1;
        } else {
            bail!(
                "round {round}: half-made profile mix (neither whole nor none): {st:?}\n{}\nCLI output:\n{}",
                stat_as_root(
                    &h,
                    &[
                        &profile_home("mix"),
                        &slot_dir("mix"),
                        &format!("{}/log", slot_dir("mix"))
                    ]
                )
                .await,
                o.stdout
            );
        }
    }
    crate::image::progress(format!(
        "security/concurrent: {rounds} rounds: {wholes} whole, {nones} none"
    ));
    h.remove().await
}
