//! The check after every step: what the container shows (as hermes) against what the model
//! says, polled with a deadline until they agree. One look is one exec of one shell script: it
//! lists the slot set, `s6-svstat` per slot, each profile's state file and port record, and
//! leftovers (staging dirs, temp files, zombies); runs `hermes status --json`; and asks
//! `/health` of every gateway s6 reports up, on the port its profile records. The look agrees
//! when all of that matches the model, `/health` answered by every gateway the model says is up
//! on the model's port.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};

use super::state::{Intent, Model};
use crate::Container;
use crate::exec::ExecOutcome;
use crate::scenarios::ports::HEALTH_CHECK_FN;

/// What one look at the container found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Per visible `gateway-<p>` slot (default excluded): (up, wanted up).
    pub slots: BTreeMap<String, (bool, bool)>,
    /// Per profile dir with `SOUL.md`: (recorded port, `desired_state` in its state file).
    pub profiles: BTreeMap<String, (Option<u16>, Option<String>)>,
    /// Per gateway in `hermes status --json` (default excluded): (registered, up, desired, port).
    pub status: BTreeMap<String, (bool, Option<bool>, Option<String>, u16)>,
    /// Staging dirs, temp files and zombie processes: must be none once settled.
    pub leftovers: Vec<String>,
    /// Per slot s6 reports up: (the port its profile records, whether `/health` there answered
    /// 200 naming the profile).
    pub health: BTreeMap<String, (u16, bool)>,
}

/// The look, after `HEALTH_CHECK_FN`. Everything but `hermes status --json` (whose stderr is
/// the exec's) writes to stdout, one record a line. Files are read with bash's `mapfile` and
/// matched with its `=~`, `/proc/<pid>/status` with its `read`: a fork costs milliseconds
/// here, and a `cat`, `sed` or `tr` per profile and per process was most of a look's time.
const LOOK: &str = r#"
up=()
cd /run/service || exit 1
for s in gateway-* .gateway-*; do
  [ -e "$s" ] || continue
  case "$s" in
    .*) echo "leftover /run/service/$s" ;;
    gateway-default) ;;
    *) st=$(/command/s6-svstat -o up,wantedup "$s" 2>&1)
       echo "slot ${s#gateway-} ${st//$'\n'/ }"
       case "$st" in true\ *) up+=("${s#gateway-}") ;; esac ;;
  esac
done
# The content of file $1 with its lines joined by spaces (what `$(cat "$1")` printed on one
# line), or `-` when it cannot be read.
oneline() { local l; if mapfile -t l 2>/dev/null <"$1"; then echo "${l[*]}"; else echo -; fi; }
re='.*"desired_state": *"([a-z_]*)"'
cd /opt/data/profiles 2>/dev/null && for d in * .[!.]*; do
  [ -e "$d" ] || continue
  case "$d" in
    .*) echo "leftover /opt/data/profiles/$d" ; continue ;;
  esac
  [ -f "$d/SOUL.md" ] || continue
  port=$(oneline "$d/gateway.port")
  want=
  if mapfile -t lines 2>/dev/null <"$d/gateway_state.json"; then
    for l in "${lines[@]}"; do
      [[ $l =~ $re ]] && want+="${want:+ }${BASH_REMATCH[1]}"
    done
  fi
  echo "profile $d $port ${want:--}"
  for t in "$d"/.*.tmp-*; do [ -e "$t" ] && echo "leftover /opt/data/profiles/$t"; done
done
for f in /proc/[0-9]*/status; do
  while read -r k v _; do
    if [ "$k" = State: ]; then [ "$v" = Z ] && echo "leftover zombie ${f%/status}"; break; fi
  done 2>/dev/null <"$f"
done
st=$(hermes status --json)
echo "status-exit $?"
printf 'status-json %s\n' "${st//$'\n'/ }"
for p in "${up[@]}"; do
  port=$(oneline "/opt/data/profiles/$p/gateway.port")
  echo "health $(check "$p" "$port" 2>/dev/null)"
done
exit 0
"#;

fn parse_look(out: &str, o: &mut Observed) {
    for line in out.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["slot", p, up, wanted, ..] => {
                o.slots
                    .insert(p.to_string(), (*up == "true", *wanted == "true"));
            }
            ["slot", p, ..] => {
                o.slots.insert(p.to_string(), (false, false));
            }
            ["profile", p, port, want] => {
                o.profiles.insert(
                    p.to_string(),
                    (port.parse().ok(), (*want != "-").then(|| want.to_string())),
                );
            }
            ["leftover", ..] => o.leftovers.push(f[1..].join(" ")),
            ["health", p, port, verdict] => {
                if let Ok(port) = port.parse() {
                    o.health.insert(p.to_string(), (port, *verdict == "ok"));
                }
            }
            _ => {}
        }
    }
}

