//! Runtime service lifecycle as hermes (SPEC §3, §6): profiles, slots, start/stop/restart,
//! unregister, the gateway process, root at the door, bad input.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};

use crate::support::{
    GATEWAY, HERMES_HOME, SCANDIR, STATE_DEADLINE, assert_absent, create_profile, ensure_runs_as,
    expected_port, name_with_own_port, profile_home, read_json, slot_dir, svstat, wait_http,
    wait_svstat,
};
use crate::{Container, Ctx, wait};

/// Expected entries of a fresh slot: (relative path, `stat -c '%F %U:%G %a'`), contract §3.2.
/// Everything is root's; hermes' group may traverse `supervise/` and write `control`, and
/// `event/` is s6-supervise's own root-only dir. `run`, `finish` and `log/run` are symlinks
/// and are checked by target instead. Read as hermes: the slot must be inspectable by the
/// user who controls it.
const SLOT_SKELETON: &[(&str, &str)] = &[
    ("", "directory root:root 755"),
    ("type", "regular file root:root"),
    ("event", "directory root:root 3730"),
    ("supervise", "directory root:hermes 710"),
    ("supervise/control", "fifo root:hermes 620"),
    ("log", "directory root:root 755"),
    ("log/event", "directory root:root 3730"),
    ("log/supervise", "directory root:hermes 710"),
    ("log/supervise/control", "fifo root:hermes 620"),
];

const SLOT_LINKS: &[(&str, &str)] = &[
    ("run", "/etc/hermes-s6/gateway/run"),
    ("finish", "/etc/hermes-s6/gateway/finish"),
    ("log/run", "/opt/hermes/bin/hermes-logger"),
];

/// The slot has exactly the SPEC §3.2 layout, owners and modes.
pub async fn assert_slot_layout(h: &Container, p: &str) -> Result<()> {
    let dir = slot_dir(p);
    let abs = |rel: &str| {
        if rel.is_empty() {
            dir.clone()
        } else {
            format!("{dir}/{rel}")
        }
    };
    // One exec for the whole layout (it runs in many rounds of many scenarios): each line is
    // `<S|L|T>:<path>\t<what stat, readlink or cat said>` (a failure's own message included).
    const SCRIPT: &str = r#"for a in "$@"; do
  p=${a#?:}; printf '%s\t' "$a"
  case $a in
    L:*) readlink "$p" || echo "(not a symlink)" ;;
    T:*) cat "$p" 2>&1 || true ;;
    *) stat -c '%F %U:%G %a' "$p" 2>&1 || true ;;
  esac
done"#;
    let mut argv = vec!["sh".to_string(), "-c".into(), SCRIPT.into(), "sh".into()];
    argv.extend(
        SLOT_SKELETON
            .iter()
            .map(|(rel, _)| format!("S:{}", abs(rel))),
    );
    argv.extend(SLOT_LINKS.iter().map(|(rel, _)| format!("L:{}", abs(rel))));
    argv.push(format!("T:{dir}/type"));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let o = h.exec(&argv).await?;
    o.succeeds();
    let seen: std::collections::HashMap<&str, &str> = o
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let said = |path: &str| seen.get(path).copied().unwrap_or("(not listed)").trim();
    for (rel, want) in SLOT_SKELETON {
        let path = abs(rel);
        // "%F" of a FIFO is "fifo" on GNU stat; dirs and files as written above. Modes are
        // compared only where SPEC §3.2 fixes them.
        let got = said(&format!("S:{path}"));
        let (kind_owner, mode) = got.rsplit_once(' ').unwrap_or((got, ""));
        let want_has_mode = want.chars().last().is_some_and(|c| c.is_ascii_digit());
        let matches = if want_has_mode {
            got == *want
        } else {
            kind_owner == *want
        };
        ensure!(
            matches,
            "{path}: expected {want:?}, found {got:?} (mode {mode})\n{o}"
        );
    }
    for (rel, target) in SLOT_LINKS {
        let path = abs(rel);
        let got = said(&format!("L:{path}"));
        ensure!(
            got == *target,
            "{path}: expected a symlink to {target}, readlink says {got:?}\n{o}"
        );
    }
    let kind = said(&format!("T:{dir}/type"));
    ensure!(
        kind == "longrun",
        "{dir}/type: expected \"longrun\", it holds {kind:?}\n{o}"
    );
    Ok(())
}

