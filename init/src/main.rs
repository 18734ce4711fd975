//! Stage 1 of the boot (contract §2 points 1–4), run by `/init` (`trampoline.S`) as PID 1 and
//! turned into s6-svscan by an exec.
//!
//! Why `/init` is not a shell script: a signal sent to a PID namespace's init while init has
//! no handler for it is discarded by the kernel, not kept pending. The shell `/init` this
//! replaces lost a `docker stop` that landed before its `trap`, or after its
//! `exec s6-svscan` and before s6-svscan trapped its signals; Docker then waited its whole
//! 10 s grace and SIGKILLed the container (exit 137). Sent right after `docker start`, a stop
//! reaches PID 1 some 12–22 ms after it started (measured through the API here).
//!
//! So `/init` blocks SIGTERM, SIGINT, SIGHUP and SIGQUIT with its first instruction (see
//! `trampoline.S` for why that has to be a separate, tiny program) and execs this one, with
//! the signals still blocked: a stop that arrives from then on stays pending. As PID 1 and
//! root, this program then:
//! 1. makes an empty scandir (`fresh_run::fresh_scandir`: a handful of filesystem calls; a
//!    previous boot's scandir is set aside with one rename);
//! 2. forks the rest of stage 1 (`stage1_rest`: stale state, container environment, live
//!    service dirs), which then execs stage 2 with a clean signal mask;
//! 3. execs `s6-svscan /run/service` with the signals still blocked and the hand-over library
//!    preloaded (crate `svscan-handover`): s6-svscan unblocks every signal for a moment while
//!    it starts, and the library keeps a pending stop from being discarded then.
//!
//! Not PID 1 (`docker run --init`) or not root (`docker run --user`): no supervision tree. The
//! signals are unblocked again, and the command runs without s6 (contract §2 point 1).

// A C `main` rather than Rust's: Rust's start-up sets SIGPIPE to "ignore", and an ignored
// signal survives exec — into s6-svscan and from there into every service. The unit tests (of
// the modules) run under libtest's own `main`: never this one, which would rearrange the test
// machine's `/run`.
#![cfg_attr(not(test), no_main)]
// …and so, under test, the code only `main` calls is unused.
#![cfg_attr(test, allow(dead_code))]

mod environment;
mod fresh_run;
mod remap;
mod stop_signals;
mod sys;

use std::ffi::{OsString, c_int};
use std::os::unix::process::CommandExt;
use std::process::Command;

use fresh_run::Layout;

const STAGE2: &str = "/etc/hermes-s6/stage2";
const SVSCAN: &str = "/command/s6-svscan";
/// s6-svscan's room for service dirs (`-c`; its default, 500, left half of 1000 profiles
/// unsupervised): `profile::MAX_PROFILES` (1000, crate hermes) + `default` + the static
/// services, with a little to spare.
const SVSCAN_MAX_SERVICES: &str = "1024";
/// PATH for stage 2 and the cont-init scripts (`/command` first, as in s6-overlay).
const STAGE_PATH: &str = "/command:/usr/bin:/bin:/usr/sbin:/sbin";
/// PID 1's whole environment, as in s6-overlay: services get the container's environment
/// through `with-contenv`, not from their supervisor.
const SVSCAN_ENV: &str = "PATH=/command:/usr/bin:/bin";
/// See crate `svscan-handover`; it removes itself from the environment once loaded.
const SVSCAN_PRELOAD: &str = "LD_PRELOAD=/opt/hermes/lib/svscan-handover.so";
const HERMES_HOME_DEFAULT: &str = "/opt/data";
/// hermes' group when `/etc/group` does not say (docs/contract.md §1).
/// hermes' ids when `/etc/passwd` does not say (contract §1).
const HERMES_IDS_DEFAULT: (u32, u32) = (10000, 10000);
/// The `hermes` subcommands a bare container command is taken for (`docker run IMG gateway
/// run`, `docker run IMG --help`), as the original image's entry point did (contract §1).
const HERMES_SUBCOMMANDS: &[&str] = &["status", "profile", "gateway", "dashboard", "help"];
const HERMES: &str = "/opt/hermes/bin/hermes";

/// Entry point called by the C runtime.
#[cfg(not(test))]
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const std::ffi::c_char) -> c_int {
    let as_pid1 = sys::pid() == 1 && sys::euid() == 0;
    // `/init` blocked the stop signals already (blocking again costs nothing and covers a
    // stage 1 started some other way). Only a PID 1 that becomes s6-svscan keeps them
    // blocked: elsewhere the command runs without s6 and must get them.
    if as_pid1 {
        sys::block_stop_signals();
    } else {
        sys::unblock_stop_signals();
    }
    let cmd = dispatch(std::env::args_os().skip(1).collect());
    if sys::euid() != 0 {
        not_root(cmd)
    } else if !as_pid1 {
        not_pid1(cmd)
    } else {
        pid1(cmd)
    }
}

