//! The gateway process (docs/contract.md §6.2–6.4): PID lock, state file, banner, `/health`, signals.

pub mod health;
pub mod lock;
pub mod marker;
pub mod service;

use crate::paths::Paths;
use crate::ports;
use crate::state::{self, Phase, Recorded};
use crate::timefmt;
use nix::sys::signal::{SigSet, Signal};
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

/// Exit code for a fatal configuration error; the slot's finish script parks the slot.
pub const EXIT_CONFIG: i32 = 78;

/// Blocks SIGTERM/SIGINT in the calling thread (and every thread spawned after) so that
/// `wait_for_signal` receives them synchronously; no async handler is needed.
pub fn block_term_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    let _ = set.thread_block();
    set
}

/// True when one of `set`'s signals (blocked) is pending for the process.
pub fn term_signal_pending(set: &SigSet) -> bool {
    // nix has no wrapper for sigpending(2).
    let mut raw = std::mem::MaybeUninit::<nix::libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; it is only read after a 0 return.
    if unsafe { nix::libc::sigpending(raw.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: initialised by the successful sigpending above.
    let pending = unsafe { SigSet::from_sigset_t_unchecked(raw.assume_init()) };
    set.iter().any(|sig| pending.contains(sig))
}

pub fn wait_for_signal(set: &SigSet) -> Signal {
    loop {
        if let Ok(sig) = set.wait() {
            return sig;
        }
    }
}

/// Runs the gateway in the foreground; returns the process exit code.
pub fn run(paths: &Paths, profile: &str, replace: bool) -> Result<i32, String> {
    let home = paths.profile_home(profile);
    if !home.is_dir() {
        return Err(format!(
            "no such profile '{profile}': create it with `hermes profile create {profile}`"
        ));
    }
    let signals = block_term_signals();
    let pid = std::process::id();
    let port = ports::effective(
        paths,
        profile,
        std::env::var("API_SERVER_PORT").ok().as_deref(),
    );
    let _lock = lock::acquire(&home, replace, Duration::from_secs(10))?;

    let write = |phase: Phase, extra: &[(&str, Value)]| {
        let r = state::update(&home, |s| {
            s.gateway_state = Some(Recorded::Known(phase));
            s.set("pid", pid);
            s.set("port", port);
            s.set("profile", profile);
            s.other.remove("exit_reason");
            for (k, v) in extra {
                s.set(k, v.clone());
            }
        });
        if let Err(e) = r {
            eprintln!(
                "hermes: warning: cannot write {}: {e}",
                state::state_path(&home).display()
            );
        }
    };
    write(
        Phase::Starting,
        &[("started_at", json!(timefmt::now_epoch()))],
    );

    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            let reason = format!("cannot bind 127.0.0.1:{port}: {e}");
            write(Phase::StartupFailed, &[("exit_reason", json!(reason))]);
            eprintln!("hermes: {reason}");
            return Ok(EXIT_CONFIG);
        }
    };
    let body =
        json!({"profile": profile, "pid": pid, "state": "running", "port": port}).to_string();
    if let Err(e) = health::spawn(listener, body) {
        let reason = format!("cannot serve /health on 127.0.0.1:{port}: {e}");
        write(Phase::StartupFailed, &[("exit_reason", json!(reason))]);
        eprintln!("hermes: {reason}");
        return Ok(1);
    }
    write(Phase::Running, &[]);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "⚕ Hermes Gateway Starting (profile={profile}, port={port}, pid={pid})"
    );
    let _ = out.flush();
    drop(out);

    let sig = wait_for_signal(&signals);
    // Regression `sigterm-persists-stopped`: every SIGTERM was taken as an operator stop.
    let planned = marker::consume(&home, pid, timefmt::now_epoch())
        || crate::regression::on("sigterm-persists-stopped");
    if planned {
        // An operator `gateway stop`: the intent is "stopped".
        write(Phase::Stopped, &[]);
        println!("gateway stopped ({sig:?}, planned stop)");
        Ok(0)
    } else {
        // Container restart, `s6-svc -t`, a stray kill: keep "running" on disk so the next
        // boot brings the gateway back.
        write(Phase::Running, &[]);
        eprintln!("hermes: gateway received {sig:?} without a planned-stop marker; exiting 1");
        Ok(1)
    }
}
