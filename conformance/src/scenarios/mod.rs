//! Scenarios, one module per area of the contract. `tests/suite/*.rs` are thin wrappers.
//! Every exec runs as hermes (the scenario user) unless a comment says why root is needed.

pub mod attack_matrix;
pub mod boot;
pub mod cli;
pub mod container_lifecycle;
pub mod dashboard;
pub mod detection;
pub mod gateway;
pub mod image;
pub mod lifecycle;
pub mod model_lifecycle;
pub mod parity;
pub mod ports;
pub mod privilege;
pub mod registrar;
pub mod restart;
pub mod security;
pub mod zombies;
