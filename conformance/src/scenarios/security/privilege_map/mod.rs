//! Contract §10.1 proven, not only declared, and the privilege map.
//!
//! `root_touched_paths_are_declared`: a scripted session, as hermes, on the trace variant
//! (`hermes-s6-trace:*`, where stage 1 and everything it starts run under strace): profiles
//! created and deleted, gateways started, restarted and stopped, registrar requests (and a
//! refused one), a root leftover for `01` to repair, `docker restart`, then a `PUID` boot on
//! the same volume. Every path a root process created, wrote, renamed, removed, chowned,
//! chmoded or bound must match a row of the §10.1 table (parsed from `docs/contract.md` at
//! compile time); one that does not fails the scenario, naming path, program and call.
//!
//! `privilege_map_is_accepted`: the map (`crate::privilege::map`) from the product image and
//! the same session, written to `target/conformance/` and compared with
//! `docs/privilege-map.md`.

mod declared;
mod map;
mod session;

pub use declared::root_touched_paths_are_declared;
pub use map::{privilege_map_is_accepted, production_carries_no_trace};
