//! Scenarios, one module per area of the contract, named as the test modules of
//! `tests/suite/` are: a body's path here is its test's name there. Every module stands on
//! `crate::support` and the harness only; none imports another.
//! Every exec runs as hermes (the scenario user) unless a comment says why root is needed.

pub mod boot;
pub mod cli;
pub mod container_lifecycle;
pub mod dashboard;
pub mod detection;
pub mod gateway;
pub mod image;
pub mod lifecycle;
pub mod parity;
pub mod restart;
pub mod security;
pub mod zombies;
