//! hermes: profile gateways supervised by s6 inside the hermes-s6 container.

pub mod app;
pub mod boot;
pub mod cli;
pub mod dashboard;
pub mod fileio;
pub mod gateway;
pub mod logline;
pub mod names;
pub mod paths;
pub mod poll;
pub mod ports;
pub mod privilege;
pub mod profile;
pub mod reconcile;
pub mod registrar;
pub mod regression;
pub mod s6;
pub mod safe_walk;
pub mod state;
pub mod status;
pub mod timefmt;
pub mod web;

/// Appended to what each binary says about itself (`--version`, the registrar's log lines) in
/// a regression build (contract §9), so the suite can tell one from a production build, which
/// carries no regression code and not this text either.
pub const BUILD_NOTE: &str = if cfg!(feature = "regression") {
    " (hermes-s6 regression build)"
} else {
    ""
};
