//! Restart survival (SPEC §5, §6.3): every boot rebuilds each profile's slot from
//! `$HERMES_HOME` and starts exactly those whose intent was `running`.

use std::time::Duration;

use anyhow::{Result, anyhow, bail, ensure};

use crate::support::expected_port;
use crate::support::{
    HERMES_HOME, STATE_DEADLINE, STAYS_DOWN_WINDOW, assert_absent, profile_home, slot_dir, svstat,
    wait_svstat,
};
use crate::support::{create_profile, name_with_own_port};
use crate::{Container, ContainerSpec, Ctx};

pub const BOOT_LOG: &str = "/opt/data/logs/container-boot.log";

/// How a profile's prior intent is set up before the restart.
#[derive(Debug, Clone, Copy)]
pub enum Prior {
    /// `hermes gateway start` (records `desired_state=running`).
    Started,
    /// Started through s6 alone (`s6-svc -u`), so no `desired_state` is recorded: only the
    /// gateway's own SIGTERM handling (keep `running`) carries the intent across the restart.
    StartedViaS6Only,
    /// `hermes gateway start` then `hermes gateway stop`.
    Stopped,
    /// `gateway_state.json` written by hand with this exact content.
    File(&'static str),
    /// No `gateway_state.json` at all.
    NoFile,
}

/// What the boot must do for a prior intent.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub up: bool,
    /// `prior_state=` in the boot log line (`None` when there was no usable intent).
    pub prior: &'static str,
    /// `action=` in the boot log line.
    pub action: &'static str,
    /// The `reason=` text the line must carry (an unusable state file), or `None`: then the
    /// line must carry no `reason=` at all.
    pub reason: Option<&'static str>,
}

impl Expect {
    /// Restored and started: the intent was running.
    pub const fn started(prior: &'static str) -> Self {
        Expect {
            up: true,
            prior,
            action: "started",
            reason: None,
        }
    }
    /// Restored down: the intent was something other than running.
    pub const fn registered(prior: &'static str) -> Self {
        Expect {
            up: false,
            prior,
            action: "registered",
            reason: None,
        }
    }
    /// No usable intent: registered down, and the boot log says why: `reason=` holds `why`.
    pub const fn unusable(why: &'static str) -> Self {
        Expect {
            up: false,
            prior: "None",
            action: "registered",
            reason: Some(why),
        }
    }
}

async fn set_prior(h: &Container, p: &str, prior: Prior) -> Result<()> {
    let state = format!("{}/gateway_state.json", profile_home(p));
    match prior {
        Prior::Started => {
            h.exec(&["hermes", "-p", p, "gateway", "start"])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
        }
        Prior::StartedViaS6Only => {
            h.exec(&["rm", "-f", &state]).await?.succeeds();
            h.exec(&["/command/s6-svc", "-u", &slot_dir(p)])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
            // The gateway stamps `running` itself once it serves.
            crate::wait::poll_until("the gateway to record running", STATE_DEADLINE, || async {
                let o = h.exec(&["cat", &state]).await?;
                if o.stdout.contains("\"running\"") && !o.stdout.contains("desired_state") {
                    Ok(Some(()))
                } else {
                    Err(anyhow!("{}", o.stdout))
                }
            })
            .await?;
        }
        Prior::Stopped => {
            h.exec(&["hermes", "-p", p, "gateway", "start"])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "up", STATE_DEADLINE, |s| s.up).await?;
            h.exec(&["hermes", "-p", p, "gateway", "stop"])
                .await?
                .succeeds();
            wait_svstat(h, &slot_dir(p), "down", STATE_DEADLINE, |s| !s.up).await?;
        }
        Prior::File(content) => {
            // As hermes, the way a stale or hand-edited file would be there.
            h.exec(&[
                "sh",
                "-c",
                "printf '%s' \"$1\" > \"$2\"",
                "sh",
                content,
                &state,
            ])
            .await?
            .succeeds();
        }
        Prior::NoFile => {
            h.exec(&["rm", "-f", &state]).await?.succeeds();
        }
    }
    Ok(())
}

