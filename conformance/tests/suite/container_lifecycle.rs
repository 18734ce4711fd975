use rstest::rstest;

conformance::scenario_tests! { container_lifecycle;

#[rstest]
#[case::zero(0)]
#[case::seven(7)]
fn main_exit_code_is_container_exit_code(#[case] code: i64);

#[test]
fn docker_stop_is_prompt();

#[test]
fn stop_reaches_processes_started_during_it();

#[test]
fn not_pid1_still_runs_the_command();
}
