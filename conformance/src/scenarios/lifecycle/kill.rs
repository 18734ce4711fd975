//! A `profile create` SIGKILLed at any moment leaves the profile and its slot whole or absent,
//! and the next create finishes what the killed one left.

use anyhow::{Context, Result, anyhow, ensure};

use super::assert_slot_layout;
use crate::support::{
    STATE_DEADLINE, expected_port, name_with_own_port, profile_home, slot_dir, start_then_stop,
};
use crate::{Container, Ctx, wait};

/// Offsets at which `atomic_create_under_kill` SIGKILLs a `profile create`: spread over the
/// command's life (it validates, takes the lock, builds the profile, asks the registrar,
/// which builds, renames and rescans), so that some kills land before the profile exists,
/// some between the profile and its slot, and some after both.
pub const CREATE_KILL_OFFSETS_MS: [u64; 16] = [
    0, 2, 5, 10, 15, 20, 30, 40, 55, 70, 90, 120, 160, 220, 300, 450,
];

/// What one killed create left, seen once the registrar is idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Left {
    profile: bool,
    soul: bool,
    slot: bool,
}

async fn left_by(h: &Container, p: &str) -> Result<Left> {
    let t = |path: String, flag: &'static str| async move {
        Ok::<_, anyhow::Error>(h.exec(&["test", flag, &path]).await?.success())
    };
    Ok(Left {
        profile: t(profile_home(p), "-d").await?,
        soul: t(format!("{}/SOUL.md", profile_home(p)), "-f").await?,
        slot: t(slot_dir(p), "-e").await?,
    })
}

/// Waits until no request for `p` is being handled by the registrar: a killed client's
/// request may still be finishing as root.
async fn registrar_idle_for(h: &Container, p: &str) -> Result<()> {
    let pattern = format!("hermes-registrar (register|unregister) {p}( |$)");
    wait::poll_until(
        &format!("the registrar to finish any request for {p}"),
        STATE_DEADLINE,
        || async {
            let o = h.exec(&["pgrep", "-f", &pattern]).await?;
            match o.code {
                Some(1) => Ok(Some(())),
                _ => Err(anyhow!("still running: {}", o.out())),
            }
        },
    )
    .await
}

/// `profile create` SIGKILLed at spread points never leaves half a profile (a visible profile
/// dir without `SOUL.md`) or half a slot (a slot without its layout, or without a profile);
/// and the next `profile create` — or `gateway start` — of that name finishes the job instead
/// of answering "already exists": afterwards profile and slot are whole and the gateway
/// starts. The state a kill between the two steps leaves (a whole profile without its slot)
/// is also made directly, so the repair is proven whatever the kills hit.
pub async fn atomic_create_under_kill(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    // Derived ports collide now and then (600 of them); each round's gateway must be able to
    // start next to the default one, which runs on its own.
    let mut taken = vec![expected_port("default")];
    let rounds: Vec<(usize, u64, String)> = CREATE_KILL_OFFSETS_MS
        .iter()
        .enumerate()
        .map(|(round, offset)| {
            (
                round,
                *offset,
                name_with_own_port(&format!("killed{round}"), &mut taken),
            )
        })
        .collect();
    // The rounds run in KILL_LANES lanes at once (each lane its own names, its rounds one
    // after another): a round is mostly waiting, and a kill that lands while another lane's
    // request holds the registrar is one more point in the command's life worth hitting.
    let lanes = (0..KILL_LANES).map(|lane| {
        let h = &h;
        let mine: Vec<_> = rounds.iter().skip(lane).step_by(KILL_LANES).collect();
        async move {
            let mut outcomes = Vec::new();
            for (round, offset, p) in mine {
                outcomes.push(kill_one_create(h, *round, *offset, p).await?);
            }
            Ok::<_, anyhow::Error>(outcomes)
        }
    });
    let mut tally = std::collections::BTreeMap::<&str, usize>::new();
    for outcome in futures_util::future::try_join_all(lanes)
        .await?
        .into_iter()
        .flatten()
    {
        *tally.entry(outcome).or_default() += 1;
    }
    crate::image::progress(format!(
        "atomic create: {} kills in {KILL_LANES} lanes: {tally:?}",
        CREATE_KILL_OFFSETS_MS.len()
    ));
    // The state a kill between the two steps leaves, made directly: a whole profile (as
    // `profile create` builds it) and no slot.
    for (base, repair) in [("orphan-c", "create"), ("orphan-s", "start")] {
        let p = name_with_own_port(base, &mut taken);
        let p = p.as_str();
        h.sh(&format!(
            "mkdir {home} && printf '# SOUL\\n' > {home}/SOUL.md",
            home = profile_home(p)
        ))
        .await?
        .succeeds();
        let o = match repair {
            "create" => h.exec(&["hermes", "profile", "create", p]).await?,
            _ => h.exec(&["hermes", "-p", p, "gateway", "start"]).await?,
        };
        o.succeeds_or(&format!(
            "`{repair}` of a profile left without its slot did not register the slot"
        ));
        assert_whole_and_startable(&h, p).await?;
    }
    h.remove().await
}