/// The line of the last boot for profile `p`. Every boot logs `default` first, so the last
/// boot's lines start at the last `profile=default` line: a line an earlier boot wrote for `p`
/// can never stand in for one this boot failed to write.
pub async fn last_boot_line(h: &Container, p: &str) -> Result<String> {
    let o = h.exec(&["cat", BOOT_LOG]).await?;
    o.succeeds();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains(" profile=default "))
        .unwrap_or(0);
    let needle = format!(" profile={p} ");
    let found = lines[start..].iter().rev().find(|l| l.contains(&needle));
    match found {
        Some(l) => Ok(l.to_string()),
        None => bail!(
            "no boot-log line for profile {p} from the last boot: the boot did not see it; \
             the last boot logged:\n{}",
            lines[start..].join("\n")
        ),
    }
}

/// After the restart the boot log says what the boot did with `p`, the slot exists, and it is
/// up exactly when intended. The boot log is read first: when the intent was lost it says
/// how (`prior_state=…`, `reason=…`), in the product's own words. A slot meant down must be
/// down *and* not wanted up, carry its `down` file (so s6 would not start it on its own), and
/// stay so for longer than s6's restart backoff.
pub async fn assert_restored(h: &Container, p: &str, want: Expect) -> Result<()> {
    let line = last_boot_line(h, p).await?;
    for needle in [
        format!("prior_state={} ", want.prior),
        format!("action={}", want.action),
    ] {
        ensure!(
            format!("{line} ").contains(&needle),
            "the boot did not restore {p} as intended: expected {:?}, the boot log says: {line}",
            needle.trim_end()
        );
    }
    let reason = line.split_once(" reason=").map(|(_, r)| r);
    match (want.reason, reason) {
        (None, None) => {}
        (Some(why), Some(r)) => ensure!(
            r.contains(why),
            "{p}: the boot gave the wrong reason: expected reason= to say {why:?}, the boot log says: {line}"
        ),
        (Some(why), None) => bail!(
            "{p}: the boot gave no reason, expected reason= to say {why:?}; the boot log says: {line}"
        ),
        (None, Some(r)) => bail!("{p}: unexpected reason={r:?} in the boot log line: {line}"),
    }
    let dir = slot_dir(p);
    let slot = h.exec(&["test", "-d", &dir]).await?;
    ensure!(
        slot.success(),
        "the boot logged `{line}` but left no slot {dir}\n{slot}"
    );
    if want.up {
        let st = wait_svstat(h, &dir, "up and wanted up", STATE_DEADLINE, |s| {
            s.up && s.wanted_up
        })
        .await?;
        ensure!(st.up && st.wanted_up, "{p}: expected up, s6 says {st:?}");
        return Ok(());
    }
    let st = svstat(h, &dir).await?;
    ensure!(
        !st.up && !st.wanted_up,
        "{p}: expected up=false wantedup=false, s6 says {st:?} (boot log: {line})"
    );
    let down_file = format!("{dir}/down");
    h.exec(&["test", "-f", &down_file])
        .await?
        .succeeds_or(&format!(
            "{p} is down now but its slot has no {down_file}: s6 would start it on its own"
        ));
    crate::wait::holds_for(
        &format!("{p} staying down and not wanted up"),
        STAYS_DOWN_WINDOW,
        || async {
            match svstat(h, &dir).await {
                Ok(s) if !s.up && !s.wanted_up => Ok(()),
                Ok(s) => Err(anyhow!("s6 says {s:?}")),
                Err(e) => Err(e),
            }
        },
    )
    .await?;
    Ok(())
}

/// One case of the restart-intent matrix.
#[derive(Debug, Clone, Copy)]
pub struct Intent {
    /// The case's name, also its profile's name (with a letter added if its derived port is
    /// taken).
    pub case: &'static str,
    pub prior: Prior,
    pub want: Expect,
}

