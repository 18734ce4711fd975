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

#[cfg(test)]
mod tests {
    use super::*;

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
