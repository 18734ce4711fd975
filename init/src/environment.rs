//! The container environment for `with-contenv`: one file per variable under
//! `/run/s6/container_environment`, holding `value\n` (read back by `s6-envdir -Lf`), as
//! s6-overlay does. Taken from our own environment, which is what Docker gave PID 1, so names
//! a shell cannot hold (`dotted.name`, `foo-bar`) survive too.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, chown};
use std::path::Path;

/// PATH when the container sets none: the image's, with `/command` first.
const DEFAULT_PATH: &str =
    "/command:/opt/hermes/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Writes every variable of `vars` into `dir` (which must exist). The directory and files
/// are given to `owner` (root:hermes in the image), 0750 and 0640: root and hermes may read
/// them, nobody else — they may hold secrets. `PATH` gets `/command:` in front, so services run through `with-contenv` find the
/// s6 programs.
pub fn dump(
    dir: &Path,
    vars: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    owner: (u32, u32),
) -> io::Result<()> {
    let mut have_path = false;
    for (name, value) in vars {
        // A file name can hold neither of these, and `.`-names would be hidden.
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes[0] == b'.' || bytes.contains(&b'/') {
            continue;
        }
        let mut body = Vec::with_capacity(value.len() + 10);
        if name == "PATH" {
            have_path = true;
            body.extend_from_slice(b"/command:");
        }
        body.extend_from_slice(value.as_bytes());
        body.push(b'\n');
        write(dir, &name, &body, owner)?;
    }
    if !have_path {
        let body = format!("{DEFAULT_PATH}\n");
        write(dir, OsStr::new("PATH"), body.as_bytes(), owner)?;
    }
    chown(dir, Some(owner.0), Some(owner.1))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750))
}

fn write(dir: &Path, name: &OsStr, body: &[u8], owner: (u32, u32)) -> io::Result<()> {
    let path = dir.join(name);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(&path)?;
    f.write_all(body)?;
    chown(&path, Some(owner.0), Some(owner.1))?;
    // create_new honours the umask; say the mode once more explicitly.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::fs::MetadataExt;

    fn vars(v: &[(&str, &str)]) -> impl Iterator<Item = (OsString, OsString)> {
        v.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// A fresh dir and the ids files get in it (chown to them needs no privilege).
    fn scratch(tag: &str) -> (std::path::PathBuf, (u32, u32)) {
        let t = std::env::temp_dir().join(format!("hermes-init-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        fs::create_dir_all(&t).unwrap();
        let m = fs::metadata(&t).unwrap();
        (t, (m.uid(), m.gid()))
    }

    #[test]
    fn one_file_per_variable_with_path_prefixed() {
        let (t, owner) = scratch("env");
        let v = vars(&[
            ("PATH", "/usr/bin"),
            ("dotted.name", "x y \n"),
            ("EMPTY", ""),
            (".hidden", "no"),
        ]);
        dump(&t, v, owner).unwrap();
        let read = |n: &str| fs::read_to_string(t.join(n)).unwrap();
        assert_eq!(read("PATH"), "/command:/usr/bin\n");
        assert_eq!(read("dotted.name"), "x y \n\n");
        assert_eq!(read("EMPTY"), "\n");
        assert!(!t.join(".hidden").exists());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&t.join("EMPTY")), 0o640);
        assert_eq!(mode(&t), 0o750);
        fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn default_path_when_none_is_set() {
        let (t, owner) = scratch("env-nopath");
        dump(&t, vars(&[("A", "1")]), owner).unwrap();
        let path = fs::read_to_string(t.join("PATH")).unwrap();
        assert!(
            path.starts_with("/command:") && path.ends_with('\n'),
            "{path:?}"
        );
        fs::remove_dir_all(&t).unwrap();
    }
}
