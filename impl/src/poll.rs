//! The one bounded wait: poll a condition at an interval until it holds or a deadline passes.
//! hermes cannot subscribe to s6's events (their `event/` dirs are root's, contract §10), so
//! every wait on s6 state is a poll of `s6-svstat`/`s6-svok` with a deadline.

use std::thread;
use std::time::{Duration, Instant};

/// Calls `f` until it returns true (→ true) or `limit` has passed (→ false), sleeping
/// `interval` between calls. `f` is always called at least once.
pub fn until(limit: Duration, interval: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(interval);
    }
}

/// Polls `remaining` (how much is still to happen) until it is 0 (→ true). Gives up (→ false)
/// once `stall` passes without it going down, or `cap` passes in all. For waits whose length
/// grows with the work: s6-svscan forking hundreds of supervisors on a busy machine is slow but
/// makes progress, and is waited for; a scanner that makes none is given up on after `stall`.
pub fn until_done_or_stalled(
    stall: Duration,
    cap: Duration,
    interval: Duration,
    mut remaining: impl FnMut() -> usize,
) -> bool {
    let started = Instant::now();
    let mut last = usize::MAX;
    let mut progressed = started;
    loop {
        let now_left = remaining();
        if now_left == 0 {
            return true;
        }
        let now = Instant::now();
        if now_left < last {
            last = now_left;
            progressed = now;
        }
        if now.duration_since(progressed) >= stall || now.duration_since(started) >= cap {
            return false;
        }
        thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_while_progressing_and_gives_up_on_a_stall() {
        // 6 steps of 20 ms each: 120 ms in all, longer than the 50 ms stall limit, but each
        // step makes progress, so the wait succeeds.
        let started = Instant::now();
        let ok = until_done_or_stalled(
            Duration::from_millis(50),
            Duration::from_secs(5),
            Duration::from_millis(2),
            || 6usize.saturating_sub((started.elapsed().as_millis() / 20) as usize),
        );
        assert!(ok);
        assert!(started.elapsed() >= Duration::from_millis(120));
        // No progress at all: given up after the stall limit, not the cap.
        let started = Instant::now();
        assert!(!until_done_or_stalled(
            Duration::from_millis(40),
            Duration::from_secs(5),
            Duration::from_millis(2),
            || 3,
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        // Progress that never finishes: the cap ends it.
        let started = Instant::now();
        let mut n = usize::MAX;
        assert!(!until_done_or_stalled(
            Duration::from_millis(40),
            Duration::from_millis(100),
            Duration::from_millis(2),
            || {
                n -= 1;
                n
            },
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn stops_when_true_or_at_the_deadline() {
        let mut n = 0;
        assert!(until(Duration::from_secs(5), Duration::ZERO, || {
            n += 1;
            n == 3
        }));
        assert_eq!(n, 3);
        let started = Instant::now();
        assert!(!until(
            Duration::from_millis(30),
            Duration::from_millis(5),
            || false
        ));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
