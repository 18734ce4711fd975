//! Building the image under test, offline and content-addressed: the one pipeline the suite,
//! the bench and `make image` (`conformance-image`) use.
//!
//! Three layers, each rebuilt only when its inputs change:
//! 1. the binaries ([`binaries`]): the stage layer (`/init` by `hermes-init`'s recipe, stage 1,
//!    the handover preload) and the `hermes` binaries (`cargo build --profile image`; for every
//!    regression variant the same build, the fast `regression` profile with the feature
//!    `regression`), in target dirs of their own;
//! 2. the base image `hermes-s6-base:<hash of docker/base/*>` ([`base`]): a Debian root
//!    filesystem made by `docker/base/build-rootfs.sh` and imported;
//! 3. the product image `hermes-s6:<hash of the build context>` ([`context`]) from
//!    `docker/Dockerfile`.
//!
//! Every engine call and child process has a deadline, and a failed build says what the engine
//! said ([`engine`]). Concurrent processes are serialised by a file lock; within a process the
//! result is computed once. Progress goes straight to stderr (not through libtest's capture) so
//! a person watching a cold run sees what is happening.

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use bollard::Docker;
use bollard::query_parameters::TagImageOptionsBuilder;
use sha2::{Digest, Sha256};

use crate::config;

pub mod base;
pub mod binaries;
pub mod context;
pub mod engine;

/// The one progress line, here too because the scenarios name it by this path.
pub use crate::progress::progress;
pub use base::{base_tag, trace_base_tag};
pub use binaries::{BINARIES, build_binaries};
pub use context::build_context;

pub const PRODUCT_REPO: &str = "hermes-s6";
pub const BASE_REPO: &str = "hermes-s6-base";
/// The trace variant (contract §10.1): the product's binaries on a base with strace, stage 1
/// run under it. Never shipped; `security::production_carries_no_trace` checks that.
pub const TRACE_REPO: &str = "hermes-s6-trace";
pub const TRACE_BASE_REPO: &str = "hermes-s6-trace-base";
/// Where a regression image names its id (the `hermes` crate's `regression::ID_FILE`): one
/// line, root's 0644, in the image's root-only `/etc/hermes-s6`. Absent in production.
pub const REGRESSION_ID_FILE: &str = "/etc/hermes-s6/regression";
/// Appended to `docker/Dockerfile` for regression images: the id file, last, so that every
/// variant without an overlay shares all the layers above it (the binaries' among them).
pub const REGRESSION_DOCKERFILE_TAIL: &str = "docker/regressions/Dockerfile.tail";
/// Which image to build: the production image, or a regression variant that brings back one
/// historical bug (`docs/contract.md` §9). Every regression variant carries the same `hermes`
/// binaries, compiled once with the feature `regression` (every bug's code path in), and its id
/// in [`REGRESSION_ID_FILE`], which picks the path that is taken; a shell-level bug adds a
/// rootfs overlay from `docker/regressions/<id>/rootfs`. Nothing of a variant reaches the
/// production image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The regression catalogue id; `None` for production.
    pub id: Option<String>,
    /// Overlay copied over `docker/rootfs` (relative to the repository root).
    pub overlay: Option<String>,
    /// The trace variant: production binaries, a base with `docker/trace/packages.txt` added
    /// and `docker/trace/Dockerfile.tail` appended (stage 1 under strace).
    pub trace: bool,
}

impl Variant {
    pub fn production() -> Self {
        Self::default()
    }

    /// A regression variant: the regression binaries, `id` in [`REGRESSION_ID_FILE`], and the
    /// overlay `docker/regressions/<id>/rootfs` if it exists.
    pub fn regression(id: &str) -> Self {
        let overlay = format!("docker/regressions/{id}/rootfs");
        Variant {
            id: Some(id.to_string()),
            overlay: config::repo_root()
                .join(&overlay)
                .is_dir()
                .then_some(overlay),
            trace: false,
        }
    }

    /// The trace variant (`hermes-s6-trace:*`): the production binaries, traced.
    pub fn trace() -> Self {
        Variant {
            trace: true,
            ..Self::default()
        }
    }

    pub fn is_production(&self) -> bool {
        self.id.is_none() && !self.trace
    }

    /// Built from the production binaries (no `regression` feature): production and trace.
    pub(crate) fn production_binaries(&self) -> bool {
        self.id.is_none()
    }

    pub fn label(&self) -> String {
        match (&self.id, self.trace) {
            (Some(id), _) => id.clone(),
            (None, true) => "trace".into(),
            (None, false) => "production".into(),
        }
    }
}

/// Serialise image builds across processes (e.g. two `cargo test` runs, or `make image` during
/// a test run). The lock is released when the returned file is dropped.
fn lock_builds() -> Result<nix::fcntl::Flock<File>> {
    let dir = config::work_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("image-build.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((file, _)) => {
            progress(format!(
                "another process is building images; waiting for {}",
                path.display()
            ));
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", path.display()))
        }
    }
}

/// Build (or find) the image for `variant` and return its `repo:tag`.
pub async fn ensure_image(docker: &Docker, variant: &Variant) -> Result<String> {
    let variant = variant.clone();
    // The lock is a blocking call: take it off the async workers.
    let lock = tokio::task::spawn_blocking(lock_builds).await??;
    let started = Instant::now();
    let bins = build_binaries(&variant).await?;
    let base = base::ensure_base_image(docker, variant.trace).await?;
    let tag = ensure_product_image(docker, &base, &bins, &variant).await?;
    drop(lock);
    progress(format!(
        "image ready: {tag} ({}, {:.1?})",
        variant.label(),
        started.elapsed()
    ));
    Ok(tag)
}

/// Tag an image as `hermes-s6:latest` so a person can `docker run --rm -it hermes-s6:latest`.
pub async fn tag_latest(docker: &Docker, image: &str) -> Result<()> {
    let opts = TagImageOptionsBuilder::default()
        .repo(PRODUCT_REPO)
        .tag("latest")
        .build();
    docker
        .tag_image(image, Some(opts))
        .await
        .with_context(|| format!("tagging {image} as {PRODUCT_REPO}:latest"))
}

/// The product image of `variant` on `base`, tagged by a hash of its build context: present,
/// or built now.
async fn ensure_product_image(
    docker: &Docker,
    base: &str,
    bins: &[PathBuf],
    variant: &Variant,
) -> Result<String> {
    let overlay = variant
        .overlay
        .as_ref()
        .map(|o| config::repo_root().join(o));
    let context = build_context(
        bins,
        overlay.as_deref(),
        variant.trace,
        variant.id.as_deref(),
    )?;
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    h.update([0]);
    h.update(&context);
    let tag = if variant.is_production() {
        format!("{PRODUCT_REPO}:{}", base::short_hash(h))
    } else if variant.trace {
        format!("{TRACE_REPO}:{}", base::short_hash(h))
    } else {
        format!(
            "{PRODUCT_REPO}-regression:{}-{}",
            variant.label(),
            base::short_hash(h)
        )
    };
    if engine::image_exists(docker, &tag).await {
        progress(format!(
            "image {tag} present: inputs unchanged, not rebuilt"
        ));
        return Ok(tag);
    }
    progress(format!("building image {tag} from {base}"));
    let build = engine::Build {
        tag: &tag,
        base,
        label: variant.label(),
        no_cache: false,
        echo: true,
    };
    let took = engine::build(docker, context, &build).await?;
    progress(format!("image {tag} built in {took:.1?}"));
    Ok(tag)
}
