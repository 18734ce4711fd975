//! The lifecycle against its reference model (`conformance::scenarios::model`).

use conformance::run_variant;
use conformance::scenarios::model;

/// Hand-written: it runs on the image `HERMES_MODEL_REGRESSION` names (production unless set),
/// which `scenario_tests!` (production only) does not do. Same name as its body.
#[test]
fn lifecycle_matches_the_model() {
    run_variant(&model::variant(), model::lifecycle_matches_the_model);
}

conformance::scenario_tests! { model;

#[test]
fn catches_a_reboot_that_forgets_profiles();

#[test]
fn start_racing_stop_keeps_intent_and_slot_together();
}