/// One line on stderr (the container log). Never `eprintln!`, which panics when the pipe is
/// full and non-blocking (`EAGAIN`): the line is retried for at most ~100 ms, then dropped.
fn say(msg: &str) {
    let _ = write_patiently(
        &mut std::io::stderr().lock(),
        format!("/init: {msg}\n").as_bytes(),
    );
}

/// `write_all` that waits out `WouldBlock` (up to 100 tries 1 ms apart) and gives up on any
/// other error; returns whether every byte went out.
fn write_patiently(w: &mut impl std::io::Write, mut buf: &[u8]) -> bool {
    let mut tries = 0;
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return false,
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(_) => return false,
        }
    }
    true
}

fn fatal(msg: impl std::fmt::Display) -> c_int {
    say(&format!("fatal: {msg}"));
    111
}

/// A container command whose first word is a `hermes` subcommand or an option is a command for
/// `hermes`; anything else runs as given.
fn dispatch(cmd: Vec<OsString>) -> Vec<OsString> {
    let for_hermes = cmd
        .first()
        .and_then(|w| w.to_str())
        .is_some_and(|w| HERMES_SUBCOMMANDS.contains(&w) || (w.starts_with('-') && w.len() > 1));
    if for_hermes {
        std::iter::once(OsString::from(HERMES)).chain(cmd).collect()
    } else {
        cmd
    }
}

/// `docker run --user X`: only hermes' own uid is accepted (the command then runs directly,
/// unsupervised, with a warning); any other uid is refused before anything is done, pointing
/// at the supported way to match a host uid (contract §1).
fn not_root(cmd: Vec<OsString>) -> c_int {
    let (hermes_uid, _) = hermes_ids();
    let uid = sys::euid();
    if uid != hermes_uid {
        say(&user_refusal(uid, hermes_uid));
        return 1;
    }
    say(&format!(
        "warning: running as hermes (uid {uid}) from the start: no supervision tree and no \
         cont-init; running the command directly"
    ));
    let Some((prog, args)) = cmd.split_first() else {
        return 0;
    };
    let err = Command::new(prog)
        .args(args)
        .env("HOME", HERMES_HOME_DEFAULT)
        .exec();
    exec_failed(prog, &err)
}

/// The one line that refuses `docker run --user <uid>` for any uid but root's and hermes'.
fn user_refusal(uid: u32, hermes_uid: u32) -> String {
    format!(
        "refusing to run as uid {uid}: an arbitrary uid is not supported; this image starts as \
         root and runs everything as hermes (uid {hermes_uid}); to give hermes a host user's ids, set HERMES_UID and \
         HERMES_GID (or PUID and PGID) instead of --user"
    )
}

/// `docker run --init`: Docker's init is PID 1. cont-init runs once, without s6, then the
/// command runs as hermes (stage 2 `--no-supervision`); never "can only run as pid 1".
fn not_pid1(cmd: Vec<OsString>) -> c_int {
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_else(|_| "unknown".into());
    say(&format!(
        "warning: not PID 1 (pid {}, PID 1 is '{}', e.g. docker run --init): running without s6 supervision; cont-init runs once, then the command runs as hermes",
        sys::pid(),
        pid1.trim()
    ));
    // No scandir and no /run/s6/basedir (so nothing detects s6), but the container
    // environment for with-contenv and /run/hermes.
    let layout = Layout::image();
    if let Err(e) = prepare_common(&layout, true) {
        return fatal(e);
    }
    let err = Command::new(STAGE2)
        .arg("--no-supervision")
        .args(&cmd)
        .env("PATH", STAGE_PATH)
        .env("LC_ALL", "C")
        .exec();
    exec_failed(STAGE2.as_ref(), &err)
}

/// The supervised boot; see the module documentation for the order and why.
fn pid1(cmd: Vec<OsString>) -> c_int {
    let layout = Layout::image();
    if let Err(e) = fresh_run::fresh_scandir(&layout) {
        return fatal(format!("{e} (is /run writable?)"));
    }
    match sys::fork() {
        Err(e) => return fatal(format!("cannot fork stage 1: {e}")),
        Ok(0) => {
            // Only PID 1 must hold a stop back: this child may die of one at once (a stop
            // during the boot then ends it now, not after the preparation).
            sys::unblock_stop_signals();
            sys::exit(stage1_rest(&layout, cmd))
        }
        Ok(_) => {}
    }
    // Not Command::exec: it would unblock the stop signals before s6-svscan runs.
    let scandir = layout.scandir();
    let err = sys::execve_keeping_mask(
        SVSCAN,
        &[
            "s6-svscan",
            "-c",
            SVSCAN_MAX_SERVICES,
            &scandir.to_string_lossy(),
        ],
        &[SVSCAN_ENV, SVSCAN_PRELOAD],
    );
    fatal(format!("cannot exec {SVSCAN}: {err}"))
}

