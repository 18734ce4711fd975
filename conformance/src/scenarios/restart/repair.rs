//! What the boot repairs and what it refuses: stale pid files, bad profile dirs, root
//! leftovers, a symlink to a root file, hard links, a newline in a name, and `default` first.

use anyhow::{Result, ensure};

use super::intents::BOOT_LOG;
use super::intents::Expect;
use super::intents::Prior;
use super::intents::assert_restored;
use super::intents::last_boot_line;
use super::intents::set_prior;
use crate::support::{HERMES_HOME, assert_absent, create_profile, profile_home, slot_dir};
use crate::{ContainerSpec, Ctx};

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

/// docs/contract.md §5: `gateway-default` is registered first, then the profiles in sorted order —
/// even profiles whose names sort before `default`. Read from the boot log's order, and from the
/// slots themselves: no slot of that boot was made before `gateway-default` (file times are coarse,
/// so ties are allowed).
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
