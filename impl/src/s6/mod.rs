//! Everything that talks to s6 — and nothing else: detection, program calls, `s6-svstat`
//! parsing, the slot template, adding and removing slots (root, the registrar's code path) and
//! controlling them (hermes). Gateway intent lives with the gateway (`crate::gateway`).

pub mod control;
pub mod detect;
pub mod programs;
pub mod scandir;
pub mod slot;
pub mod svstat;

use crate::names::NameError;
use programs::S6Error;
use std::fmt;
use std::io;
use std::path::Path;

/// What can go wrong when adding, removing or controlling a slot.
#[derive(Debug)]
pub enum Error {
    Name(NameError),
    NotRegistered(String),
    AlreadyRegistered(String),
    S6(S6Error),
    Io(String, io::Error),
    /// A bounded wait ran out; the message says for what.
    Timeout(String),
    /// The scandir already holds the most gateway slots the scanner was started for.
    Full(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Name(e) => e.fmt(f),
            Error::NotRegistered(p) => write!(
                f,
                "no such gateway '{p}': create it with `hermes profile create {p}`"
            ),
            Error::AlreadyRegistered(p) => write!(f, "gateway '{p}' is already registered"),
            Error::S6(e) => e.fmt(f),
            Error::Io(ctx, e) => write!(f, "{ctx}: {e}"),
            Error::Timeout(what) | Error::Full(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {}

impl From<S6Error> for Error {
    fn from(e: S6Error) -> Self {
        Error::S6(e)
    }
}

impl From<NameError> for Error {
    fn from(e: NameError) -> Self {
        Error::Name(e)
    }
}

/// How the product tells whether an s6-supervise runs on a service dir.
#[derive(Debug, Clone)]
pub enum SupervisionProbe {
    /// What `s6-svok` does — is `supervise/lock` locked? — in-process: no exec per probe,
    /// which matters when a boot waits for hundreds of supervisors at once.
    Lock,
    /// `s6-svok` itself (the unit tests' fake s6 programs answer through it).
    Program(programs::Programs),
}

impl SupervisionProbe {
    pub fn supervised(&self, dir: &Path) -> bool {
        match self {
            SupervisionProbe::Lock => supervise_lock_held(dir),
            SupervisionProbe::Program(p) => p.succeeds("s6-svok", &[&dir.display().to_string()]),
        }
    }
}

/// True when another process holds the `fcntl` lock s6-supervise takes on `supervise/lock`
/// for as long as it runs (skalibs' `fd_lock`). Readable by hermes: `supervise/` is
/// traversable by its group, `lock` is 0644.
pub fn supervise_lock_held(dir: &Path) -> bool {
    use nix::fcntl::{FcntlArg, fcntl};
    let Ok(file) = std::fs::File::open(dir.join("supervise/lock")) else {
        return false;
    };
    let mut probe = nix::libc::flock {
        l_type: nix::libc::F_RDLCK as i16,
        l_whence: nix::libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&file, FcntlArg::F_GETLK(&mut probe))
        .is_ok_and(|_| probe.l_type != nix::libc::F_UNLCK as i16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another process holding the lock the way s6-supervise does (skalibs `fd_lock`:
    /// `fcntl(F_SETLK, F_WRLCK)`) is seen; none, or a lock file alone, is not.
    #[test]
    fn sees_a_supervisors_lock() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("supervise")).unwrap();
        assert!(!supervise_lock_held(t.path()), "no lock file");
        let lock = t.path().join("supervise/lock");
        std::fs::write(&lock, b"").unwrap();
        assert!(!supervise_lock_held(t.path()), "a lock file nobody holds");
        let path = std::ffi::CString::new(lock.as_os_str().as_encoded_bytes()).unwrap();
        let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child only makes async-signal-safe libc calls, then exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => unsafe {
                use std::os::fd::AsRawFd;
                let fd = nix::libc::open(path.as_ptr(), nix::libc::O_WRONLY);
                let fl = nix::libc::flock {
                    l_type: nix::libc::F_WRLCK as i16,
                    l_whence: nix::libc::SEEK_SET as i16,
                    l_start: 0,
                    l_len: 0,
                    l_pid: 0,
                };
                nix::libc::fcntl(fd, nix::libc::F_SETLK, &fl);
                nix::libc::write(ready_w.as_raw_fd(), b"x".as_ptr().cast(), 1);
                nix::libc::sleep(30);
                nix::libc::_exit(0);
            },
            nix::unistd::ForkResult::Parent { child } => {
                let mut b = [0u8; 1];
                nix::unistd::read(&ready_r, &mut b).unwrap();
                let held = supervise_lock_held(t.path());
                nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                assert!(held, "the child's lock must be seen");
                assert!(
                    !supervise_lock_held(t.path()),
                    "released when the holder died"
                );
            }
        }
    }
}