/// After `profile create p`: the slot exists with the exact layout, is supervised, is down
/// and not wanted up.
pub async fn create_publishes_a_down_slot(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    create_profile(&h, "alpha").await?;
    h.exec(&["test", "-f", &format!("{}/SOUL.md", profile_home("alpha"))])
        .await?
        .succeeds();
    assert_slot_layout(&h, "alpha").await?;
    let dir = slot_dir("alpha");
    wait::poll_until("gateway-alpha to be supervised", STATE_DEADLINE, || async {
        let o = h.exec(&["/command/s6-svok", &dir]).await?;
        if o.success() {
            Ok(Some(()))
        } else {
            Err(anyhow!("{}", o.stderr.trim()))
        }
    })
    .await?;
    let st = svstat(&h, &dir).await?;
    ensure!(
        !st.up && !st.wanted_up,
        "fresh slot must be down and not wanted up: {st:?}"
    );
    h.remove().await
}

/// `gateway stop` right after `gateway start` (one shell, no pause): s6 reports the slot up as
/// soon as it forks the run script, so the stop's SIGTERM often reaches the gateway before it
/// runs its own code — the run script dies of it and the gateway never records anything. When
/// `gateway stop` has returned 0 the state file must say `stopped` all the same (intent and
/// state), with no planned-stop marker left behind; checked at once, in every round.
pub async fn stop_right_after_start_records_stopped(ctx: Ctx) -> Result<()> {
    const ROUNDS: usize = 10;
    let h = ctx.start_default().await?;
    let p = "quick";
    create_profile(&h, p).await?;
    let home = profile_home(p);
    let state_path = format!("{home}/gateway_state.json");
    for round in 1..=ROUNDS {
        h.sh(&format!(
            "hermes -p {p} gateway start >/dev/null && hermes -p {p} gateway stop >/dev/null"
        ))
        .await?
        .succeeds_or(&format!("round {round}: start then stop"));
        let state = read_json(&h, &state_path).await?;
        ensure!(
            state["gateway_state"] == "stopped" && state["desired_state"] == "stopped",
            "round {round}: `gateway stop` returned 0 but {state_path} says {state}"
        );
        h.exec(&[
            "test",
            "!",
            "-e",
            &format!("{home}/.gateway-planned-stop.json"),
        ])
        .await?
        .succeeds_or(&format!(
            "round {round}: a planned-stop marker was left behind"
        ));
    }
    h.remove().await
}

