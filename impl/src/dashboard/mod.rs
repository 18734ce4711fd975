//! `hermes dashboard` (docs/contract.md §7): a small HTTP server showing every gateway's s6 state, pid,
//! uptime, desired state, port, health and last log lines, as HTML (`/`) and JSON
//! (`/api/status`). hyper on a current-thread tokio runtime (`web::server`): the dashboard is
//! a side service and must stay small, and idle clients must not lock anyone out.

pub mod auth;
pub mod html;
pub mod logtail;
pub mod model;
pub mod server;

use crate::app::Ctx;
use crate::gateway;
use crate::web;
use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;

pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 9119;
/// Refused to serve (public bind without credentials); the service's finish script parks it.
pub const EXIT_REFUSED: i32 = gateway::EXIT_CONFIG;

/// Flags win; then HERMES_DASHBOARD_HOST / _PORT (empty counts as unset); then the defaults.
pub fn resolve(
    host: Option<String>,
    port: Option<u16>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, u16), String> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let host = host
        .or_else(|| env("HERMES_DASHBOARD_HOST"))
        .unwrap_or_else(|| DEFAULT_HOST.to_string());
    let port = match (port, env("HERMES_DASHBOARD_PORT")) {
        (Some(p), _) => p,
        (None, Some(v)) => v
            .trim()
            .parse()
            .map_err(|_| format!("HERMES_DASHBOARD_PORT is not a port number: {v:?}"))?,
        (None, None) => DEFAULT_PORT,
    };
    Ok((host, port))
}

/// `host:port` as it appears in a URL (IPv6 literals bracketed).
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn refuse(host: &str, port: u16) -> i32 {
    eprintln!(
        "hermes dashboard: refusing to serve on {} without basic-auth credentials (set \
         HERMES_DASHBOARD_BASIC_AUTH_USERNAME and HERMES_DASHBOARD_BASIC_AUTH_PASSWORD)",
        authority(host, port)
    );
    EXIT_REFUSED
}

/// Runs until SIGTERM/SIGINT and returns the exit code: 0 then; 78 for a public bind
/// without credentials; 1 when it cannot bind or serve; 2 for a bad HERMES_DASHBOARD_PORT.
/// Says why on stderr itself, so it needs nothing from the CLI but the context. `ready_fd`:
/// s6's notification pipe, told once the server is serving (see `notify_ready`).
pub fn run(ctx: &Ctx, host: Option<String>, port: Option<u16>, ready_fd: Option<i32>) -> i32 {
    let (host, port) = match resolve(host, port, |k| std::env::var(k).ok()) {
        Ok(hp) => hp,
        Err(e) => {
            eprintln!("hermes: {e}");
            return 2;
        }
    };
    let creds = auth::Credentials::from_env();
    if creds.is_none() && !auth::is_loopback_host(&host) {
        return refuse(&host, port);
    }
    // Blocked before any thread exists, so every thread inherits the mask and the main
    // thread alone receives the signal synchronously below.
    let signals = gateway::block_term_signals();
    let bind_host = host.trim_start_matches('[').trim_end_matches(']');
    let listener = match TcpListener::bind((bind_host, port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "hermes dashboard: cannot bind {}: {e}",
                authority(&host, port)
            );
            return 1;
        }
    };
    let local = listener.local_addr().ok();
    // Belt and braces: a name like `localhost` is trusted by spelling; make sure it really
    // resolved to loopback before serving without credentials.
    if creds.is_none() && local.is_some_and(|a| !a.ip().is_loopback()) {
        return refuse(&host, port);
    }
    let port = local.map_or(port, |a| a.port());
    let shared = Arc::new(server::Shared {
        ctx: Arc::new(ctx.clone()),
        creds,
    });
    let served = web::server::spawn(
        "dashboard",
        listener,
        server::LIMITS,
        server::GATHER_THREADS,
        move |req| server::handle(Arc::clone(&shared), req),
    );
    if let Err(e) = served {
        eprintln!("hermes dashboard: cannot start serving: {e}");
        return 1;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "hermes dashboard listening on http://{}",
        authority(&host, port)
    );
    let _ = out.flush();
    drop(out);
    if let Some(fd) = ready_fd {
        notify_ready(fd);
    }
    let sig = gateway::wait_for_signal(&signals);
    eprintln!("hermes dashboard: received {sig:?}, exiting");
    0
}

/// s6's readiness notification: one newline on `fd` (the service dir's `notification-fd`),
/// then the descriptor is closed, so nothing the dashboard starts inherits it. Stage 2 waits
/// for this (`s6-svlisten1 -U`) before it writes `/run/hermes/ready`.
fn notify_ready(fd: i32) {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } < 0 {
        eprintln!(
            "hermes dashboard: --ready-fd {fd} is not an open descriptor: no readiness notified"
        );
        return;
    }
    // SAFETY: the descriptor was handed over on the command line by the service's run script
    // (s6-supervise's notification pipe) and nothing else in this process uses it; the File
    // takes it over and closes it when dropped.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(fd) };
    if let Err(e) = pipe.write_all(b"\n") {
        eprintln!("hermes dashboard: cannot notify readiness on fd {fd}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_is_one_newline_then_the_descriptor_is_closed() {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::io::Read;
        use std::os::fd::{AsFd, IntoRawFd};
        let (r, w) = nix::unistd::pipe().unwrap();
        notify_ready(w.into_raw_fd());
        // The newline, and a hang-up: no writer is left (bounded: 1 s).
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(1000u16)).unwrap();
        let revents = fds[0].revents().unwrap();
        assert!(revents.contains(PollFlags::POLLHUP), "{revents:?}");
        let mut got = Vec::new();
        std::fs::File::from(r).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"\n");
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn resolution_order() {
        assert_eq!(
            resolve(None, None, env(&[])).unwrap(),
            ("127.0.0.1".into(), 9119)
        );
        let e = [
            ("HERMES_DASHBOARD_HOST", "0.0.0.0"),
            ("HERMES_DASHBOARD_PORT", "9200"),
        ];
        assert_eq!(
            resolve(None, None, env(&e)).unwrap(),
            ("0.0.0.0".into(), 9200)
        );
        assert_eq!(
            resolve(Some("::1".into()), Some(1), env(&e)).unwrap(),
            ("::1".into(), 1)
        );
        let empty = [
            ("HERMES_DASHBOARD_HOST", ""),
            ("HERMES_DASHBOARD_PORT", " "),
        ];
        assert_eq!(
            resolve(None, None, env(&empty)).unwrap(),
            ("127.0.0.1".into(), 9119)
        );
        assert!(resolve(None, None, env(&[("HERMES_DASHBOARD_PORT", "99999")])).is_err());
    }

    #[test]
    fn authorities() {
        assert_eq!(authority("127.0.0.1", 9119), "127.0.0.1:9119");
        assert_eq!(authority("::1", 9119), "[::1]:9119");
        assert_eq!(authority("[::1]", 9119), "[::1]:9119");
    }
}
