//! Every deadline and window more than one area uses, each defined once with the reason for
//! its value. A deadline bounds a wait that ends as soon as the state shows; a window is time
//! spent on purpose, to prove that something *stays* so.

use std::time::Duration;

/// How long a state change may take to show in s6 (a start, a stop, a rescan picking up a
/// slot). The CLI itself waits for most of them; 15 s is generous on a loaded 2-core machine
/// and still fails a hung scenario in reasonable time.
pub const STATE_DEADLINE: Duration = Duration::from_secs(15);

/// s6-supervise's restart backoff: it waits 1 s before running again a service that died
/// within a second of starting.
pub const S6_RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// How long a service must be seen down to count as *staying* down: two and a half backoffs,
/// so a service that s6 was going to restart has had time to be restarted and seen up (one
/// backoff, plus the exec and poll latency of a loaded machine, plus margin).
pub const STAYS_DOWN_WINDOW: Duration = Duration::from_millis(2500);

/// How long to keep watching for a planted service to be run by root: four backoffs, so a
/// plant that s6 would run gets several chances to run and leave its evidence.
pub const PLANT_WATCH: Duration = Duration::from_secs(4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_outlast_the_backoff() {
        assert!(STAYS_DOWN_WINDOW >= S6_RESTART_BACKOFF * 2);
        assert!(PLANT_WATCH >= S6_RESTART_BACKOFF * 3);
    }
}
