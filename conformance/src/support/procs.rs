//! Processes as hermes sees them: what a supervised pid has become (`/proc/<pid>`) and the
//! whole table (`ps`), with the uids a privilege check needs.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::{Container, wait};

/// What a supervised process must have become once its run script has handed over: its
/// `comm`, and a word of its command line.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub what: &'static str,
    pub comm: &'static str,
    pub arg: &'static str,
}

/// A profile's gateway (`hermes gateway run`).
pub const GATEWAY: Program = Program {
    what: "the gateway",
    comm: "hermes",
    arg: "gateway run",
};

/// The dashboard's own program (`hermes dashboard …`).
pub const DASHBOARD_PROGRAM: Program = Program {
    what: "the dashboard",
    comm: "hermes",
    arg: "dashboard",
};

/// A gateway slot's logger.
pub const LOGGER: Program = Program {
    what: "the gateway's logger",
    comm: "s6-log",
    arg: "s6-log",
};

/// The image's stand-in main program.
pub const MAIN_HERMES: Program = Program {
    what: "main-hermes",
    comm: "sleep",
    arg: "sleep",
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
            let o = h.sh(&script).await?;
            if !o.success() {
                bail!("pid {pid} gone? {}", o.stderr.trim());
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
                _ => bail!("{}", o.stdout.replace('\n', " | ")),
            }
        },
    )
    .await
}

/// One `ps` row.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i64,
    /// Real, effective and saved uid.
    pub uids: [i64; 3],
    pub comm: String,
    pub args: String,
}

impl Proc {
    pub fn any_root(&self) -> bool {
        self.uids.contains(&0)
    }

    pub fn describe(&self) -> String {
        format!(
            "pid {} uids {:?} (real effective saved) comm {} args {:?}",
            self.pid, self.uids, self.comm, self.args
        )
    }
}

/// Every process of the container, as hermes sees them.
pub async fn processes(h: &Container) -> Result<Vec<Proc>> {
    // ps exec'd directly: no shell of ours in the list.
    let o = h
        .exec(&["ps", "-eo", "pid=,ruid=,euid=,suid=,comm=,args="])
        .await?;
    o.succeeds();
    let mut out = Vec::new();
    for line in o.stdout_lines() {
        let mut it = line.split_whitespace();
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok());
        let (Some(pid), Some(r), Some(e), Some(s), Some(comm)) = (
            parse(it.next()),
            parse(it.next()),
            parse(it.next()),
            parse(it.next()),
            it.next(),
        ) else {
            bail!("unparsable ps line {line:?}\n{o}");
        };
        out.push(Proc {
            pid,
            uids: [r, e, s],
            comm: comm.to_string(),
            args: it.collect::<Vec<_>>().join(" "),
        });
    }
    Ok(out)
}
