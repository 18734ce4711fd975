//! The sensitivity test (issue 6): the suite catches every historical bug of SPEC §9, each for
//! its stated reason, and the production image carries none of them.

use conformance::regressions;
use conformance::run;
use rstest::rstest;

#[rstest]
#[case("proc1-exe-probe")]
#[case("registrar-denies-hermes")]
#[case("no-supervise-skeleton")]
#[case("no-static-supervise-perms")]
#[case("no-log-skeleton")]
#[case("unregister-rmtree-first")]
#[case("dashboard-down-marker")]
#[case("profiles-not-chowned")]
#[case("reconcile-config-yaml")]
#[case("sigterm-persists-stopped")]
#[case("scandir-writable-by-hermes")]
#[case("supervise-owned-by-hermes")]
#[case("event-dir-writable-by-hermes")]
#[case("skeleton-ignores-remap")]
fn regression_is_caught_for_its_stated_reason(#[case] id: &'static str) {
    run(&format!("sensitivity/{id}"), |ctx| {
        regressions::sensitivity(ctx, id)
    });
}

#[test]
fn every_catalogue_id_is_tested() {
    let here = include_str!("regressions.rs");
    for r in regressions::CATALOG {
        assert!(
            here.contains(&format!("#[case(\"{}\")]", r.id)),
            "{} has no case",
            r.id
        );
    }
    assert_eq!(regressions::CATALOG.len(), 14);
}

#[test]
fn production_carries_no_regression_code() {
    run(
        "sensitivity/production_carries_no_regression_code",
        regressions::production_carries_no_regression_code,
    );
}
