//! Becoming hermes from root, in-process (no `s6-setuidgid` exec): supplementary groups and
//! gid first, uid last, with hermes' ids from the user database (they follow a boot remap).

use crate::paths;

/// Drops to hermes if running as root; a no-op otherwise. Sets `HOME` as `s6-setuidgid` would
/// not. Call it while single-threaded.
pub fn drop_to_hermes() -> Result<(), String> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let (uid, gid) = paths::hermes_ids();
    setgroups(&[Gid::from_raw(gid)])
        .and_then(|()| setgid(Gid::from_raw(gid)))
        .and_then(|()| setuid(Uid::from_raw(uid)))
        .map_err(|e| format!("cannot drop to hermes: {e}"))?;
    // SAFETY: callers are single-threaded here; nothing reads the environment concurrently.
    unsafe { std::env::set_var("HOME", paths::DEFAULT_HERMES_HOME) };
    Ok(())
}
