//! `hermes-registrar`: the registrar's root helper (contract §3.3), run by `s6-sudod` once per
//! request with the client's argv: `register <profile> [--start]` or `unregister <profile>`.
//! stdout goes to the client (one line when refused or failed), stderr to the container log
//! (one line per request). Exit status 0 done, 1 refused or failed, 2 not understood.
//! See `hermes::registrar` for the service around it.

use hermes::paths::Paths;
use hermes::registrar::{LOCK, server};
use hermes::s6::scandir::Scandir;
use hermes::s6::slot::Owners;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    // The image's paths, not the environment's: this runs as root for an unprivileged client.
    let scandir = Scandir::new(Paths::image(), Owners::image());
    let (request, outcome) = server::handle(&args, &scandir, Path::new(LOCK));
    // Set by s6-ipcserverd from the connection's credentials, which the client cannot
    // override (s6-sudod passes a client variable only where the server's is empty); used
    // for the log line only.
    let uid = std::env::var("IPCREMOTEEUID").unwrap_or_else(|_| "direct".into());
    let log = server::log_line(&uid, &args, request.as_ref(), &outcome);
    // Neither stream may abort the request: a closed or full pipe only loses the message.
    hermes::logline::err(&log);
    if let Some(line) = &outcome.client_line {
        hermes::logline::out(line);
    }
    ExitCode::from(outcome.code)
}
