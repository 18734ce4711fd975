//! The operations a sequence is made of, generated with weights from a seed, and each one's
//! line in the replay script.

use std::fmt;

use super::state::{Intent, Model, Reboot};

/// Valid names: `p28` and `p38` share a derived port (so creating both probes), the rest not.
pub const NAMES: &[&str] = &["p28", "p38", "alpha", "beta"];
/// Names `profile create` must refuse, changing nothing.
pub const INVALID: &[&str] = &["Bad", "-x", "default", "tmp", "a.b"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Create(String),
    CreateInvalid(String),
    Delete(String),
    Start(String),
    Stop(String),
    Restart(String),
    /// `kill -9` of the gateway's pid, as hermes.
    Kill9(String),
    /// Two `profile create` (two registrar requests) at once.
    CreatePair(String, String),
    /// `gateway start` and `gateway stop` of one profile at once.
    StartStop(String),
    DockerRestart,
    DockerKillStart,
    DockerStopStart,
    /// The container removed and a new one started on the same data volume.
    DockerRecreate,
}

impl Op {
    /// The op as the shell lines of the replay script (`$C` is the container).
    pub fn script(&self) -> String {
        let h = "docker exec -u hermes \"$C\" hermes";
        match self {
            Op::Create(p) | Op::CreateInvalid(p) => format!("{h} profile create '{p}'"),
            Op::Delete(p) => format!("{h} profile delete '{p}' --yes"),
            Op::Start(p) => format!("{h} -p {p} gateway start"),
            Op::Stop(p) => format!("{h} -p {p} gateway stop"),
            Op::Restart(p) => format!("{h} -p {p} gateway restart"),
            Op::Kill9(p) => format!(
                "docker exec -u hermes \"$C\" sh -c 'kill -9 $(/command/s6-svstat -o pid /run/service/gateway-{p})'"
            ),
            Op::CreatePair(a, b) => format!(
                "docker exec -u hermes \"$C\" bash -c 'hermes profile create {a} & hermes profile create {b} & wait'"
            ),
            Op::StartStop(p) => format!(
                "docker exec -u hermes \"$C\" bash -c 'hermes -p {p} gateway start & hermes -p {p} gateway stop & wait'"
            ),
            Op::DockerRestart => "docker restart \"$C\" && ready".into(),
            Op::DockerKillStart => "docker kill \"$C\" && docker start \"$C\" && ready".into(),
            Op::DockerStopStart => "docker stop \"$C\" && docker start \"$C\" && ready".into(),
            Op::DockerRecreate => {
                "docker rm -f \"$C\" && C=$(docker run -d -v \"$V:/opt/data\" \"$IMAGE\") && ready"
                    .into()
            }
        }
    }

    /// A short kind, for grouping failures.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Create(_) => "create",
            Op::CreateInvalid(_) => "create-invalid",
            Op::Delete(_) => "delete",
            Op::Start(_) => "start",
            Op::Stop(_) => "stop",
            Op::Restart(_) => "restart",
            Op::Kill9(_) => "kill-9",
            Op::CreatePair(..) => "create-pair",
            Op::StartStop(_) => "start-stop-race",
            Op::DockerRestart => "docker-restart",
            Op::DockerKillStart => "docker-kill-start",
            Op::DockerStopStart => "docker-stop-start",
            Op::DockerRecreate => "docker-recreate",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Create(p) => write!(f, "create {p}"),
            Op::CreateInvalid(p) => write!(f, "create {p:?} (invalid)"),
            Op::Delete(p) => write!(f, "delete {p}"),
            Op::Start(p) => write!(f, "start {p}"),
            Op::Stop(p) => write!(f, "stop {p}"),
            Op::Restart(p) => write!(f, "restart {p}"),
            Op::Kill9(p) => write!(f, "kill -9 gateway {p}"),
            Op::CreatePair(a, b) => write!(f, "create {a} & create {b}"),
            Op::StartStop(p) => write!(f, "start {p} & stop {p}"),
            Op::DockerRestart => write!(f, "docker restart"),
            Op::DockerKillStart => write!(f, "docker kill + start"),
            Op::DockerStopStart => write!(f, "docker stop + start"),
            Op::DockerRecreate => write!(f, "docker rm + run on the same volume"),
        }
    }
}

/// splitmix64: a seed gives the same sequence on every machine, with no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

/// The weights: gateway verbs and creates often, Docker verbs (seconds each) rarely.
const WEIGHTS: &[(u32, &str)] = &[
    (14, "create"),
    (4, "create-invalid"),
    (6, "delete"),
    (14, "start"),
    (10, "stop"),
    (6, "restart"),
    (6, "kill-9"),
    (4, "create-pair"),
    (5, "start-stop-race"),
    (2, "docker-restart"),
    (1, "docker-kill-start"),
    (1, "docker-stop-start"),
    (1, "docker-recreate"),
];

