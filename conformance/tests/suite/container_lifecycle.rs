use conformance::run;
use conformance::scenarios::container_lifecycle as lc;
use rstest::rstest;

#[rstest]
#[case::zero(0)]
#[case::seven(7)]
fn main_exit_code_is_container_exit_code(#[case] code: i64) {
    run(|ctx| lc::main_exit_code_is_container_exit_code(ctx, code));
}

#[test]
fn docker_stop_is_prompt() {
    run(lc::docker_stop_is_prompt);
}

#[test]
fn not_pid1_still_runs_the_command() {
    run(lc::not_pid1_still_runs_the_command);
}
