//! Where things live. Production values are fixed; tests inject their own roots.

use crate::names;
use std::path::{Path, PathBuf};

pub const DEFAULT_HERMES_HOME: &str = "/opt/data";
pub const DEFAULT_SCANDIR: &str = "/run/service";
pub const COMMAND_DIR: &str = "/command";
pub const S6_BASEDIR: &str = "/run/s6/basedir";
/// Image programs the slot's executables link to (`/run` may be noexec, docs/contract.md §3.2).
pub const GATEWAY_RUN: &str = "/etc/hermes-s6/gateway/run";
pub const GATEWAY_FINISH: &str = "/etc/hermes-s6/gateway/finish";
pub const GATEWAY_LOG_RUN: &str = "/opt/hermes/bin/hermes-logger";
/// The unprivileged runtime user.
pub const HERMES_UID: u32 = 10000;
pub const HERMES_GID: u32 = 10000;

/// hermes' uid and gid as the image's user database says (`/etc/passwd`), which a boot-time
/// remap may have changed; the defaults when it cannot be read.
pub fn hermes_ids() -> (u32, u32) {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|db| passwd_ids(&db, "hermes"))
        .unwrap_or((HERMES_UID, HERMES_GID))
}

/// `(uid, gid)` of `user` in a passwd file's text.
pub fn passwd_ids(db: &str, user: &str) -> Option<(u32, u32)> {
    db.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// The filesystem roots hermes works against.
#[derive(Debug, Clone)]
pub struct Paths {
    pub hermes_home: PathBuf,
    pub scandir: PathBuf,
    pub proc_root: PathBuf,
    pub s6_basedir: PathBuf,
    pub command_dir: PathBuf,
}

impl Paths {
    /// Production layout; `HERMES_HOME` and `HERMES_S6_SCANDIR` may move the two data roots.
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(d))
        };
        Paths {
            hermes_home: var("HERMES_HOME", DEFAULT_HERMES_HOME),
            scandir: var("HERMES_S6_SCANDIR", DEFAULT_SCANDIR),
            proc_root: PathBuf::from("/proc"),
            s6_basedir: PathBuf::from(S6_BASEDIR),
            command_dir: PathBuf::from(COMMAND_DIR),
        }
    }

    /// The image's layout, whatever the environment says: for root programs that serve
    /// hermes' requests (the registrar helper), whose environment is not to be trusted.
    pub fn image() -> Self {
        Paths {
            hermes_home: PathBuf::from(DEFAULT_HERMES_HOME),
            scandir: PathBuf::from(DEFAULT_SCANDIR),
            proc_root: PathBuf::from("/proc"),
            s6_basedir: PathBuf::from(S6_BASEDIR),
            command_dir: PathBuf::from(COMMAND_DIR),
        }
    }

    /// A layout rooted entirely under `root` (tests).
    pub fn under(root: &Path) -> Self {
        Paths {
            hermes_home: root.join("data"),
            scandir: root.join("service"),
            proc_root: root.join("proc"),
            s6_basedir: root.join("s6/basedir"),
            command_dir: root.join("command"),
        }
    }

    /// The profile's home: `$HERMES_HOME` for `default`, else `$HERMES_HOME/profiles/<p>`.
    pub fn profile_home(&self, profile: &str) -> PathBuf {
        if profile == names::DEFAULT_PROFILE {
            self.hermes_home.clone()
        } else {
            self.profiles_dir().join(profile)
        }
    }

    pub fn profiles_dir(&self) -> PathBuf {
        self.hermes_home.join("profiles")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.hermes_home.join("logs")
    }

    pub fn slot_dir(&self, profile: &str) -> PathBuf {
        self.scandir.join(names::slot_name(profile))
    }
}

/// Truthy env values: `1`, `true`, `yes`, case-insensitive; anything else is false.
pub fn truthy(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes")
    )
}

/// `truthy` for a process environment variable.
pub fn env_truthy(key: &str) -> bool {
    truthy(std::env::var(key).ok().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truthy_values() {
        for v in ["1", "true", "TRUE", "Yes", "yes", " true "] {
            assert!(truthy(Some(v)), "{v}");
        }
        for v in ["0", "false", "on", "", "y", "2"] {
            assert!(!truthy(Some(v)), "{v}");
        }
        assert!(!truthy(None));
    }

    #[test]
    fn ids_from_a_passwd_file() {
        let db = "root:x:0:0:root:/root:/bin/sh\nhermes:x:1000:1001:hermes:/opt/data:/usr/sbin/nologin\n";
        assert_eq!(passwd_ids(db, "hermes"), Some((1000, 1001)));
        assert_eq!(passwd_ids(db, "nobody"), None);
        assert_eq!(passwd_ids("hermes:x:abc:1:\n", "hermes"), None);
    }

    #[test]
    fn profile_homes() {
        let p = Paths::under(Path::new("/x"));
        assert_eq!(p.profile_home("default"), Path::new("/x/data"));
        assert_eq!(p.profile_home("work"), Path::new("/x/data/profiles/work"));
        assert_eq!(p.slot_dir("work"), Path::new("/x/service/gateway-work"));
    }
}