/// `len` operations from `seed`, drawn against a model of the state so far (as
/// proptest-state-machine does): ops on a profile mostly name one that exists (creates mostly
/// a new one, `kill -9` one whose gateway is up), and now and then any name, whose op must
/// then fail and change nothing (checked too). Every op is meaningful in any state, so a
/// shrunk sequence stays runnable.
pub fn generate(seed: u64, len: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    let total: u32 = WEIGHTS.iter().map(|w| w.0).sum();
    let mut ops = Vec::with_capacity(len);
    for _ in 0..len {
        let mut roll = (rng.next_u64() % total as u64) as u32;
        let kind = WEIGHTS
            .iter()
            .find(|(w, _)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or("start", |w| w.1);
        let existing: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| model.profiles.contains_key(*n))
            .collect();
        let fresh: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| !model.profiles.contains_key(*n))
            .collect();
        let up: Vec<&str> = existing
            .iter()
            .copied()
            .filter(|n| model.is_up(n))
            .collect();
        // 5 in 6 from the preferred set when it has any, else any name.
        let mut choose = |preferred: &[&str]| -> String {
            if !preferred.is_empty() && rng.below(6) != 0 {
                rng.pick(preferred).to_string()
            } else {
                rng.pick(NAMES).to_string()
            }
        };
        let op = match kind {
            "create" => Op::Create(choose(&fresh)),
            "create-invalid" => Op::CreateInvalid(rng.pick(INVALID).to_string()),
            "delete" => Op::Delete(choose(&existing)),
            "stop" => Op::Stop(choose(&existing)),
            "restart" => Op::Restart(choose(&existing)),
            "kill-9" => Op::Kill9(choose(&up)),
            "create-pair" => {
                let a = choose(&fresh);
                let b = loop {
                    let o = choose(&fresh);
                    if o != a {
                        break o;
                    }
                };
                Op::CreatePair(a, b)
            }
            "start-stop-race" => Op::StartStop(choose(&existing)),
            "docker-restart" => Op::DockerRestart,
            "docker-kill-start" => Op::DockerKillStart,
            "docker-stop-start" => Op::DockerStopStart,
            "docker-recreate" => Op::DockerRecreate,
            _ => Op::Start(choose(&existing)),
        };
        advance(&mut model, &op);
        ops.push(op);
    }
    ops
}

/// What `op` does to the model (the verdicts are the runner's business, not generation's).
fn advance(model: &mut Model, op: &Op) {
    match op {
        Op::Create(p) => {
            model.create(p);
        }
        Op::Delete(p) => {
            model.delete(p);
        }
        Op::Start(p) | Op::Restart(p) => {
            model.set_intent(p, Intent::Running);
        }
        Op::Stop(p) => {
            model.set_intent(p, Intent::Stopped);
        }
        Op::CreatePair(a, b) => {
            model.create_pair(a, b);
        }
        // Either may win: generation assumes the start did, so a kill may follow.
        Op::StartStop(p) => {
            model.set_intent(p, Intent::Running);
        }
        Op::DockerRestart => model.reboot(Reboot::Restart),
        Op::DockerKillStart => model.reboot(Reboot::KillStart),
        Op::DockerStopStart => model.reboot(Reboot::StopStart),
        Op::DockerRecreate => model.reboot(Reboot::Recreate),
        Op::CreateInvalid(_) | Op::Kill9(_) => {}
    }
}

/// The replay script of a sequence: a fresh container of `image`, then one line per op.
pub fn script(image: &str, seed: u64, ops: &[Op]) -> String {
    let mut s = format!(
        "#!/bin/sh\n# hermes-s6 model replay: seed {seed}, {} operations (after each, the model's check runs;\n# `make replay SEED={seed}` runs them with the checks)\nready() {{ until docker exec \"$C\" test -e /run/hermes/ready; do sleep 0.2; done; }}\nIMAGE={image}\nV=hermes-model-replay-$$\nset -x\nC=$(docker run -d -v \"$V:/opt/data\" \"$IMAGE\")\nready\n",
        ops.len()
    );
    for op in ops {
        s.push_str(&op.script());
        s.push('\n');
    }
    s.push_str("docker exec -u hermes \"$C\" hermes status --json\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_sequence() {
        assert_eq!(generate(7, 25), generate(7, 25));
        assert_ne!(generate(7, 25), generate(8, 25));
    }

    #[test]
    fn every_kind_is_generated() {
        let ops = generate(1, 2000);
        for (_, kind) in WEIGHTS {
            assert!(ops.iter().any(|o| o.kind() == *kind), "{kind} never drawn");
        }
    }

    #[test]
    fn most_profile_ops_name_a_profile_that_exists() {
        let ops = generate(11, 500);
        let mut model = Model::default();
        let mut hits = 0;
        let mut total = 0;
        for op in &ops {
            if let Op::Start(p) | Op::Stop(p) | Op::Restart(p) | Op::Delete(p) = op {
                total += 1;
                hits += usize::from(model.profiles.contains_key(p));
            }
            advance(&mut model, op);
        }
        assert!(hits * 3 > total * 2, "{hits} of {total}");
        assert!(hits < total, "some ops name a missing profile too");
    }

    #[test]
    fn the_script_has_a_line_per_op() {
        let ops = generate(3, 5);
        let s = script("img", 3, &ops);
        assert!(s.contains("seed 3"));
        assert_eq!(
            s.lines().filter(|l| l.starts_with("docker ")).count(),
            ops.len() + 1,
            "one line per op and the final status:\n{s}"
        );
    }
}
