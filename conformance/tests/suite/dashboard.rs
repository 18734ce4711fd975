use conformance::run;
use conformance::scenarios::dashboard;
use rstest::rstest;

#[rstest]
#[case::unset(None)]
#[case::zero(Some("0"))]
#[case::false_(Some("false"))]
#[case::no(Some("no"))]
#[case::empty(Some(""))]
#[case::garbage(Some("garbage"))]
#[case::two(Some("2"))]
fn disabled_stays_down(#[case] value: Option<&'static str>) {
    run(|ctx| dashboard::disabled(ctx, value));
}

#[rstest]
#[case::one("1")]
#[case::true_("true")]
#[case::upper_yes("YES")]
fn enabled_serves_and_survives_kill(#[case] value: &'static str) {
    run(|ctx| dashboard::enabled(ctx, value));
}

#[test]
fn port_override_moves_it() {
    run(dashboard::port_override);
}

#[test]
fn public_bind_without_credentials_is_parked() {
    run(dashboard::public_bind_refused);
}

#[test]
fn public_bind_with_credentials_requires_them() {
    run(dashboard::public_bind_with_credentials);
}

#[test]
fn page_renders_in_headless_chromium() {
    run(dashboard::page_renders_in_chromium);
}

#[test]
fn idle_connections_do_not_starve_an_authenticated_request() {
    run(dashboard::idle_connections_do_not_starve);
}
