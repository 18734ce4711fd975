//! Running sequences against the real image: each op as hermes (Docker verbs through the
//! engine), the model's expected exit, then the check (`check::settle`). A failing sequence is
//! shrunk (delta debugging over fresh containers) to a minimal one with the same kind of
//! failure, and printed with its seed as a replay script.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;

use super::check;
use super::ops::{self, Op};
use super::state::{Model, Reboot};
use crate::{Container, ContainerSpec, Ctx, wait};

/// Until the container agrees with the model after an op, and after a Docker verb.
const SETTLE: Duration = Duration::from_secs(20);
const SETTLE_AFTER_REBOOT: Duration = Duration::from_secs(45);
/// Each CLI call's deadline (the CLI's own waits are bounded well below it).
const OP_DEADLINE: Duration = Duration::from_secs(60);
/// Shrinking stops after this many candidate runs or this long, keeping the smallest found.
const SHRINK_RUNS: usize = 60;
const SHRINK_TIME: Duration = Duration::from_secs(900);
/// A bounded run's sequences run this many at a time, each on its own container and volume
/// (they share nothing): the scenario is the suite's longest, and its wall time was the sum of
/// three sequences that mostly wait on `docker exec` round trips.
const PARALLEL_SEQUENCES: usize = 3;

/// A sequence that did not match the model: the step (0-based), the op, what differed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub step: usize,
    pub op: String,
    pub detail: String,
}

impl Failure {
    /// The kind of failure, for "the same failure" while shrinking and "distinct" while
    /// fuzzing: the op's kind and the first word of what differed, without names or numbers.
    pub fn signature(&self) -> String {
        let first = self.detail.lines().next().unwrap_or_default();
        let what = if first.starts_with("exit") {
            "exit"
        } else if first.contains("slot set") {
            "slot set"
        } else if first.contains("profiles:") {
            "profiles"
        } else if first.contains("s6-svstat") {
            "svstat"
        } else if first.contains("gateway.port") || first.contains("port") {
            "port"
        } else if first.contains("desired_state") {
            "desired_state"
        } else if first.contains("status") {
            "status"
        } else if first.contains("leftovers") {
            "leftovers"
        } else if first.contains("/health") {
            "health"
        } else {
            "other"
        };
        what.to_string()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "after step {} ({}): {}",
            self.step + 1,
            self.op,
            self.detail
        )
    }
}

/// Runs `cmd` as hermes and says whether it exited 0.
async fn ok(h: &Container, argv: &[&str]) -> Result<bool, String> {
    h.exec(argv)
        .deadline(OP_DEADLINE)
        .await
        .map(|o| o.success())
        .map_err(|e| format!("{e:#}"))
}

/// `want` is the model's verdict on the exit; a difference is a failure.
fn expect(op: &Op, want: bool, got: bool) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!(
            "exit: `{}` {} but the model says it must {}",
            op.script(),
            if got { "succeeded" } else { "failed" },
            if want { "succeed" } else { "fail" }
        ))
    }
}

