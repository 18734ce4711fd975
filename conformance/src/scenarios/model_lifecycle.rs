//! The lifecycle against its reference model (issue 21, `conformance::model`): generated
//! sequences of profile, gateway and Docker operations, each step checked against the model,
//! a failure shrunk and printed with its seed as a replay script.

use anyhow::Result;

use crate::Ctx;
use crate::image::Variant;
use crate::model::run::{Budget, explore};

/// The suite's bounded run: 3 sequences of 25 operations unless `HERMES_MODEL_SEQUENCES`,
/// `HERMES_MODEL_OPS` or `HERMES_MODEL_DURATION` say otherwise; `HERMES_MODEL_SEED` fixes the
/// seed (printed either way).
pub async fn lifecycle_matches_the_model(ctx: Ctx) -> Result<()> {
    explore(&ctx, &Budget::from_env(3, 25)).await
}

/// The image the model runs against: production, or the build of the regression id in
/// `HERMES_MODEL_REGRESSION` (to see the model catch a bug on purpose).
pub fn variant() -> Variant {
    match std::env::var("HERMES_MODEL_REGRESSION") {
        Ok(id) if !id.trim().is_empty() => Variant::regression(id.trim()),
        _ => Variant::production(),
    }
}
