//! `hermes-logger`: a gateway slot's logger (`gateway-<p>/log/run` links here, contract §3.2).
//! s6-supervise runs it as root in `…/gateway-<p>/log`; it learns the profile from that
//! directory's name, becomes hermes, makes `$HERMES_HOME/logs/gateways/<p>` and execs
//! `s6-log`, which writes there and copies every line to stdout (`docker logs`).
//!
//! A program rather than a `with-contenv` shell script because every slot runs one, at every
//! boot: one exec instead of six, which is what keeps a boot with many profiles flat.

use hermes::names;
use hermes::paths::DEFAULT_HERMES_HOME;
use hermes::privilege::drop_to_hermes;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const S6_LOG: &str = "/command/s6-log";
/// Where `with-contenv` reads the container's environment from (written by stage 1).
const CONTAINER_ENV: &str = "/run/s6/container_environment";

fn refuse(why: &str) -> ExitCode {
    hermes::logline::err(&format!(
        "hermes-logger{}: refusing to run: {why}",
        hermes::BUILD_NOTE
    ));
    ExitCode::from(111)
}

/// `HERMES_HOME` as the container was given it (the supervisor's own environment has only
/// `PATH`), else the image's default.
fn hermes_home() -> PathBuf {
    let value = std::fs::read_to_string(Path::new(CONTAINER_ENV).join("HERMES_HOME"))
        .ok()
        .map(|v| v.strip_suffix('\n').unwrap_or(&v).to_string())
        .filter(|v| !v.is_empty());
    PathBuf::from(value.unwrap_or_else(|| DEFAULT_HERMES_HOME.to_string()))
}

fn main() -> ExitCode {
    let dir = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => return refuse(&format!("cannot tell the working directory: {e}")),
    };
    let slot = dir
        .strip_prefix("/")
        .ok()
        .filter(|_| dir.file_name().is_some_and(|n| n == "log"))
        .and_then(|_| dir.parent()?.file_name()?.to_str());
    let Some(profile) = slot.and_then(names::profile_of_slot) else {
        return refuse(&format!(
            "{} is not a gateway-<profile>/log dir",
            dir.display()
        ));
    };
    if let Err(e) = names::validate(profile) {
        return refuse(&e.to_string());
    }
    let home = hermes_home();
    if !home.is_absolute() {
        return refuse(&format!(
            "HERMES_HOME must be absolute (got {})",
            home.display()
        ));
    }
    let profile = profile.to_string();
    // `HERMES_HOME` was read as root (the container environment is root:hermes 0750); now
    // become hermes: the log directory is hermes', made and written by hermes only.
    if let Err(e) = drop_to_hermes() {
        return refuse(&e);
    }
    let logdir = home.join("logs/gateways").join(&profile);
    if let Err(e) = std::fs::create_dir_all(&logdir) {
        return refuse(&format!("cannot create {}: {e}", logdir.display()));
    }
    let _ = std::env::set_current_dir(&home);
    let err = Command::new(S6_LOG)
        .args(["1", "n10", "s1000000", "T"])
        .arg(&logdir)
        .env_clear()
        .env("PATH", "/command:/usr/bin:/bin")
        .env("HOME", DEFAULT_HERMES_HOME)
        .exec();
    refuse(&format!("cannot exec {S6_LOG}: {err}"))
}