/// One look at the container: one exec (`LOOK`).
pub async fn observe(h: &Container) -> Result<Observed> {
    let mut o = Observed::default();
    let script = format!("{HEALTH_CHECK_FN}{LOOK}");
    let look = h
        .exec(&["bash", "-c", &script])
        .deadline(Duration::from_secs(30))
        .await?;
    look.succeeds();
    parse_look(look.out(), &mut o);
    let record = |key: &str| {
        look.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_string)
    };
    // `hermes status --json` as its own exec would have shown it: its exit status, its stdout
    // (the look printed it on one line) and its stderr (the only one the look's exec has).
    let status = ExecOutcome {
        cmd: ["hermes", "status", "--json"].map(String::from).to_vec(),
        user: look.user.clone(),
        root_reason: None,
        env: look.env.clone(),
        code: record("status-exit ").and_then(|c| c.trim().parse().ok()),
        stdout: record("status-json ").unwrap_or_default(),
        stderr: look.stderr.clone(),
        elapsed: look.elapsed,
        permission_dump: look.permission_dump.clone(),
    };
    status.succeeds();
    let v: serde_json::Value = serde_json::from_str(status.out())
        .with_context(|| format!("hermes status --json is not JSON: {:?}", status.out()))?;
    for g in v["gateways"].as_array().context("no gateways in status")? {
        let p = g["profile"].as_str().unwrap_or_default();
        if p == "default" {
            continue;
        }
        o.status.insert(
            p.to_string(),
            (
                g["registered"].as_bool().unwrap_or(false),
                g["up"].as_bool(),
                g["desired_state"].as_str().map(str::to_string),
                g["port"].as_u64().unwrap_or(0) as u16,
            ),
        );
    }
    Ok(o)
}

/// The gateways the model says are up whose `/health` did not answer, on the model's port, in
/// the same look: `<profile> <port> bad`, as `ports::health_of_all` names them.
pub fn unhealthy(model: &Model, o: &Observed) -> Vec<String> {
    model
        .profiles
        .iter()
        .filter(|(_, p)| p.up)
        .filter_map(|(n, p)| p.port.map(|port| (n, port)))
        .filter(|(n, port)| o.health.get(*n) != Some(&(*port, true)))
        .map(|(n, port)| format!("{n} {port} bad"))
        .collect()
}

/// Resolves what the model left open (a raced intent, a raced port) from the observation.
pub fn learn(model: &mut Model, o: &Observed) {
    let names: Vec<String> = model.profiles.keys().cloned().collect();
    for n in names {
        let intent = o
            .profiles
            .get(&n)
            .and_then(|(_, w)| w.as_deref())
            .and_then(|w| match w {
                "running" => Some(Intent::Running),
                "stopped" => Some(Intent::Stopped),
                _ => None,
            });
        let port = o.profiles.get(&n).and_then(|(p, _)| *p);
        model.learn(&n, intent, port);
    }
}

/// Every way the observation differs from the model, one line each; empty when they agree.
pub fn mismatches(model: &Model, o: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let want: BTreeSet<&String> = model.profiles.keys().collect();
    let slots: BTreeSet<&String> = o.slots.keys().collect();
    if want != slots {
        out.push(format!("slot set: model {want:?}, /run/service {slots:?}"));
    }
    let on_disk: BTreeSet<&String> = o.profiles.keys().collect();
    if want != on_disk {
        out.push(format!("profiles: model {want:?}, on disk {on_disk:?}"));
    }
    let mut ports_up: BTreeMap<u16, &str> = BTreeMap::new();
    for (n, p) in &model.profiles {
        if let Some(&(up, wanted)) = o.slots.get(n)
            && (up, wanted) != (p.up, p.up)
        {
            out.push(format!(
                "{n}: s6-svstat up={up} wantedup={wanted}, model up={}",
                p.up
            ));
        }
        if let Some((port, desired)) = o.profiles.get(n) {
            if p.port.is_some() && *port != p.port {
                out.push(format!("{n}: gateway.port {port:?}, model {:?}", p.port));
            }
            if p.intent != Intent::Either && desired.as_deref() != p.intent.label() {
                out.push(format!(
                    "{n}: desired_state {desired:?} in gateway_state.json, model {:?}",
                    p.intent.label()
                ));
            }
        }
        match o.status.get(n) {
            None => out.push(format!("{n}: missing from hermes status --json")),
            Some((registered, up, desired, port)) => {
                if !registered || *up != Some(p.up) {
                    out.push(format!(
                        "{n}: status registered={registered} up={up:?}, model up={}",
                        p.up
                    ));
                }
                if p.intent != Intent::Either && desired.as_deref() != p.intent.label() {
                    out.push(format!(
                        "{n}: status desired_state {desired:?}, model {:?}",
                        p.intent.label()
                    ));
                }
                if p.port.is_some_and(|m| m != *port) {
                    out.push(format!("{n}: status port {port}, model {:?}", p.port));
                }
                if p.up
                    && let Some(other) = ports_up.insert(*port, n)
                {
                    out.push(format!("{n} and {other} both up on port {port}"));
                }
            }
        }
    }
    for extra in o.status.keys().filter(|k| !model.profiles.contains_key(*k)) {
        out.push(format!(
            "{extra}: in hermes status --json, not in the model"
        ));
    }
    if !o.leftovers.is_empty() {
        out.push(format!("leftovers: {}", o.leftovers.join(", ")));
    }
    out
}

