//! `hermes-boot`: the cont-init programs (contract §2).
//!   setup            01: `$HERMES_HOME` dirs, repair of root-owned files          (root)
//!   supervise-perms  015: hermes' group rights on the static services           (root)
//!   reconcile        02: stale staging removed, profiles read as hermes
//!                    (`reconcile-plan`), slots registered in one batch, boot log
//!                    written as hermes (`reconcile-log`)                          (root)
//!   registrar-rules  the registrar's access rules, written when it starts        (root)
//!   registrar-sweep  staging dirs of requests that died, removed when it starts  (root)
//! `reconcile-plan` and `reconcile-log` drop to hermes themselves if started as root.

use hermes::boot::{Reporter, as_hermes, setup, supervise_perms};
use hermes::logline;
use hermes::paths::{self, Paths};
use hermes::privilege::drop_to_hermes;
use hermes::reconcile::{self, Action};
use hermes::registrar::{self, server};
use hermes::s6::scandir::Scandir;
use hermes::s6::slot::Owners;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: hermes-boot <setup|supervise-perms|reconcile|registrar-rules|registrar-sweep>";

fn finish(rep: Reporter) -> ExitCode {
    if rep.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints to stdout without ever aborting: a full or non-blocking log pipe is waited for
/// briefly, then the line is dropped; it never kills the boot (`hermes::logline`).
fn say(line: &str) {
    logline::out(line);
}

/// Without a scandir there is no supervision tree to work on (`/init` was not PID 1, e.g.
/// `docker run --init`, contract §2.1): the step says so in one line and succeeds.
fn no_supervision_tree(step: &str, paths: &Paths) -> Option<ExitCode> {
    if paths.scandir.exists() {
        return None;
    }
    logline::err(&format!(
        "hermes-boot: {step}: skipping: no supervision tree ({} is absent: /init is not PID 1)",
        paths.scandir.display()
    ));
    Some(ExitCode::SUCCESS)
}

fn fail(step: &str, msg: impl std::fmt::Display) -> ExitCode {
    logline::err(&format!("hermes-boot: {step}: {msg}"));
    ExitCode::FAILURE
}

/// When the registrar starts, as root: removes the staging dirs of requests that died (never
/// one an s6-supervise still holds), under the registrar's lock, waiting for it boundedly.
fn registrar_sweep(paths: &Paths) -> ExitCode {
    const STEP: &str = "registrar-sweep";
    if let Some(code) = no_supervision_tree(STEP, paths) {
        return code;
    }
    let scandir = Scandir::new(paths.clone(), Owners::image());
    let _lock = match server::lock_within(Path::new(registrar::LOCK), server::LOCK_WAIT, &|| false)
    {
        Ok(server::Turn::Locked(l)) => l,
        Ok(_) => return fail(STEP, format!("{} stayed held", registrar::LOCK)),
        Err(e) => return fail(STEP, format!("cannot take {}: {e}", registrar::LOCK)),
    };
    match scandir.remove_stale_staging() {
        Ok(removed) => {
            for p in removed {
                say(&format!(
                    "hermes-boot: {STEP}: removed staging dir {} left by a request that died",
                    p.display()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(STEP, e),
    }
}

/// 02-reconcile-profiles, as root: see `hermes::reconcile` for the three steps.
fn reconcile_as_root(paths: &Paths) -> ExitCode {
    const STEP: &str = "reconcile";
    if !nix::unistd::geteuid().is_root() {
        return fail(STEP, "must run as root (it registers slots)");
    }
    let owners = Owners::image();
    let scandir = Scandir::new(paths.clone(), owners);
    // The registrar is not serving yet, but its lock is what every slot change holds.
    let _lock = match server::lock(Path::new(registrar::LOCK)) {
        Ok(l) => l,
        Err(e) => return fail(STEP, format!("cannot take {}: {e}", registrar::LOCK)),
    };
    match scandir.remove_stale_staging() {
        Ok(removed) => removed.iter().for_each(|p| {
            say(&format!(
                "reconcile: removed stale staging dir {}",
                p.display()
            ))
        }),
        Err(e) => return fail(STEP, e),
    }
    let started = std::time::Instant::now();
    // Without the plan (the child failed, was killed by hermes, or was stopped past the
    // deadline) the boot still registers `gateway-default`, down: root cannot read its
    // intent, and no request can ever register `default` (contract §3.3), so leaving it out
    // would take it away until the next boot.
    let (plan, unread): (Vec<Action>, Option<String>) =
        match as_hermes::run(&["reconcile-plan"], b"", as_hermes::DEADLINE)
            .and_then(|out| serde_json::from_slice(&out).map_err(std::io::Error::other))
        {
            Ok(p) => (p, None),
            Err(e) => {
                let why = format!("reading the profiles as hermes: {e}");
                (vec![reconcile::default_only(&why)], Some(why))
            }
        };
    let planned = started.elapsed();
    let actions = reconcile::apply(plan, &scandir);
    let registered = started.elapsed() - planned;
    let now = hermes::timefmt::now_epoch();
    let ts = hermes::timefmt::iso8601(now);
    #[cfg(feature = "regression")]
    if hermes::regression::on("scandir-writable-by-hermes") {
        let mut rep = Reporter::new("scandir-perms");
        let (uid, gid) = (owners.hermes_uid, owners.hermes_gid);
        hermes::boot::scandir_perms::run(&paths.scandir, uid, gid, &mut rep);
    }
    // The boot log first, then the container log: the file never depends on a pipe that
    // something else may be flooding (it was once left empty when printing died).
    let body = serde_json::to_vec(&(now, &actions)).expect("actions serialise");
    let logged = as_hermes::run(&["reconcile-log"], &body, as_hermes::DEADLINE);
    for a in &actions {
        say(&format!("reconcile: {}", a.line(&ts)));
    }
    if let Err(e) = logged {
        return fail(STEP, format!("writing the boot log as hermes: {e}"));
    }
    say(&format!(
        "reconcile: {} profiles: read in {} ms, slots registered and supervised in {} ms, logged in {} ms",
        actions.len(),
        planned.as_millis(),
        registered.as_millis(),
        (started.elapsed() - planned - registered).as_millis()
    ));
    // Skipped profiles are logged, never fatal: the boot must go on. An unread plan is this
    // step's failure (`hermes status` names it), after `gateway-default` was registered.
    match unread {
        Some(why) => fail(
            STEP,
            format!("{why}; registered gateway-default only, down"),
        ),
        None => ExitCode::SUCCESS,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = Paths::from_env();
    match args.first().map(String::as_str) {
        Some("setup") if args.len() == 1 => {
            let mut rep = Reporter::new("setup");
            setup::run(&paths.hermes_home, setup::owners_now(), &mut rep);
            finish(rep)
        }
        Some("supervise-perms") if args.len() == 1 => {
            if let Some(code) = no_supervision_tree("supervise-perms", &paths) {
                return code;
            }
            let mut rep = Reporter::new("supervise-perms");
            let (_, gid) = paths::hermes_ids();
            supervise_perms::run(&paths.scandir, gid, Duration::from_secs(3), &mut rep);
            finish(rep)
        }
        Some("reconcile") if args.len() == 1 => {
            no_supervision_tree("reconcile", &paths).unwrap_or_else(|| reconcile_as_root(&paths))
        }
        Some("reconcile-plan") if args.len() == 1 => {
            if let Err(e) = drop_to_hermes() {
                return fail("reconcile-plan", e);
            }
            let bootstrap = std::env::var("HERMES_GATEWAY_BOOTSTRAP_STATE").ok();
            let plan = reconcile::plan(&paths, bootstrap.as_deref(), &mut |line| {
                logline::err(&format!("reconcile: {line}"));
            });
            let json = serde_json::to_vec(&plan).expect("actions serialise");
            match std::io::stdout().write_all(&json) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail("reconcile-plan", e),
            }
        }
        Some("reconcile-log") if args.len() == 1 => {
            if let Err(e) = drop_to_hermes() {
                return fail("reconcile-log", e);
            }
            let mut input = Vec::new();
            let parsed = std::io::stdin()
                .read_to_end(&mut input)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    serde_json::from_slice::<(i64, Vec<Action>)>(&input).map_err(|e| e.to_string())
                });
            let (now, actions) = match parsed {
                Ok(p) => p,
                Err(e) => return fail("reconcile-log", e),
            };
            match reconcile::write_log(&paths.logs_dir(), &actions, now) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(
                    "reconcile-log",
                    format!(
                        "cannot write {}: {e}",
                        paths.logs_dir().join(reconcile::BOOT_LOG).display()
                    ),
                ),
            }
        }
        Some("registrar-rules") if args.len() == 1 => {
            match registrar::write_rules(Path::new(registrar::RULES_DIR)) {
                Ok(uids) => {
                    say(&format!(
                        "hermes-boot: registrar-rules: admitting uids {uids:?}"
                    ));
                    ExitCode::SUCCESS
                }
                Err(e) => fail("registrar-rules", e),
            }
        }
        Some("registrar-sweep") if args.len() == 1 => registrar_sweep(&Paths::image()),
        Some("-h" | "--help" | "help") => {
            say(USAGE);
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            say(&format!(
                "hermes-boot {}{}",
                env!("CARGO_PKG_VERSION"),
                hermes::BUILD_NOTE
            ));
            ExitCode::SUCCESS
        }
        _ => {
            logline::err(USAGE);
            ExitCode::from(2)
        }
    }
}
