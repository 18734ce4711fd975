//! The build sections: image sizes and product image builds (`product`), the base image from
//! scratch (`base`), the hermes binaries' compile times (`compile`). Builds and imports go
//! through the image pipeline ([`crate::image`]), as the suite's and `make image`'s do.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use bollard::Docker;
use bollard::query_parameters::ListImagesOptionsBuilder;

use super::{Bench, section_stopped};
use crate::bench::figures::*;
use crate::bench::{Unit, progress};
use crate::config;
use crate::image::context::touch_in_context;
use crate::image::{Variant, base, base_tag, binaries, build_binaries, build_context, engine};

impl Bench {
    /// Image sizes, and product image builds cold (no cache) and warm (one rootfs file
    /// changed), from the very context the harness builds.
    pub async fn product(&mut self) {
        progress("image: sizes");
        let r = image_size(&self.docker, &self.image).await.map(|b| {
            IMAGE_PRODUCT_SIZE
                .measured(vec![b])
                .note(self.image.clone())
        });
        self.results.record(&IMAGE_PRODUCT_SIZE, r);
        let base = match base_tag() {
            Ok(b) => b,
            Err(e) => {
                self.results.push(IMAGE_BASE_SIZE.failed(&e));
                return;
            }
        };
        let r = image_size(&self.docker, &base)
            .await
            .map(|b| IMAGE_BASE_SIZE.measured(vec![b]).note(base.clone()));
        self.results.record(&IMAGE_BASE_SIZE, r);

        let context = build_binaries(&Variant::production())
            .await
            .context("compiling the production binaries")
            .and_then(|bins| {
                build_context(&bins, None, false, None)
                    .context("assembling the production build context")
            });
        let context = match context {
            Ok(c) => c,
            Err(e) => {
                self.results.push(IMAGE_PRODUCT_COLD.failed(&e));
                return;
            }
        };
        progress(format!(
            "image: product build cold (no cache) x{}, context {} KiB",
            self.opts.build_reps,
            context.len() / 1024
        ));
        let (cold, err) = self
            .timed_builds("cold", &base, true, |_| Ok(context.clone()))
            .await;
        self.results.push(
            IMAGE_PRODUCT_COLD.durations_until(&cold, err.as_ref()).note(
                "classic builder, same context and BASE_IMAGE as the harness; the base image is present",
            ),
        );

        progress(format!(
            "image: product build warm (one rootfs file changed) x{}",
            self.opts.build_reps
        ));
        let (warm, err) = self
            .timed_builds("warm", &base, false, |i| {
                let nonce = format!("{}-{i}-{:?}", std::process::id(), Instant::now());
                touch_in_context(&context, "rootfs/etc/hermes-s6/stage2", &nonce)
            })
            .await;
        self.results.push(
            IMAGE_PRODUCT_WARM.durations_until(&warm, err.as_ref()).note(
                "a comment appended to rootfs/etc/hermes-s6/stage2 in an in-memory copy of the context: \
                 the package/user layer is cached, COPY rootfs, COPY bin and the permission RUN are redone",
            ),
        );
    }

    /// `build_reps` builds of the context `make_context(i)` under throwaway tags (removed
    /// again), timed; stops at the first failure and returns it with the samples so far.
    async fn timed_builds(
        &self,
        kind: &str,
        base: &str,
        no_cache: bool,
        make_context: impl Fn(usize) -> Result<Vec<u8>>,
    ) -> (Vec<Duration>, Option<anyhow::Error>) {
        let mut samples = Vec::new();
        for i in 0..self.opts.build_reps {
            let tag = format!(
                "{}:bench-{kind}-{}-{i}",
                crate::image::PRODUCT_REPO,
                std::process::id()
            );
            let built = match make_context(i) {
                Ok(context) => {
                    let build = engine::Build {
                        tag: &tag,
                        base,
                        label: "bench".into(),
                        no_cache,
                        echo: false,
                    };
                    engine::build(&self.docker, context, &build).await
                }
                Err(e) => Err(e),
            };
            match built {
                Ok(d) => {
                    samples.push(d);
                    engine::remove(&self.docker, &tag).await;
                }
                Err(e) => return (samples, Some(e)),
            }
        }
        (samples, None)
    }

