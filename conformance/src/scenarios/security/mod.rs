//! docs/contract.md §10, adversarial: hermes cannot become root. Anything running as hermes
//! (the agent and every tool it runs) may be hostile, so every scenario here *is* hermes attacking
//! the supervision tree, whatever `HERMES_CONFORMANCE_USER` says (`Ctx::as_hermes`): "root can act
//! as root" proves nothing.
//!
//! Shape of every attack scenario:
//! 1. prove the precondition (the target exists, is supervised, the payload works when run as
//!    hermes), so that a refusal can never be the side effect of a broken setup;
//! 2. make each attack step as hermes — each must be refused *with a permission error*;
//! 3. trigger what would make root act on the plant (a state change, a rescan, a restart),
//!    using only rights hermes legitimately has;
//! 4. check the *effect* — payload evidence written as uid 0, a root-owned canary changed, a
//!    trace left in the tree — not merely the exit code of the attacker's command.
//!
//! Findings are collected in [`kit::Breaches`] instead of failing at the first one, so that on a
//! vulnerable image the failure leads with the proof (root ran hermes' code or wrote through
//! hermes' link), then lists the steps that were let through with the mode and owner of what
//! should have stopped them.
//!
//! One file per promise of §10: `slots` and `scanner` (1, no root code for hermes), `links` and
//! `writable` (2, no root writes through hermes' paths), `processes` (3), `registrar/` and
//! `boot_helper` (4: no root wait a hermes process controls),
//! `attack_matrix/` (5 and 6, along §10.1's table), `privilege_map/` (§10.1 proven by a trace);
//! `kit` and `evidence` are the attack toolkit they share.

mod boot_helper;
mod evidence;
mod kit;
mod links;
mod processes;
mod registrar;
mod scanner;
mod slots;
mod writable;

pub mod attack_matrix;
pub mod privilege_map;

pub use attack_matrix::attack_matrix;
pub use boot_helper::boot_helper_cannot_hold_the_boot;
pub use links::{event_links_not_written_through, supervise_links_not_written_through};
pub use privilege_map::{
    privilege_map_is_accepted, production_carries_no_trace, root_touched_paths_are_declared,
};
pub use processes::root_processes_are_supervision_only;
pub use registrar::{
    concurrent_create_delete_whole_or_none, registrar_client_killed_leaves_nothing,
    registrar_helper_environment_is_fixed, registrar_never_pinned_and_capped_per_uid,
    registrar_refusals, registrar_refuses_default_and_reserved,
};
pub use scanner::{scanner_control_refused, scanner_dir_cannot_be_replaced};
pub use slots::{
    Replace, new_slot_never_runs_as_root, own_slot_run_cannot_be_replaced,
    service_dirs_are_immutable,
};
pub use writable::only_allowlisted_dirs_writable;
