//! The conformance suite's single test binary: one process, so the image is resolved once
//! and every scenario shares one runtime. Scenario bodies live in `conformance::scenarios`.

mod boot;
mod cli;
mod container_lifecycle;
mod dashboard;
mod detection;
mod gateway;
mod image;
mod init_proofs;
mod lifecycle;
mod model;
mod parity;
mod ports;
mod regressions;
mod remote_engine;
mod restart;
mod security;
mod zombies;
