//! Log lines that can never kill the process writing them.
//!
//! During the boot, stdout and stderr are the container log: a pipe that s6-svscan shares with
//! every supervised process and that may be full, or non-blocking (`EAGAIN`), when something
//! else floods it. `println!`/`eprintln!` panic on any write error; these functions instead
//! write each line with one `write(2)` where possible, retry `EINTR`, wait for room (`poll`)
//! on `EAGAIN` for a short, bounded time, and then drop what is left. A dropped log line is
//! the only possible loss; the step goes on.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How long one line may wait for room in a full pipe before it is dropped.
pub const PATIENCE: Duration = Duration::from_millis(200);

/// What happened to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Every byte was written.
    All,
    /// `written` bytes went out, the rest was dropped (full for longer than the patience, or
    /// the reader is gone).
    Dropped { written: usize },
}

/// Writes all of `buf` to `fd`, waiting at most `patience` in total for a full pipe to drain.
/// Never panics, never blocks longer than `patience` on a non-blocking fd (a blocking fd blocks
/// in `write(2)` as it always would).
pub fn write_bounded(fd: BorrowedFd<'_>, buf: &[u8], patience: Duration) -> Written {
    let start = Instant::now();
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::write(fd, &buf[done..]) {
            Ok(0) => return Written::Dropped { written: done },
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let left = patience.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Written::Dropped { written: done };
                }
                let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(_) => return Written::Dropped { written: done },
                }
            }
            // EPIPE, EBADF, EIO…: nobody will read it; the line is lost, the step goes on.
            Err(_) => return Written::Dropped { written: done },
        }
    }
    Written::All
}

fn line_to(fd: BorrowedFd<'_>, line: &str) -> Written {
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    write_bounded(fd, &buf, PATIENCE)
}

/// One line on stdout (the container log during the boot); never panics.
pub fn out(line: &str) -> Written {
    line_to(io::stdout().as_fd(), line)
}

/// One line on stderr; never panics.
pub fn err(line: &str) -> Written {
    line_to(io::stderr().as_fd(), line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use std::io::Read;
    use std::os::fd::OwnedFd;

    fn nonblocking_pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).expect("pipe2")
    }

    /// Fill the pipe until the kernel says EAGAIN.
    fn fill(w: &OwnedFd) -> usize {
        let chunk = [b'x'; 4096];
        let mut total = 0;
        loop {
            match nix::unistd::write(w.as_fd(), &chunk) {
                Ok(n) => total += n,
                Err(Errno::EAGAIN) => return total,
                Err(e) => panic!("filling the pipe: {e}"),
            }
        }
    }

    #[test]
    fn a_full_nonblocking_pipe_drops_the_line_after_the_patience_and_never_panics() {
        let (_r, w) = nonblocking_pipe();
        assert!(fill(&w) > 0);
        // What println! does here: "failed printing to stdout: Resource temporarily
        // unavailable", a panic. This returns, having written nothing.
        let t = Instant::now();
        let got = write_bounded(
            w.as_fd(),
            b"reconcile: profile=p939\n",
            Duration::from_millis(50),
        );
        let took = t.elapsed();
        assert_eq!(got, Written::Dropped { written: 0 });
        assert!(took >= Duration::from_millis(50), "gave up after {took:?}");
        assert!(took < Duration::from_secs(2), "waited {took:?}");
    }

    #[test]
    fn a_full_pipe_that_drains_in_time_gets_the_whole_line() {
        let (r, w) = nonblocking_pipe();
        let filled = fill(&w);
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut f = std::fs::File::from(r);
            let mut all = Vec::new();
            let mut buf = [0u8; 65536];
            // Non-blocking read end: read until the writer's line arrived.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if all.ends_with(b"line\n") {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("reading: {e}"),
                }
            }
            all
        });
        let got = write_bounded(w.as_fd(), b"the whole line\n", Duration::from_secs(5));
        assert_eq!(got, Written::All);
        drop(w);
        let all = reader.join().expect("reader");
        assert_eq!(all.len(), filled + b"the whole line\n".len());
        assert!(all.ends_with(b"the whole line\n"));
    }

    #[test]
    fn a_closed_reader_loses_the_line_without_a_signal_death() {
        // EPIPE (SIGPIPE is ignored by the Rust runtime): dropped, not fatal.
        let (r, w) = nonblocking_pipe();
        drop(r);
        assert_eq!(
            write_bounded(w.as_fd(), b"x\n", Duration::from_millis(10)),
            Written::Dropped { written: 0 }
        );
    }
}
