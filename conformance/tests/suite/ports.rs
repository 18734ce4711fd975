//! Gateway ports that never collide (`conformance::scenarios::ports`).

conformance::scenario_tests! { ports;

#[test]
fn hundred_profiles_each_serve_on_their_own_port();
}
