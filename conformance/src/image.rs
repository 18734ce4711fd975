//! Building the image under test, offline and content-addressed.
//!
//! Three layers, each rebuilt only when its inputs change:
//! 1. the `hermes` binaries (`cargo build --profile image`; the fast `regression` profile for
//!    regression variants), in target dirs of their own so a nested cargo never contends with
//!    the `cargo test` that runs us;
//! 2. the base image `hermes-s6-base:<hash of docker/base/*>`: a Debian root filesystem made by
//!    `docker/base/build-rootfs.sh` (mmdebstrap with the host's apt sources) and imported;
//! 3. the product image `hermes-s6:<hash of the build context>` from `docker/Dockerfile`.
//!
//! Concurrent test processes are serialised by a file lock; within a process the result is
//! computed once. Progress goes straight to stderr (not through libtest's capture) so a person
//! watching a cold run sees what is happening.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::config;

pub const PRODUCT_REPO: &str = "hermes-s6";
pub const BASE_REPO: &str = "hermes-s6-base";
/// The trace variant (contract §10.1): the product's binaries on a base with strace, stage 1
/// run under it. Never shipped; `security::production_carries_no_trace` checks that.
pub const TRACE_REPO: &str = "hermes-s6-trace";
pub const TRACE_BASE_REPO: &str = "hermes-s6-trace-base";
/// The `hermes` crate's binaries the Dockerfile expects under `bin/` in the context (next to
/// `init`, `stage1` and `svscan-handover.so`, see `build_stage_layer`).
pub const BINARIES: &[&str] = &["hermes", "hermes-boot", "hermes-logger", "hermes-registrar"];

/// A line of progress on the real stderr, bypassing libtest's output capture.
pub fn progress(msg: impl AsRef<str>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "[conformance] {}", msg.as_ref());
}