/// The model and the observation side by side, for a failure message.
pub fn views(model: &Model, o: &Observed) -> String {
    let mut s = String::from("  model:\n");
    for (n, p) in &model.profiles {
        let _ = writeln!(
            s,
            "    {n}: intent={:?} up={} port={:?}",
            p.intent, p.up, p.port
        );
    }
    s.push_str("  observed:\n");
    for (n, st) in &o.status {
        let _ = writeln!(
            s,
            "    {n}: status(registered, up, desired, port)={st:?} svstat(up, wanted)={:?} disk(port, desired)={:?}",
            o.slots.get(n),
            o.profiles.get(n)
        );
    }
    for n in o.profiles.keys().filter(|n| !o.status.contains_key(*n)) {
        let _ = writeln!(s, "    {n}: on disk {:?}, no slot in status", o.profiles[n]);
    }
    if !o.leftovers.is_empty() {
        let _ = writeln!(s, "    leftovers: {:?}", o.leftovers);
    }
    s
}

/// What the step before the check was: after a boot (a Docker verb, whose readiness marker has
/// been seen) the slot set and the profiles on disk are final at the first look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// A CLI op (or nothing): everything may still be settling until the deadline.
    Op,
    /// A boot: contract §2.2 point 6 writes the marker only after cont-init, and §5's
    /// `02-reconcile-profiles` in cont-init registers every profile's slot in one batch; a boot
    /// creates or removes no profile. A wrong slot set or profile set then will not heal, so it
    /// fails at once instead of after `SETTLE_AFTER_REBOOT`.
    Boot,
}

/// Polls until the container agrees with the model (learning what races left open), including
/// `/health` of every gateway that should be up. `Err` carries the last mismatch and both
/// views.
pub async fn settle(
    h: &Container,
    model: &mut Model,
    deadline: Duration,
    after: After,
) -> Result<(), String> {
    let start = std::time::Instant::now();
    let mut last;
    loop {
        match observe(h).await {
            Ok(o) => {
                learn(model, &o);
                let bad = mismatches(model, &o);
                if bad.is_empty() {
                    let b = unhealthy(model, &o);
                    if b.is_empty() {
                        return Ok(());
                    }
                    last = format!(
                        "/health not answered: {}\n{}",
                        b.join(", "),
                        views(model, &o)
                    );
                } else {
                    last = format!("{}\n{}", bad.join("\n"), views(model, &o));
                    let final_now = after == After::Boot
                        && bad
                            .iter()
                            .any(|b| b.starts_with("slot set") || b.starts_with("profiles:"));
                    if final_now {
                        return Err(last);
                    }
                }
            }
            Err(e) => last = format!("cannot observe: {e:#}"),
        }
        if start.elapsed() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(crate::wait::POLL_INTERVAL * 4).await; // poll interval inside a deadline loop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_is_parsed() {
        let mut o = Observed::default();
        parse_look(
            "slot a true true \nprofile a 9300 running\nleftover /run/service/.gateway-b.new.12\n",
            &mut o,
        );
        assert_eq!(o.slots["a"], (true, true));
        assert_eq!(o.profiles["a"], (Some(9300), Some("running".into())));
        assert_eq!(o.leftovers, ["/run/service/.gateway-b.new.12"]);
    }

    #[test]
    fn health_is_judged_on_the_models_port() {
        let mut m = Model::default();
        m.create("a");
        m.set_intent("a", Intent::Running);
        let port = m.profiles["a"].port.unwrap();
        let mut o = Observed::default();
        assert_eq!(
            unhealthy(&m, &o),
            [format!("a {port} bad")],
            "no answer at all"
        );
        parse_look(&format!("health a {port} bad\n"), &mut o);
        assert_eq!(
            unhealthy(&m, &o),
            [format!("a {port} bad")],
            "answered badly"
        );
        parse_look(&format!("health a {} ok\n", port + 1), &mut o);
        assert_eq!(
            unhealthy(&m, &o),
            [format!("a {port} bad")],
            "on another port"
        );
        parse_look(&format!("health a {port} ok\n"), &mut o);
        assert!(unhealthy(&m, &o).is_empty());
        m.set_intent("a", Intent::Stopped);
        o.health.clear();
        assert!(unhealthy(&m, &o).is_empty(), "a gateway down is not asked");
    }

    #[test]
    fn a_difference_is_named() {
        let mut m = Model::default();
        m.create("a");
        let port = m.profiles["a"].port.unwrap();
        let mut o = Observed::default();
        o.slots.insert("a".into(), (true, true));
        o.profiles.insert("a".into(), (Some(port), None));
        o.status.insert("a".into(), (true, Some(true), None, port));
        let bad = mismatches(&m, &o);
        assert!(
            bad.iter().any(|b| b.contains("s6-svstat up=true")),
            "{bad:?}"
        );
        o.slots.insert("a".into(), (false, false));
        o.status.insert("a".into(), (true, Some(false), None, port));
        assert!(mismatches(&m, &o).is_empty(), "{:?}", mismatches(&m, &o));
    }
}