/// start → up as UID 10000, health on the derived port, banner in the log and `docker logs`;
/// stop → down with intent recorded; restart → a new pid; status tells the truth.
pub async fn start_stop_restart(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let p = "beta";
    let dir = slot_dir(p);
    create_profile(&h, p).await?;

    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    let up = wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up && s.pid > 0).await?;
    ensure_runs_as(&h, up.pid, &GATEWAY, 10000, STATE_DEADLINE).await?;
    let port = expected_port(p);
    let health =
        crate::support::parse_response(&wait_http(&h, port, "/health", STATE_DEADLINE).await?)?;
    ensure!(
        health.status == 200,
        "GET /health on {port}: status {}, expected 200:\n{health:?}",
        health.status
    );
    let body = health.json()?;
    ensure!(
        body["profile"] == p && body["pid"] == up.pid,
        "GET /health on {port} should name profile {p:?} and pid {} (s6's): {body}",
        up.pid
    );

    let current = format!("{HERMES_HOME}/logs/gateways/{p}/current");
    wait::poll_until(
        "the banner in the gateway's log",
        STATE_DEADLINE,
        || async {
            let o = h.exec(&["cat", &current]).await?;
            if o.stdout.contains("Hermes Gateway Starting") {
                Ok(Some(()))
            } else {
                Err(anyhow!("{o}"))
            }
        },
    )
    .await?;
    wait::poll_until("the banner in docker logs", STATE_DEADLINE, || async {
        let logs = h.logs().await?;
        if logs.contains("Hermes Gateway Starting") && logs.contains(p) {
            Ok(Some(()))
        } else {
            Err(anyhow!("banner not in docker logs yet"))
        }
    })
    .await?;

    // status agrees with s6.
    let status = h
        .exec(&["hermes", "-p", p, "gateway", "status", "--json"])
        .await?;
    status.succeeds();
    let js: serde_json::Value = serde_json::from_str(status.out())
        .map_err(|e| anyhow::anyhow!("gateway status --json is not JSON ({e})\n{status}"))?;
    let g = &js["gateways"][0];
    ensure!(
        js["manager"] == "s6"
            && js["gateways"].as_array().map(Vec::len) == Some(1)
            && g["profile"] == p
            && g["up"] == true
            && g["pid"] == up.pid
            && g["desired_state"] == "running"
            && g["port"] == port,
        "gateway status --json disagrees with s6 (pid {}, up) or the intent (running, port {port}): {js}",
        up.pid
    );

    // restart → a new pid.
    h.exec(&["hermes", "-p", p, "gateway", "restart"])
        .await?
        .succeeds();
    let again = wait_svstat(&h, &dir, "up with a new pid", STATE_DEADLINE, |s| {
        s.up && s.pid > 0 && s.pid != up.pid
    })
    .await?;
    ensure!(again.pid != up.pid);

    // stop → down, intent and state recorded.
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    let down = wait_svstat(&h, &dir, "down", STATE_DEADLINE, |s| !s.up).await?;
    ensure!(!down.wanted_up, "stopped gateway still wanted up: {down:?}");
    let state_path = format!("{}/gateway_state.json", profile_home(p));
    let state = wait::poll_until(
        "gateway_state.json to say stopped",
        STATE_DEADLINE,
        || async {
            let v = read_json(&h, &state_path).await?;
            if v["gateway_state"] == "stopped" {
                Ok(Some(v))
            } else {
                Err(anyhow!("{v}"))
            }
        },
    )
    .await?;
    ensure!(
        state["desired_state"] == "stopped",
        "desired_state not stopped: {state}"
    );
    h.remove().await
}

