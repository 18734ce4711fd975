//! `hermes`: the CLI. Exit codes: 0 ok, 1 operational error, 2 usage or invalid input.

use clap::Parser;
use hermes::app::Ctx;
use hermes::cli::{self, args::Cli};
use hermes::paths;
use std::os::unix::process::CommandExt;
use std::path::Path;

/// docs/contract.md §6.6: a root `docker exec` would leave root-owned files hermes cannot use later, so
/// root re-executes itself as hermes unless HERMES_DOCKER_EXEC_AS_ROOT is truthy. As hermes
/// (euid != 0) this never runs, so there is no loop.
fn drop_root_if_needed() {
    if !nix::unistd::geteuid().is_root() || paths::env_truthy("HERMES_DOCKER_EXEC_AS_ROOT") {
        return;
    }
    let setuidgid = Path::new(paths::COMMAND_DIR).join("s6-setuidgid");
    if !setuidgid.exists() {
        eprintln!(
            "hermes: warning: running as root and {} is missing; continuing as root",
            setuidgid.display()
        );
        return;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "hermes: warning: running as root; cannot locate own binary ({e}); continuing as root"
            );
            return;
        }
    };
    let err = std::process::Command::new(&setuidgid)
        .arg("hermes")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("HOME", paths::DEFAULT_HERMES_HOME)
        .exec();
    eprintln!(
        "hermes: warning: cannot re-exec as hermes via {}: {err}; continuing as root",
        setuidgid.display()
    );
}

fn main() {
    drop_root_if_needed();
    let cli = Cli::parse();
    let ctx = Ctx::from_env();
    let code = match cli::run(cli, &ctx) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hermes: {}", e.message());
            e.code()
        }
    };
    std::process::exit(code);
}