/// Which image to build: the production image, or a regression variant that brings back one
/// historical bug (SPEC §9) through a cargo feature of `hermes` and/or a rootfs overlay from
/// `docker/regressions/<id>/rootfs`. Nothing of a variant reaches the production image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    /// The regression catalogue id; `None` for production.
    pub id: Option<String>,
    pub features: Vec<String>,
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

    /// A regression variant: the cargo feature `regress-<id>` if the crate has it, and the
    /// overlay `docker/regressions/<id>/rootfs` if it exists.
    pub fn regression(id: &str) -> Self {
        let root = config::repo_root();
        let manifest = std::fs::read_to_string(root.join("impl/Cargo.toml")).unwrap_or_default();
        let feature = format!("regress-{id}");
        let has_feature = manifest
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{feature} =")));
        let overlay = format!("docker/regressions/{id}/rootfs");
        Variant {
            id: Some(id.to_string()),
            features: if has_feature { vec![feature] } else { vec![] },
            overlay: root.join(&overlay).is_dir().then_some(overlay),
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

    /// Built from the production binaries (no `regress-*` feature): production and trace.
    fn production_binaries(&self) -> bool {
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
    let bins = tokio::task::spawn_blocking({
        let v = variant.clone();
        move || build_binaries(&v)
    })
    .await??;
    let base = ensure_base_image(docker, variant.trace).await?;
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

/// Compile the binaries for the image and return their paths: the stage layer's (see
/// `build_stage_layer`), then the `hermes` crate's binaries of `variant`.
pub fn build_binaries(variant: &Variant) -> Result<Vec<PathBuf>> {
    let mut bins = build_stage_layer()?;
    bins.extend(build_hermes_binaries(variant)?);
    Ok(bins)
}

/// The stage layer's programs, the same for every variant: `/init` (`init/trampoline.S`,
/// assembled with the C compiler the Rust toolchain already needs), `stage1` (crate
/// `hermes-init`) and `svscan-handover.so` (crate `svscan-handover`).
fn build_stage_layer() -> Result<Vec<PathBuf>> {
    let target = config::work_dir().join("cargo-target").join("stage-layer");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(config::repo_root())
        .args(["build", "--quiet", "--profile", "image"])
        .args(["-p", "hermes-init", "-p", "svscan-handover"])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .with_context(|| format!("running {cargo} build for the stage layer"))?;
    if !status.success() {
        bail!("cargo build of the stage layer (hermes-init, svscan-handover) failed ({status})");
    }
    let built = target.join("image");
    let lib = built.join("libsvscan_handover.so");
    // The Dockerfile takes it under the name it has in the image.
    let named = built.join("svscan-handover.so");
    std::fs::copy(&lib, &named)
        .with_context(|| format!("copying {} to {}", lib.display(), named.display()))?;
    Ok(vec![assemble_init(&built)?, built.join("stage1"), named])
}

/// `/init` from `init/trampoline.S`: no C runtime, text at the start of the file (see there
/// for why). `$CC` if set, else `cc`.
fn assemble_init(out_dir: &Path) -> Result<PathBuf> {
    let source = config::repo_root().join("init/trampoline.S");
    let out = out_dir.join("init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args([
            "-nostdlib",
            "-static",
            // Stripped: the symbol table names cc's temporary object file (ccXXXXXX.o), which
            // made every build's /init, and so the image's content hash, different.
            "-s",
            "-Wl,-n",
            "-Wl,--build-id=none",
            "-o",
        ])
        .arg(&out)
        .arg(&source)
        .status()
        .with_context(|| format!("running {cc} to assemble {}", source.display()))?;
    if !status.success() {
        bail!("{cc} could not assemble {} ({status})", source.display());
    }
    Ok(out)
}

/// The `hermes` crate's binaries (`BINARIES`) for `variant`.
fn build_hermes_binaries(variant: &Variant) -> Result<Vec<PathBuf>> {
    let root = config::repo_root();
    // Production binaries get a target dir of their own, so regression features can never leak
    // into them; all regression variants share one (their dependencies are identical, only the
    // hermes crate differs). A nested cargo never waits on the outer `cargo test`'s lock either.
    let target = config::work_dir()
        .join("cargo-target")
        .join(if variant.production_binaries() {
            "production"
        } else {
            "regression"
        });
    // Production: small optimised binaries. Regression variants are compiled once per id, so
    // they use the fast `regression` profile (see the workspace Cargo.toml).
    let profile = if variant.production_binaries() {
        "image"
    } else {
        "regression"
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--quiet",
            "-p",
            "hermes",
            "--profile",
            profile,
            "--bins",
        ])
        .env("CARGO_TARGET_DIR", &target);
    if !variant.features.is_empty() {
        cmd.args(["--features", &variant.features.join(",")]);
    }
    progress(format!(
        "compiling the hermes binaries ({}, profile {profile})",
        variant.label()
    ));
    let t = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("running {cargo} build for the image binaries"))?;
    if !status.success() {
        bail!("cargo build of the image binaries failed ({status})");
    }
    progress(format!("binaries compiled in {:.1?}", t.elapsed()));
    // Regression variants share a target dir, so each keeps a copy of its own binaries.
    let out_dir = if variant.production_binaries() {
        target.join(profile)
    } else {
        let d = target.join("bins").join(variant.label());
        std::fs::create_dir_all(&d)?;
        d
    };
    BINARIES
        .iter()
        .map(|b| {
            let built = target.join(profile).join(b);
            if !built.is_file() {
                bail!("cargo reported success but {} is missing", built.display());
            }
            let p = out_dir.join(b);
            if p != built {
                std::fs::copy(&built, &p)
                    .with_context(|| format!("copying {} to {}", built.display(), p.display()))?;
            }
            Ok(p)
        })
        .collect()
}

