//! clap definitions for `hermes`.

use clap::{Args, Parser, Subcommand};

/// `hermes --version`: a regression build says so (`crate::BUILD_NOTE`).
#[cfg(not(feature = "regression"))]
const VERSION: &str = env!("CARGO_PKG_VERSION");
#[cfg(feature = "regression")]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (hermes-s6 regression build)");

#[derive(Parser, Debug)]
#[command(
    name = "hermes",
    version = VERSION,
    about = "Manage hermes profile gateways supervised by s6 in the hermes-s6 container",
    after_help = "Exit status: 0 ok, 1 operational error, 2 usage or invalid input."
)]
pub struct Cli {
    /// Profile to act on (default: the root profile "default")
    #[arg(short = 'p', long = "profile", global = true, value_name = "PROFILE")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the supervisor and every gateway slot
    Status(JsonFlag),
    /// Create, delete or list profiles
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Run or control a profile's gateway
    #[command(subcommand)]
    Gateway(GatewayCmd),
    /// Serve the web dashboard: gateway state as HTML (/) and JSON (/api/status)
    #[command(
        after_help = "A non-loopback --host needs HERMES_DASHBOARD_BASIC_AUTH_USERNAME and \
HERMES_DASHBOARD_BASIC_AUTH_PASSWORD (exit 78 otherwise)."
    )]
    Dashboard {
        /// Address to bind [env: HERMES_DASHBOARD_HOST] [default: 127.0.0.1]
        #[arg(long)]
        host: Option<String>,
        /// Port to bind [env: HERMES_DASHBOARD_PORT] [default: 9119]
        #[arg(long)]
        port: Option<u16>,
        /// Accepted for compatibility; no browser is opened
        #[arg(long)]
        no_open: bool,
        /// Once serving, write a newline on this descriptor and close it: s6's readiness
        /// notification (the service dir's `notification-fd`)
        #[arg(long, value_name = "FD", value_parser = clap::value_parser!(i32).range(3..))]
        ready_fd: Option<i32>,
    },
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Create a profile (and, on s6, its gateway slot, down)
    Create { name: String },
    /// Delete a profile and its gateway slot
    Delete {
        name: String,
        /// Confirm the deletion (required)
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// List profiles with their slot state
    List(JsonFlag),
}

#[derive(Subcommand, Debug)]
pub enum GatewayCmd {
    /// Run the gateway in the foreground (on s6, hands it to the supervisor unless --no-supervise)
    Run {
        /// Take over the profile's PID lock from a running holder
        #[arg(long)]
        replace: bool,
        /// Run in the foreground even on s6 (also: HERMES_GATEWAY_NO_SUPERVISE=1)
        #[arg(long)]
        no_supervise: bool,
    },
    /// Start the gateway under s6
    Start,
    /// Stop the gateway under s6 (records desired_state=stopped)
    Stop(AllFlag),
    /// Restart the gateway under s6
    Restart(AllFlag),
    /// Show the gateway's slot state
    Status(JsonFlag),
    /// Explain how gateways are installed under s6
    Install,
    /// Explain how gateways are removed under s6
    Uninstall,
}

#[derive(Args, Debug)]
pub struct AllFlag {
    /// Act on every registered gateway
    #[arg(long)]
    pub all: bool,
}
