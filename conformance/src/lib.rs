//! The hermes-s6 conformance suite: builds the image, starts one container per scenario and
//! proves the contract of `docs/contract.md` **as hermes** (UID 10000), the user the product
//! really runs as. Root is an explicit, commented opt-in per exec.

pub mod bench;
pub mod config;
pub mod container;
#[cfg(test)]
mod doc_refs;
pub mod docker;
pub mod dump;
pub mod exec;
pub mod image;
pub mod junit;
pub mod model;
pub mod privilege;
pub mod progress;
pub mod regressions;
pub mod remote;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod support;
pub mod table;
pub mod wait;

pub use container::{Container, ContainerSpec};
pub use exec::ExecOutcome;
pub use runner::{Ctx, run, run_variant};