/// The child of PID 1 that finishes stage 1 while s6-svscan already runs, then becomes
/// stage 2 (which rescans the scandir before it waits for the services). Returns only on
/// failure; the container is then stopped, as it can never become ready.
fn stage1_rest(layout: &Layout, cmd: Vec<OsString>) -> c_int {
    let prepared = prepare_common(layout, false).and_then(|()| {
        fresh_run::make_supervision_tree(layout)
            .map(|warnings| warnings.iter().for_each(|w| say(&format!("warning: {w}"))))
    });
    if let Err(e) = prepared {
        say(&format!(
            "fatal: {e} (is /run writable?); stopping the container"
        ));
        stop_container();
        return 111;
    }
    stamp_boot(layout);
    // Command::exec gives stage 2 a clean signal mask and default dispositions: the stop
    // signals are blocked only in PID 1, until s6-svscan takes them over.
    let err = Command::new(STAGE2)
        .args(&cmd)
        .env("PATH", STAGE_PATH)
        .env("LC_ALL", "C")
        .exec();
    say(&format!(
        "fatal: cannot run {STAGE2}: {err}; stopping the container"
    ));
    stop_container();
    111
}

/// Asks s6-svscan (PID 1) to tear everything down, once it answers (at most 5 s).
fn stop_container() {
    for _ in 0..1000 {
        let asked = Command::new("/command/s6-svscanctl")
            .args(["-t", "/run/service"])
            .stderr(std::process::Stdio::null())
            .status();
        if asked.is_ok_and(|s| s.success()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// What every boot with root needs: a fresh `/run` for the stage layer (`with_scandir`: the
/// scandir too, when no s6-svscan will run) and the container environment for `with-contenv`.
fn prepare_common(layout: &Layout, with_scandir: bool) -> std::io::Result<()> {
    fresh_run::remove_stale(layout, with_scandir)?;
    fresh_run::make_common_dirs(layout)?;
    // First of all the steps that grant ownership: the container environment is the next.
    let record = layout.run.join("hermes/remap");
    for line in remap::apply(
        |k| std::env::var(k).ok(),
        std::path::Path::new("/etc"),
        &record,
    ) {
        say(&line);
    }
    let owner = (0, hermes_ids().1);
    environment::dump(&layout.envdir(), std::env::vars_os(), owner)
}

/// `/proc/uptime` when stage 1 ran: half of the per-boot id stage 2 writes into the readiness
/// marker (PID 1's start time is the other half).
fn stamp_boot(layout: &Layout) {
    if let Ok(up) = std::fs::read_to_string("/proc/uptime")
        && let Some(first) = up.split_whitespace().next()
    {
        let _ = std::fs::write(layout.run.join("s6/init-uptime"), format!("{first}\n"));
    }
}

/// hermes' uid and gid from `/etc/passwd` (after any remap).
fn hermes_ids() -> (u32, u32) {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|db| {
            db.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 4 && f[0] == "hermes")
                    .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
            })
        })
        .unwrap_or(HERMES_IDS_DEFAULT)
}

fn exec_failed(prog: &std::ffi::OsStr, err: &std::io::Error) -> c_int {
    say(&format!("cannot run {}: {err}", prog.to_string_lossy()));
    if err.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// A writer that says `WouldBlock` `busy` times, then takes 3 bytes per call.
    struct Full {
        busy: usize,
        got: Vec<u8>,
    }
    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.busy > 0 {
                self.busy -= 1;
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(3);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_stderr_is_waited_for_briefly_then_dropped_never_a_panic() {
        let mut w = Full {
            busy: 5,
            got: Vec::new(),
        };
        assert!(write_patiently(&mut w, b"/init: hello\n"));
        assert_eq!(w.got, b"/init: hello\n");
        let mut stuck = Full {
            busy: usize::MAX,
            got: Vec::new(),
        };
        assert!(!write_patiently(&mut stuck, b"lost\n"));
        assert!(stuck.got.is_empty());
    }

    #[test]
    fn an_arbitrary_uid_is_refused_as_not_supported_naming_the_supported_way() {
        let line = user_refusal(1000, 10000);
        assert!(line.starts_with("refusing to run as uid 1000: "), "{line}");
        assert!(line.contains("not supported"), "{line}");
        for word in [
            "uid 10000",
            "HERMES_UID",
            "HERMES_GID",
            "PUID",
            "PGID",
            "--user",
        ] {
            assert!(line.contains(word), "{word} missing: {line}");
        }
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn bare_subcommands_and_options_go_to_hermes() {
        assert_eq!(
            dispatch(cmd(&["gateway", "run"])),
            cmd(&[HERMES, "gateway", "run"])
        );
        assert_eq!(dispatch(cmd(&["--help"])), cmd(&[HERMES, "--help"]));
        assert_eq!(
            dispatch(cmd(&["profile", "list"])),
            cmd(&[HERMES, "profile", "list"])
        );
        assert_eq!(
            dispatch(cmd(&["hermes", "status"])),
            cmd(&["hermes", "status"])
        );
        assert_eq!(
            dispatch(cmd(&["sh", "-c", "exit 7"])),
            cmd(&["sh", "-c", "exit 7"])
        );
        assert_eq!(dispatch(cmd(&["-"])), cmd(&["-"]));
        assert!(dispatch(cmd(&[])).is_empty());
    }
}
