use conformance::run;
use conformance::scenarios::detection;

#[test]
fn status_reports_s6() {
    run(detection::status_reports_s6);
}

#[test]
fn no_s6_when_pid1_is_not_svscan() {
    run(detection::no_s6_when_pid1_is_not_svscan);
}

#[test]
fn no_s6_without_basedir() {
    run(detection::no_s6_without_basedir);
}
