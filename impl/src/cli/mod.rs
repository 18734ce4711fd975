//! Command handlers. Exit codes: 0 ok, 1 operational error (`hermes: <reason>`), 2 usage or
//! invalid input (clap's own errors are 2 as well).

pub mod args;
pub mod status;

use crate::app::Ctx;
use crate::gateway::{self, service::Service, service::ServiceError};
use crate::names;
use crate::paths;
use crate::profile;
use crate::registrar::client::ClientError;
use crate::s6::Error as S6Error;
use crate::s6::control::{Control, Transition};
use crate::s6::detect::Detection;
use args::{Cli, Command, GatewayCmd, ProfileCmd};

/// A command's failure, carrying its exit code.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(String),
}

impl CliError {
    pub fn code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
    pub fn message(&self) -> &str {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => m,
        }
    }
}

impl From<S6Error> for CliError {
    fn from(e: S6Error) -> Self {
        match e {
            S6Error::Name(n) => CliError::Usage(n.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::S6(e) => e.into(),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        CliError::Failed(e.to_string())
    }
}

type Res = Result<i32, CliError>;

impl Ctx {
    fn require_s6(&self) -> Result<Control, CliError> {
        match &self.detection {
            Detection::S6 => Ok(self.control()),
            Detection::None(why) => {
                Err(CliError::Failed(format!("no supervisor available ({why})")))
            }
        }
    }
}

pub fn run(cli: Cli, ctx: &Ctx) -> Res {
    let profile = cli
        .profile
        .clone()
        .unwrap_or_else(|| names::DEFAULT_PROFILE.to_string());
    match cli.command {
        Command::Status(j) => status::print_all(ctx, None, j.json),
        Command::Profile(cmd) => profile_cmd(ctx, cmd),
        Command::Gateway(cmd) => {
            names::validate(&profile).map_err(|e| CliError::Usage(e.to_string()))?;
            gateway_cmd(ctx, &profile, cmd)
        }
        Command::Dashboard {
            host,
            port,
            ready_fd,
            ..
        } => Ok(crate::dashboard::run(ctx, host, port, ready_fd)),
    }
}

fn profile_cmd(ctx: &Ctx, cmd: ProfileCmd) -> Res {
    match cmd {
        ProfileCmd::Create { name } => create_profile(ctx, &name),
        ProfileCmd::Delete { name, yes } => delete_profile(ctx, &name, yes),
        ProfileCmd::List(j) => status::list_profiles(ctx, j.json),
    }
}

/// Makes the profile (atomically) and, on s6, has the registrar add its slot, down. Under the
/// profile-set lock, so a concurrent `delete` of the same name waits: the result is the whole
/// profile with its slot, or neither. A slot that cannot be had removes the profile again.
fn create_profile(ctx: &Ctx, name: &str) -> Res {
    names::validate_new(name).map_err(|e| CliError::Usage(e.to_string()))?;
    let fail = |e: std::io::Error| CliError::Failed(e.to_string());
    let _lock = profile::lock(&ctx.paths).map_err(fail)?;
    // A whole profile without its slot is what a create killed between its two steps (or a
    // delete killed between its two) leaves: this create finishes the job instead of
    // answering "already exists" for a profile no gateway can ever run.
    let repair = match profile::create(&ctx.paths, name) {
        Ok(()) => false,
        Err(e)
            if e.kind() == std::io::ErrorKind::AlreadyExists
                && ctx.detection.is_s6()
                && profile::is_complete(&ctx.paths, name)
                && !ctx.control().is_registered(name) =>
        {
            true
        }
        Err(e) => return Err(fail(e)),
    };
    match &ctx.detection {
        Detection::S6 => {
            let registrar = ctx.registrar();
            // A slot without its profile (left by a killed delete) is stale: a new profile
            // starts from a fresh slot.
            let stale = if !repair && ctx.control().is_registered(name) {
                registrar.unregister(name).err()
            } else {
                None
            };
            if let Some(e) = stale.or_else(|| registrar.register(name, false).err()) {
                if repair {
                    return Err(CliError::Failed(format!(
                        "profile '{name}' exists without its gateway slot, and the slot cannot \
                         be registered: {e}"
                    )));
                }
                let _ = profile::remove(&ctx.paths, name);
                return Err(CliError::Failed(format!(
                    "cannot register gateway slot for '{name}' (profile not created): {e}"
                )));
            }
            if repair {
                println!(
                    "profile '{name}' already existed without its gateway slot (an interrupted \
                     create or delete): slot {} registered, down",
                    names::slot_name(name)
                );
            } else {
                println!(
                    "created profile '{name}' (slot {} registered, down)",
                    names::slot_name(name)
                );
            }
        }
        Detection::None(why) => {
            println!("created profile '{name}' (no supervisor: {why}; no slot registered)");
        }
    }
    Ok(0)
}

/// Has the registrar remove the slot (its gateway brought down first), then removes the
/// profile; under the profile-set lock. If the slot cannot go, the profile stays.
fn delete_profile(ctx: &Ctx, name: &str, yes: bool) -> Res {
    names::validate_new(name).map_err(|e| CliError::Usage(e.to_string()))?;
    if !yes {
        return Err(CliError::Usage(format!(
            "refusing to delete profile '{name}' without --yes"
        )));
    }
    let fail = |e: std::io::Error| CliError::Failed(e.to_string());
    let _lock = profile::lock(&ctx.paths).map_err(fail)?;
    let exists = profile::exists(&ctx.paths, name);
    let had_slot = ctx.detection.is_s6() && ctx.control().is_registered(name);
    if !exists && !had_slot {
        return Err(CliError::Failed(format!("no such profile '{name}'")));
    }
    if had_slot {
        ctx.registrar().unregister(name)?;
    }
    profile::remove(&ctx.paths, name).map_err(fail)?;
    println!("deleted profile '{name}'");
    Ok(0)
}

fn gateway_cmd(ctx: &Ctx, profile: &str, cmd: GatewayCmd) -> Res {
    match cmd {
        GatewayCmd::Run {
            replace,
            no_supervise,
        } => gateway_run(ctx, profile, replace, no_supervise),
        GatewayCmd::Start => {
            let control = ctx.require_s6()?;
            // gateway-default always exists: the boot registers it (contract §5), and no
            // request may create or delete it (§3.1), so a missing one is reported, not asked for.
            if profile == names::DEFAULT_PROFILE && !control.is_registered(profile) {
                return Err(CliError::Failed(
                    crate::registrar::DEFAULT_NOT_REQUESTABLE.into(),
                ));
            }
            // A whole profile without its slot (an interrupted create or delete, or one the
            // boot skipped: the boot log says why) gets its slot now, under the profile-set
            // lock so a concurrent delete cannot interleave.
            if !control.is_registered(profile) && profile::exists(&ctx.paths, profile) {
                let _lock =
                    profile::lock(&ctx.paths).map_err(|e| CliError::Failed(e.to_string()))?;
                if !control.is_registered(profile) && profile::is_complete(&ctx.paths, profile) {
                    ctx.registrar().register(profile, false).map_err(|e| {
                        CliError::Failed(format!(
                            "profile '{profile}' has no gateway slot and it cannot be \
                             registered: {e}; {} may say why the boot skipped it",
                            ctx.paths
                                .logs_dir()
                                .join(crate::reconcile::BOOT_LOG)
                                .display()
                        ))
                    })?;
                    eprintln!(
                        "hermes: profile '{profile}' had no gateway slot; registered {}",
                        names::slot_name(profile)
                    );
                }
            }
            let service = Service {
                paths: &ctx.paths,
                control: &control,
            };
            report(profile, "up", service.start(profile)?)
        }
        GatewayCmd::Stop(a) => each(ctx, profile, a.all, "stop"),
        GatewayCmd::Restart(a) => each(ctx, profile, a.all, "restart"),
        GatewayCmd::Status(j) => status::print_all(ctx, Some(profile), j.json),
        GatewayCmd::Install => {
            println!(
                "Under s6 there is nothing to install: per-profile gateways are registered when you create a profile."
            );
            println!("  hermes profile create <name>     # creates the s6 service slot (down)");
            println!("  hermes -p <name> gateway start   # bring it up via s6");
            println!("  hermes status                    # see the supervised gateways");
            Ok(0)
        }
        GatewayCmd::Uninstall => {
            println!(
                "Under s6 there is nothing to uninstall: per-profile gateways are unregistered when you delete the profile."
            );
            println!("  hermes profile delete <name> --yes   # tears down the s6 service slot");
            println!("  hermes -p <name> gateway stop        # stop without deleting the profile");
            Ok(0)
        }
    }
}

fn each(ctx: &Ctx, profile: &str, all: bool, action: &str) -> Res {
    let control = ctx.require_s6()?;
    let service = Service {
        paths: &ctx.paths,
        control: &control,
    };
    let act = |p: &str| match action {
        "stop" => service.stop(p),
        _ => service.restart(p),
    };
    let goal = if action == "stop" { "down" } else { "up" };
    if !all {
        return report(profile, goal, act(profile)?);
    }
    let profiles = control.list()?;
    if profiles.is_empty() {
        println!("no gateways registered");
        return Ok(0);
    }
    let mut failed = 0;
    for p in profiles {
        match act(&p)
            .map_err(CliError::from)
            .and_then(|t| report(&p, goal, t))
        {
            Ok(0) => {}
            Ok(_) => failed += 1,
            Err(e) => {
                eprintln!("hermes: {}: {}", names::slot_name(&p), e.message());
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Prints the state s6 reported after the bounded wait; not reaching it is an error.
fn report(profile: &str, goal: &str, t: Transition) -> Res {
    let slot = names::slot_name(profile);
    let state = match &t.stat {
        Some(s) if s.up => format!("up (pid {})", s.pid.map_or("?".into(), |p| p.to_string())),
        Some(s) => match (&s.exit_code, &s.signal) {
            (_, Some(sig)) => format!("down (signal {sig})"),
            (Some(c), _) => format!("down (exit code {c})"),
            _ => "down".into(),
        },
        None => "unknown".into(),
    };
    if t.reached {
        println!("{slot}: {state}");
        Ok(0)
    } else {
        Err(CliError::Failed(format!(
            "{slot} did not reach {goal} in time; s6 reports {state}"
        )))
    }
}

/// docs/contract.md §6.4: outside supervision on s6, hand the gateway to s6 and stay in the foreground
/// (the container's main program) until signalled.
fn gateway_run(ctx: &Ctx, profile: &str, replace: bool, no_supervise: bool) -> Res {
    let supervised_child =
        std::env::var_os("HERMES_S6_SUPERVISED_CHILD").is_some_and(|v| !v.is_empty());
    let opt_out = no_supervise || paths::env_truthy("HERMES_GATEWAY_NO_SUPERVISE");
    if !supervised_child && !opt_out && ctx.detection.is_s6() {
        let signals = gateway::block_term_signals();
        let slot = names::slot_name(profile);
        // Hand the gateway to s6 on a worker thread: `start` waits (bounded) for s6 to report
        // it up, and a `docker stop` arriving meanwhile must end this process at once, not
        // after that wait (it would outlast the stop grace and be SIGKILLed). The signals stay
        // blocked in both threads, so a pending SIGTERM is seen by polling `sigpending`.
        let handed = std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let control = ctx.control();
                let service = Service {
                    paths: &ctx.paths,
                    control: &control,
                };
                let registered = if control.is_registered(profile) {
                    Ok(())
                } else if profile == names::DEFAULT_PROFILE {
                    // Only the boot registers gateway-default (§3.1, §5): never requested.
                    Err(CliError::Failed(
                        crate::registrar::DEFAULT_NOT_REQUESTABLE.into(),
                    ))
                } else {
                    ctx.registrar()
                        .register(profile, true)
                        .map_err(CliError::from)
                };
                let r = registered.and_then(|()| service.start(profile).map_err(CliError::from));
                let _ = tx.send(r);
            });
            loop {
                match rx.recv_timeout(std::time::Duration::from_millis(20)) {
                    Ok(r) => return Some(r),
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if gateway::term_signal_pending(&signals) {
                            // Signalled while handing over: leave now, s6 is shutting down.
                            std::process::exit(0);
                        }
                    }
                }
            }
        });
        // If s6 refuses (e.g. a permission regression), the container's main program must not
        // die with it: say so loudly and serve in the foreground, unsupervised.
        let t = match handed {
            Some(Ok(t)) => t,
            // Refused because the container is already shutting down: just leave.
            Some(Err(_)) if gateway::term_signal_pending(&signals) => std::process::exit(0),
            Some(Err(e)) => {
                eprintln!(
                    "hermes: cannot hand the gateway to s6 as {slot}: {}; running it in the \
                     foreground instead, unsupervised",
                    e.message()
                );
                return gateway::run(&ctx.paths, profile, replace).map_err(CliError::Failed);
            }
            None => return Err(CliError::Failed("the s6 hand-over thread died".into())),
        };
        eprintln!(
            "hermes: the gateway now runs under s6 supervision as {slot} (restarted on crash; \
             `hermes status` shows it). To run it in the foreground instead, use \
             `hermes gateway run --no-supervise` or set HERMES_GATEWAY_NO_SUPERVISE=1."
        );
        if !t.reached {
            eprintln!("hermes: warning: {slot} is not up yet");
        }
        gateway::wait_for_signal(&signals);
        return Ok(0);
    }
    gateway::run(&ctx.paths, profile, replace).map_err(CliError::Failed)
}
