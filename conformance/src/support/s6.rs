//! s6's view of a service, read from inside the container as the scenario user, and the waits
//! on it. The truth comes from `s6-svstat -o` and `s6-svok`, never from the CLI's wording.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::windows::STATE_DEADLINE;
use crate::{Container, wait};

/// One `s6-svstat -o up,wantedup,pid` reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvStat {
    pub up: bool,
    pub wanted_up: bool,
    /// `-1` when down.
    pub pid: i64,
}

pub fn parse_svstat(line: &str) -> Option<SvStat> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let b = |s: &str| match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    match f.as_slice() {
        [up, wanted, pid] => Some(SvStat {
            up: b(up)?,
            wanted_up: b(wanted)?,
            pid: pid.parse().ok()?,
        }),
        _ => None,
    }
}

/// Read a service's state as the scenario user.
pub async fn svstat(h: &Container, dir: &str) -> Result<SvStat> {
    let o = h
        .exec(&["/command/s6-svstat", "-o", "up,wantedup,pid", dir])
        .await?;
    o.succeeds();
    parse_svstat(o.out()).with_context(|| format!("unparsable s6-svstat output\n{o}"))
}

/// Poll a service's state until `want` holds; the timeout message shows the last reading.
pub async fn wait_svstat(
    h: &Container,
    dir: &str,
    what: &str,
    deadline: Duration,
    want: impl Fn(&SvStat) -> bool,
) -> Result<SvStat> {
    wait::poll_until(&format!("{dir} to be {what}"), deadline, || async {
        let o = h
            .exec(&["/command/s6-svstat", "-o", "up,wantedup,pid", dir])
            .await?;
        if !o.success() {
            bail!("s6-svstat exit {:?}: {}", o.code, o.stderr.trim());
        }
        match parse_svstat(o.out()) {
            Some(s) if want(&s) => Ok(Some(s)),
            Some(s) => bail!("{s:?}"),
            None => bail!("unparsable: {:?}", o.out()),
        }
    })
    .await
}

/// A slot parked by its finish script (docs/contract.md §6.2: exit 78 → 125): down, not wanted
/// up, and the last exit code as s6 recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parked {
    pub up: bool,
    pub wanted_up: bool,
    pub exit_code: i64,
}

/// `s6-svstat -o up,wantedup,exitcode` as the scenario user.
pub async fn svstat_exit(h: &Container, dir: &str) -> Result<Parked> {
    let o = h
        .exec(&["/command/s6-svstat", "-o", "up,wantedup,exitcode", dir])
        .await?;
    o.succeeds();
    let f: Vec<&str> = o.out().split_whitespace().collect();
    match f.as_slice() {
        [up, wanted, code] => Ok(Parked {
            up: *up == "true",
            wanted_up: *wanted == "true",
            exit_code: code
                .parse()
                .with_context(|| format!("exitcode {code:?} is not a number\n{o}"))?,
        }),
        _ => bail!("unparsable s6-svstat output\n{o}"),
    }
}

/// An s6-supervise answers for `dir` (polled: a rescan is asynchronous).
pub async fn supervised(h: &Container, dir: &str) -> Result<()> {
    wait::poll_until(
        &format!("precondition: {dir} supervised"),
        STATE_DEADLINE,
        || async {
            let o = h.exec(&["/command/s6-svok", dir]).await?;
            if o.success() {
                Ok(Some(()))
            } else {
                bail!("s6-svok exit {:?}: {}", o.code, o.stderr.trim())
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_svstat_lines() {
        assert_eq!(
            parse_svstat("true true 123\n"),
            Some(SvStat {
                up: true,
                wanted_up: true,
                pid: 123
            })
        );
        assert_eq!(
            parse_svstat("false false -1"),
            Some(SvStat {
                up: false,
                wanted_up: false,
                pid: -1
            })
        );
        assert_eq!(parse_svstat("up (pid 12) 3 seconds"), None);
    }
}
