//! Runtime service lifecycle as hermes (docs/contract.md §3, §6): profiles, slots,
//! start/stop/restart, unregister, the gateway process, root at the door, bad input.
//!
//! Shared here: the slot layout a created profile must have, and "nothing of it runs".

mod create_delete;
mod kill;
mod running;

use anyhow::{Result, ensure};

use crate::Container;
use crate::support::slot_dir;

pub use create_delete::{
    bad_names_are_rejected_with_status_2, delete_leaves_nothing_after_20_cycles,
    ten_concurrent_creates,
};
pub use kill::atomic_create_under_kill;
pub use running::{
    create_publishes_a_down_slot, root_at_the_door_drops_to_hermes,
    start_of_missing_profile_explains, start_stop_restart, static_services_controllable_by_hermes,
    stop_right_after_start_records_stopped,
};

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

/// The slot has exactly the docs/contract.md §3.2 layout, owners and modes.
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
        // compared only where docs/contract.md §3.2 fixes them.
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