    /// The base image from scratch: mmdebstrap into a temporary tar, then import under a
    /// throwaway tag (removed again).
    pub async fn base(&mut self) {
        let recipe = match base::base_recipe_dir(false) {
            Ok(r) => r,
            Err(e) => {
                self.results.push(IMAGE_BASE_COLD.failed(&e));
                return;
            }
        };
        let mut rootfs = Vec::new();
        let mut import = Vec::new();
        let mut err = None;
        let mut tar_size = None;
        for i in 0..self.opts.base_runs {
            progress(format!(
                "image: base image cold, run {}/{} (mmdebstrap; needs the apt mirror)",
                i + 1,
                self.opts.base_runs
            ));
            let tarball =
                config::work_dir().join(format!("bench-rootfs-{}-{i}.tar", std::process::id()));
            let r = async {
                let built = base::build_rootfs(&recipe, &tarball, Stdio::null()).await?;
                tar_size = std::fs::metadata(&tarball).ok().map(|m| m.len());
                let tag = format!(
                    "{}:bench-{}-{i}",
                    crate::image::BASE_REPO,
                    std::process::id()
                );
                let t = Instant::now();
                let imported = engine::import(&self.docker, &tarball, &tag).await;
                let took = t.elapsed();
                engine::remove(&self.docker, &tag).await;
                imported?;
                anyhow::Ok((built, took))
            }
            .await;
            let _ = std::fs::remove_file(&tarball);
            match r {
                Ok((b, t)) => {
                    rootfs.push(b);
                    import.push(t);
                }
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let total: Vec<Duration> = rootfs.iter().zip(&import).map(|(a, b)| *a + *b).collect();
        let tar_note = tar_size
            .map(|s| format!("; rootfs tar {}", Unit::Bytes.format(s as f64)))
            .unwrap_or_default();
        self.results.push(IMAGE_BASE_ROOTFS.durations(&rootfs).note(format!(
            "docker/base/build-rootfs.sh; downloads every package from the host's apt mirror each time{tar_note}"
        )));
        self.results.push(IMAGE_BASE_IMPORT.durations(&import));
        self.results
            .push(IMAGE_BASE_COLD.durations_until(&total, err.as_ref()));
    }

    /// The hermes binaries: one build in an empty target dir (every dependency and hermes),
    /// then rebuilds of the hermes crate alone.
    pub async fn compile(&mut self) {
        let target = config::work_dir().join("bench-target");
        let build = [
            "build",
            "--quiet",
            "-p",
            "hermes",
            "--profile",
            "image",
            "--bins",
        ];
        let r = async {
            if target.exists() {
                std::fs::remove_dir_all(&target)
                    .with_context(|| format!("emptying {}", target.display()))?;
            }
            progress(format!(
                "compile: cargo build --profile image -p hermes --bins into an empty {} (all deps)",
                target.display()
            ));
            let cold = binaries::cargo(&target, &build).await?;
            let mut crate_only = Vec::new();
            for i in 0..self.opts.compile_reps {
                progress(format!(
                    "compile: hermes crate only, {}/{}",
                    i + 1,
                    self.opts.compile_reps
                ));
                binaries::cargo(
                    &target,
                    &["clean", "--quiet", "-p", "hermes", "--profile", "image"],
                )
                .await?;
                crate_only.push(binaries::cargo(&target, &build).await?);
            }
            let noop = binaries::cargo(&target, &build).await?;
            anyhow::Ok((cold, crate_only, noop))
        }
        .await;
        let _ = std::fs::remove_dir_all(&target);
        match r {
            Ok((cold, crate_only, noop)) => {
                self.results.push(
                    IMAGE_COMPILE_COLD.durations(&[cold])
                        .note("cargo build --profile image (thin LTO, opt-level s) in an empty CARGO_TARGET_DIR; crate sources already downloaded"),
                );
                self.results.push(
                    IMAGE_COMPILE_CRATE.durations(&crate_only)
                        .note("after `cargo clean -p hermes`: dependencies compiled, hermes lib + both bins rebuilt and linked"),
                );
                self.results.push(IMAGE_COMPILE_NOOP.durations(&[noop]));
            }
            Err(e) => self
                .results
                .push(section_stopped(&IMAGE_COMPILE_COLD, "compile", e)),
        }
    }
}

/// An image's size in bytes, from `docker image inspect`.
async fn image_size(docker: &Docker, image: &str) -> Result<f64> {
    let info = docker
        .inspect_image(image)
        .await
        .with_context(|| format!("inspecting {image}"))?;
    Ok(info.size.ok_or_else(|| anyhow!("{image}: no size"))? as f64)
}

/// Remove throwaway images (`hermes-s6:bench-*`, `hermes-s6-base:bench-*`) left by a bench
/// run that was killed; those of a live run are left alone.
pub async fn sweep_images(docker: &Docker) -> Result<usize> {
    let filters = HashMap::from([(
        "reference".to_string(),
        vec![
            format!("{}:bench-*", crate::image::PRODUCT_REPO),
            format!("{}:bench-*", crate::image::BASE_REPO),
        ],
    )]);
    let opts = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut removed = 0;
    for img in docker.list_images(Some(opts)).await? {
        for tag in img.repo_tags {
            let Some((_, t)) = tag.split_once(":bench-") else {
                continue;
            };
            // bench-<kind>-<pid>-<i> or bench-<pid>-<i>
            let pid = t.split('-').find_map(|p| p.parse::<i32>().ok());
            let alive = pid.is_some_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            if !alive {
                engine::remove(docker, &tag).await;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
