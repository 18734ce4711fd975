//! Gateway ports that never collide (contract §6.2): every profile gets its own port at
//! `profile create`, recorded in the profile and kept across a container restart, so a hundred
//! gateways all serve `/health`, each on its own port.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::support::{expected_port, profile_home};
use crate::{Container, Ctx, wait};

/// How many profiles the scenario makes: enough that derived ports collide many times over.
pub const MANY: usize = 100;
/// Each batch of CLI calls (100 creates, 100 starts) runs in one exec with this deadline.
const BATCH_DEADLINE: Duration = Duration::from_secs(240);
/// Until every gateway answers `/health` once they have all been started.
const ALL_HEALTHY: Duration = Duration::from_secs(90);

fn names() -> Vec<String> {
    (0..MANY).map(|i| format!("p{i}")).collect()
}

/// The port each gateway `hermes status --json` reports, by profile.
pub async fn status_ports(h: &Container) -> Result<BTreeMap<String, u16>> {
    let o = h
        .exec(&["hermes", "status", "--json"])
        .deadline(Duration::from_secs(60))
        .await?;
    o.succeeds();
    let v: serde_json::Value = serde_json::from_str(o.out())
        .with_context(|| format!("hermes status --json is not JSON: {:?}", o.out()))?;
    let mut ports = BTreeMap::new();
    for g in v["gateways"].as_array().context("no gateways array")? {
        let p = g["profile"].as_str().context("gateway without profile")?;
        let port = g["port"].as_u64().context("gateway without port")?;
        ports.insert(p.to_string(), u16::try_from(port)?);
    }
    Ok(ports)
}

/// A bash function `check <profile> <port>`: GET /health with bash's /dev/tcp, printing
/// `<profile> <port> ok` when the answer, read to its end within 3 s, has a status line saying
/// 200 and a body naming that profile, else `<profile> <port> bad`. Bash builtins only (`read
/// -t 3` where `timeout 3 cat` was, pattern matching where `head` and `grep` were): with a
/// hundred gateways the forks were most of the exec.
pub const HEALTH_CHECK_FN: &str = "check() { local r=; \
     if { printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && IFS= read -r -d '' -t 3 r <&3; [ $? -eq 1 ]; } \
     3<>/dev/tcp/127.0.0.1/$2 \
     && [[ ${r%%$'\\n'*} == *' 200 '* && $r == *\"\\\"profile\\\":\\\"$1\\\"\"* ]]; \
     then echo \"$1 $2 ok\"; else echo \"$1 $2 bad\"; fi; }\n";

/// One exec: `HEALTH_CHECK_FN` on each `(profile, port)`; returns the lines that are not ok.
pub async fn health_of_all(h: &Container, ports: &BTreeMap<String, u16>) -> Result<Vec<String>> {
    let mut script = String::from(HEALTH_CHECK_FN);
    for (p, port) in ports {
        script.push_str(&format!("check {p} {port} 2>/dev/null\n"));
    }
    let o = h
        .exec(&["bash", "-c", &script])
        .deadline(Duration::from_secs(60))
        .await?;
    o.succeeds();
    Ok(o.stdout_lines()
        .into_iter()
        .filter(|l| !l.ends_with(" ok"))
        .map(str::to_string)
        .collect())
}

/// Polls until every gateway answers `/health` on its own port naming its own profile.
async fn wait_all_healthy(h: &Container, ports: &BTreeMap<String, u16>) -> Result<()> {
    wait::poll_until(
        "every gateway to answer /health on its own port",
        ALL_HEALTHY,
        || async {
            let bad = health_of_all(h, ports).await.map_err(|e| e.to_string())?;
            if bad.is_empty() {
                Ok(Some(()))
            } else {
                Err(format!("{} not answering: {}", bad.len(), bad.join(", ")))
            }
        },
    )
    .await
}

/// A hundred profiles, many of whose derived ports collide, are created and started as
/// hermes; every one records its own port, `hermes status --json` shows it, no two share
/// one, and every gateway answers `/health` on it. After `docker restart` each keeps its port
/// and answers again.
pub async fn hundred_profiles_each_serve_on_their_own_port(ctx: Ctx) -> Result<()> {
    let names = names();
    let mut by_derived: HashMap<u16, usize> = HashMap::new();
    for n in names.iter().map(String::as_str).chain(["default"]) {
        *by_derived.entry(expected_port(n)).or_default() += 1;
    }
    let collisions: usize = by_derived.values().map(|c| c - 1).sum();
    ensure!(
        collisions > 0,
        "the names must include derived-port collisions for this scenario to prove anything"
    );

    let mut h = ctx.start_default().await?;
    let t = Instant::now();
    let list = names.join(" ");
    h.exec(&[
        "bash",
        "-c",
        &format!("for p in {list}; do hermes profile create $p >/dev/null || exit 1; done"),
    ])
    .deadline(BATCH_DEADLINE)
    .await?
    .succeeds();
    h.exec(&[
        "bash",
        "-c",
        &format!("for p in {list}; do hermes -p $p gateway start >/dev/null || exit 1; done"),
    ])
    .deadline(BATCH_DEADLINE)
    .await?
    .succeeds();

    let ports = status_ports(&h).await?;
    let mut owners: HashMap<u16, &str> = HashMap::new();
    for (p, port) in &ports {
        if let Some(other) = owners.insert(*port, p) {
            anyhow::bail!("{p} and {other} share port {port} ({collisions} derived collisions)");
        }
    }
    for n in &names {
        let reported = ports
            .get(n)
            .with_context(|| format!("{n} missing from status"))?;
        let record = h
            .exec(&["cat", &format!("{}/gateway.port", profile_home(n))])
            .await?;
        record.succeeds();
        ensure!(
            record.out().trim() == reported.to_string(),
            "{n}: status reports port {reported}, its record says {:?}",
            record.out()
        );
    }
    wait_all_healthy(&h, &ports).await?;
    eprintln!(
        "{MANY} profiles created, started and healthy in {:?} ({collisions} derived-port collisions resolved)",
        t.elapsed()
    );

    h.restart().await?;
    let after = status_ports(&h).await?;
    ensure!(
        after == ports,
        "ports changed across docker restart: before {ports:?}, after {after:?}"
    );
    wait_all_healthy(&h, &ports).await?;
    eprintln!(
        "and healthy again after docker restart: {:?} in all",
        t.elapsed()
    );
    Ok(())
}
