use conformance::run;
use conformance::scenarios::restart;
use rstest::rstest;

#[rstest]
fn intent_matrix_survives_restart(#[values(false, true)] tmpfs_run: bool) {
    run(|ctx| restart::intent_matrix_survives_restart(ctx, tmpfs_run));
}

#[test]
fn running_gateway_survives_docker_kill() {
    run(restart::running_survives_kill);
}

#[test]
fn recreate_on_same_volume_restores_everything() {
    run(restart::recreate_on_same_volume);
}

#[test]
fn stale_pid_files_removed() {
    run(restart::stale_pid_files_removed);
}

#[test]
fn bad_profile_dirs_are_skipped() {
    run(restart::bad_profile_dirs_skipped);
}

#[test]
fn root_leftovers_are_repaired() {
    run(restart::root_leftovers_repaired);
}

#[rstest]
fn symlink_to_shadow_is_refused(#[values(false, true)] tmpfs_run: bool) {
    run(|ctx| restart::symlink_refused(ctx, tmpfs_run));
}

#[test]
fn default_registered_first() {
    run(restart::default_registered_first);
}

#[test]
fn newline_profile_dir_forges_nothing() {
    run(restart::newline_profile_dir_forges_nothing);
}

#[test]
fn hard_links_are_not_chowned() {
    run(restart::hard_links_are_not_chowned);
}
