//! Running part of a root boot step as hermes: `s6-setuidgid hermes <this program> <args>`
//! (uid, gid and supplementary groups from the user database, as everywhere in the image),
//! with `HOME` set as s6-setuidgid does not. Used where root must not touch hermes' files:
//! the reconciler reads profiles and writes the boot log as hermes (contract §5).
//!
//! The child runs as hermes, so every other hermes process may signal it: a `kill -STOP` once
//! held the whole boot (and the registrar's lock) for as long as hermes liked. Root therefore
//! waits for it at most [`DEADLINE`], then kills it and goes on without its answer
//! (contract §2.2 point 5, §10 promise 4).

use crate::paths::{COMMAND_DIR, DEFAULT_HERMES_HOME};
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long root waits for a step it runs as hermes. Reading 1000 profiles takes well under a
/// second here; 15 s is the boot's bound for every other wait (`S6_CMD_WAIT_FOR_SERVICES_MAXTIME`).
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The most root reads of the child's stdout: a plan of 1000 profiles is ~200 KiB, and a
/// hermes process that ptraces the child must not make root buffer without bound.
const MAX_OUTPUT: u64 = 16 << 20;

/// How often root looks whether the child has exited.
const POLL: Duration = Duration::from_millis(5);

/// Runs `args` of the current program as hermes, feeding it `stdin`; returns its stdout. Its
/// stderr is ours (the container log). A non-zero exit, a child still running after
/// `deadline` (then killed) or more than [`MAX_OUTPUT`] bytes are errors naming the step.
pub fn run(args: &[&str], stdin: &[u8], deadline: Duration) -> io::Result<Vec<u8>> {
    let me = std::env::current_exe()?;
    let mut cmd = Command::new(format!("{COMMAND_DIR}/s6-setuidgid"));
    cmd.arg("hermes")
        .arg(&me)
        .args(args)
        .env("HOME", DEFAULT_HERMES_HOME);
    let what = format!("`{} {}` as hermes", me.display(), args.join(" "));
    run_bounded(cmd, &what, stdin, deadline)
}

/// [`run`]'s wait, for any command: `what` names it in errors.
fn run_bounded(
    mut cmd: Command,
    what: &str,
    stdin: &[u8],
    deadline: Duration,
) -> io::Result<Vec<u8>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let started = Instant::now();
    // Fed and read from threads: the child may fill its stdout before it has read all of
    // stdin, and neither pipe may hold root past the deadline (a stopped child reads nothing).
    let mut pipe = child.stdin.take().expect("stdin was piped");
    let input = stdin.to_vec();
    let (fed_tx, fed_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = fed_tx.send(pipe.write_all(&input));
    });
    let out = child.stdout.take().expect("stdout was piped");
    let (out_tx, out_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = out.take(MAX_OUTPUT + 1).read_to_end(&mut buf).map(|_| buf);
        let _ = out_tx.send(r);
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() >= deadline {
            // SIGKILL ends a stopped child too; reaped so no zombie is left behind.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{what} did not finish within {} s: killed it",
                    deadline.as_secs()
                ),
            ));
        }
        std::thread::sleep(POLL);
    };
    if !status.success() {
        return Err(io::Error::other(format!("{what} failed ({status})")));
    }
    // The child has exited, so its end of the pipe is closed: the reader finishes at once
    // (unless something the child started still holds it, which the rest of the deadline
    // bounds).
    let rest = deadline.saturating_sub(started.elapsed()).max(POLL);
    let stdout = match out_rx.recv_timeout(rest) {
        Ok(r) => r?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what}: its output stayed open past the deadline"),
            ));
        }
    };
    if stdout.len() as u64 > MAX_OUTPUT {
        return Err(io::Error::other(format!(
            "{what} wrote more than {MAX_OUTPUT} bytes"
        )));
    }
    match fed_rx.recv_timeout(Duration::from_millis(100)) {
        Ok(fed) => fed?,
        Err(_) => {
            return Err(io::Error::other(format!("{what}: its input was not taken")));
        }
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn answers_with_the_childs_output() {
        let out = run_bounded(sh("cat; echo done"), "cat", b"in\n", DEADLINE).unwrap();
        assert_eq!(out, b"in\ndone\n");
    }

    #[test]
    fn a_failed_child_is_an_error_naming_it() {
        let e = run_bounded(sh("exit 3"), "`step`", b"", DEADLINE).unwrap_err();
        assert!(e.to_string().contains("`step` failed"), "{e}");
    }

    /// What hermes did at the boot: `kill -STOP` the child. Root must not wait past the
    /// deadline, and the stopped child must be gone afterwards.
    #[test]
    fn a_stopped_child_is_killed_at_the_deadline() {
        let deadline = Duration::from_millis(300);
        let t = Instant::now();
        let e = run_bounded(sh("echo $$ >&2; kill -STOP $$"), "`step`", b"", deadline).unwrap_err();
        let took = t.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(e.to_string().contains("did not finish within"), "{e}");
        assert!(took >= deadline && took < deadline * 10, "took {took:?}");
    }

    #[test]
    fn a_child_that_never_reads_its_input_cannot_hold_root() {
        // 1 MiB into a pipe nobody reads, and a child that sleeps: bounded all the same.
        let input = vec![b'x'; 1 << 20];
        let t = Instant::now();
        let e =
            run_bounded(sh("sleep 30"), "`step`", &input, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
