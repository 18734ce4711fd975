//! Asking the registrar for a slot, as the CLI does: `s6-sudo -e <socket> <request>`
//! (`-e`: none of our environment is sent; the helper would not use it anyway).

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, MAX_REQUESTS_PER_UID, RULES_DIR, Request, SOCKET};
use crate::s6::programs::{Programs, S6ErrorKind};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Bound on one request: registering waits for s6 to start the slot's supervisors, and
/// unregistering for the gateway to go down (10 s each at most, on the helper's side).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// Nothing answered on the socket: the service is down, or not started yet.
    Unavailable(String),
    /// The registrar would not talk to us (its access rules) or died mid-request.
    Refused(String),
    /// The helper refused or failed the request: its one line.
    Failed(String),
    /// The helper did not understand the request: its one line.
    Usage(String),
    /// This uid already has its whole share of requests in flight: the whole message.
    Busy(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unavailable(why) => {
                write!(f, "the slot registrar is not available ({why})")
            }
            ClientError::Refused(why) => write!(f, "the slot registrar refused the request: {why}"),
            ClientError::Failed(why) | ClientError::Usage(why) => {
                write!(f, "the slot registrar says: {why}")
            }
            ClientError::Busy(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for ClientError {}

pub struct Client {
    pub programs: Programs,
    pub socket: PathBuf,
    /// The registrar's access rules (readable by anyone): does it admit this uid?
    pub rules: PathBuf,
    /// Where this uid's `s6-sudoc` clients are counted.
    pub proc_root: PathBuf,
}

impl Client {
    pub fn new(programs: Programs) -> Self {
        Client {
            programs,
            socket: PathBuf::from(SOCKET),
            rules: PathBuf::from(RULES_DIR),
            proc_root: PathBuf::from("/proc"),
        }
    }

    /// The server closed the connection before its banner. For a uid the access rules admit,
    /// that is s6-ipcserverd's per-uid cap: say so, with this uid's requests in flight.
    fn turned_away(&self) -> Option<ClientError> {
        let uid = nix::unistd::geteuid().as_raw();
        if !self.rules.join(format!("uid/{uid}/allow")).is_file() {
            return None;
        }
        Some(ClientError::Busy(format!(
            "the slot registrar is busy: {} requests in flight from uid {uid} (it serves at \
             most {MAX_REQUESTS_PER_UID} at once per user); nothing was done, try again when \
             they finish",
            self.clients_of(uid)
        )))
    }

    /// This uid's live `s6-sudoc` processes (each one a request in flight).
    fn clients_of(&self, uid: u32) -> usize {
        use std::os::unix::fs::MetadataExt;
        let Ok(rd) = std::fs::read_dir(&self.proc_root) else {
            return 0;
        };
        rd.filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter(|e| e.metadata().is_ok_and(|m| m.uid() == uid))
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| c.trim_end() == "s6-sudoc")
            })
            .count()
    }

    pub fn register(&self, profile: &str, start: bool) -> Result<(), ClientError> {
        self.send(&Request::Register {
            profile: profile.to_string(),
            start,
        })
    }

    pub fn unregister(&self, profile: &str) -> Result<(), ClientError> {
        self.send(&Request::Unregister {
            profile: profile.to_string(),
        })
    }

    pub fn send(&self, request: &Request) -> Result<(), ClientError> {
        // The helper refuses it anyway; say what to do instead of sending it.
        if request.profile() == crate::names::DEFAULT_PROFILE {
            return Err(ClientError::Failed(super::DEFAULT_NOT_REQUESTABLE.into()));
        }
        let socket = self.socket.display().to_string();
        let req = request.to_args();
        let mut argv: Vec<&str> = vec!["-e", &socket];
        argv.extend(req.iter().map(String::as_str));
        let e = match self
            .programs
            .run_with_timeout("s6-sudo", &argv, REQUEST_TIMEOUT)
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let (code, stdout, stderr) = match &e.kind {
            S6ErrorKind::Exit {
                code,
                stdout,
                stderr,
            } => (*code, stdout.trim(), stderr.trim()),
            S6ErrorKind::Timeout(_) => return Err(ClientError::Failed(e.to_string())),
            S6ErrorKind::Spawn(why) => return Err(ClientError::Unavailable(why.clone())),
        };
        let line = || stdout.lines().last().unwrap_or(stderr).to_string();
        match code.map(|c| c as u8) {
            Some(c) if c == EXIT_OK => Ok(()),
            Some(c) if c == EXIT_FAILED => Err(ClientError::Failed(line())),
            Some(c) if c == EXIT_USAGE => Err(ClientError::Usage(line())),
            // s6-sudo's own failures (111): which one is in its message.
            _ if stderr.contains("connect to ") && !stderr.contains("s6-sudod server") => {
                Err(ClientError::Unavailable(stderr.to_string()))
            }
            _ if stderr.contains("connect to the s6-sudod server") => Err(self
                .turned_away()
                .unwrap_or_else(|| ClientError::Refused(stderr.to_string()))),
            _ => Err(ClientError::Refused(if stderr.is_empty() {
                e.to_string()
            } else {
                stderr.to_string()
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s6::programs::fake;

    fn client(body: &str) -> (tempfile::TempDir, Client) {
        let t = tempfile::tempdir().unwrap();
        fake::install(t.path(), "s6-sudo", body);
        let c = Client::new(Programs::new(t.path()));
        (t, c)
    }

    #[test]
    fn sends_the_request_without_environment() {
        let (t, c) = client(r#"echo "$@" > "$(dirname "$0")/argv""#);
        c.register("alpha", true).unwrap();
        let argv = std::fs::read_to_string(t.path().join("argv")).unwrap();
        assert_eq!(argv, format!("-e {SOCKET} register alpha --start\n"));
    }

    /// Finding 4: s6-ipcserverd turns a connection beyond hermes' per-uid cap away by closing
    /// it, and s6-sudoc then says only "unable to connect to the s6-sudod server - check that
    /// you have appropriate permissions". For a uid the rules admit, that is the cap: the CLI
    /// says the registrar is busy and how many of this uid's requests are in flight.
    #[test]
    fn a_connection_turned_away_by_the_per_uid_cap_is_reported_busy() {
        let (t, mut c) = client(
            "echo 's6-sudoc: fatal: unable to connect to the s6-sudod server - check that you have appropriate permissions' >&2; exit 111",
        );
        let uid = nix::unistd::geteuid().as_raw();
        c.rules = t.path().join("rules");
        c.proc_root = t.path().join("proc");
        std::fs::create_dir_all(c.rules.join(format!("uid/{uid}"))).unwrap();
        std::fs::write(c.rules.join(format!("uid/{uid}/allow")), b"").unwrap();
        for (pid, comm) in [
            (11, "s6-sudoc"),
            (12, "s6-sudoc"),
            (13, "sh"),
            (14, "s6-sudoc"),
        ] {
            std::fs::create_dir_all(c.proc_root.join(pid.to_string())).unwrap();
            std::fs::write(c.proc_root.join(format!("{pid}/comm")), format!("{comm}\n")).unwrap();
        }
        let e = c.register("alpha", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "the slot registrar is busy: 3 requests in flight from uid {uid} (it serves at \
                 most {} at once per user); nothing was done, try again when they finish",
                super::super::MAX_REQUESTS_PER_UID
            )
        );
        // A uid the rules do not admit is refused, as before.
        std::fs::remove_dir_all(c.rules.join(format!("uid/{uid}"))).unwrap();
        assert!(matches!(
            c.register("alpha", false),
            Err(ClientError::Refused(_))
        ));
    }

    /// The registrar's run script gives s6-ipcserverd the caps the client explains.
    #[test]
    fn the_run_script_has_the_caps() {
        let run = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docker/rootfs/etc/s6-overlay/s6-rc.d/registrar/run"
        ))
        .unwrap();
        let want = format!(
            "s6-ipcserverd -1 -c {} -C {}",
            super::super::MAX_REQUESTS,
            super::super::MAX_REQUESTS_PER_UID
        );
        assert!(
            run.contains(&want),
            "{want:?} not in the run script:\n{run}"
        );
    }

    #[test]
    fn default_is_never_sent() {
        let (t, c) = client(r#"echo "$@" > "$(dirname "$0")/argv""#);
        for r in [c.register("default", true), c.unregister("default")] {
            let e = r.unwrap_err();
            assert!(e.to_string().contains("gateway-default"), "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        assert!(
            !t.path().join("argv").exists(),
            "s6-sudo was run for default"
        );
    }

    #[test]
    fn maps_each_failure_to_one_line() {
        let (_t, c) = client("echo 'gateway-alpha already exists'; exit 1");
        assert_eq!(
            c.register("alpha", false),
            Err(ClientError::Failed("gateway-alpha already exists".into()))
        );
        let (_t, c) = client("echo 'invalid profile name'; exit 2");
        assert!(matches!(c.register("x", false), Err(ClientError::Usage(_))));
        let (_t, c) = client(
            "echo 's6-ipcclient: fatal: unable to connect to /run/hermes/registrar.sock: No such file or directory' >&2; exit 111",
        );
        let e = c.unregister("alpha").unwrap_err();
        assert!(matches!(e, ClientError::Unavailable(_)), "{e}");
        assert!(
            e.to_string()
                .starts_with("the slot registrar is not available")
        );
        let (_t, c) = client(
            "echo 's6-sudoc: fatal: unable to connect to the s6-sudod server - check that you have appropriate permissions' >&2; exit 111",
        );
        assert!(matches!(
            c.unregister("alpha"),
            Err(ClientError::Refused(_))
        ));
    }
}