/// Applies `op` to the container and the model. `Ok(true)` when the container rebooted.
async fn apply(h: &mut Container, model: &mut Model, op: &Op) -> Result<bool, String> {
    match op {
        Op::Create(p) => {
            let got = ok(h, &["hermes", "profile", "create", p]).await?;
            expect(op, model.create(p), got)?;
        }
        Op::CreateInvalid(p) => {
            let got = ok(h, &["hermes", "profile", "create", p]).await?;
            expect(op, false, got)?;
        }
        Op::Delete(p) => {
            let got = ok(h, &["hermes", "profile", "delete", p, "--yes"]).await?;
            expect(op, model.delete(p), got)?;
        }
        Op::Start(p) | Op::Restart(p) => {
            let verb = if matches!(op, Op::Start(_)) {
                "start"
            } else {
                "restart"
            };
            let got = ok(h, &["hermes", "-p", p, "gateway", verb]).await?;
            expect(op, model.set_intent(p, super::state::Intent::Running), got)?;
        }
        Op::Stop(p) => {
            let got = ok(h, &["hermes", "-p", p, "gateway", "stop"]).await?;
            expect(op, model.set_intent(p, super::state::Intent::Stopped), got)?;
        }
        Op::Kill9(p) => {
            if !model.is_up(p) {
                return Ok(false); // nothing to kill: the op is a no-op, as in the script
            }
            let script = format!(
                "pid=$(/command/s6-svstat -o pid /run/service/gateway-{p}) && [ \"$pid\" -gt 0 ] \
                 && [ \"$(cat /proc/$pid/comm)\" = hermes ] && kill -9 \"$pid\""
            );
            wait::poll_until(&format!("kill -9 of {p}'s gateway"), SETTLE, || async {
                match ok(h, &["sh", "-c", &script]).await {
                    Ok(true) => Ok(Some(())),
                    Ok(false) => Err("no gateway process to kill yet".to_string()),
                    Err(e) => Err(e),
                }
            })
            .await
            .map_err(|e| format!("exit: {e:#}"))?;
        }
        Op::CreatePair(a, b) => {
            let script = format!(
                "hermes profile create {a} >/dev/null 2>&1 & x=$!; hermes profile create {b} >/dev/null 2>&1; y=$?; wait $x; echo $? $y"
            );
            let o = h
                .exec(&["bash", "-c", &script])
                .deadline(OP_DEADLINE)
                .await
                .map_err(|e| format!("{e:#}"))?;
            let codes: Vec<&str> = o.out().split_whitespace().collect();
            let (wa, wb) = model.create_pair(a, b);
            expect(op, wa, codes.first() == Some(&"0"))?;
            expect(op, wb, codes.get(1) == Some(&"0"))?;
        }
        Op::StartStop(p) => {
            let script = format!("hermes -p {p} gateway start & hermes -p {p} gateway stop & wait");
            h.exec(&["bash", "-c", &script])
                .deadline(OP_DEADLINE)
                .await
                .map_err(|e| format!("{e:#}"))?;
            model.race_start_stop(p);
        }
        Op::DockerRestart => {
            h.restart().await.map_err(|e| format!("exit: {e:#}"))?;
            model.reboot(Reboot::Restart);
            return Ok(true);
        }
        Op::DockerKillStart => {
            h.kill().await.map_err(|e| format!("exit: {e:#}"))?;
            h.wait_exit(SETTLE)
                .await
                .map_err(|e| format!("exit: {e:#}"))?;
            h.start_again().await.map_err(|e| format!("exit: {e:#}"))?;
            model.reboot(Reboot::KillStart);
            return Ok(true);
        }
        Op::DockerStopStart => {
            h.stop().await.map_err(|e| format!("exit: {e:#}"))?;
            h.start_again().await.map_err(|e| format!("exit: {e:#}"))?;
            model.reboot(Reboot::StopStart);
            return Ok(true);
        }
        Op::DockerRecreate => unreachable!("run_on_volume re-creates the container itself"),
    }
    Ok(false)
}

/// One sequence on a fresh container with its own data volume (removed afterwards): `Ok`
/// when every step matched the model.
pub async fn run_sequence(ctx: &Ctx, ops: &[Op]) -> Result<Result<(), Failure>> {
    let volume = crate::container::unique_name("model");
    let outcome = run_on_volume(ctx, ops, &volume).await;
    crate::container::remove_volume(&ctx.docker, &volume).await;
    outcome
}

/// `HERMES_MODEL_TIMING=1`: one line per step on stderr (op, its apply, its check), to see
/// where a sequence's time goes.
fn timing() -> bool {
    crate::config::truthy(std::env::var("HERMES_MODEL_TIMING").ok().as_deref())
}

async fn run_on_volume(ctx: &Ctx, ops: &[Op], volume: &str) -> Result<Result<(), Failure>> {
    let spec = || ContainerSpec::default().data_volume(volume);
    let t = Instant::now();
    let mut h = ctx.start(spec()).await?;
    if timing() {
        eprintln!("model-timing: {}: start → ready {:?}", h.name, t.elapsed());
    }
    let mut model = Model::default();
    let t = Instant::now();
    let first = check::settle(&h, &mut model, SETTLE, check::After::Boot).await;
    if timing() {
        eprintln!("model-timing: {}: first check {:?}", h.name, t.elapsed());
    }
    if let Err(detail) = first {
        h.remove().await?;
        return Ok(Err(Failure {
            step: 0,
            op: "(fresh container)".into(),
            detail,
        }));
    }
    for (step, op) in ops.iter().enumerate() {
        let fail = |detail: String| Failure {
            step,
            op: op.to_string(),
            detail,
        };
        let t_apply = Instant::now();
        let rebooted = if *op == Op::DockerRecreate {
            // A new container on the same volume (contract §5: the boot restores intent).
            h.remove().await?;
            h = ctx.start(spec()).await?;
            model.reboot(Reboot::Recreate);
            Ok(true)
        } else {
            apply(&mut h, &mut model, op).await
        };
        let rebooted = match rebooted {
            Ok(r) => r,
            Err(detail) => {
                h.remove().await?;
                return Ok(Err(fail(detail)));
            }
        };
        let (deadline, after) = if rebooted {
            (SETTLE_AFTER_REBOOT, check::After::Boot)
        } else {
            (SETTLE, check::After::Op)
        };
        let applied = t_apply.elapsed();
        let t_check = Instant::now();
        let checked = check::settle(&h, &mut model, deadline, after).await;
        if timing() {
            eprintln!(
                "model-timing: {}: step {} {op}: apply {applied:?}, check {:?}",
                h.name,
                step + 1,
                t_check.elapsed()
            );
        }
        if let Err(detail) = checked {
            h.remove().await?;
            return Ok(Err(fail(detail)));
        }
    }
    let (t, name) = (Instant::now(), h.name.clone());
    h.remove().await?;
    if timing() {
        eprintln!("model-timing: {name}: remove {:?}", t.elapsed());
    }
    Ok(Ok(()))
}

