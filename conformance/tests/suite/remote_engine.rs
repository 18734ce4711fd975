//! The suite against a remote engine (`DOCKER_HOST=tcp://…`), through a recording TCP proxy
//! (`conformance::remote`).

use conformance::{remote, run};

#[test]
fn scenario_group_through_tcp_proxy() {
    run(remote::group_through_tcp_proxy);
}
