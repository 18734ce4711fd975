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

/// The catcher-only scenarios: contract checks in their own right, run on the production image
/// under the names the catalogue gives them.
#[test]
fn regression_create_publishes_slot() {
    run(
        regressions::Catcher::CreatePublishesSlot.scenario(),
        regressions::create_publishes_slot,
    );
}

#[test]
fn regression_slot_controllable() {
    run(
        regressions::Catcher::SlotControllable.scenario(),
        regressions::slot_controllable,
    );
}

/// Every catcher names a scenario this suite runs under that name: the names are literal in
/// the suite's sources, or (for the restart and dashboard matrices) made by their `format!`.
#[test]
fn catchers_are_suite_scenarios() {
    let sources = [
        include_str!("boot.rs"),
        include_str!("cli.rs"),
        include_str!("container_lifecycle.rs"),
        include_str!("dashboard.rs"),
        include_str!("detection.rs"),
        include_str!("gateway.rs"),
        include_str!("image.rs"),
        include_str!("lifecycle.rs"),
        include_str!("parity.rs"),
        include_str!("regressions.rs"),
        include_str!("restart.rs"),
        include_str!("security.rs"),
        include_str!("zombies.rs"),
    ]
    .concat();
    for r in regressions::CATALOG {
        let name = r.catcher.scenario();
        let literal = sources.contains(&format!("\"{name}\""));
        let from_matrix = name
            .strip_prefix("restart/intent/")
            .and_then(|rest| rest.split_once("/tmpfs_run="))
            .is_some_and(|(label, _)| {
                sources.contains(&format!("#[case::{label}(\"{label}\""))
                    && sources.contains("format!(\"restart/intent/{label}/tmpfs_run={tmpfs_run}\")")
            });
        // `prefix/key=true|false` from `format!("prefix/key={key}")` over `#[values(false, true)]`.
        let from_values = name.rsplit_once('/').is_some_and(|(prefix, last)| {
            last.split_once('=').is_some_and(|(key, value)| {
                matches!(value, "true" | "false")
                    && sources.contains(&format!("\"{prefix}/{key}={{{key}}}\""))
                    && sources.contains("#[values(false, true)]")
            })
        });
        let from_dashboard = name == "dashboard/disabled/None"
            && sources.contains("(None)]")
            && sources.contains("format!(\"dashboard/disabled/{value:?}\")");
        let from_catcher = sources.contains(&format!("{:?}.scenario()", r.catcher));
        assert!(
            literal || from_matrix || from_values || from_dashboard || from_catcher,
            "{}: its catcher names scenario {name}, which the suite does not run under that name",
            r.id
        );
    }
}
