conformance::scenario_tests! { detection;

#[test]
fn status_reports_s6();

#[test]
fn no_s6_when_pid1_is_not_svscan();

#[test]
fn no_s6_without_basedir();
}
