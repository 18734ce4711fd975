use rstest::rstest;

conformance::scenario_tests! { restart;

#[rstest]
fn intent_matrix_survives_restart(#[values(false, true)] tmpfs_run: bool);

#[test]
fn running_gateway_survives_docker_kill();

#[test]
fn recreate_on_same_volume_restores_everything();

#[test]
fn stale_pid_files_removed();

#[test]
fn bad_profile_dirs_are_skipped();

#[test]
fn root_leftovers_are_repaired();

#[rstest]
fn symlink_to_shadow_is_refused(#[values(false, true)] tmpfs_run: bool);

#[test]
fn default_registered_first();

#[test]
fn newline_profile_dir_forges_nothing();

#[test]
fn hard_links_are_not_chowned();
}
