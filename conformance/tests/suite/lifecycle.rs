conformance::scenario_tests! { lifecycle;

#[test]
fn create_publishes_a_down_slot();

#[test]
fn start_stop_restart();

#[test]
fn stop_right_after_start_records_stopped();

#[test]
fn delete_leaves_nothing_after_20_cycles();

#[test]
fn ten_concurrent_creates();

#[test]
fn atomic_create_under_kill();

#[test]
fn static_services_controllable_by_hermes();

#[test]
fn root_at_the_door_drops_to_hermes();

#[test]
fn start_of_missing_profile_explains();

#[test]
fn bad_names_are_rejected_with_status_2();
}