/// delete removes the slot, its supervisors and the profile dir; the name can be reused, and
/// the cycles leave nothing behind — no process, no hidden dir, and no s6-supervise complaining
/// that its directory vanished under it (what removing a slot before s6 lets go looks like).
pub async fn delete_leaves_nothing_after_20_cycles(ctx: Ctx) -> Result<()> {
    let cycles = 20;
    let h = ctx.start_default().await?;
    let p = "gamma";
    for i in 0..cycles {
        create_profile(&h, p).await?;
        if i == 0 {
            // The first cycle runs the gateway, so delete must also bring a live one down.
            h.exec(&["hermes", "-p", p, "gateway", "start"])
                .await?
                .succeeds();
            wait_svstat(&h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
        }
        let deleted = h.exec(&["hermes", "profile", "delete", p, "--yes"]).await?;
        if !deleted.success() {
            // Say whether s6-supervise lost its directory: the likeliest cause of a failed delete.
            let complaints = supervise_complaints(&h, p, Duration::from_secs(3)).await?;
            let why = if complaints.is_empty() {
                String::new()
            } else {
                format!(
                    "; s6-supervise of gateway-{p} complained: its directory was removed while it still ran:\n{}",
                    complaints.join("\n")
                )
            };
            deleted.fail_because(&format!("profile delete failed{why}"));
        }
        assert_absent(&h, &slot_dir(p), "profile delete left the slot").await?;
        assert_absent(&h, &profile_home(p), "profile delete left the profile").await?;
        assert_nothing_runs_for(&h, p).await?;
    }
    h.sh(&format!("ls -A {SCANDIR} | grep -- 'gateway-{p}' || true"))
        .await?
        .succeeds()
        .stdout_is("");
    let complaints = supervise_complaints(&h, p, Duration::ZERO).await?;
    ensure!(
        complaints.is_empty(),
        "s6-supervise of gateway-{p} complained: its directory was removed while it still ran:\n{}",
        complaints.join("\n")
    );
    create_profile(&h, p).await?;
    assert_slot_layout(&h, p).await?;
    h.remove().await
}

/// Nothing of the slot (supervisors, logger, gateway) may still run once `profile delete` has
/// returned: unregister waits for s6 to let go before it removes anything.
pub async fn assert_nothing_runs_for(h: &Container, p: &str) -> Result<()> {
    // pgrep exec'd directly (not through `sh -c`, whose own command line would match).
    let pattern = format!("s6-supervise gateway-{p}(/log)?$|hermes -p {p} gateway run");
    let o = h.exec(&["pgrep", "-a", "-f", &pattern]).await?;
    ensure!(
        o.code == Some(1) && o.out().is_empty(),
        "processes of gateway-{p} still running after profile delete returned:\n{o}"
    );
    Ok(())
}

/// Lines of the container log in which s6-supervise of `gateway-<p>` (or its logger) complains.
/// Waits up to `patience` for the first one, for callers that already know something failed.
async fn supervise_complaints(h: &Container, p: &str, patience: Duration) -> Result<Vec<String>> {
    let needle = format!("s6-supervise gateway-{p}");
    let start = std::time::Instant::now();
    loop {
        let logs = h.logs().await?;
        let found: Vec<String> = logs
            .lines()
            .filter(|l| l.contains(&needle))
            .map(str::to_string)
            .collect();
        if !found.is_empty() || start.elapsed() >= patience {
            return Ok(found);
        }
        tokio::time::sleep(wait::POLL_INTERVAL).await; // poll interval inside a bounded wait
    }
}

/// Ten profiles created at once: ten slots, each controllable.
pub async fn ten_concurrent_creates(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let names: Vec<String> = (0..10).map(|i| format!("conc{i}")).collect();
    let script = names
        .iter()
        .map(|n| format!("hermes profile create {n} >/tmp/create-{n}.log 2>&1 || echo FAILED {n} $(cat /tmp/create-{n}.log) &"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\nwait";
    h.sh(&script).await?.succeeds().stdout_lacks("FAILED");
    for n in &names {
        let dir = slot_dir(n);
        h.exec(&["hermes", "-p", n, "gateway", "start"])
            .await?
            .succeeds();
        wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up).await?;
        h.exec(&["hermes", "-p", n, "gateway", "stop"])
            .await?
            .succeeds();
        wait_svstat(&h, &dir, "down", STATE_DEADLINE, |s| !s.up).await?;
    }
    h.remove().await
}

/// hermes can read, stop and start the static services it is given (contract §2 `015`), and
/// sees each change by polling their status — s6's `event/` dirs are root's, so `s6-svwait`
/// is not available to hermes (§10).
pub async fn static_services_controllable_by_hermes(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    for svc in ["main-hermes", "dashboard"] {
        let dir = format!("{SCANDIR}/{svc}");
        h.exec(&["/command/s6-svstat", &dir]).await?.succeeds();
        h.exec(&["/command/s6-svc", "-d", &dir]).await?.succeeds();
        wait_svstat(&h, &dir, "down", STATE_DEADLINE, |s| !s.up && !s.wanted_up).await?;
        h.exec(&["/command/s6-svc", "-u", &dir]).await?.succeeds();
        // The dashboard is disabled here: it runs, exits 0 and its finish parks it again, so
        // only main-hermes can be seen to come up.
        if svc == "main-hermes" {
            wait_svstat(&h, &dir, "up", STATE_DEADLINE, |s| s.up).await?;
        }
    }
    h.remove().await
}

/// A root `docker exec` of `hermes profile create` drops to hermes first (SPEC §6.6), unless
/// HERMES_DOCKER_EXEC_AS_ROOT is truthy.
pub async fn root_at_the_door_drops_to_hermes(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    h.exec(&["hermes", "profile", "create", "rooted"])
        .as_root("this scenario is about what happens when a person forgets `-u hermes`")
        .await?
        .succeeds();
    // Everything of the profile is hermes's (the slot is root's by design, contract §3.2, and
    // checked as such).
    let strays = h
        .sh(&format!("find {} ! -user hermes", profile_home("rooted")))
        .await?;
    strays.succeeds().stdout_is("");
    assert_slot_layout(&h, "rooted").await?;
    h.exec(&["hermes", "-p", "rooted", "gateway", "start"])
        .await?
        .succeeds();
    wait_svstat(&h, &slot_dir("rooted"), "up", STATE_DEADLINE, |s| s.up).await?;

    // Only 1/true/yes keep root; anything else still drops.
    for (value, stays_root) in [
        ("1", true),
        ("yes", true),
        ("TRUE", true),
        ("2", false),
        ("no", false),
    ] {
        let p = format!("asroot{}", value.to_ascii_lowercase());
        h.exec(&["hermes", "profile", "create", &p])
            .as_root("which values of HERMES_DOCKER_EXEC_AS_ROOT keep a root exec root")
            .env("HERMES_DOCKER_EXEC_AS_ROOT", value)
            .await?
            .succeeds();
        let owner = h.exec(&["stat", "-c", "%U", &profile_home(&p)]).await?;
        owner.succeeds();
        let want = if stays_root { "root" } else { "hermes" };
        ensure!(
            owner.out() == want,
            "HERMES_DOCKER_EXEC_AS_ROOT={value}: profile owned by {}, expected {want}",
            owner.out()
        );
    }
    h.remove().await
}

/// `gateway start` on a profile that does not exist: exit 1 and the hint to create it.
pub async fn start_of_missing_profile_explains(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    h.exec(&["hermes", "-p", "ghost", "gateway", "start"])
        .await?
        .code_is(1)
        .stderr_contains("hermes profile create ghost");
    h.remove().await
}

/// Snapshot of everything a bad name must not touch.
async fn footprint(h: &Container) -> Result<String> {
    let o = h
        .sh(&format!(
            "ls -A {HERMES_HOME}/profiles; echo ---; ls -A {SCANDIR}"
        ))
        .await?;
    o.succeeds();
    Ok(o.stdout)
}

/// Every class of bad name docs/contract.md §3.1 lists (NUL cannot cross `docker exec`'s argv;
/// the unit tests of the names module cover it).
const BAD_NAMES: &[&str] = &[
    "",
    "Upper",
    "-lead",
    ".dot",
    "a/b",
    "..",
    "has space",
    "tab\tname",
    "ünicode",
    "default",
    "hermes",
    "test",
    "tmp",
    "root",
    "sudo",
    "a123456789012345678901234567890123456789012345678901234567890123x",
];

/// Every bad name: exit 2 with the rule named, nothing created.
pub async fn bad_names_are_rejected_with_status_2(ctx: Ctx) -> Result<()> {
    let h = ctx.start_default().await?;
    let before = footprint(&h).await?;
    for name in BAD_NAMES {
        let o = h.exec(&["hermes", "profile", "create", name]).await?;
        o.code_is(2);
        ensure!(
            !o.stderr.trim().is_empty(),
            "no message for bad name {name:?}\n{o}"
        );
        let after = footprint(&h).await?;
        ensure!(
            after == before,
            "bad name {name:?} changed the tree:\nbefore:\n{before}\nafter:\n{after}"
        );
    }
    h.remove().await
}

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
    h.exec(&["hermes", "-p", p, "gateway", "start"])
        .await?
        .succeeds();
    wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
    h.exec(&["hermes", "-p", p, "gateway", "stop"])
        .await?
        .succeeds();
    Ok(())
}
