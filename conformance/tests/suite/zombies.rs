use rstest::rstest;

conformance::scenario_tests! { zombies;

#[rstest]
#[case::one_orphan(1)]
#[case::burst_of_100(100)]
fn orphans_are_reaped(#[case] count: usize);
}
