//! The sensitivity test: the suite catches every historical bug of the catalogue
//! (docs/contract.md §9), each for its stated reason, and the production image carries none
//! of them.

use conformance::regressions;
use rstest::rstest;

conformance::scenario_tests! { regressions;

#[rstest]
#[case::proc1_exe_probe("proc1-exe-probe")]
#[case::registrar_denies_hermes("registrar-denies-hermes")]
#[case::no_supervise_skeleton("no-supervise-skeleton")]
#[case::no_static_supervise_perms("no-static-supervise-perms")]
#[case::no_log_skeleton("no-log-skeleton")]
#[case::unregister_rmtree_first("unregister-rmtree-first")]
#[case::dashboard_down_marker("dashboard-down-marker")]
#[case::profiles_not_chowned("profiles-not-chowned")]
#[case::reconcile_config_yaml("reconcile-config-yaml")]
#[case::sigterm_persists_stopped("sigterm-persists-stopped")]
#[case::scandir_writable_by_hermes("scandir-writable-by-hermes")]
#[case::supervise_owned_by_hermes("supervise-owned-by-hermes")]
#[case::event_dir_writable_by_hermes("event-dir-writable-by-hermes")]
#[case::skeleton_ignores_remap("skeleton-ignores-remap")]
#[case::home_midpath_symlink_followed("home-midpath-symlink-followed")]
#[case::repair_hands_over_private_files("repair-hands-over-private-files")]
fn regression_is_caught_for_its_stated_reason(#[case] id: &'static str);

#[test]
fn production_carries_no_regression_code();

/// The catcher-only scenarios: contract checks in their own right, run on the production image
/// under the names the catalogue gives them.
#[test]
fn regression_create_publishes_slot();

#[test]
fn regression_slot_controllable();
}

#[test]
fn every_catalogue_id_is_tested() {
    let here = include_str!("regressions.rs");
    for r in regressions::CATALOG {
        assert!(
            here.contains(&format!(
                "#[case::{}(\"{}\")]",
                r.id.replace('-', "_"),
                r.id
            )),
            "{} has no case",
            r.id
        );
    }
    assert_eq!(regressions::CATALOG.len(), 16);
}

/// Every catcher names a test of this binary, exactly as `--list` prints it (scenario names are
/// the tests' own names, so this is what the report and a `cargo test` filter show).
#[test]
fn catchers_are_suite_scenarios() {
    let exe = std::env::current_exe().expect("the test binary's own path");
    let out = std::process::Command::new(&exe)
        .args(["--list", "--format", "terse"])
        .output()
        .unwrap_or_else(|e| panic!("{} --list: {e}", exe.display()));
    assert!(
        out.status.success(),
        "{} --list failed: {out:?}",
        exe.display()
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    let tests: std::collections::BTreeSet<&str> = listed
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .collect();
    assert!(
        tests.contains("regressions::catchers_are_suite_scenarios"),
        "the --list output is not what libtest prints: {listed}"
    );
    for r in regressions::CATALOG {
        let name = r.catcher.scenario();
        assert!(
            tests.contains(name),
            "{}: its catcher names scenario {name}, which is not a test of this suite",
            r.id
        );
    }
}
