//! The product image's build context: a deterministic tar of `docker/Dockerfile`,
//! `docker/rootfs/**` (with a regression variant's overlay over it) and the binaries, so that
//! equal inputs give equal bytes and so an equal content-hash tag.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::REGRESSION_DOCKERFILE_TAIL;
use super::base::{TRACE_DOCKERFILE_TAIL, TRACE_STAGE1};
use crate::config;

/// Every file under `dir`, sorted, as (relative path, metadata).
pub(super) fn walk(dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>> {
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

/// The build context as a deterministic tar: `Dockerfile`, `rootfs/**` (modes and symlinks
/// kept, owner root, mtime 0) and `bin/<binaries>`; for a regression variant (`regression` its
/// id) also `regression`, the id file, and `docker/regressions/Dockerfile.tail` appended.
pub fn build_context(
    bins: &[PathBuf],
    overlay: Option<&Path>,
    trace: bool,
    regression: Option<&str>,
) -> Result<Vec<u8>> {
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
    if let Some(id) = regression {
        let root = config::repo_root();
        dockerfile.extend(
            std::fs::read(root.join(REGRESSION_DOCKERFILE_TAIL))
                .with_context(|| format!("reading {REGRESSION_DOCKERFILE_TAIL}"))?,
        );
        // Root's 0644 (COPY keeps the mode and makes the owner root): `super::REGRESSION_ID_FILE`.
        add_file(&mut tar, "regression", format!("{id}\n").as_bytes(), 0o644)?;
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

/// A copy of the build context tar with a comment line appended to the file `name`.
pub fn touch_in_context(context: &[u8], name: &str, nonce: &str) -> Result<Vec<u8>> {
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(context);
    let mut found = false;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let mut header = entry.header().clone();
        let path = entry.path()?.to_string_lossy().into_owned();
        if path == name && header.entry_type().is_file() {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data)?;
            data.extend_from_slice(format!("\n# bench {nonce}\n").as_bytes());
            header.set_size(data.len() as u64);
            header.set_cksum();
            out.append(&header, data.as_slice())?;
            found = true;
        } else {
            out.append(&header.clone(), &mut entry)?;
        }
    }
    if !found {
        bail!("{name} is not in the build context");
    }
    Ok(out.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_the_context_changes_one_file() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("Dockerfile", &b"FROM x\n"[..]),
            ("rootfs/etc/hermes-s6/stage2", b"#!/bin/sh\n"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_cksum();
            b.append_data(&mut h, name, data).expect("append");
        }
        let ctx = b.into_inner().expect("tar");
        let out = touch_in_context(&ctx, "rootfs/etc/hermes-s6/stage2", "n1").expect("touch");
        let mut a = tar::Archive::new(out.as_slice());
        let mut files = Vec::new();
        for e in a.entries().expect("entries") {
            let mut e = e.expect("entry");
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            files.push((e.path().expect("path").to_string_lossy().into_owned(), s));
        }
        assert_eq!(files[0], ("Dockerfile".into(), "FROM x\n".into()));
        assert_eq!(files[1].1, "#!/bin/sh\n\n# bench n1\n");
        assert!(touch_in_context(&ctx, "nope", "n").is_err());
    }
}
