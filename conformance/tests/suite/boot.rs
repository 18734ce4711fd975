use conformance::run;
use conformance::scenarios::boot;
use rstest::rstest;

#[rstest]
fn boot_contract(#[values(false, true)] tmpfs_run: bool) {
    run(|ctx| boot::boot_contract_with_run(ctx, tmpfs_run));
}

#[rstest]
fn ready_marker_is_per_boot(#[values(false, true)] tmpfs_run: bool) {
    run(|ctx| boot::ready_marker_is_per_boot(ctx, tmpfs_run));
}

#[test]
fn failed_cont_init_step_in_status() {
    run(boot::failed_cont_init_step_in_status);
}
