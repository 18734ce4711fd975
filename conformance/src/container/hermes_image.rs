//! The image under test as testcontainers sees it: [`HermesImage`] implements its `Image` from
//! a [`ContainerSpec`] (name and tag, entrypoint, command, environment, the data volume), and
//! `Container::start` adds the container-level settings through `ImageExt` (name, labels,
//! user, host config).

use std::borrow::Cow;

use anyhow::{Result, anyhow};
use testcontainers::Image;
use testcontainers::core::{Mount, WaitFor};

use super::ContainerSpec;

/// Where a spec's data volume is mounted: the image's `HERMES_HOME`.
const DATA_MOUNT: &str = "/opt/data";

/// One container's view of the image under test (`repo:tag`) with its spec's settings.
#[derive(Debug, Clone)]
pub struct HermesImage {
    name: String,
    tag: String,
    entrypoint: Option<String>,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
}

impl HermesImage {
    /// `image` (`repo:tag`) run as `spec` says.
    pub fn new(image: &str, spec: &ContainerSpec) -> Result<HermesImage> {
        let (name, tag) = image
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("image {image:?} has no tag"))?;
        Ok(HermesImage {
            name: name.to_string(),
            tag: tag.to_string(),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.cmd.clone().unwrap_or_default(),
            env: spec.env.clone(),
            mounts: spec
                .data_volume
                .iter()
                .map(|v| Mount::volume_mount(v.clone(), DATA_MOUNT))
                .collect(),
        })
    }
}

impl Image for HermesImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    /// None: the boot announces readiness only as a file, `/run/hermes/ready`
    /// (`docs/contract.md` §2.2, point 6), which the suite must read *as hermes*, and it says
    /// nothing on its log. testcontainers' conditions are log lines, HTTP, a healthcheck, the
    /// exit, or an exec as the image's user (root): none reads the marker as hermes, and a
    /// healthcheck would put the engine's execs into every process listing a scenario takes.
    /// `Container::wait_ready` waits for it instead, with a deadline, failing with what the
    /// container printed.
    fn ready_conditions(&self) -> Vec<WaitFor> {
        Vec::new()
    }

    fn entrypoint(&self) -> Option<&str> {
        self.entrypoint.as_deref()
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.cmd.iter().map(String::as_str)
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_reaches_the_image() {
        let spec = ContainerSpec::default()
            .entrypoint("/bin/sh")
            .cmd(&["-c", "true"])
            .env("A", "1")
            .data_volume("v1");
        let img = HermesImage::new("hermes-s6:abc123", &spec).expect("has a tag");
        assert_eq!((img.name(), img.tag()), ("hermes-s6", "abc123"));
        assert_eq!(img.entrypoint(), Some("/bin/sh"));
        let cmd: Vec<String> = img
            .cmd()
            .into_iter()
            .map(|c| c.into().into_owned())
            .collect();
        assert_eq!(cmd, ["-c", "true"]);
        assert_eq!(img.mounts().into_iter().count(), 1);
        assert!(img.ready_conditions().is_empty());
        assert!(HermesImage::new("no-tag", &spec).is_err());
    }
}
