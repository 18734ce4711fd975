use conformance::run;
use conformance::scenarios::restart::{self, Expect, Prior};
use rstest::rstest;

const fn up(prior: &'static str) -> Expect {
    Expect::started(prior)
}
const fn down(prior: &'static str) -> Expect {
    Expect::registered(prior)
}
const fn unusable(why: &'static str) -> Expect {
    Expect::unusable(why)
}

#[rstest]
#[case::started(Prior::Started, up("running"))]
// No desired_state: the gateway's own SIGTERM handling must keep `running` across the restart.
#[case::started_via_s6_only(Prior::StartedViaS6Only, up("running"))]
#[case::stopped(Prior::Stopped, down("stopped"))]
#[case::startup_failed(
    Prior::File(r#"{"gateway_state":"startup_failed","pid":1}"#),
    down("startup_failed")
)]
#[case::starting(Prior::File(r#"{"gateway_state":"starting"}"#), down("starting"))]
// Transient running sub-states count as running (SPEC §5), and are logged as such.
#[case::draining(Prior::File(r#"{"gateway_state":"draining"}"#), up("running"))]
#[case::degraded(Prior::File(r#"{"gateway_state":"degraded"}"#), up("running"))]
#[case::no_file(Prior::NoFile, down("None"))]
#[case::empty_file(Prior::File(""), unusable("state file is empty"))]
#[case::corrupt_json(
    Prior::File(r#"{"gateway_state": "runn"#),
    unusable("state file is corrupt")
)]
#[case::json_array(
    Prior::File(r#"["running"]"#),
    unusable("state file is not a JSON object")
)]
#[case::unknown_state(
    Prior::File(r#"{"gateway_state":"banana"}"#),
    unusable(r#"unknown state "banana""#)
)]
// A BOM makes the file unreadable as intent (issue 4: treated as no prior intent).
#[case::bom(
    Prior::File("\u{feff}{\"gateway_state\":\"running\"}"),
    unusable("byte-order mark")
)]
#[case::desired_running_over_stopped(
    Prior::File(r#"{"gateway_state":"stopped","desired_state":"running"}"#),
    up("running")
)]
#[case::desired_stopped_over_running(
    Prior::File(r#"{"gateway_state":"running","desired_state":"stopped"}"#),
    down("stopped")
)]
fn intent_survives_restart(
    #[case] prior: Prior,
    #[case] want: Expect,
    #[values(false, true)] tmpfs_run: bool,
) {
    run(|ctx| restart::intent_survives_restart(ctx, tmpfs_run, prior, want));
}

#[test]
fn running_gateway_survives_docker_kill() {
    run(restart::running_survives_kill);
}

#[test]
fn recreate_on_same_volume_restores_everything() {
    run(restart::recreate_on_same_volume);
}

#[test]
fn stale_pid_files_removed() {
    run(restart::stale_pid_files_removed);
}

#[test]
fn bad_profile_dirs_are_skipped() {
    run(restart::bad_profile_dirs_skipped);
}

#[test]
fn root_leftovers_are_repaired() {
    run(restart::root_leftovers_repaired);
}

#[rstest]
fn symlink_to_shadow_is_refused(#[values(false, true)] tmpfs_run: bool) {
    run(|ctx| restart::symlink_refused(ctx, tmpfs_run));
}

#[test]
fn default_registered_first() {
    run(restart::default_registered_first);
}

#[test]
fn newline_profile_dir_forges_nothing() {
    run(restart::newline_profile_dir_forges_nothing);
}

#[test]
fn hard_links_are_not_chowned() {
    run(restart::hard_links_are_not_chowned);
}
