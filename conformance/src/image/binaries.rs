//! The programs the build context carries under `bin/`: the stage layer (`/init`, `stage1`,
//! `svscan-handover.so`) and the `hermes` crate's binaries of a variant, each compiled in a
//! target dir of its own (a nested cargo never contends with the `cargo test` that runs us)
//! and within a deadline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use super::Variant;
use super::engine::{ASSEMBLE_DEADLINE, CARGO_DEADLINE, run_child};
use crate::config;
use crate::progress::progress;

/// The `hermes` crate's binaries the Dockerfile expects under `bin/` in the context (next to
/// `init`, `stage1` and `svscan-handover.so`, see [`build_stage_layer`]).
pub const BINARIES: &[&str] = &["hermes", "hermes-boot", "hermes-logger", "hermes-registrar"];

/// One cargo invocation (`args`) with `CARGO_TARGET_DIR=target`, within [`CARGO_DEADLINE`];
/// its diagnostics go to stderr. Returns how long it took.
pub async fn cargo(target: &Path, args: &[&str]) -> Result<Duration> {
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = tokio::process::Command::new(&cargo_bin);
    cmd.args(args)
        .current_dir(config::repo_root())
        .env("CARGO_TARGET_DIR", target)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    run_child(cmd, CARGO_DEADLINE, &format!("cargo {}", args.join(" "))).await
}

/// Compile the binaries for the image and return their paths: the stage layer's (see
/// [`build_stage_layer`]), then the `hermes` crate's binaries of `variant`.
pub async fn build_binaries(variant: &Variant) -> Result<Vec<PathBuf>> {
    let mut bins = build_stage_layer().await?;
    bins.extend(build_hermes_binaries(variant).await?);
    Ok(bins)
}

/// The stage layer's programs, the same for every variant: `/init` (assembled by the recipe
/// of crate `hermes-init`, see [`assemble_init`]), `stage1` (crate `hermes-init`) and
/// `svscan-handover.so` (crate `svscan-handover`).
async fn build_stage_layer() -> Result<Vec<PathBuf>> {
    let target = config::work_dir().join("cargo-target").join("stage-layer");
    let build = ["build", "--quiet", "--profile", "image"];
    let crates = ["-p", "hermes-init", "-p", "svscan-handover"];
    cargo(&target, &[&build[..], &crates[..]].concat())
        .await
        .context("cargo build of the stage layer (hermes-init, svscan-handover)")?;
    let built = target.join("image");
    let lib = built.join("libsvscan_handover.so");
    // The Dockerfile takes it under the name it has in the image.
    let named = built.join("svscan-handover.so");
    std::fs::copy(&lib, &named)
        .with_context(|| format!("copying {} to {}", lib.display(), named.display()))?;
    let init = built.join("init");
    let arch = hermes_init::Arch::host().ok_or_else(|| {
        anyhow!(
            "/init has no source for this machine's architecture ({})",
            std::env::consts::ARCH
        )
    })?;
    assemble_init(arch, &init).await?;
    Ok(vec![init, built.join("stage1"), named])
}

/// `/init` for `arch` into `out`, by `hermes-init`'s recipe, with `arch`'s C compiler (`$CC`,
/// else `cc`, for the host).
pub async fn assemble_init(arch: hermes_init::Arch, out: &Path) -> Result<()> {
    let cmd = hermes_init::assemble_command(arch, out, None);
    let what = format!(
        "{} assembling {}",
        arch.cc(),
        hermes_init::source().display()
    );
    run_child(cmd.into(), ASSEMBLE_DEADLINE, &what).await?;
    Ok(())
}

/// The `hermes` crate's binaries ([`BINARIES`]) for `variant`.
async fn build_hermes_binaries(variant: &Variant) -> Result<Vec<PathBuf>> {
    // Production binaries get a target dir of their own, so the regression feature can never
    // leak into them. Every regression variant has the same binaries: one build with the
    // feature `regression` (every bug's code path compiled in, the image's id file picks one),
    // so after the first variant cargo finds nothing to do.
    let production = variant.production_binaries();
    let target = config::work_dir().join("cargo-target").join(if production {
        "production"
    } else {
        "regression"
    });
    // Production: small optimised binaries. Regression: the fast `regression` profile (see the
    // workspace Cargo.toml): the binaries are built for the suite, not shipped.
    let profile = if production { "image" } else { "regression" };
    let mut args = vec![
        "build",
        "--quiet",
        "-p",
        "hermes",
        "--profile",
        profile,
        "--bins",
    ];
    if !production {
        args.extend(["--features", "regression"]);
    }
    progress(format!(
        "compiling the hermes binaries ({}, profile {profile})",
        if production {
            "production"
        } else {
            "regression"
        }
    ));
    let t = Instant::now();
    cargo(&target, &args)
        .await
        .context("cargo build of the image binaries")?;
    progress(format!("binaries compiled in {:.1?}", t.elapsed()));
    BINARIES
        .iter()
        .map(|b| {
            let built = target.join(profile).join(b);
            if !built.is_file() {
                bail!("cargo reported success but {} is missing", built.display());
            }
            Ok(built)
        })
        .collect()
}
