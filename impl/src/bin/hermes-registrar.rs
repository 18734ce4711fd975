//! `hermes-registrar`: the registrar's root helper (contract §3.3), run by `s6-sudod` once per
//! request with the client's argv: `register <profile> [--start]` or `unregister <profile>`.
//! stdout goes to the client (one line when refused or failed), stderr to the container log
//! (one line per request). Exit status 0 done, 1 refused or failed, 2 not understood.
//! See `hermes::registrar` for the service around it.
//!
//! Order of a request, each step bounded:
//! 1. the environment: anything but the fixed one (`server::environment`) and the helper
//!    starts itself again with exactly that, so neither it nor any s6 program it runs sees a
//!    variable the client sent;
//! 2. SIGTERM/SIGHUP/SIGINT are blocked: s6-sudod sends SIGTERM when the client goes away.
//!    Until the request has the lock that means "leave, nothing done"; once it has it, the
//!    change is finished (never half-made) and the signal only costs the client its answer;
//! 3. the request (`server::handle_with`): parse, the lock (bounded), the sweep, the change;
//! 4. the answer and the log line, within `ANSWER_WAIT_SECS`: a client that does not read
//!    its stdout (a full pipe) loses the answer; the helper exits on time regardless.

use hermes::paths::Paths;
use hermes::registrar::server::{self, ANSWER_WAIT_SECS, Env, LOCK_WAIT};
use hermes::registrar::{EXIT_FAILED, LOCK};
use hermes::s6::scandir::Scandir;
use hermes::s6::slot::Owners;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

/// The exit status the answer deadline leaves with.
static CODE: AtomicI32 = AtomicI32::new(EXIT_FAILED as i32);

extern "C" fn answer_deadline(_: nix::libc::c_int) {
    // SAFETY: _exit is async-signal-safe; nothing else runs here.
    unsafe { nix::libc::_exit(CODE.load(Ordering::Relaxed)) }
}

/// From now on the process exits with `code` at the latest `ANSWER_WAIT_SECS` later, even if
/// blocked writing to a client's full pipe (SIGALRM interrupts the write; its handler exits).
fn exit_in_time(code: u8) {
    CODE.store(i32::from(code), Ordering::Relaxed);
    let on_alarm = SigAction::new(
        SigHandler::Handler(answer_deadline),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only calls _exit.
    if unsafe { sigaction(Signal::SIGALRM, &on_alarm) }.is_ok() {
        nix::unistd::alarm::set(ANSWER_WAIT_SECS);
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_else(|| "hermes-registrar".into());
    let args: Vec<_> = argv.collect();
    let env: Vec<_> = std::env::vars_os().collect();
    let uid = match server::environment(&env) {
        Env::Fixed { client_uid } => client_uid,
        Env::Restart(fixed) => {
            // The same binary, the same argv and fds, nothing else of the environment. By its
            // path, not `/proc/self/exe`, so that its process name stays `hermes-registrar`.
            let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
            let err = Command::new(exe)
                .arg0(&argv0)
                .args(&args)
                .env_clear()
                .envs(fixed)
                .exec();
            let why = format!("cannot start again with a fixed environment: {err}");
            exit_in_time(EXIT_FAILED);
            hermes::logline::err(&format!("hermes-registrar: result=failed: {why}"));
            hermes::logline::out(&why);
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let mut gone = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        gone.add(sig);
    }
    let _ = gone.thread_block();
    // The image's paths, not the environment's: this runs as root for an unprivileged client.
    let scandir = Scandir::new(Paths::image(), Owners::image());
    let (request, outcome) =
        server::handle_with(&args, &scandir, Path::new(LOCK), LOCK_WAIT, &|| {
            hermes::gateway::term_signal_pending(&gone)
        });
    exit_in_time(outcome.code);
    for line in &outcome.swept {
        hermes::logline::err(&format!("hermes-registrar: {line}"));
    }
    // The uid s6-ipcserverd recorded from the connection's credentials; for the log line only.
    let log = server::log_line(&uid, &args, request.as_ref(), &outcome);
    // Neither stream may hold the request: a closed or full pipe only loses the message.
    hermes::logline::err(&log);
    if let Some(line) = &outcome.client_line {
        hermes::logline::out(line);
    }
    ExitCode::from(outcome.code)
}
