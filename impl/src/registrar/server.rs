//! The registrar's helper, `hermes-registrar`, as s6-sudod runs it: root, once per request,
//! with the client's argv. It trusts nothing of the client but the uid s6-ipcserverd recorded
//! (and only to log it): a fixed environment (`environment`: it starts itself again with only
//! that), fixed paths; a strictly parsed request; one request at a time; one log line per
//! request on the container log. Every wait is bounded: its turn (`LOCK_WAIT`, and none at all
//! once its client has gone), the change (the scandir's own deadlines), its answer
//! (`ANSWER_WAIT_SECS`, then the answer is dropped).

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, Request};
use crate::names;
use crate::s6::scandir::Scandir;
use crate::safe_walk::Dir;
use nix::fcntl::{FcntlArg, fcntl};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a request waits for its turn while other requests hold the lock, before it is
/// refused as busy. Under the client's own deadline (`client::REQUEST_TIMEOUT`).
pub const LOCK_WAIT: Duration = Duration::from_secs(15);
/// How long the helper may take to hand its answer (and its log line) over once the change is
/// made: a client that does not read it by then loses it; the helper exits regardless.
pub const ANSWER_WAIT_SECS: u32 = 1;
/// The helper's `PATH`, whatever the client sent (it calls s6 programs by absolute path anyway).
pub const FIXED_PATH: &str = "/command:/usr/bin:/bin";
/// The one other variable of the helper's fixed environment: the client's uid as s6-ipcserverd
/// recorded it (`IPCREMOTEEUID`), for the log line only.
pub const CLIENT_UID_VAR: &str = "HERMES_REGISTRAR_CLIENT_UID";

/// What the helper does with the environment it was started with.
#[derive(Debug, PartialEq, Eq)]
pub enum Env {
    /// Already exactly the fixed environment: go on; the client's uid for the log line.
    Fixed { client_uid: String },
    /// Anything else (what s6-sudod hands over: the server's variables, and client values for
    /// any the server left empty): start again with exactly this, nothing inherited.
    Restart(Vec<(OsString, OsString)>),
}

/// Decides `Env` from the process environment. The fixed one is `PATH` and `CLIENT_UID_VAR`
/// and nothing else; the uid comes from `IPCREMOTEEUID` (set by s6-ipcserverd from the peer's
/// credentials, never overridable by the client, which may only fill variables the server left
/// empty), `direct` when absent, `invalid` when not a number.
pub fn environment(env: &[(OsString, OsString)]) -> Env {
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_os_str());
    let uid_ok = |v: &OsStr| {
        let v = v.as_encoded_bytes();
        v == b"direct" || v == b"invalid" || (!v.is_empty() && v.iter().all(u8::is_ascii_digit))
    };
    if env.len() == 2
        && get("PATH") == Some(OsStr::new(FIXED_PATH))
        && let Some(uid) = get(CLIENT_UID_VAR).filter(|v| uid_ok(v))
    {
        return Env::Fixed {
            client_uid: uid.to_string_lossy().into_owned(),
        };
    }
    let uid = match get("IPCREMOTEEUID") {
        None => "direct",
        Some(v) if uid_ok(v) && v != "direct" && v != "invalid" => {
            return Env::Restart(fixed(v));
        }
        Some(_) => "invalid",
    };
    Env::Restart(fixed(OsStr::new(uid)))
}

fn fixed(uid: &OsStr) -> Vec<(OsString, OsString)> {
    vec![
        ("PATH".into(), FIXED_PATH.into()),
        (CLIENT_UID_VAR.into(), uid.to_os_string()),
    ]
}

/// What a request came to: the exit status, the one line the client sees (on failure), the
/// `result=` of the log line, and what the sweep before it did (one log line each).
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub client_line: Option<String>,
    pub result: String,
    pub swept: Vec<String>,
}

impl Outcome {
    fn ok(result: &str) -> Self {
        Outcome {
            code: EXIT_OK,
            client_line: None,
            result: result.into(),
            swept: Vec::new(),
        }
    }
    fn refused(code: u8, why: String) -> Self {
        Outcome {
            code,
            result: format!("refused: {why}"),
            client_line: Some(why),
            swept: Vec::new(),
        }
    }
    fn failed(why: String) -> Self {
        Outcome {
            code: EXIT_FAILED,
            result: format!("failed: {why}"),
            client_line: Some(why),
            swept: Vec::new(),
        }
    }
}

/// The registrar's lock, held while it exists: an open file description lock
/// (`F_OFD_SETLK`) on the whole file, so it conflicts with any other open of the file, in this
/// process or another, and with the POSIX locks `s6-setlock` takes (an operator, or the suite,
/// can hold the registrar still with `s6-setlock /run/hermes/registrar.lock …`).
#[derive(Debug)]
pub struct RegistrarLock {
    _file: File,
}

