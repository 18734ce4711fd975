//! What the CLI prints and how it treats files it cannot use (`conformance::scenarios::cli`).

conformance::scenario_tests! { cli;

#[test]
fn profile_list();

#[test]
fn gateway_status_text();

#[test]
fn fifo_state_files_are_refused();
}
