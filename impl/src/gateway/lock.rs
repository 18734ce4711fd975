//! The per-profile PID lock: `gateway.pid` in the profile home, held with `flock` for the
//! life of the process. The kernel drops the lock when the process dies, so a leftover file
//! is never mistaken for a live gateway.

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

pub const PID_FILE: &str = "gateway.pid";

pub struct PidLock {
    _lock: Flock<File>,
}

/// The PID file, refused if anything but a regular file sits there (a FIFO would hang the
/// read of the holder's pid).
fn open(home: &Path) -> io::Result<File> {
    crate::fileio::open_or_create_regular(&home.join(PID_FILE), 0o644)
}

fn try_lock(home: &Path) -> io::Result<Result<Flock<File>, File>> {
    let f = open(home)?;
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Ok(l)),
        Err((f, nix::errno::Errno::EWOULDBLOCK)) => Ok(Err(f)),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

fn holder_pid(mut f: &File) -> Option<i32> {
    let mut s = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut s).ok()?;
    let v: serde_json::Value = serde_json::from_str(s.trim()).ok()?;
    v.get("pid")?
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 1)
}

/// Takes the lock. With `replace`, a live holder gets SIGTERM (then SIGKILL after `grace`) and
/// we take over; without it, a live holder is an error naming its pid.
pub fn acquire(home: &Path, replace: bool, grace: Duration) -> Result<PidLock, String> {
    let err = |e: io::Error| format!("cannot open {}: {e}", home.join(PID_FILE).display());
    let mut lock = match try_lock(home).map_err(err)? {
        Ok(l) => l,
        Err(f) => {
            let pid = holder_pid(&f);
            if !replace {
                return Err(match pid {
                    Some(p) => {
                        format!("gateway already running (pid {p}); use --replace to take over")
                    }
                    None => "gateway already running; use --replace to take over".into(),
                });
            }
            let Some(pid) = pid.filter(|p| *p as u32 != std::process::id()) else {
                return Err("gateway lock is held but the holder's pid is unknown".into());
            };
            take_over(home, pid, grace)?
        }
    };
    let body = serde_json::json!({"pid": std::process::id(), "kind": "hermes-gateway"}).to_string();
    let f: &mut File = &mut lock;
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|()| f.write_all(body.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", home.join(PID_FILE).display()))?;
    Ok(PidLock { _lock: lock })
}

fn take_over(home: &Path, pid: i32, grace: Duration) -> Result<Flock<File>, String> {
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    let mut killed = false;
    let start = Instant::now();
    loop {
        if let Ok(Ok(l)) = try_lock(home) {
            return Ok(l);
        }
        if !killed && start.elapsed() >= grace {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            killed = true;
        }
        if start.elapsed() >= grace * 2 {
            return Err(format!(
                "could not take over the gateway lock from pid {pid}"
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_then_succeeds_after_drop() {
        let t = tempfile::tempdir().unwrap();
        let l = acquire(t.path(), false, Duration::from_millis(10)).unwrap();
        let e = acquire(t.path(), false, Duration::from_millis(10))
            .err()
            .unwrap();
        assert!(e.contains("already running"), "{e}");
        drop(l);
        assert!(acquire(t.path(), false, Duration::from_millis(10)).is_ok());
    }

    #[test]
    fn stale_file_is_not_a_holder() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(PID_FILE), r#"{"pid":999999}"#).unwrap();
        assert!(acquire(t.path(), false, Duration::from_millis(10)).is_ok());
    }
}
