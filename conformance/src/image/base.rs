//! The base image `hermes-s6-base:<hash of docker/base/*>` (and the trace variant's base):
//! a Debian root filesystem made by `docker/base/build-rootfs.sh` (mmdebstrap with the host's
//! apt sources) and imported.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bollard::Docker;
use sha2::{Digest, Sha256};

use super::context::walk;
use super::engine::{self, ROOTFS_DEADLINE, image_exists, run_child};
use super::{BASE_REPO, TRACE_BASE_REPO};
use crate::config;
use crate::progress::progress;

pub(super) fn short_hash(hasher: Sha256) -> String {
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
pub(super) const TRACE_DOCKERFILE_TAIL: &str = "docker/trace/Dockerfile.tail";
/// The trace variant's stage-1 wrapper, `trace/stage1` in its build context.
pub(super) const TRACE_STAGE1: &str = "docker/trace/stage1";

/// The base recipe to run: `docker/base` itself, or for the trace variant a copy of it in the
/// work dir whose `packages.txt` has `docker/trace/packages.txt` appended (the same
/// build-rootfs.sh and populate.sh: download with the host's apt configuration, dependency
/// check, every library resolved).
pub fn base_recipe_dir(trace: bool) -> Result<PathBuf> {
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

/// Run the base recipe `recipe` (a directory with `build-rootfs.sh`) into `tarball`, within
/// [`ROOTFS_DEADLINE`]; the script's stdout goes to `stdout`, its stderr to ours. Returns how
/// long it took.
pub async fn build_rootfs(recipe: &Path, tarball: &Path, stdout: Stdio) -> Result<Duration> {
    let script = recipe.join("build-rootfs.sh");
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(&script)
        .arg(tarball)
        .current_dir(config::repo_root())
        .stdout(stdout)
        .stderr(Stdio::inherit());
    run_child(cmd, ROOTFS_DEADLINE, &script.display().to_string()).await
}

/// The base image (the trace base when `trace`): present, or built and imported now.
pub(super) async fn ensure_base_image(docker: &Docker, trace: bool) -> Result<String> {
    let tag = if trace {
        trace_base_tag()?
    } else {
        base_tag()?
    };
    if image_exists(docker, &tag).await {
        progress(format!("base image {tag} present: not rebuilt"));
        return Ok(tag);
    }
    let recipe = base_recipe_dir(trace)?;
    let tarball = config::work_dir().join("rootfs.tar");
    progress(format!(
        "building base image {tag}: Debian root filesystem with mmdebstrap (about 20-60 s)"
    ));
    let took = build_rootfs(&recipe, &tarball, Stdio::inherit())
        .await
        .context("building the base root filesystem; see its output above")?;
    progress(format!("root filesystem built in {took:.1?}; importing"));
    let t = Instant::now();
    let imported = engine::import(docker, &tarball, &tag).await;
    let _ = tokio::fs::remove_file(&tarball).await;
    imported?;
    progress(format!("base image {tag} imported in {:.1?}", t.elapsed()));
    Ok(tag)
}
