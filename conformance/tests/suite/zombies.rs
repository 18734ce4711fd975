use conformance::run;
use conformance::scenarios::zombies;
use rstest::rstest;

#[rstest]
#[case::one_orphan(1)]
#[case::burst_of_100(100)]
fn orphans_are_reaped(#[case] count: usize) {
    run(|ctx| zombies::orphans_are_reaped(ctx, count));
}