/// The restart-intent matrix (contract §5): one profile per prior intent, named after the
/// case, all in one container per `/run` variant and restarted once.
pub const INTENTS: &[Intent] = &[
    Intent {
        case: "started",
        prior: Prior::Started,
        want: Expect::started("running"),
    },
    // No desired_state: the gateway's own SIGTERM handling must keep `running` across the restart.
    Intent {
        case: "started_via_s6_only",
        prior: Prior::StartedViaS6Only,
        want: Expect::started("running"),
    },
    Intent {
        case: "stopped",
        prior: Prior::Stopped,
        want: Expect::registered("stopped"),
    },
    Intent {
        case: "startup_failed",
        prior: Prior::File(r#"{"gateway_state":"startup_failed","pid":1}"#),
        want: Expect::registered("startup_failed"),
    },
    Intent {
        case: "starting",
        prior: Prior::File(r#"{"gateway_state":"starting"}"#),
        want: Expect::registered("starting"),
    },
    // Transient running sub-states count as running (SPEC §5), and are logged as such.
    Intent {
        case: "draining",
        prior: Prior::File(r#"{"gateway_state":"draining"}"#),
        want: Expect::started("running"),
    },
    Intent {
        case: "degraded",
        prior: Prior::File(r#"{"gateway_state":"degraded"}"#),
        want: Expect::started("running"),
    },
    Intent {
        case: "no_file",
        prior: Prior::NoFile,
        want: Expect::registered("None"),
    },
    Intent {
        case: "empty_file",
        prior: Prior::File(""),
        want: Expect::unusable("state file is empty"),
    },
    Intent {
        case: "corrupt_json",
        prior: Prior::File(r#"{"gateway_state": "runn"#),
        want: Expect::unusable("state file is corrupt"),
    },
    Intent {
        case: "json_array",
        prior: Prior::File(r#"["running"]"#),
        want: Expect::unusable("state file is not a JSON object"),
    },
    Intent {
        case: "unknown_state",
        prior: Prior::File(r#"{"gateway_state":"banana"}"#),
        want: Expect::unusable(r#"unknown state "banana""#),
    },
    // A BOM makes the file unreadable as intent (issue 4: treated as no prior intent).
    Intent {
        case: "bom",
        prior: Prior::File("\u{feff}{\"gateway_state\":\"running\"}"),
        want: Expect::unusable("byte-order mark"),
    },
    Intent {
        case: "desired_running_over_stopped",
        prior: Prior::File(r#"{"gateway_state":"stopped","desired_state":"running"}"#),
        want: Expect::started("running"),
    },
    Intent {
        case: "desired_stopped_over_running",
        prior: Prior::File(r#"{"gateway_state":"running","desired_state":"stopped"}"#),
        want: Expect::registered("stopped"),
    },
];

/// Every prior intent of [`INTENTS`] at once, then one `docker restart`: each profile is
/// restored as its case says. All cases are checked; a failure lists every case that failed.
pub async fn intent_matrix_survives_restart(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    // Each case's gateway must be able to start next to the others: no two derived ports alike.
    let mut taken = vec![expected_port("default")];
    let cases: Vec<(String, &Intent)> = INTENTS
        .iter()
        .map(|i| (name_with_own_port(i.case, &mut taken), i))
        .collect();
    for (p, _) in &cases {
        create_profile(&h, p).await?;
    }
    let h_ref = &h;
    futures_util::future::try_join_all(
        cases
            .iter()
            .map(|(p, i)| async move { set_prior(h_ref, p, i.prior).await }),
    )
    .await?;
    h.restart().await?;
    let h_ref = &h;
    let outcomes = futures_util::future::join_all(cases.iter().map(|(p, i)| async move {
        assert_restored(h_ref, p, i.want)
            .await
            .map_err(|e| format!("case {} ({:?}): {e:#}", i.case, i.prior))
    }))
    .await;
    let failed: Vec<String> = outcomes.into_iter().filter_map(|r| r.err()).collect();
    // The first failed case leads (its first line is what a summary shows), then the count
    // and every failed case.
    if let Some(first) = failed.first() {
        bail!(
            "{first}\n({} of {} intents were not restored as intended, tmpfs /run: {tmpfs_run}; \
             every failed case:)\n{}",
            failed.len(),
            INTENTS.len(),
            failed.join("\n")
        );
    }
    h.remove().await
}

/// A running gateway comes back after `docker kill` + `docker start` (no shutdown ran at all).
pub async fn running_gateway_survives_docker_kill(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "killed").await?;
    set_prior(&h, "killed", Prior::Started).await?;
    h.kill().await?;
    h.wait_exit(Duration::from_secs(10)).await?;
    h.start_again().await?;
    assert_restored(&h, "killed", Expect::started("running")).await?;
    h.remove().await
}

/// A new container on the same named volume restores every profile and its intent.
pub async fn recreate_on_same_volume_restores_everything(ctx: Ctx) -> Result<()> {
    let volume = crate::container::unique_name("recreate");
    let result = async {
        let h = ctx
            .start(ContainerSpec::default().data_volume(&volume))
            .await?;
        create_profile(&h, "keep-up").await?;
        create_profile(&h, "keep-down").await?;
        set_prior(&h, "keep-up", Prior::Started).await?;
        set_prior(&h, "keep-down", Prior::Stopped).await?;
        h.remove().await?;
        let h2 = ctx
            .start(ContainerSpec::default().data_volume(&volume))
            .await?;
        assert_restored(&h2, "keep-up", Expect::started("running")).await?;
        assert_restored(&h2, "keep-down", Expect::registered("stopped")).await?;
        h2.remove().await
    }
    .await;
    crate::container::remove_volume(&ctx.docker, &volume).await;
    result
}

/// Stale `gateway.pid` and `processes.json` do not outlive a boot.
pub async fn stale_pid_files_removed(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "stale").await?;
    let home = profile_home("stale");
    h.sh(&format!(
        "echo 99999 > {home}/gateway.pid && echo '{{}}' > {home}/processes.json"
    ))
    .await?
    .succeeds();
    h.restart().await?;
    for f in ["gateway.pid", "processes.json"] {
        assert_absent(
            &h,
            &format!("{home}/{f}"),
            "a stale pid file survived the boot",
        )
        .await?;
    }
    h.remove().await
}

/// A profile dir with an invalid name and one hermes cannot read are skipped with a reason;
/// the good profile is restored.
pub async fn bad_profile_dirs_are_skipped(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "good").await?;
    set_prior(&h, "good", Prior::Started).await?;
    let profiles = format!("{HERMES_HOME}/profiles");
    h.sh(&format!(
        "mkdir -p {profiles}/Bad_Name {profiles}/sealed && touch {profiles}/Bad_Name/SOUL.md {profiles}/sealed/SOUL.md && chmod 000 {profiles}/sealed"
    ))
    .await?
    .succeeds();
    h.restart().await?;
    assert_restored(&h, "good", Expect::started("running")).await?;
    for bad in ["Bad_Name", "sealed"] {
        let line = last_boot_line(&h, bad).await?;
        ensure!(
            line.contains("action=skipped") && line.contains("reason="),
            "{bad}: expected a skipped line with a reason, got {line}"
        );
        assert_absent(&h, &slot_dir(bad), "a skipped profile dir got a slot").await?;
    }
    h.remove().await
}

/// A root `docker exec` leaves root-owned files in a profile; the next boot gives back what
/// anyone could read (the usual 0644/0755 of a root exec: the state file, its lock, a file
/// and a directory), and the profile is restored; a root 0600 file is left to root and named
/// (contract §10 promise 6: repair never widens access).
pub async fn root_leftovers_are_repaired(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "mixed").await?;
    set_prior(&h, "mixed", Prior::Started).await?;
    let home = profile_home("mixed");
    let file = format!("{home}/written-by-root");
    let private = format!("{home}/private-by-root");
    h.exec(&[
        "sh",
        "-c",
        &format!(
            "umask 022 && echo x > {file} && mkdir -p {file}.d && touch {file}.d/inner && \
             cp {home}/gateway_state.json {home}/.state.tmp && mv {home}/.state.tmp {home}/gateway_state.json && \
             rm -f {home}/.gateway_state.lock && touch {home}/.gateway_state.lock && \
             (umask 077 && echo secret > {private})"
        ),
    ]).as_root("the leftovers of a person's root `docker exec`: the state file and its lock rewritten as root 0644, and one private 0600 file")
    .await?
    .succeeds();
    h.restart().await?;
    assert_restored(&h, "mixed", Expect::started("running")).await?;
    h.exec(&[
        "stat",
        "-c",
        "%U",
        &file,
        &format!("{file}.d"),
        &format!("{file}.d/inner"),
        &format!("{home}/gateway_state.json"),
        &format!("{home}/.gateway_state.lock"),
    ])
    .await?
    .succeeds()
    .stdout_is("hermes\nhermes\nhermes\nhermes\nhermes");
    h.exec(&["stat", "-c", "%U %a", &private])
        .as_root("hermes cannot stat inside what it does not own: reads the private file's owner and mode")
        .await?
        .succeeds()
        .stdout_is("root 600");
    let logs = h.logs().await?;
    ensure!(
        logs.lines()
            .any(|l| l.contains(&private) && l.contains("left to root: private (mode 0600)")),
        "01 did not say it left {private} to root (container log tail:\n{})",
        crate::container::tail(&logs, 20)
    );
    h.remove().await
}

/// A hermes-planted symlink to `/etc/shadow` must not make root hand the file to hermes.
pub async fn symlink_to_shadow_is_refused(ctx: Ctx, tmpfs_run: bool) -> Result<()> {
    let mut h = ctx
        .start(ContainerSpec::default().tmpfs_run(tmpfs_run))
        .await?;
    create_profile(&h, "trap").await?;
    let before = h.exec(&["stat", "-c", "%U:%G %a", "/etc/shadow"]).await?;
    before.succeeds();
    let link = format!("{}/shadow-link", profile_home("trap"));
    h.exec(&["ln", "-s", "/etc/shadow", &link])
        .await?
        .succeeds();
    // A root-owned file next to it, so the repair pass really runs over this profile.
    h.exec(&["touch", &format!("{}/root-file", profile_home("trap"))])
        .as_root("the leftover a root `docker exec` would leave")
        .await?
        .succeeds();
    h.restart().await?;
    h.exec(&["stat", "-c", "%U:%G %a", "/etc/shadow"])
        .await?
        .succeeds()
        .stdout_is(before.out());
    // Explicitly hermes, whatever HERMES_CONFORMANCE_USER says: the point is that hermes did
    // not gain the file (root can always read it).
    h.exec_full(
        "hermes",
        &["cat", "/etc/shadow"],
        &[],
        crate::container::EXEC_DEADLINE,
    )
    .await?
    .fails();
    let logs = h.logs().await?;
    ensure!(
        logs.contains("refusing") && logs.contains("shadow-link"),
        "container stderr does not refuse the symlink by path\n{logs}"
    );
    h.remove().await
}

/// SPEC §5: `gateway-default` is registered first, then the profiles in sorted order — even
/// profiles whose names sort before `default`. Read from the boot log's order, and from the
/// slots themselves: no slot of that boot was made before `gateway-default` (file times are
/// coarse, so ties are allowed).
pub async fn default_registered_first(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    let profiles = ["aaa", "cab", "zed"];
    for p in profiles {
        create_profile(&h, p).await?;
    }
    h.restart().await?;
    let o = h.exec(&["cat", BOOT_LOG]).await?;
    o.succeeds();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.contains(" profile=default "))
        .ok_or_else(|| anyhow::anyhow!("no line for default in the boot log:\n{}", o.stdout))?;
    // Each boot logs one line per profile; the last boot's are its last four. Whatever their
    // order, the first of them must be default's.
    let n = profiles.len() + 1;
    let last_boot: Vec<&str> = lines[lines.len().saturating_sub(n)..]
        .iter()
        .filter_map(|l| l.split(" profile=").nth(1))
        .filter_map(|r| r.split(' ').next())
        .collect();
    ensure!(
        start + n == lines.len() && last_boot == ["default", "aaa", "cab", "zed"],
        "the last boot logged its profiles in the order {last_boot:?}, expected default first, then sorted:\n{}",
        o.stdout
    );
    let mut times = Vec::new();
    for p in ["default", "aaa", "cab", "zed"] {
        let t = h
            .exec(&["stat", "-c", "%.9Y", &format!("{}/type", slot_dir(p))])
            .await?;
        t.succeeds();
        let v: f64 = t.out().parse()?;
        times.push((p, v));
    }
    let default_t = times[0].1;
    for (p, t) in &times[1..] {
        ensure!(
            default_t <= *t,
            "gateway-{p} was made at {t:.6}, before gateway-default at {default_t:.6}"
        );
    }
    h.remove().await
}

/// A profile directory named with a newline (made directly on disk) is never a profile and can
/// forge no line: `profile list` skips it, saying so with the name escaped; the boot skips it
/// with the name escaped; no line of the boot log or the container log starts with the text
/// after the newline.
pub async fn newline_profile_dir_forges_nothing(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    create_profile(&h, "honest").await?;
    let forged = "profile=forged prior_state=running action=started";
    let dir = format!("{HERMES_HOME}/profiles/evil\n{forged}");
    h.exec(&[
        "sh",
        "-c",
        "mkdir \"$1\" && echo x > \"$1/SOUL.md\"",
        "sh",
        &dir,
    ])
    .await?
    .succeeds_or("hermes could not make the newline-named directory");
    let escaped = "evil\\x0aprofile=forged\\x20prior_state=running\\x20action=started";
    let list = h.exec(&["hermes", "profile", "list"]).await?;
    list.succeeds()
        .stdout_lacks("forged")
        .stderr_contains(escaped);
    ensure!(
        list.stdout_lines()
            .iter()
            .map(|l| l.split_whitespace().next().unwrap_or_default())
            .eq(["default", "honest"]),
        "profile list should show default and honest only\n{list}"
    );
    h.restart().await?;
    let log = h.exec(&["cat", BOOT_LOG]).await?;
    log.succeeds();
    for l in log.stdout_lines() {
        ensure!(
            !l.starts_with("profile=") && l.contains(" profile="),
            "a boot log line was forged (or is malformed): {l:?}\n{}",
            log.stdout
        );
    }
    let line = last_boot_line(&h, escaped).await?;
    ensure!(
        line.contains("action=skipped") && line.contains("reason="),
        "the newline-named dir should be skipped with a reason: {line}"
    );
    let logs = h.logs().await?;
    ensure!(
        !logs.lines().any(|l| l.trim_start().starts_with(forged)),
        "the container log carries a forged line:\n{logs}"
    );
    h.exec(&["sh", "-c", "ls -A /run/service | grep -c evil || true"])
        .await?
        .succeeds()
        .stdout_is("0");
    h.remove().await
}

/// A hard link hermes planted in `$HERMES_HOME` to a root-owned, world-writable file (any such
/// file on the volume would do): the next boot's `01` chowns nothing outside its allowlist and
/// refuses, by path, to chown through a second link — inside `profiles/` and among the
/// top-level files it repairs.
pub async fn hard_links_are_not_chowned(ctx: Ctx) -> Result<()> {
    let mut h = ctx.start_default().await?;
    let p = "linker";
    create_profile(&h, p).await?;
    let victim = format!("{HERMES_HOME}/roots-file");
    let in_profile = format!("{}/hl", profile_home(p));
    let top_level = format!("{HERMES_HOME}/.gateway_state.lock");
    let repaired = format!("{}/root-leftover", profile_home(p));
    h.sh(&format!(
        "echo data > {victim} && chmod 0666 {victim} && touch {repaired}"
    )).as_root("the root-owned world-writable file the attack needs, and a root leftover next to the link so the repair pass really runs over this profile.")
    .await?
    .succeeds();
    h.exec(&[
        "sh",
        "-c",
        "ln \"$1\" \"$2\" && rm -f \"$3\" && ln \"$1\" \"$3\"",
        "sh",
        &victim,
        &in_profile,
        &top_level,
    ])
    .await?
    .succeeds_or("hermes could not plant the hard links, so the refusal cannot be tested");
    h.exec(&["stat", "-c", "%h", &victim])
        .await?
        .succeeds()
        .stdout_is("3");
    h.restart().await?;
    h.exec(&["stat", "-c", "%U:%G %a", &victim])
        .await?
        .succeeds()
        .stdout_is("root:root 666");
    h.exec(&["stat", "-c", "%U", &repaired])
        .await?
        .succeeds_or("the repair pass did not run over the profile")
        .stdout_is("hermes");
    let logs = h.logs().await?;
    for path in [&in_profile, &top_level] {
        ensure!(
            logs.lines()
                .any(|l| l.contains("refusing") && l.contains(path.as_str())),
            "no line refusing the hard link {path}:\n{logs}"
        );
    }
    h.remove().await
}
