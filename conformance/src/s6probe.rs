//! Reading s6's view of a slot from inside the container, as the scenario user, and waiting on
//! it with a deadline. The truth comes from `s6-svstat -o`, never from the CLI's wording.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{Container, wait};

pub const SCANDIR: &str = "/run/service";
pub const HERMES_HOME: &str = "/opt/data";

pub fn slot_dir(profile: &str) -> String {
    format!("{SCANDIR}/gateway-{profile}")
}

/// A profile's home: `$HERMES_HOME` for `default`, else `$HERMES_HOME/profiles/<p>`.
pub fn profile_home(profile: &str) -> String {
    if profile == "default" {
        HERMES_HOME.to_string()
    } else {
        format!("{HERMES_HOME}/profiles/{profile}")
    }
}

/// The gateway port SPEC §6.2 derives from a profile name, computed independently of the
/// product: 9200 + (first 8 hex digits of sha256(name)) mod 600.
pub fn expected_port(profile: &str) -> u16 {
    let digest = Sha256::digest(profile.as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    9200 + (first % 600) as u16
}

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

/// Read a slot's state as the scenario user.
pub async fn svstat(h: &Container, dir: &str) -> Result<SvStat> {
    let o = h
        .exec(&["/command/s6-svstat", "-o", "up,wantedup,pid", dir])
        .await?;
    o.succeeds();
    parse_svstat(o.out()).with_context(|| format!("unparsable s6-svstat output\n{o}"))
}

/// Poll a slot's state until `want` holds; the timeout message shows the last reading.
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
            .await
            .map_err(|e| e.to_string())?;
        if !o.success() {
            return Err(format!("s6-svstat exit {:?}: {}", o.code, o.stderr.trim()));
        }
        match parse_svstat(o.out()) {
            Some(s) if want(&s) => Ok(Some(s)),
            Some(s) => Err(format!("{s:?}")),
            None => Err(format!("unparsable: {:?}", o.out())),
        }
    })
    .await
}

/// A slot parked by its finish script (SPEC §6.2: exit 78 → 125): down, not wanted up, and
/// the last exit code as s6 recorded it.
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

/// `GET /health` on 127.0.0.1:<port> from inside the container, with bash's /dev/tcp (the
/// image has no curl). Returns the body.
pub async fn http_get(h: &Container, port: u16, path: &str) -> Result<String> {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && timeout 5 cat <&3"
    );
    let o = h.exec(&["bash", "-c", &script]).await?;
    if !o.success() {
        bail!("GET {path} on port {port} failed\n{o}");
    }
    Ok(o.stdout)
}

/// Poll until something answers HTTP on `port`, returning the response.
pub async fn wait_http(h: &Container, port: u16, path: &str, deadline: Duration) -> Result<String> {
    wait::poll_until(&format!("HTTP on port {port}"), deadline, || async {
        match http_get(h, port, path).await {
            Ok(body) if body.starts_with("HTTP/") => Ok(Some(body)),
            Ok(body) => Err(format!("not HTTP: {body:?}")),
            Err(e) => Err(e.to_string().lines().next().unwrap_or_default().to_string()),
        }
    })
    .await
}

/// Read and parse a JSON file as the scenario user.
pub async fn read_json(h: &Container, path: &str) -> Result<serde_json::Value> {
    let o = h.exec(&["cat", path]).await?;
    o.succeeds();
    serde_json::from_str(&o.stdout).with_context(|| format!("{path} is not JSON: {:?}", o.stdout))
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

    #[test]
    fn ports_are_in_range_and_deterministic() {
        for p in ["default", "alpha", "p", "x-1"] {
            let port = expected_port(p);
            assert!((9200..9800).contains(&port), "{p} -> {port}");
            assert_eq!(port, expected_port(p));
        }
    }
}

/// What a supervised process must have become once its run script has handed over: its
/// `comm`, and a word of its command line.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub what: &'static str,
    pub comm: &'static str,
    pub arg: &'static str,
}

pub const GATEWAY: Program = Program {
    what: "the gateway",
    comm: "hermes",
    arg: "gateway run",
};

/// A supervised process as hermes reads it in `/proc` once it runs its own program.
#[derive(Debug, Clone)]
pub struct ProcView {
    pub cmdline: String,
    /// Real, effective, saved and filesystem uid, space-separated.
    pub uids: String,
    /// The parent's `comm`.
    pub parent: String,
}

impl ProcView {
    /// Every uid is `uid` (a half-dropped process does not count).
    pub fn all_uids_are(&self, uid: u32) -> bool {
        let want = uid.to_string();
        let ids: Vec<&str> = self.uids.split_whitespace().collect();
        ids.len() == 4 && ids.iter().all(|u| *u == want)
    }
}

/// The dashboard's own program (`hermes dashboard …`).
pub const DASHBOARD_PROGRAM: Program = Program {
    what: "the dashboard",
    comm: "hermes",
    arg: "dashboard",
};

/// `pid` (a service s6 reports up) becomes `prog` and then runs with every uid (real,
/// effective, saved, filesystem) `uid`. Polled with `deadline`: s6 reports "up" while the
/// run script is still root on its way to dropping privileges, so reading the pid at once
/// judges the step, not the program (40 of 40 such reads saw uid 0).
pub async fn ensure_runs_as(
    h: &Container,
    pid: i64,
    prog: &Program,
    uid: u32,
    deadline: Duration,
) -> Result<()> {
    let seen = program_of(h, pid, prog, deadline).await?;
    anyhow::ensure!(
        seen.all_uids_are(uid),
        "{} (pid {pid}, {:?}) runs with uids {} (real effective saved fs), not {uid}",
        prog.what,
        seen.cmdline,
        seen.uids
    );
    Ok(())
}

/// Reads `pid` once it has become `prog`. s6 reports a slot "up" as soon as it forks the run
/// script, which legitimately starts as root and drops to hermes on its way (`s6-setuidgid`),
/// so reading the pid at that instant would judge the step, not the program: poll (with
/// `deadline`) until the pid's comm and command line are the program's, then read it once.
pub async fn program_of(
    h: &Container,
    pid: i64,
    prog: &Program,
    deadline: Duration,
) -> Result<ProcView> {
    let script = format!(
        "cat /proc/{pid}/comm && tr '\\0' ' ' </proc/{pid}/cmdline && echo && \
         grep '^Uid:' /proc/{pid}/status && \
         ppid=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/{pid}/status) && cat /proc/$ppid/comm"
    );
    wait::poll_until(
        &format!("{} (pid {pid}) to be exec'd", prog.what),
        deadline,
        || async {
            let o = h.sh(&script).await.map_err(|e| e.to_string())?;
            if !o.success() {
                return Err(format!("pid {pid} gone? {}", o.stderr.trim()));
            }
            match o.stdout_lines().as_slice() {
                [comm, cmdline, uid, parent, ..]
                    if *comm == prog.comm && cmdline.contains(prog.arg) =>
                {
                    Ok(Some(ProcView {
                        cmdline: cmdline.trim().to_string(),
                        uids: uid.trim_start_matches("Uid:").trim().to_string(),
                        parent: parent.trim().to_string(),
                    }))
                }
                _ => Err(o.stdout.replace('\n', " | ")),
            }
        },
    )
    .await
}
