//! The slot registrar (contract §3.3): the only way hermes gets a gateway slot made or
//! removed, now that slots and the scandir belong to root (§10).
//!
//! It is a static root service built from s6's own IPC programs — no daemon of ours, no
//! setuid binary:
//! ```text
//! s6-ipcserver-socketbinder -a 0666 /run/hermes/registrar.sock
//!   s6-ipcserverd                                      accepts connections
//!   s6-ipcserver-access -v 2 -i /run/hermes/registrar.rules   admits hermes' uid and root only
//!   s6-sudod -0 -2 -t 2000                             runs the helper with the client's argv
//!   /opt/hermes/bin/hermes-registrar                   `server`: validates, serialises, acts
//! ```
//! The CLI (`client`) talks to it with `s6-sudo`. `-0`: the helper gets no stdin from the
//! client; `-2`: its stderr is the registrar's own, i.e. the container log, while its stdout
//! goes to the client.

pub mod client;
pub mod server;

use crate::names;
use crate::paths;
use crate::safe_walk::Dir;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::path::Path;

/// Where the registrar listens (root-owned directory, world-connectable socket).
pub const SOCKET: &str = "/run/hermes/registrar.sock";
/// Its `s6-ipcserver-access` rules: `uid/<hermes uid>/allow` and `uid/0/allow`, nothing else.
pub const RULES_DIR: &str = "/run/hermes/registrar.rules";
/// One request at a time, including the boot reconciler's batch (root-only directory).
pub const LOCK: &str = "/run/hermes/registrar.lock";

/// What a caller hears when gateway-default is missing: no request may create it (§3.1); only
/// the boot registers it.
pub const DEFAULT_NOT_REQUESTABLE: &str = "gateway-default is missing, and only the boot \
     registers it (the registrar never creates or deletes default): restart the container to \
     have it registered again";

/// Connections s6-ipcserverd serves at once (`-c`), and per client uid (`-C`): hermes can
/// fill only its own share, so root always gets through. A connection beyond a uid's share is
/// closed at once (s6-ipcserverd logs `deny <uid>:<gid> count N/8`); the client's s6-sudoc
/// cannot tell that from the access rules' refusal, so the CLI tells them apart (`client`).
pub const MAX_REQUESTS: u32 = 16;
pub const MAX_REQUESTS_PER_UID: u32 = 8;

/// Exit status of the helper (and of the CLI verbs that used it): done.
pub const EXIT_OK: u8 = 0;
/// Refused or failed: one line on the client's stdout says why; nothing half-made.
pub const EXIT_FAILED: u8 = 1;
/// Not a request the registrar knows: unknown verb, bad arguments, invalid profile name.
pub const EXIT_USAGE: u8 = 2;

/// Writes the registrar's `s6-ipcserver-access` rules afresh into `dir` (root's, under `/run`):
/// `uid/<hermes uid>/allow` and `uid/0/allow`, nothing else, so every other uid is denied.
/// hermes' uid is read from the user database when the registrar starts, after any boot-time
/// remap. Returns the uids admitted.
pub fn write_rules(dir: &Path) -> io::Result<Vec<u32>> {
    let (hermes_uid, _) = paths::hermes_ids();
    // Regression `registrar-denies-hermes`: rules that admit root only — hermes' every
    // `profile create` is then refused.
    let uids = if crate::regression::on("registrar-denies-hermes") {
        vec![0]
    } else {
        vec![hermes_uid, 0]
    };
    // Afresh, through descriptors only (contract §10 promise 5): `/run/hermes` is root's.
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err(io::Error::other(format!(
            "{} is not a directory path",
            dir.display()
        )));
    };
    let parent = Dir::open(parent)?;
    parent.remove_tree(name)?;
    let rules = parent.create_dir(name, 0o755, None)?;
    let by_uid = rules.create_dir(OsStr::new("uid"), 0o755, None)?;
    for uid in &uids {
        let d = by_uid.create_dir(OsStr::new(&uid.to_string()), 0o755, None)?;
        d.write_new(OsStr::new("allow"), b"", 0o644, None)?;
    }
    Ok(uids)
}

/// Everything the registrar does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `register <profile> [--start]`: a new slot, down unless `--start`.
    Register { profile: String, start: bool },
    /// `unregister <profile>`: the slot goes (idempotent).
    Unregister { profile: String },
}

