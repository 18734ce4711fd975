//! The gateway process as configured by a person (`conformance::scenarios::gateway`).

use conformance::scenarios::gateway::OptOut;
use rstest::rstest;

conformance::scenario_tests! { gateway;

#[test]
fn api_server_port_and_a_taken_port();

#[rstest]
#[case::flag(OptOut::Flag)]
#[case::env_1(OptOut::Env("1"))]
#[case::env_yes(OptOut::Env("YES"))]
fn opt_out_runs_in_the_foreground(#[case] how: OptOut);

#[rstest]
#[case::zero("0")]
#[case::garbage("garbage")]
fn non_truthy_opt_out_is_supervised(#[case] value: &'static str);
}
