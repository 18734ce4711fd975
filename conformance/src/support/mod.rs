//! What every scenario stands on, in one place: the product's vocabulary (paths, slot names,
//! profile homes, ports), the deadlines and windows with the reason for each value, s6's view
//! of a service and the waits on it, the one in-container HTTP GET, `/proc` and `ps` readings,
//! typed file assertions and the few CLI steps many scenarios share.
//!
//! Scenario modules import this and the harness (`crate::{Container, Ctx, …}`, `crate::wait`)
//! and nothing of each other, so an area can be read, moved or deleted on its own.

pub mod cli;
pub mod files;
pub mod http;
pub mod procs;
pub mod product;
pub mod s6;
pub mod windows;

pub use cli::{create_profile, name_with_own_port, registrar_as, start_then_stop};
pub use files::{assert_absent, read_json, stat_as_root};
pub use http::{HttpResponse, get, get_with_basic, parse_response, wait_http};
pub use procs::{
    DASHBOARD_PROGRAM, GATEWAY, Proc, ProcView, Program, ensure_runs_as, processes, program_of,
};
pub use product::{
    DASHBOARD, DASHBOARD_PORT, HERMES_HOME, MANAGER_S6, REGISTRAR_SOCK, SCANDIR, SHARED_PRODUCT,
    SHARED_PRODUCT_PROFILES, STATIC_SERVICES, expected_port, profile_home, slot_dir,
};
pub use s6::{Parked, SvStat, supervised, svstat, svstat_exit, wait_svstat};
pub use windows::{PLANT_WATCH, STATE_DEADLINE, STAYS_DOWN_WINDOW};

/// The first line of an error with its causes: for one-line entries in a longer message.
pub fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}
