use conformance::run;
use conformance::scenarios::lifecycle;

#[test]
fn create_publishes_a_down_slot() {
    run(lifecycle::create_publishes_a_down_slot);
}

#[test]
fn start_stop_restart() {
    run(lifecycle::start_stop_restart);
}

#[test]
fn stop_right_after_start_records_stopped() {
    run(lifecycle::stop_right_after_start_records_stopped);
}

#[test]
fn delete_leaves_nothing_after_20_cycles() {
    run(|ctx| lifecycle::delete_leaves_nothing(ctx, 20));
}

#[test]
fn ten_concurrent_creates() {
    run(lifecycle::concurrent_creates);
}

#[test]
fn atomic_create_under_kill() {
    run(lifecycle::atomic_create_under_kill);
}

#[test]
fn static_services_controllable_by_hermes() {
    run(lifecycle::static_services_controllable);
}

#[test]
fn root_at_the_door_drops_to_hermes() {
    run(lifecycle::root_at_the_door);
}

#[test]
fn start_of_missing_profile_explains() {
    run(lifecycle::start_missing_profile);
}

/// Every class of bad name SPEC §3.1 lists (NUL cannot cross `docker exec`'s argv; the unit
/// tests of the names module cover it).
#[test]
fn bad_names_are_rejected_with_status_2() {
    const BAD: &[&str] = &[
        "",
        "Upper",
        "-lead",
        ".dot",
        "a/b",
        "..",
        "has space",
        "tab\tname",
        "ünicode",
        "default",
        "hermes",
        "test",
        "tmp",
        "root",
        "sudo",
        "a123456789012345678901234567890123456789012345678901234567890123x",
    ];
    run(|ctx| lifecycle::bad_names_rejected(ctx, BAD));
}