/// Shrinks a failing sequence: cut to the failing step, then remove chunks (halves, quarters,
/// …, single ops) while the rest still fails the same way. Returns the smallest sequence
/// found and its failure.
pub async fn shrink(ctx: &Ctx, ops: &[Op], failure: &Failure) -> Result<(Vec<Op>, Failure)> {
    shrink_with(ops, failure, |candidate| async move {
        run_sequence(ctx, &candidate).await
    })
    .await
}

/// `shrink` over any way of running a candidate (the container, or a fake in unit tests).
pub async fn shrink_with<F, Fut>(
    ops: &[Op],
    failure: &Failure,
    mut run: F,
) -> Result<(Vec<Op>, Failure)>
where
    F: FnMut(Vec<Op>) -> Fut,
    Fut: std::future::Future<Output = Result<Result<(), Failure>>>,
{
    let sig = failure.signature();
    let mut best = ops[..=failure.step.min(ops.len().saturating_sub(1))].to_vec();
    let mut best_failure = failure.clone();
    let started = Instant::now();
    let mut runs = 0;
    let budget_left = |runs: usize| runs < SHRINK_RUNS && started.elapsed() < SHRINK_TIME;
    let mut chunk = (best.len() / 2).max(1);
    loop {
        let mut i = 0;
        while i < best.len() && budget_left(runs) {
            let candidate: Vec<Op> = best[..i]
                .iter()
                .chain(best[(i + chunk).min(best.len())..].iter())
                .cloned()
                .collect();
            if candidate.is_empty() {
                i += chunk;
                continue;
            }
            runs += 1;
            match run(candidate.clone()).await? {
                Err(f) if f.signature() == sig => {
                    eprintln!(
                        "model: shrink run {runs}: {} ops still fail ({})",
                        f.step + 1,
                        f.detail.lines().next().unwrap_or_default()
                    );
                    best = candidate[..=f.step].to_vec();
                    best_failure = f;
                }
                _ => i += chunk,
            }
        }
        if chunk == 1 || !budget_left(runs) {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    eprintln!(
        "model: shrunk to {} ops in {runs} runs ({:?})",
        best.len(),
        started.elapsed()
    );
    Ok((best, best_failure))
}

/// The knobs, from the environment: `HERMES_MODEL_SEED` (base seed; sequence i uses seed+i),
/// `HERMES_MODEL_SEQUENCES`, `HERMES_MODEL_OPS`, `HERMES_MODEL_DURATION` (`30m`, `600s`: run
/// sequences until then, report every distinct failure once, instead of stopping at the
/// first).
#[derive(Debug, Clone)]
pub struct Budget {
    pub seed: u64,
    pub sequences: usize,
    pub ops: usize,
    pub duration: Option<Duration>,
}

pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    Some(Duration::from_secs(match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    }))
}

impl Budget {
    pub fn from_env(sequences: usize, ops: usize) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let seed = var("HERMES_MODEL_SEED")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() % 1_000_000)
                    .unwrap_or(1)
            });
        Budget {
            seed,
            sequences: var("HERMES_MODEL_SEQUENCES")
                .and_then(|v| v.parse().ok())
                .unwrap_or(sequences),
            ops: var("HERMES_MODEL_OPS")
                .and_then(|v| v.parse().ok())
                .unwrap_or(ops),
            duration: var("HERMES_MODEL_DURATION").and_then(|v| parse_duration(&v)),
        }
    }
}

