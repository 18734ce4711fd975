//! Gateway ports that never collide (`conformance::scenarios::ports`).

use conformance::run;
use conformance::scenarios::ports;

#[test]
fn hundred_profiles_each_serve_on_their_own_port() {
    run(ports::hundred_profiles_each_serve_on_their_own_port);
}
