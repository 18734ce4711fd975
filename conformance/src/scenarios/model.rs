//! The lifecycle against its reference model (`conformance::model`): generated
//! sequences of profile, gateway and Docker operations, each step checked against the model,
//! a failure shrunk and printed with its seed as a replay script.

use anyhow::{Result, bail};

use crate::Ctx;
use crate::image::Variant;
use crate::model::ops::Op;
use crate::model::run::{Budget, explore, run_sequence};

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

/// The model catches a bug on purpose: with the `reconcile-config-yaml` build (the boot keys on
/// `config.yaml`, so no profile is restored), `create p28` then `docker restart` fails the check
/// after the restart; the production image passes the same two steps.
pub async fn catches_a_reboot_that_forgets_profiles(ctx: Ctx) -> Result<()> {
    let seq = [Op::Create("p28".into()), Op::DockerRestart];
    if let Err(f) = run_sequence(&ctx, &seq).await? {
        bail!("the production image must pass `create p28; docker restart`: {f}");
    }
    let image =
        crate::runner::image_for(&ctx.docker, &Variant::regression("reconcile-config-yaml"))
            .await?;
    match run_sequence(&ctx.with_image(&image), &seq).await? {
        Err(f) if f.step == 1 && f.signature() == "slot set" => {
            eprintln!("model: the regression build fails as it must: {f}");
            Ok(())
        }
        Err(f) => bail!("the regression build failed, but not at the restart's slot set: {f}"),
        Ok(()) => bail!("the model passed the reconcile-config-yaml build: it checks nothing"),
    }
}

/// Found by the model (seed 5004): `gateway start` racing `gateway stop` of one profile could
/// end with the gateway up and wanted up while `desired_state` said `stopped` (record(running),
/// record(stopped), `-D`, `-U`), so the next boot would leave a running gateway down. Forty
/// races in one exec, each followed by a look at both: s6's wanted-up and the recorded intent
/// must agree every time; then the model's check after a final race and a `docker restart`.
pub async fn start_racing_stop_keeps_intent_and_slot_together(ctx: Ctx) -> Result<()> {
    const ROUNDS: usize = 40;
    let h = ctx.start_default().await?;
    h.exec(&["hermes", "profile", "create", "alpha"])
        .await?
        .succeeds();
    let script = format!(
        r#"s=/run/service/gateway-alpha; f=/opt/data/profiles/alpha/gateway_state.json
for i in $(seq {ROUNDS}); do
  hermes -p alpha gateway start >/dev/null 2>&1 & hermes -p alpha gateway stop >/dev/null 2>&1 & wait
  want=$(/command/s6-svstat -o wantedup $s)
  desired=$(sed -n 's/.*"desired_state": *"\([a-z_]*\)".*/\1/p' $f)
  case "$want:$desired" in
    true:running|false:stopped) ;;
    *) echo "round $i: s6 wantedup=$want, desired_state=$desired"; exit 1 ;;
  esac
done
echo "$((i)) rounds agree""#
    );
    h.exec(&["bash", "-c", &script])
        .deadline(std::time::Duration::from_secs(300))
        .await?
        .succeeds_or("after a start racing a stop, s6 and the recorded intent must agree");
    h.remove().await?;
    let seq = [
        Op::Create("alpha".into()),
        Op::StartStop("alpha".into()),
        Op::DockerRestart,
    ];
    match run_sequence(&ctx, &seq).await? {
        Ok(()) => Ok(()),
        Err(f) => bail!("a start racing a stop left intent and slot apart: {f}"),
    }
}
