//! The registrar's root helper as s6-sudod runs it (contract §3.3), the real binary: what it
//! does with a client that never reads its answer, and with what the client put in its
//! environment. Only requests refused before the lock are sent, so nothing here touches the
//! image's paths.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = env!("CARGO_BIN_EXE_hermes-registrar");

/// A blocking pipe whose buffer is full: a write to `w` blocks until someone reads `r`, which
/// nobody does. What a client hands over as its stdout when it never reads its answer.
fn full_blocking_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = nix::unistd::pipe().expect("pipe");
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let chunk = [b'x'; 4096];
    while nix::unistd::write(w.as_fd(), &chunk).is_ok() {}
    // One byte at a time for the last partial page, then back to blocking.
    while nix::unistd::write(w.as_fd(), b"x").is_ok() {}
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .unwrap();
    (r, w)
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn environ(pid: u32) -> Vec<OsString> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| std::ffi::OsStr::from_bytes(v).to_os_string())
        .collect()
}

/// Finding 4: a client whose stdout is full and never read loses its answer; the helper
/// (root, in the image) is gone within its answer deadline instead of blocking forever.
#[test]
fn a_client_that_never_reads_never_pins_the_helper() {
    let (_r, w) = full_blocking_pipe();
    let started = Instant::now();
    let mut child = Command::new(HELPER)
        .args(["register", "Bad"])
        .env_clear()
        .env("IPCREMOTEEUID", "10000")
        .stdin(Stdio::null())
        .stdout(Stdio::from(w))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(5));
    let took = started.elapsed();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let status = status.unwrap_or_else(|| {
        panic!(
            "hermes-registrar `register Bad` with a full, never-read stdout pipe was still \
             running after 5 s (pinned writing its answer); stderr: {err:?}"
        )
    });
    assert_eq!(
        status.code(),
        Some(2),
        "a usage error stays exit 2: {status:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        err.contains("hermes-registrar: uid=10000 verb=register profile=Bad result=refused:"),
        "the log line still goes out: {err:?}"
    );
}

/// Finding 6: whatever s6-sudod forwards from the client, the helper runs (and so starts its
/// children) with a fixed environment: a fixed PATH and the uid s6-ipcserverd recorded.
#[test]
fn the_helper_runs_with_a_fixed_environment_only() {
    let (_r, w) = full_blocking_pipe();
    let mut child = Command::new(HELPER)
        .args(["register", "Bad"])
        .env_clear()
        .env("IPCREMOTEEUID", "10000")
        .env("IPCREMOTEPATH", "/tmp/evil-client-path")
        .env("PATH", "/tmp/evil-bin:/usr/bin")
        .env("HERMES_EVIL", "from-the-client")
        .env("PROTO", "IPC")
        .stdin(Stdio::null())
        // Blocked on its answer for a moment: long enough to read its environment.
        .stdout(Stdio::from(w))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = environ(pid);
    while !seen
        .iter()
        .any(|v| v.as_bytes().starts_with(b"HERMES_REGISTRAR_CLIENT_UID="))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(2));
        seen = environ(pid);
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let _ = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(
        comm.trim_end(),
        "hermes-registra",
        "its process name after the restart"
    );
    let mut seen: Vec<String> = seen
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "HERMES_REGISTRAR_CLIENT_UID=10000".to_string(),
            "PATH=/command:/usr/bin:/bin".to_string()
        ],
        "/proc/{pid}/environ of hermes-registrar: only the fixed environment"
    );
}
