//! `hermes-boot`: the cont-init programs (SPEC §2). `setup`, `supervise-perms` and
//! `scandir-perms` run as root; `reconcile` runs as hermes (it drops to hermes itself if
//! started as root, so a mis-written cont-init script cannot make root-owned slots).

use hermes::boot::{Reporter, scandir_perms, setup, supervise_perms};
use hermes::paths::{self, HERMES_GID, HERMES_UID, Paths};
use hermes::reconcile;
use hermes::s6::manager::Manager;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: hermes-boot <setup|supervise-perms|scandir-perms|reconcile>";

fn finish(rep: Reporter) -> ExitCode {
    if rep.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn drop_to_hermes() -> Result<(), String> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    // Order matters: supplementary groups and gid while still root, uid last.
    setgroups(&[Gid::from_raw(HERMES_GID)])
        .and_then(|()| setgid(Gid::from_raw(HERMES_GID)))
        .and_then(|()| setuid(Uid::from_raw(HERMES_UID)))
        .map_err(|e| format!("cannot drop to hermes: {e}"))?;
    // SAFETY: single-threaded at this point; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("HOME", paths::DEFAULT_HERMES_HOME) };
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = Paths::from_env();
    match args.first().map(String::as_str) {
        Some("setup") if args.len() == 1 => {
            let mut rep = Reporter::new("setup");
            setup::run_default(&paths.hermes_home, &mut rep);
            finish(rep)
        }
        Some("supervise-perms") if args.len() == 1 => {
            let mut rep = Reporter::new("supervise-perms");
            supervise_perms::run(&paths.scandir, HERMES_GID, Duration::from_secs(3), &mut rep);
            finish(rep)
        }
        Some("scandir-perms") if args.len() == 1 => {
            let mut rep = Reporter::new("scandir-perms");
            scandir_perms::run(&paths.scandir, HERMES_UID, HERMES_GID, &mut rep);
            finish(rep)
        }
        Some("reconcile") if args.len() == 1 => {
            if let Err(e) = drop_to_hermes() {
                eprintln!("hermes-boot: reconcile: {e}");
                return ExitCode::FAILURE;
            }
            let actions = reconcile::reconcile(&paths, &Manager::new(paths.clone()));
            let now = hermes::timefmt::now_epoch();
            for a in &actions {
                println!("reconcile: {}", a.line(&hermes::timefmt::iso8601(now)));
            }
            if let Err(e) = reconcile::write_log(&paths.logs_dir(), &actions, now) {
                eprintln!(
                    "hermes-boot: reconcile: cannot write {}: {e}",
                    paths.logs_dir().join(reconcile::BOOT_LOG).display()
                );
            }
            // Skipped profiles are logged, never fatal: the boot must go on.
            ExitCode::SUCCESS
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
