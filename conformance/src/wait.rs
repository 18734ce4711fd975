//! Polling with a deadline: the only way the suite waits. No fixed sleeps.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Interval between two polls: short, because every probe is a cheap exec.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Poll `probe` until it returns `Ok(Some(_))`, or fail after `deadline` naming `what` and the
/// last observation (so a timeout says what was seen, not just that time ran out).
///
/// The probe's protocol: `Ok(Some(v))` is the answer; `Ok(None)` is "not yet" with nothing new
/// to report; `Err(e)` is "not yet, and this is what I saw" — the error becomes the last
/// observation and polling goes on. Any error type that displays will do, so a probe written
/// with `?` over `anyhow::Result` (a failed exec, say) and `bail!("saw {x}")` for a reading
/// that is not the wanted one needs no conversion.
pub async fn poll_until<T, E, F, Fut>(what: &str, deadline: Duration, probe: F) -> Result<T>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    poll_every(what, deadline, POLL_INTERVAL, probe).await
}

/// `poll_until` with another interval, for probes that cost no exec (a read of the host's
/// /proc) and whose moment matters to the millisecond.
pub async fn poll_every<T, E, F, Fut>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut probe: F,
) -> Result<T>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let start = Instant::now();
    let mut last = String::from("(no observation yet)");
    loop {
        match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            // `{:#}`: an anyhow error with its causes on one line.
            Err(observed) => last = format!("{observed:#}"),
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
pub async fn holds_for<E, F, Fut>(what: &str, window: Duration, mut probe: F) -> Result<u32>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let start = Instant::now();
    let mut checks = 0;
    while start.elapsed() < window {
        if let Err(observed) = probe().await {
            bail!(
                "{what} stopped holding after {:?} ({checks} good checks): {observed:#}",
                start.elapsed()
            );
        }
        checks += 1;
        tokio::time::sleep(POLL_INTERVAL * 2).await; // spacing between checks of a stability window
    }
    Ok(checks)
}
