//! Calls to s6 programs by absolute path, each bounded by a timeout. `/command` is not on the
//! `docker exec` PATH, so nothing here relies on PATH lookup.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Default bound on a single s6 program call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// An s6 program that could not be run, timed out, or exited non-zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S6Error {
    pub program: String,
    pub args: Vec<String>,
    pub kind: S6ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S6ErrorKind {
    Spawn(String),
    Timeout(Duration),
    Exit {
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
}

impl S6Error {
    /// Exit code if the program ran and exited with one.
    pub fn exit_code(&self) -> Option<i32> {
        match &self.kind {
            S6ErrorKind::Exit { code, .. } => *code,
            _ => None,
        }
    }
}

impl fmt::Display for S6Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cmd = std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        match &self.kind {
            S6ErrorKind::Spawn(e) => write!(f, "cannot run {cmd}: {e}"),
            S6ErrorKind::Timeout(d) => write!(f, "{cmd} timed out after {} ms", d.as_millis()),
            S6ErrorKind::Exit { code, stderr, .. } => {
                let code = code.map_or_else(|| "signal".to_string(), |c| c.to_string());
                let stderr = stderr.trim();
                if stderr.is_empty() {
                    write!(f, "{cmd} failed (exit {code})")
                } else {
                    write!(f, "{cmd} failed (exit {code}): {stderr}")
                }
            }
        }
    }
}

impl std::error::Error for S6Error {}

/// Output of a successful call.
#[derive(Debug, Clone)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs programs from one directory (`/command` in production).
#[derive(Debug, Clone)]
pub struct Programs {
    pub dir: PathBuf,
    pub timeout: Duration,
}

impl Programs {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Programs {
            dir: dir.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }

    /// Runs `program args…`; non-zero exit is an error carrying the exit code and stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output, S6Error> {
        self.run_with_timeout(program, args, self.timeout)
    }

    pub fn run_with_timeout(
        &self,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Output, S6Error> {
        let path = self.path(program);
        let err = |kind| S6Error {
            program: path.display().to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
            kind,
        };
        let (status, stdout, stderr) = run_bounded(&path, args, timeout).map_err(&err)?;
        if status == Some(0) {
            Ok(Output { stdout, stderr })
        } else {
            Err(err(S6ErrorKind::Exit {
                code: status,
                stdout,
                stderr,
            }))
        }
    }

    /// True iff the program exits 0 (any failure, including a timeout, is false).
    pub fn succeeds(&self, program: &str, args: &[&str]) -> bool {
        self.run(program, args).is_ok()
    }
}

/// Spawns, drains stdout/stderr on threads (so a chatty child cannot block on a full pipe),
/// polls for exit until the deadline, and kills the child when it is reached.
fn run_bounded(
    path: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<(Option<i32>, String, String), S6ErrorKind> {
    let spawn = || {
        Command::new(path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // ETXTBSY: the program file is still open for writing in some process — a script written
    // a moment ago while another thread forked (the unit tests' fake programs). Brief and
    // harmless: try again for a few milliseconds.
    let mut tries = 0;
    let mut child = loop {
        match spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                thread::sleep(Duration::from_millis(2));
            }
            other => break other.map_err(|e| S6ErrorKind::Spawn(e.to_string()))?,
        }
    };
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill(&mut child);
                return Err(S6ErrorKind::Timeout(timeout));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill(&mut child);
                return Err(S6ErrorKind::Spawn(e.to_string()));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.code(), stdout, stderr))
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

#[cfg(test)]
pub(crate) mod fake {
    //! Fake s6 programs: small sh scripts in a temp command dir.
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    pub fn install(dir: &Path, name: &str, body: &str) {
        fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_and_failure() {
        let t = tempfile::tempdir().unwrap();
        fake::install(t.path(), "ok", "echo out; echo err >&2");
        fake::install(
            t.path(),
            "bad",
            "echo 'unable to control: Permission denied' >&2; exit 111",
        );
        let p = Programs::new(t.path());
        let o = p.run("ok", &["-a"]).unwrap();
        assert_eq!(o.stdout, "out\n");
        let e = p.run("bad", &["-a", "/run/service"]).unwrap_err();
        assert_eq!(e.exit_code(), Some(111));
        let msg = e.to_string();
        assert!(
            msg.contains("bad -a /run/service failed (exit 111): unable to control"),
            "{msg}"
        );
    }

    #[test]
    fn missing_program() {
        let t = tempfile::tempdir().unwrap();
        let e = Programs::new(t.path()).run("nope", &[]).unwrap_err();
        assert!(matches!(e.kind, S6ErrorKind::Spawn(_)));
        assert!(e.to_string().contains("cannot run"));
    }

    #[test]
    fn timeout_kills() {
        let t = tempfile::tempdir().unwrap();
        fake::install(t.path(), "slow", "exec sleep 30");
        let start = Instant::now();
        let e = Programs::new(t.path())
            .run_with_timeout("slow", &[], Duration::from_millis(200))
            .unwrap_err();
        assert!(matches!(e.kind, S6ErrorKind::Timeout(_)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
