//! The image pipeline's calls into the Docker engine and its child processes, each with a
//! deadline: `docker build` (reading bollard's `error_detail`), `docker import` of a root
//! filesystem tar, removal of throwaway images, and a child process run to completion.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bollard::Docker;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;

use crate::progress::progress;

/// One `docker build` of the product image; a cold one takes about a minute on 2 cores.
pub const BUILD_DEADLINE: Duration = Duration::from_secs(900);
/// One `docker import` of a root filesystem tar (a few hundred MB).
pub const IMPORT_DEADLINE: Duration = Duration::from_secs(600);
/// `docker/base/build-rootfs.sh` (mmdebstrap: downloads every package).
pub const ROOTFS_DEADLINE: Duration = Duration::from_secs(900);
/// One cargo build (a cold build of every dependency included).
pub const CARGO_DEADLINE: Duration = Duration::from_secs(1800);
/// Assembling `/init`.
pub const ASSEMBLE_DEADLINE: Duration = Duration::from_secs(60);
/// Lines of the build's own output kept for a failure message.
const BUILD_TAIL: usize = 20;

pub async fn image_exists(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// How to run one `docker build`.
pub struct Build<'a> {
    pub tag: &'a str,
    /// The Dockerfile's `BASE_IMAGE` argument.
    pub base: &'a str,
    /// The `hermes.variant` label.
    pub label: String,
    pub no_cache: bool,
    /// Copy the build's output to stderr as it comes (a person watching a cold build); off, it
    /// is only kept for the failure message.
    pub echo: bool,
}

/// `docker build` of `context` (a tar with the Dockerfile at its root) with the classic
/// builder; fails with the engine's `error_detail` and the build output's last lines, or when
/// [`BUILD_DEADLINE`] passes. Returns how long it took.
pub async fn build(docker: &Docker, context: Vec<u8>, b: &Build<'_>) -> Result<Duration> {
    let tag = b.tag;
    let args: HashMap<&str, &str> = HashMap::from([("BASE_IMAGE", b.base)]);
    let labels: HashMap<&str, String> = HashMap::from([("hermes.variant", b.label.clone())]);
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .pull("false")
        .nocache(b.no_cache)
        .buildargs(&args)
        .labels(&labels)
        .build();
    let t = Instant::now();
    let run = async {
        let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
        let mut built = false;
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("docker build of {tag}"))?;
            if let Some(text) = info.stream {
                if b.echo {
                    let _ = std::io::stderr().lock().write_all(text.as_bytes());
                }
                tail.push(text);
                if tail.len() > BUILD_TAIL {
                    tail.remove(0);
                }
            }
            if let Some(e) = info.error_detail {
                let msg = e.message.unwrap_or_default();
                bail!("docker build of {tag}: {msg}\n{}", tail.concat());
            }
            if let Some(BuildInfoAux::Default(_)) = info.aux {
                built = true;
            }
        }
        if !built && !image_exists(docker, tag).await {
            bail!(
                "docker build of {tag} ended without producing an image\n{}",
                tail.concat()
            );
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(BUILD_DEADLINE, run)
        .await
        .map_err(|_| anyhow!("docker build of {tag} did not finish within {BUILD_DEADLINE:?}"))??;
    Ok(t.elapsed())
}

/// `docker import` of the root filesystem `tarball` as `tag` (`repo:version`), within
/// [`IMPORT_DEADLINE`]; fails with the engine's `error_detail` when it gives one.
pub async fn import(docker: &Docker, tarball: &Path, tag: &str) -> Result<()> {
    let (repo, version) = tag
        .split_once(':')
        .ok_or_else(|| anyhow!("tag {tag} has no colon"))?;
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .build();
    let file = tokio::fs::File::open(tarball)
        .await
        .with_context(|| format!("opening {}", tarball.display()))?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20));
    let run = async {
        let mut stream = docker.create_image(Some(opts), Some(body), None);
        while let Some(item) = stream.next().await {
            let info = item.with_context(|| format!("importing {} as {tag}", tarball.display()))?;
            if let Some(e) = info.error_detail {
                let msg = e.message.unwrap_or_default();
                bail!("importing {} as {tag}: {msg}", tarball.display());
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(IMPORT_DEADLINE, run)
        .await
        .map_err(|_| anyhow!("docker import of {tag} did not finish within {IMPORT_DEADLINE:?}"))?
}

/// Remove a throwaway image; a failure is reported, not fatal.
pub async fn remove(docker: &Docker, tag: &str) {
    let opts = RemoveImageOptionsBuilder::default().force(true).build();
    if let Err(e) = docker.remove_image(tag, Some(opts), None).await {
        progress(format!("could not remove throwaway image {tag}: {e}"));
    }
}

/// Run a child to its end within `deadline` (it is killed when the deadline passes); its exit
/// status, whatever it is.
pub async fn run_status(
    mut cmd: tokio::process::Command,
    deadline: Duration,
    what: &str,
) -> Result<std::process::ExitStatus> {
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    match tokio::time::timeout(deadline, child.wait()).await {
        Ok(status) => Ok(status.with_context(|| format!("waiting for {what}"))?),
        Err(_) => {
            let _ = child.kill().await;
            bail!("{what} did not finish within {deadline:?}; killed")
        }
    }
}

/// [`run_status`], failing unless the child exits 0. Returns how long it took.
pub async fn run_child(
    cmd: tokio::process::Command,
    deadline: Duration,
    what: &str,
) -> Result<Duration> {
    let t = Instant::now();
    let status = run_status(cmd, deadline, what).await?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(t.elapsed())
}
