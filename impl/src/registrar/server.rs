//! The registrar's helper, `hermes-registrar`, as s6-sudod runs it: root, once per request,
//! with the client's argv. It trusts nothing of the client but the uid s6-ipcserverd recorded
//! (and only to log it): fixed paths, never the environment; a strictly parsed request; one
//! request at a time; one log line per request on the container log.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Request};
use crate::names;
use crate::s6::scandir::Scandir;
use nix::fcntl::{Flock, FlockArg};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What a request came to: the exit status, the one line the client sees (on failure), and
/// the `result=` of the log line.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub client_line: Option<String>,
    pub result: String,
}

impl Outcome {
    fn ok(result: &str) -> Self {
        Outcome {
            code: EXIT_OK,
            client_line: None,
            result: result.into(),
        }
    }
    fn refused(code: u8, why: String) -> Self {
        Outcome {
            code,
            result: format!("refused: {why}"),
            client_line: Some(why),
        }
    }
    fn failed(why: String) -> Self {
        Outcome {
            code: EXIT_FAILED,
            result: format!("failed: {why}"),
            client_line: Some(why),
        }
    }
}

/// The exclusive lock that serialises every change to the scandir's gateway slots: held by
/// the helper for a request and by the boot reconciler for its batch.
pub fn lock(path: &Path) -> io::Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))
}

/// Handles one request (the client's argv) against `scandir`, under `lock_path`.
pub fn handle(
    args: &[OsString],
    scandir: &Scandir,
    lock_path: &Path,
) -> (Option<Request>, Outcome) {
    let request = match super::parse(args) {
        Ok(r) => r,
        Err(e) => return (None, Outcome::refused(EXIT_USAGE, e.0)),
    };
    let _guard = match lock(lock_path) {
        Ok(g) => g,
        Err(e) => {
            let why = format!("cannot take {}: {e}", lock_path.display());
            return (Some(request), Outcome::failed(why));
        }
    };
    let outcome = match &request {
        Request::Register { profile, start } => match scandir.register(profile, *start) {
            Ok(()) => Outcome::ok(if *start { "ok (started)" } else { "ok" }),
            Err(crate::s6::Error::AlreadyRegistered(p)) => {
                let slot = names::slot_name(&p);
                Outcome::refused(EXIT_FAILED, format!("{slot} already exists"))
            }
            Err(e) => Outcome::failed(one_line(&e.to_string())),
        },
        Request::Unregister { profile } => match scandir.unregister(profile) {
            Ok(true) => Outcome::ok("ok"),
            Ok(false) => Outcome::ok("ok (no such slot)"),
            Err(e) => Outcome::failed(one_line(&e.to_string())),
        },
    };
    (Some(request), outcome)
}

/// The container-log line for a request: `hermes-registrar: uid=… verb=… profile=… result=…`.
/// `uid` is what s6-ipcserverd recorded for the connection (`direct` when the helper was run
/// without it); verb and profile are escaped, so a client cannot forge a line.
pub fn log_line(uid: &str, args: &[OsString], request: Option<&Request>, o: &Outcome) -> String {
    use std::os::unix::ffi::OsStrExt;
    let raw = |i: usize| {
        args.get(i)
            .map_or_else(|| "-".to_string(), |a| names::escape_for_log(a.as_bytes()))
    };
    let (verb, profile) = match request {
        Some(r) => (r.verb().to_string(), r.profile().to_string()),
        None => (raw(0), raw(1)),
    };
    format!(
        "hermes-registrar: uid={} verb={verb} profile={profile} result={}{}",
        names::escape_for_log(uid.as_bytes()),
        one_line(&o.result),
        crate::BUILD_NOTE
    )
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::s6::programs::fake;
    use crate::s6::slot::Owners;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;

    fn setup() -> (tempfile::TempDir, Scandir) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(&paths.scandir).unwrap();
        for p in ["s6-svscanctl", "s6-svok", "s6-svc"] {
            fake::install(&paths.command_dir, p, "exit 0");
        }
        fake::install(
            &paths.command_dir,
            "s6-svstat",
            "echo 'false false true -1 0 NA 1'",
        );
        let m = fs::metadata(t.path()).unwrap();
        let owners = Owners {
            owner: m.uid(),
            hermes_uid: m.uid(),
            hermes_gid: m.gid(),
        };
        let mut s = Scandir::new(paths, owners);
        s.probe = crate::s6::SupervisionProbe::Program(s.programs.clone());
        s.supervise_wait = Duration::from_millis(200);
        s.poll = Duration::from_millis(5);
        (t, s)
    }

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn register_then_refuse_a_second_time_then_unregister() {
        let (t, s) = setup();
        let lock = t.path().join("registrar.lock");
        let (_, o) = handle(&args(&["register", "alpha"]), &s, &lock);
        assert_eq!(o, Outcome::ok("ok"));
        assert!(s.paths.slot_dir("alpha").join("down").exists());
        let (_, o) = handle(&args(&["register", "alpha", "--start"]), &s, &lock);
        assert_eq!(o.code, EXIT_FAILED);
        assert_eq!(
            o.client_line.as_deref(),
            Some("gateway-alpha already exists")
        );
        // s6-svok says the slot is held even once hidden: unregister gives up, reports, and
        // leaves the slot hidden rather than deleting it under a live supervisor.
        let (_, o) = handle(&args(&["unregister", "alpha"]), &s, &lock);
        assert_eq!(o.code, EXIT_FAILED, "{o:?}");
        assert!(o.client_line.unwrap().contains("still holds"));
    }

    #[test]
    fn bad_requests_touch_nothing() {
        let (t, s) = setup();
        let lock = t.path().join("registrar.lock");
        for bad in [&["register", "../dashboard"][..], &["rm", "-rf", "/"][..]] {
            let (req, o) = handle(&args(bad), &s, &lock);
            assert_eq!((req, o.code), (None, EXIT_USAGE));
        }
        assert_eq!(fs::read_dir(&s.paths.scandir).unwrap().count(), 0);
        assert!(!lock.exists(), "a bad request is refused before the lock");
    }

    #[test]
    fn unregister_default_is_refused_and_gateway_default_stays() {
        let (t, s) = setup();
        let lock = t.path().join("registrar.lock");
        let slot = s.paths.slot_dir("default");
        fs::create_dir_all(slot.join("log")).unwrap();
        for req in [&["unregister", "default"][..], &["register", "default"][..]] {
            let (r, o) = handle(&args(req), &s, &lock);
            assert_eq!((r, o.code), (None, EXIT_USAGE), "{req:?}: {o:?}");
            assert!(
                o.client_line.as_deref().unwrap().contains("\"default\""),
                "{o:?}"
            );
        }
        assert!(slot.join("log").is_dir(), "gateway-default must stay");
    }

    #[test]
    fn log_lines_escape_what_the_client_sent() {
        let o = Outcome::refused(EXIT_USAGE, "unknown request".into());
        let line = log_line("10000", &args(&["evil\nverb", "x y"]), None, &o);
        assert_eq!(
            line,
            "hermes-registrar: uid=10000 verb=evil\\x0averb profile=x\\x20y result=refused: unknown request"
        );
        let req = Request::Register {
            profile: "alpha".into(),
            start: true,
        };
        let line = log_line("0", &[], Some(&req), &Outcome::ok("ok (started)"));
        assert_eq!(
            line,
            "hermes-registrar: uid=0 verb=register profile=alpha result=ok (started)"
        );
    }
}