/// The lock file, reached with the safe walk: a regular file, never a link or FIFO.
fn open_lock(path: &Path) -> io::Result<File> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other(format!(
            "{} is not a file path",
            path.display()
        )));
    };
    Dir::open(dir)
        .and_then(|d| d.open_regular_rw(name, 0o600))
        .map_err(io::Error::from)
}

fn write_lock() -> nix::libc::flock {
    nix::libc::flock {
        l_type: nix::libc::F_WRLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

/// The exclusive lock that serialises every change to the scandir's gateway slots: held by
/// the helper for a request and by the boot reconciler for its batch. Waits as long as it takes.
pub fn lock(path: &Path) -> io::Result<RegistrarLock> {
    let file = open_lock(path)?;
    loop {
        match fcntl(&file, FcntlArg::F_OFD_SETLKW(&write_lock())) {
            Ok(_) => return Ok(RegistrarLock { _file: file }),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// How waiting for the lock ended.
#[derive(Debug)]
pub enum Turn {
    Locked(RegistrarLock),
    /// The client went away first (s6-sudod's SIGTERM): nothing was done.
    ClientGone,
    /// Other requests held the lock for all of `limit`.
    Busy(Duration),
}

/// Waits for the lock at most `limit`, and not at all once `client_gone` says so.
pub fn lock_within(
    path: &Path,
    limit: Duration,
    client_gone: &dyn Fn() -> bool,
) -> io::Result<Turn> {
    let file = open_lock(path)?;
    let start = Instant::now();
    loop {
        match fcntl(&file, FcntlArg::F_OFD_SETLK(&write_lock())) {
            Ok(_) => return Ok(Turn::Locked(RegistrarLock { _file: file })),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        if client_gone() {
            return Ok(Turn::ClientGone);
        }
        if start.elapsed() >= limit {
            return Ok(Turn::Busy(limit));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Handles one request (the client's argv) against `scandir`, under `lock_path`, with a
/// client that stays (the unit tests'); see `handle_with`.
pub fn handle(
    args: &[OsString],
    scandir: &Scandir,
    lock_path: &Path,
) -> (Option<Request>, Outcome) {
    handle_with(args, scandir, lock_path, LOCK_WAIT, &|| false)
}

/// Handles one request: parse; wait for the lock (at most `lock_wait`, and no longer once
/// `client_gone`); sweep what requests that died left in the scandir; make the change.
pub fn handle_with(
    args: &[OsString],
    scandir: &Scandir,
    lock_path: &Path,
    lock_wait: Duration,
    client_gone: &dyn Fn() -> bool,
) -> (Option<Request>, Outcome) {
    let request = match super::parse(args) {
        Ok(r) => r,
        Err(e) => return (None, Outcome::refused(EXIT_USAGE, e.0)),
    };
    let _guard = match lock_within(lock_path, lock_wait, client_gone) {
        Ok(Turn::Locked(g)) => g,
        Ok(Turn::ClientGone) => {
            let why = "the client went away before the request's turn; nothing was done";
            return (Some(request), Outcome::failed(why.into()));
        }
        Ok(Turn::Busy(d)) => {
            let why = format!(
                "the slot registrar is busy: other requests held its lock for {} s; nothing \
                 was done, try again",
                d.as_secs()
            );
            return (Some(request), Outcome::failed(why));
        }
        Err(e) => {
            let why = format!("cannot take {}: {e}", lock_path.display());
            return (Some(request), Outcome::failed(why));
        }
    };
    let swept = match scandir.remove_stale_staging() {
        Ok(removed) => removed
            .iter()
            .map(|p| {
                format!(
                    "removed staging dir {} left by a request that died",
                    p.display()
                )
            })
            .collect(),
        Err(e) => vec![format!(
            "cannot sweep staging dirs: {}",
            one_line(&e.to_string())
        )],
    };
    let mut outcome = match &request {
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
    outcome.swept = swept;
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
    use crate::s6::programs::fake;
    use crate::s6::scandir::fixture;
    use std::fs;

    fn setup() -> (tempfile::TempDir, Scandir) {
        fixture::scandir("exit 0", "exit 0")
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

    /// Finding 5: a request that died (its client killed, the helper with it) leaves its
    /// staging or deletion dir; the next request sweeps it under the lock, except a dir an
    /// s6-supervise still holds.
    #[test]
    fn staging_dirs_of_requests_that_died_are_swept_before_the_next_request() {
        let (t, s) = setup();
        // Only the hidden `.del.77` dir and its logger are still supervised.
        fake::install(
            &s.paths.command_dir,
            "s6-svok",
            r#"case "$1" in *.del.77|*.del.77/log) exit 0;; */.gateway-*) exit 1;; *) exit 0;; esac"#,
        );
        let lock = t.path().join("registrar.lock");
        for n in [
            ".gateway-a.new.12/log",
            ".gateway-b.del.13/log",
            ".gateway-c.del.77/log",
        ] {
            fs::create_dir_all(s.paths.scandir.join(n)).unwrap();
        }
        let (_, o) = handle(&args(&["register", "alpha"]), &s, &lock);
        assert_eq!(o.code, EXIT_OK, "{o:?}");
        let mut left: Vec<String> = fs::read_dir(&s.paths.scandir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec![".gateway-c.del.77", "gateway-alpha"]);
    }

    #[test]
    fn a_request_waits_for_its_turn_boundedly_and_not_at_all_once_its_client_is_gone() {
        let (t, s) = setup();
        let lock_path = t.path().join("registrar.lock");
        let held = lock(&lock_path).unwrap();
        let started = Instant::now();
        let (_, o) = handle_with(
            &args(&["register", "alpha"]),
            &s,
            &lock_path,
            Duration::from_secs(10),
            &|| true,
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(o.code, EXIT_FAILED);
        assert!(o.client_line.unwrap().contains("went away"));
        let (_, o) = handle_with(
            &args(&["register", "alpha"]),
            &s,
            &lock_path,
            Duration::from_millis(100),
            &|| false,
        );
        assert_eq!(o.code, EXIT_FAILED);
        assert!(
            o.client_line
                .unwrap()
                .starts_with("the slot registrar is busy"),
            "{:?}",
            o.result
        );
        assert!(!s.paths.slot_dir("alpha").exists(), "nothing was done");
        drop(held);
        let (_, o) = handle(&args(&["register", "alpha"]), &s, &lock_path);
        assert_eq!(o.code, EXIT_OK, "{o:?}");
    }

    #[test]
    fn the_fixed_environment_keeps_only_the_recorded_uid() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let fixed = |uid: &str| Env::Restart(env(&[("PATH", FIXED_PATH), (CLIENT_UID_VAR, uid)]));
        // What s6-sudod hands over, with a client value where the server's was empty.
        let from_sudod = env(&[
            ("PROTO", "IPC"),
            ("IPCREMOTEEUID", "10000"),
            ("IPCREMOTEPATH", "/tmp/evil"),
            ("PATH", "/tmp/evil-bin"),
            ("LD_PRELOAD", "/tmp/evil.so"),
        ]);
        assert_eq!(environment(&from_sudod), fixed("10000"));
        assert_eq!(environment(&env(&[("PATH", "/bin")])), fixed("direct"));
        assert_eq!(
            environment(&env(&[("IPCREMOTEEUID", "0;rm")])),
            fixed("invalid")
        );
        // Started again with exactly that: go on.
        assert_eq!(
            environment(&env(&[("PATH", FIXED_PATH), (CLIENT_UID_VAR, "10000")])),
            Env::Fixed {
                client_uid: "10000".into()
            }
        );
        // One variable more, or a PATH of the client's: start again.
        let mut more = env(&[("PATH", FIXED_PATH), (CLIENT_UID_VAR, "10000")]);
        more.push(("X".into(), "y".into()));
        assert!(matches!(environment(&more), Env::Restart(_)));
        assert!(matches!(
            environment(&env(&[("PATH", "/tmp"), (CLIENT_UID_VAR, "10000")])),
            Env::Restart(_)
        ));
        assert!(matches!(
            environment(&env(&[("PATH", FIXED_PATH), (CLIENT_UID_VAR, "1 0")])),
            Env::Restart(_)
        ));
    }

    #[test]
    fn log_lines_escape_what_the_client_sent() {
        let o = Outcome::refused(EXIT_USAGE, "unknown request".into());
        let line = log_line("10000", &args(&["evil\nverb", "x y"]), None, &o);
        // A regression build (feature `regression`) notes itself at the end of every line.
        assert_eq!(
            line,
            format!(
                "hermes-registrar: uid=10000 verb=evil\\x0averb profile=x\\x20y result=refused: unknown request{}",
                crate::BUILD_NOTE
            )
        );
        let req = Request::Register {
            profile: "alpha".into(),
            start: true,
        };
        let line = log_line("0", &[], Some(&req), &Outcome::ok("ok (started)"));
        assert_eq!(
            line,
            format!(
                "hermes-registrar: uid=0 verb=register profile=alpha result=ok (started){}",
                crate::BUILD_NOTE
            )
        );
    }
}