/// How many of `atomic_create_under_kill`'s rounds run at once.
const KILL_LANES: usize = 4;

/// One round of `atomic_create_under_kill`: `profile create p` SIGKILLed `offset` ms in, what
/// it left checked once the registrar is done with `p`, then the next command of that name
/// finishes the job. Returns what the kill left.
async fn kill_one_create(
    h: &Container,
    round: usize,
    offset: u64,
    p: &str,
) -> Result<&'static str> {
    let script = format!(
        "hermes profile create {p} >/dev/null 2>&1 & pid=$!; sleep {}; \
         if kill -9 $pid 2>/dev/null; then echo killed; else echo finished; fi; wait $pid; true",
        offset as f64 / 1000.0
    );
    h.sh(&script).await?.succeeds();
    registrar_idle_for(h, p).await?;
    let left = left_by(h, p).await?;
    ensure!(
        !left.profile || left.soul,
        "round {round} (kill at {offset} ms): half a profile: {} exists without SOUL.md",
        profile_home(p)
    );
    ensure!(
        !left.slot || left.profile,
        "round {round} (kill at {offset} ms): a slot {} without its profile",
        slot_dir(p)
    );
    if left.slot {
        assert_slot_layout(h, p)
            .await
            .with_context(|| format!("round {round} (kill at {offset} ms): half a slot"))?;
    }
    let outcome = match (left.profile, left.slot) {
        (false, _) => "nothing made",
        (true, false) => "profile without its slot",
        (true, true) => "profile and slot",
    };
    // The next command of that name: a whole profile with its slot is "already exists";
    // anything less is repaired — by `create`, or in odd rounds by `gateway start` when a
    // profile is there.
    if left.profile && left.slot {
        h.exec(&["hermes", "profile", "create", p])
            .await?
            .code_is(1)
            .stderr_contains("already exists");
    } else if left.profile && round % 2 == 1 {
        h.exec(&["hermes", "-p", p, "gateway", "start"])
            .await?
            .succeeds_or(&format!(
                "round {round}: `gateway start` did not repair a profile left without its slot"
            ));
    } else {
        h.exec(&["hermes", "profile", "create", p])
            .await?
            .succeeds_or(&format!(
                "round {round}: the next create did not finish what the killed one left ({outcome})"
            ));
    }
    assert_whole_and_startable(h, p).await?;
    Ok(outcome)
}

/// Profile and slot whole, and the gateway comes up.
async fn assert_whole_and_startable(h: &Container, p: &str) -> Result<()> {
    h.exec(&["test", "-f", &format!("{}/SOUL.md", profile_home(p))])
        .await?
        .succeeds();
    assert_slot_layout(h, p).await?;
    start_then_stop(h, p).await
}