impl Request {
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Unregister { .. } => "unregister",
        }
    }

    pub fn profile(&self) -> &str {
        match self {
            Request::Register { profile, .. } | Request::Unregister { profile } => profile,
        }
    }

    /// The argv a client sends.
    pub fn to_args(&self) -> Vec<String> {
        match self {
            Request::Register { profile, start } => {
                let mut v = vec!["register".to_string(), profile.clone()];
                if *start {
                    v.push("--start".into());
                }
                v
            }
            Request::Unregister { profile } => vec!["unregister".into(), profile.clone()],
        }
    }
}

/// Why a request was not understood; `Display` is the one line the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const USAGE: &str = "usage: register <profile> [--start] | unregister <profile>";

/// Parses a client's argv strictly: exactly one of the two verbs, a valid profile name that a
/// request may create or delete (the profile-name rules; never `default`, whose slot only the
/// boot registers, nor a reserved name), `--start` only after `register`, nothing else.
pub fn parse(args: &[OsString]) -> Result<Request, UsageError> {
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.to_str())
        .collect::<Option<_>>()
        .ok_or_else(|| UsageError(format!("arguments must be UTF-8; {USAGE}")))?;
    let request = match args.as_slice() {
        ["register", p] => Request::Register {
            profile: p.to_string(),
            start: false,
        },
        ["register", p, "--start"] => Request::Register {
            profile: p.to_string(),
            start: true,
        },
        ["unregister", p] => Request::Unregister {
            profile: p.to_string(),
        },
        [verb, ..] if !matches!(*verb, "register" | "unregister") => {
            let verb = names::escape_for_log(verb.as_bytes());
            return Err(UsageError(format!("unknown request {verb:?}; {USAGE}")));
        }
        _ => return Err(UsageError(USAGE.to_string())),
    };
    names::validate_new(request.profile()).map_err(|e| UsageError(e.to_string()))?;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn rules_admit_hermes_and_root_only() {
        let t = tempfile::tempdir().unwrap();
        let rules = t.path().join("rules");
        fs::create_dir_all(rules.join("uid/4242")).unwrap();
        let uids = write_rules(&rules).unwrap();
        let mut found: Vec<String> = fs::read_dir(rules.join("uid"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        found.sort();
        let mut want: Vec<String> = uids.iter().map(u32::to_string).collect();
        want.sort();
        assert_eq!(found, want, "a stale rule is not kept");
        assert!(uids.contains(&0) && uids.len() == 2);
        for u in uids {
            assert!(rules.join(format!("uid/{u}/allow")).is_file());
        }
    }

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_two_verbs() {
        assert_eq!(
            parse(&args(&["register", "alpha"])),
            Ok(Request::Register {
                profile: "alpha".into(),
                start: false
            })
        );
        assert_eq!(
            parse(&args(&["unregister", "alpha"])),
            Ok(Request::Unregister {
                profile: "alpha".into()
            })
        );
        let r = Request::Register {
            profile: "a".into(),
            start: true,
        };
        assert_eq!(
            parse(&args(&["register", "a", "--start"]))
                .unwrap()
                .to_args(),
            r.to_args()
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            &[][..],
            &["register"][..],
            &["register", "a", "b"][..],
            &["unregister", "a", "--start"][..],
            &["--start", "register", "a"][..],
            &["chmod", "777", "/etc"][..],
            &["register-all"][..],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        for name in ["../dashboard", "Bad", "", "a/b", ".x", "hermes"] {
            let e = parse(&args(&["register", name])).unwrap_err();
            assert!(e.0.contains("invalid profile name"), "{name:?}: {e}");
        }
    }

    /// Contract §3.1: `default` is never created or deleted by a request (the boot registers
    /// gateway-default itself), and no reserved name is a profile: both verbs refuse them as
    /// usage errors, with one line naming the rule.
    #[test]
    fn default_and_reserved_names_are_refused_for_both_verbs() {
        for name in std::iter::once(&names::DEFAULT_PROFILE).chain(names::RESERVED) {
            for req in [
                &["register", name][..],
                &["register", name, "--start"][..],
                &["unregister", name][..],
            ] {
                let e = parse(&args(req)).unwrap_err();
                assert!(e.0.contains("invalid profile name"), "{req:?}: {e}");
                assert!(e.0.contains(name), "{req:?}: {e}");
                assert!(!e.0.contains('\n'), "{req:?}: {e}");
            }
        }
    }

    #[test]
    fn messages_are_one_line() {
        let e = parse(&args(&["evil\nverb", "x"])).unwrap_err();
        assert!(!e.0.contains('\n'), "{e}");
        let e = parse(&args(&["register", "a\nb"])).unwrap_err();
        assert!(!e.0.contains('\n'), "{e}");
    }
}
