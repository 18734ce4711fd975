//! The lifecycle against its reference model (`conformance::scenarios::model_lifecycle`).

use conformance::run_variant;
use conformance::scenarios::model_lifecycle;

#[test]
fn lifecycle_matches_the_model() {
    run_variant(
        &model_lifecycle::variant(),
        model_lifecycle::lifecycle_matches_the_model,
    );
}

#[test]
fn catches_a_reboot_that_forgets_profiles() {
    conformance::run(model_lifecycle::catches_a_reboot_that_forgets_profiles);
}

#[test]
fn start_racing_stop_keeps_intent_and_slot_together() {
    conformance::run(model_lifecycle::start_racing_stop_keeps_intent_and_slot_together);
}
