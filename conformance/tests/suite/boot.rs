use rstest::rstest;

conformance::scenario_tests! { boot;

#[rstest]
fn boot_contract(#[values(false, true)] tmpfs_run: bool);

#[rstest]
fn ready_marker_is_per_boot(#[values(false, true)] tmpfs_run: bool);

#[test]
fn failed_cont_init_step_in_status();
}
