//! Polling with a deadline: the only way the suite waits. No fixed sleeps.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Interval between two polls: short, because every probe is a cheap exec.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Poll `probe` until it returns `Some`, or fail after `deadline` naming `what` and the last
/// observation (so a timeout says what was seen, not just that time ran out).
pub async fn poll_until<T, F, Fut>(what: &str, deadline: Duration, probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, String>>,
{
    poll_every(what, deadline, POLL_INTERVAL, probe).await
}

/// `poll_until` with another interval, for probes that cost no exec (a read of the host's
/// /proc) and whose moment matters to the millisecond.
pub async fn poll_every<T, F, Fut>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, String>>,
{
    let start = Instant::now();
    let mut last = String::from("(no observation yet)");
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(observed) => last = observed,
        }
        if start.elapsed() >= deadline {
            bail!("timed out after {deadline:?} waiting for {what}; last observation: {last}");
        }
        tokio::time::sleep(interval).await; // poll interval inside a deadline loop
    }
}

/// Assert that `probe` keeps holding for the whole `window` — the one place the suite spends
/// time on purpose: proving something *stays* so (e.g. down) needs a window longer than s6's
/// 1 s restart backoff. Fails at the first observation that breaks it.
pub async fn holds_for<F, Fut>(what: &str, window: Duration, mut probe: F) -> Result<u32>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    let mut checks = 0;
    while start.elapsed() < window {
        if let Err(observed) = probe().await {
            bail!(
                "{what} stopped holding after {:?} ({checks} good checks): {observed}",
                start.elapsed()
            );
        }
        checks += 1;
        tokio::time::sleep(POLL_INTERVAL * 2).await; // spacing between checks of a stability window
    }
    Ok(checks)
}
