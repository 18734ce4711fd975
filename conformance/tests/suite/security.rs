//! docs/contract.md §10: hermes cannot become root. Each scenario is an attack made as hermes that
//! must be refused and leave no trace (bodies in `conformance::scenarios::security`).

use conformance::scenarios::security::Replace;
use rstest::rstest;

conformance::scenario_tests! { security;

/// A slot of hermes' own making in the scandir; with a noexec `/run`, built from links only.
#[rstest]
fn new_slot_never_runs_as_root(#[values(false, true)] noexec_run: bool);

#[rstest]
#[case::link(Replace::Link)]
#[case::script(Replace::Script)]
fn own_slot_run_cannot_be_replaced(#[case] how: Replace);

#[test]
fn scanner_dir_cannot_be_replaced();

#[test]
fn supervise_links_not_written_through();

#[test]
fn event_links_not_written_through();

#[test]
fn service_dirs_are_immutable();

#[test]
fn scanner_control_refused();

#[rstest]
fn only_allowlisted_dirs_writable(#[values(false, true)] tmpfs_run: bool);

#[rstest]
fn root_processes_are_supervision_only(#[values(false, true)] dashboard: bool);

#[test]
fn registrar_refusals();

#[test]
fn concurrent_create_delete_whole_or_none();

/// Contract §10.1's declared list, attacked exhaustively: every component of every row hermes
/// can change, each plant, the root step run (and one real boot); `HERMES_HOME` 1, 2 and 3
/// levels below the volume, `/run` on the image file system and on a tmpfs.
#[rstest]
#[case::depth1(1, false)]
#[case::depth2_tmpfs_run(2, true)]
#[case::depth3(3, false)]
fn attack_matrix(#[case] depth: usize, #[case] tmpfs_run: bool);

/// Contract §10.1: every path a root process touched during a scripted session (trace variant,
/// everything under strace) matches a row of the declared table.
#[test]
fn root_touched_paths_are_declared();

/// The privilege map of this run equals `docs/privilege-map.md` (`HERMES_ACCEPT_PRIVILEGE_MAP=1`
/// accepts a deliberate change).
#[test]
fn privilege_map_is_accepted();

/// The product image carries nothing of the trace variant (checked against the trace image,
/// where it shows).
#[test]
fn production_carries_no_trace();

#[test]
fn registrar_refuses_default_and_reserved();

/// The boot's helper that reads the profiles as hermes, stopped by hermes during a restart:
/// the boot goes on at its deadline, with `gateway-default` registered.
#[test]
fn boot_helper_cannot_hold_the_boot();

#[test]
fn registrar_never_pinned_and_capped_per_uid();

#[test]
fn registrar_client_killed_leaves_nothing();

#[test]
fn registrar_helper_environment_is_fixed();
}
