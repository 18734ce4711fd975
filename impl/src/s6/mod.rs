//! Everything that talks to s6: detection, program calls, svstat parsing, slots, the manager.

pub mod detect;
pub mod manager;
pub mod programs;
pub mod slot;
pub mod svstat;
