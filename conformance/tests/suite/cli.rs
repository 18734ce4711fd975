//! What the CLI prints and how it treats files it cannot use (`conformance::scenarios::cli`).

use conformance::run;
use conformance::scenarios::cli;

#[test]
fn profile_list() {
    run(cli::profile_list);
}

#[test]
fn gateway_status_text() {
    run(cli::gateway_status_text);
}

#[test]
fn fifo_state_files_are_refused() {
    run(cli::fifo_state_files_are_refused);
}
