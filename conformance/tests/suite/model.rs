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
