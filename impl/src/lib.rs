//! hermes: profile gateways supervised by s6 inside the hermes-s6 container.

pub mod boot;
pub mod cli;
pub mod dashboard;
pub mod gateway;
pub mod names;
pub mod paths;
pub mod reconcile;
pub mod s6;
pub mod state;
pub mod timefmt;