/// Every file under `dir`, sorted, as (relative path, metadata).
fn walk(dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(dir)?.to_path_buf();
            if meta.is_dir() {
                stack.push(path);
            }
            out.push((rel, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn short_hash(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The base image's tag: a hash of its recipe (`docker/base/*`).
pub fn base_tag() -> Result<String> {
    Ok(format!("{BASE_REPO}:{}", short_hash(base_recipe_hash()?)))
}

fn base_recipe_hash() -> Result<Sha256> {
    let dir = config::repo_root().join("docker/base");
    let mut h = Sha256::new();
    for (rel, meta) in walk(&dir)? {
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        if meta.is_file() {
            h.update(std::fs::read(dir.join(&rel))?);
        }
        h.update([0]);
    }
    Ok(h)
}

/// The trace base's tag: the base recipe and `docker/trace/packages.txt`.
pub fn trace_base_tag() -> Result<String> {
    let mut h = base_recipe_hash()?;
    h.update(std::fs::read(config::repo_root().join(TRACE_PACKAGES))?);
    Ok(format!("{TRACE_BASE_REPO}:{}", short_hash(h)))
}

/// What the trace variant adds to `docker/base/packages.txt`.
const TRACE_PACKAGES: &str = "docker/trace/packages.txt";
/// Appended to `docker/Dockerfile` for the trace variant.
const TRACE_DOCKERFILE_TAIL: &str = "docker/trace/Dockerfile.tail";
/// The trace variant's stage-1 wrapper, `trace/stage1` in its build context.
const TRACE_STAGE1: &str = "docker/trace/stage1";

/// The base recipe to run: `docker/base` itself, or for the trace variant a copy of it in the
/// work dir whose `packages.txt` has `docker/trace/packages.txt` appended (the same
/// build-rootfs.sh and populate.sh: download with the host's apt configuration, dependency
/// check, every library resolved).
fn base_recipe_dir(trace: bool) -> Result<PathBuf> {
    let base = config::repo_root().join("docker/base");
    if !trace {
        return Ok(base);
    }
    let dir = config::work_dir().join("trace-base-recipe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in ["build-rootfs.sh", "populate.sh"] {
        std::fs::copy(base.join(name), dir.join(name))
            .with_context(|| format!("copying docker/base/{name} to {}", dir.display()))?;
    }
    let mut packages = std::fs::read_to_string(base.join("packages.txt"))?;
    packages.push_str("\n# --- docker/trace/packages.txt (trace variant only)\n");
    packages.push_str(&std::fs::read_to_string(
        config::repo_root().join(TRACE_PACKAGES),
    )?);
    std::fs::write(dir.join("packages.txt"), packages)?;
    Ok(dir)
}

async fn image_exists(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

async fn ensure_base_image(docker: &Docker, trace: bool) -> Result<String> {
    let tag = if trace {
        trace_base_tag()?
    } else {
        base_tag()?
    };
    if image_exists(docker, &tag).await {
        progress(format!("base image {tag} present: not rebuilt"));
        return Ok(tag);
    }
    let root = config::repo_root();
    let recipe = base_recipe_dir(trace)?;
    let tarball = config::work_dir().join("rootfs.tar");
    progress(format!(
        "building base image {tag}: Debian root filesystem with mmdebstrap (about 20-60 s)"
    ));
    let t = Instant::now();
    let script = recipe.join("build-rootfs.sh");
    let status = tokio::process::Command::new("bash")
        .arg(&script)
        .arg(&tarball)
        .current_dir(&root)
        .status()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); see its output above",
            script.display()
        );
    }
    progress(format!(
        "root filesystem built in {:.1?}; importing",
        t.elapsed()
    ));
    let t = Instant::now();
    let (repo, version) = tag.split_once(':').expect("base tag has a colon");
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .build();
    let file = tokio::fs::File::open(&tarball)
        .await
        .with_context(|| format!("opening {}", tarball.display()))?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let mut stream = docker.create_image(Some(opts), Some(body), None);
    while let Some(item) = stream.next().await {
        item.with_context(|| format!("importing {} as {tag}", tarball.display()))?;
    }
    let _ = tokio::fs::remove_file(&tarball).await;
    progress(format!("base image {tag} imported in {:.1?}", t.elapsed()));
    Ok(tag)
}

/// The build context as a deterministic tar: `Dockerfile`, `rootfs/**` (modes and symlinks
/// kept, owner root, mtime 0) and `bin/<binaries>`.
pub fn build_context(bins: &[PathBuf], overlay: Option<&Path>, trace: bool) -> Result<Vec<u8>> {
    let docker_dir = config::repo_root().join("docker");
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let add_file = |tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
    };
    let mut dockerfile =
        std::fs::read(docker_dir.join("Dockerfile")).context("reading docker/Dockerfile")?;
    if trace {
        let root = config::repo_root();
        dockerfile.extend(
            std::fs::read(root.join(TRACE_DOCKERFILE_TAIL))
                .with_context(|| format!("reading {TRACE_DOCKERFILE_TAIL}"))?,
        );
        let wrapper = std::fs::read(root.join(TRACE_STAGE1))
            .with_context(|| format!("reading {TRACE_STAGE1}"))?;
        add_file(&mut tar, "trace/stage1", &wrapper, 0o755)?;
    }
    add_file(&mut tar, "Dockerfile", &dockerfile, 0o644)?;
    // The overlay's entries replace the base tree's entries of the same path.
    let mut entries: BTreeMap<PathBuf, (PathBuf, std::fs::Metadata)> = BTreeMap::new();
    let base = docker_dir.join("rootfs");
    for tree in std::iter::once(base.as_path()).chain(overlay) {
        for (rel, meta) in walk(tree)? {
            entries.insert(rel, (tree.to_path_buf(), meta));
        }
    }
    for (rel, (rootfs, meta)) in entries {
        let name = Path::new("rootfs").join(&rel);
        let mode = meta.permissions().mode() & 0o7777;
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(mode);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(rootfs.join(&rel))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &name, &target)?;
        } else if meta.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_cksum();
            tar.append_data(&mut h, &name, std::io::empty())?;
        } else if meta.is_file() {
            let data = std::fs::read(rootfs.join(&rel))?;
            add_file(&mut tar, &name.to_string_lossy(), &data, mode)?;
        } else {
            bail!(
                "{}: not a file, dir or symlink",
                rootfs.join(&rel).display()
            );
        }
    }
    for bin in bins {
        let name = bin
            .file_name()
            .expect("binary has a name")
            .to_string_lossy();
        let data = std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?;
        add_file(&mut tar, &format!("bin/{name}"), &data, 0o755)?;
    }
    Ok(tar.into_inner()?)
}

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
    let context = build_context(bins, overlay.as_deref(), variant.trace)?;
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    h.update([0]);
    h.update(&context);
    let tag = if variant.is_production() {
        format!("{PRODUCT_REPO}:{}", short_hash(h))
    } else if variant.trace {
        format!("{TRACE_REPO}:{}", short_hash(h))
    } else {
        format!(
            "{PRODUCT_REPO}-regression:{}-{}",
            variant.label(),
            short_hash(h)
        )
    };
    if image_exists(docker, &tag).await {
        progress(format!(
            "image {tag} present: inputs unchanged, not rebuilt"
        ));
        return Ok(tag);
    }
    progress(format!("building image {tag} from {base}"));
    let t = Instant::now();
    let args: HashMap<&str, &str> = HashMap::from([("BASE_IMAGE", base)]);
    let labels: BTreeMap<&str, String> = BTreeMap::from([("hermes.variant", variant.label())]);
    let labels: HashMap<&str, String> = labels.into_iter().collect();
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .pull("false")
        .buildargs(&args)
        .labels(&labels)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    let mut built = false;
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("docker build of {tag}"))?;
        if let Some(text) = info.stream {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
        }
        if let Some(BuildInfoAux::Default(_)) = info.aux {
            built = true;
        }
    }
    if !built && !image_exists(docker, &tag).await {
        bail!("docker build of {tag} ended without producing an image");
    }
    progress(format!("image {tag} built in {:.1?}", t.elapsed()));
    Ok(tag)
}
