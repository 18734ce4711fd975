//! The conformance suite's single test binary: one process, so the image is resolved once
//! and every scenario shares one runtime. Scenario bodies live in `conformance::scenarios`.

#[path = "suite/boot.rs"]
mod boot;
#[path = "suite/cli.rs"]
mod cli;
#[path = "suite/container_lifecycle.rs"]
mod container_lifecycle;
#[path = "suite/dashboard.rs"]
mod dashboard;
#[path = "suite/detection.rs"]
mod detection;
#[path = "suite/gateway.rs"]
mod gateway;
#[path = "suite/image.rs"]
mod image;
#[path = "suite/lifecycle.rs"]
mod lifecycle;
#[path = "suite/parity.rs"]
mod parity;
#[path = "suite/regressions.rs"]
mod regressions;
#[path = "suite/restart.rs"]
mod restart;
#[path = "suite/security.rs"]
mod security;
#[path = "suite/zombies.rs"]
mod zombies;
