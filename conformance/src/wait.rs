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

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
            .block_on(f)
    }

    #[test]
    fn a_probe_answers_with_question_marks_and_bail() {
        let mut n = 0;
        let got = block_on(poll_every(
            "the third look",
            Duration::from_secs(5),
            Duration::ZERO,
            || {
                n += 1;
                let seen = n;
                async move {
                    let parsed: u32 = format!("{seen}").parse()?; // an anyhow-able error, by `?`
                    if parsed < 3 {
                        bail!("saw {parsed}");
                    }
                    Ok(Some(parsed))
                }
            },
        ));
        assert_eq!(got.expect("answered on the third look"), 3);
    }

    #[test]
    fn a_timeout_names_what_and_the_last_observation_with_its_causes() {
        let err = block_on(poll_every(
            "the slot to be up",
            Duration::from_millis(30),
            Duration::from_millis(5),
            || async {
                let e = anyhow::anyhow!("s6-svstat exit 1").context("reading gateway-x");
                Err::<Option<()>, _>(e)
            },
        ))
        .expect_err("never answers");
        let msg = err.to_string();
        assert!(msg.contains("waiting for the slot to be up"), "{msg}");
        assert!(
            msg.contains("last observation: reading gateway-x: s6-svstat exit 1"),
            "{msg}"
        );
    }

    #[test]
    fn a_string_observation_still_works() {
        let err = block_on(holds_for("a window", Duration::from_secs(1), || async {
            Err::<(), _>(String::from("broke"))
        }))
        .expect_err("breaks at once");
        assert!(
            err.to_string().contains("a window stopped holding"),
            "{err}"
        );
        assert!(err.to_string().ends_with(": broke"), "{err}");
    }
}
