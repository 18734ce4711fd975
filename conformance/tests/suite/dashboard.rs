use rstest::rstest;

conformance::scenario_tests! { dashboard;

#[rstest]
#[case::unset(None)]
#[case::zero(Some("0"))]
#[case::false_(Some("false"))]
#[case::no(Some("no"))]
#[case::empty(Some(""))]
#[case::garbage(Some("garbage"))]
#[case::two(Some("2"))]
fn disabled_stays_down(#[case] value: Option<&'static str>);

#[rstest]
#[case::one("1")]
#[case::true_("true")]
#[case::upper_yes("YES")]
fn enabled_serves_and_survives_kill(#[case] value: &'static str);

#[test]
fn port_override_moves_it();

#[test]
fn public_bind_without_credentials_is_parked();

#[test]
fn public_bind_with_credentials_requires_them();

#[test]
fn page_renders_in_headless_chromium();

#[test]
fn idle_connections_do_not_starve_an_authenticated_request();
}