/// Runs the budget's sequences; each failure is shrunk and printed once per signature with its
/// seed and replay script. Errs when any sequence failed.
pub async fn explore(ctx: &Ctx, budget: &Budget) -> Result<()> {
    eprintln!(
        "model: base seed {} (HERMES_MODEL_SEED={} reproduces), {} ops per sequence, {}",
        budget.seed,
        budget.seed,
        budget.ops,
        match budget.duration {
            Some(d) => format!("for {d:?}"),
            None => format!("{} sequences", budget.sequences),
        }
    );
    let started = Instant::now();
    let mut ops_run = 0usize;
    let mut sequences = 0usize;
    let mut distinct: BTreeMap<String, String> = BTreeMap::new();
    // A bounded run: every sequence is known up front, so they run `PARALLEL_SEQUENCES` at a
    // time, and their outcomes are then taken in seed order exactly as if run one by one.
    let mut ran_ahead = Vec::new();
    if budget.duration.is_none() {
        let seqs: Vec<(u64, Vec<Op>)> = (0..budget.sequences as u64)
            .map(|i| {
                let seed = budget.seed.wrapping_add(i);
                (seed, ops::generate(seed, budget.ops))
            })
            .collect();
        for (seed, ops) in &seqs {
            eprintln!(
                "model: sequence seed {seed}: {}",
                ops.iter().map(Op::to_string).collect::<Vec<_>>().join("; ")
            );
        }
        ran_ahead = futures_util::stream::iter(seqs.iter().map(|(_, ops)| async move {
            let t = Instant::now();
            (run_sequence(ctx, ops).await, t.elapsed())
        }))
        .buffered(PARALLEL_SEQUENCES)
        .collect::<Vec<_>>()
        .await;
    }
    let mut ran_ahead = ran_ahead.into_iter();
    let mut i = 0u64;
    loop {
        let more = match budget.duration {
            Some(d) => started.elapsed() < d,
            None => (i as usize) < budget.sequences,
        };
        if !more {
            break;
        }
        let seed = budget.seed.wrapping_add(i);
        i += 1;
        let ops = ops::generate(seed, budget.ops);
        let (outcome, took) = match ran_ahead.next() {
            Some((outcome, took)) => (outcome?, took),
            None => {
                eprintln!(
                    "model: sequence seed {seed}: {}",
                    ops.iter().map(Op::to_string).collect::<Vec<_>>().join("; ")
                );
                let t = Instant::now();
                (run_sequence(ctx, &ops).await?, t.elapsed())
            }
        };
        sequences += 1;
        ops_run += match &outcome {
            Ok(()) => ops.len(),
            Err(f) => f.step + 1,
        };
        eprintln!(
            "model: sequence seed {seed}: {} in {:?} ({} ops run, {:.2} ops/s overall)",
            if outcome.is_ok() { "ok" } else { "FAILED" },
            took,
            ops_run,
            ops_run as f64 / started.elapsed().as_secs_f64()
        );
        if let Err(f) = outcome {
            let key = format!(
                "{} at {}",
                f.signature(),
                f.op.split(' ').next().unwrap_or("")
            );
            if distinct.contains_key(&key) {
                eprintln!("model: seen before: {key}");
                continue;
            }
            eprintln!("model: seed {seed} failed {f}\nmodel: shrinking…");
            let (min, mf) = shrink(ctx, &ops, &f).await?;
            let report = format!(
                "seed {seed} ({} of {} ops): {mf}\nminimal sequence:\n{}\nreplay script:\n{}",
                min.len(),
                ops.len(),
                min.iter()
                    .enumerate()
                    .map(|(n, o)| format!("  {}. {o}", n + 1))
                    .collect::<Vec<_>>()
                    .join("\n"),
                ops::script(&ctx.image, seed, &min)
            );
            eprintln!("model: FAILURE {report}");
            distinct.insert(key, report);
            if budget.duration.is_none() {
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "model: {sequences} sequences, {ops_run} ops in {secs:.0} s: {:.2} ops/s; {} distinct failure(s)",
        ops_run as f64 / secs,
        distinct.len()
    );
    if distinct.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "the lifecycle did not match its model (base seed {}):\n\n{}",
            budget.seed,
            distinct.into_values().collect::<Vec<_>>().join("\n\n")
        )
    }
}

#[cfg(test)]
mod tests;
