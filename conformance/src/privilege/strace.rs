//! Reading the trace variant's strace logs (`strace -f -y -s 4096`, docker/trace/stage1): which
//! paths root processes created, wrote, renamed, removed, chowned, chmoded or bound.
//!
//! The log interleaves processes, and a call another process interrupts is split into
//! `name(args <unfinished ...>` and `<... name resumed>rest`; the two halves are joined per
//! pid and the calls taken in the order they *started*. Per process the reader keeps what the
//! kernel would: its effective uid (`setuid`/`setreuid`/`setresuid`/`setfsuid`), its working
//! directory (`chdir`/`fchdir`; `-y` shows `AT_FDCWD</real/cwd>` for `*at` calls, which
//! corrects it) and its program (`execve`); a child starts with its parent's, as they were
//! when the parent called `clone`/`fork`. A relative path is resolved against the call's
//! directory descriptor (its `-y` path) or the working directory, through the symlinks the
//! traced processes made (`/run/service/<svc>` → `/run/s6-rc/servicedirs/<svc>`). An `open`
//! that returned a descriptor is taken at the path `-y` printed for it: the kernel's own.
//!
//! One line's syntax (name, arguments, return) is `strace_line`'s; this is the replay. Over
//! 500 lines on purpose: one reader with one state (per-pid uid, cwd, program, split calls,
//! the links seen made) that every syscall family updates; split by family, each part would
//! need all of that state, and the replay order is the point.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::strace_line::{Call, fd_path, parse_call, split_args, unquote};
use super::table::Actor;

/// One operation of a root process on a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RootOp {
    pub path: String,
    /// In the table's words: create, write, symlink, mkfifo, mknod, link, rename, remove,
    /// chown, chmod, bind.
    pub op: String,
    /// The product program responsible (a generic tool is attributed to the one that ran it).
    pub actor: Actor,
    /// The executable that made the call, when it is a generic tool run by `actor` (`mv`).
    pub tool: Option<String>,
    pub syscall: String,
    /// The call as strace printed it (joined when it was split).
    pub call: String,
}

/// What a trace holds besides the operations: the programs that ran as root.
#[derive(Debug, Default, Clone)]
pub struct Trace {
    pub ops: Vec<RootOp>,
    /// Every `execve` made as root: (program, argv).
    pub root_execs: Vec<(String, Vec<String>)>,
    /// Lines that looked like calls but could not be read (for the precondition message).
    pub unreadable: Vec<String>,
    /// Calls seen in all, and by root.
    pub calls: usize,
    pub root_calls: usize,
}

/// Programs that do a job for whoever runs them: their calls are attributed to the nearest
/// ancestor that is not one (`stage2`'s `mv` is `stage2`'s rename).
const TOOLS: &[&str] = &[
    "sh",
    "dash",
    "bash",
    "env",
    "mv",
    "cp",
    "rm",
    "ln",
    "mkdir",
    "rmdir",
    "chmod",
    "chown",
    "touch",
    "cat",
    "printf",
    "echo",
    "mktemp",
    "sleep",
    "date",
    "test",
    "[",
    "true",
    "false",
    "head",
    "tail",
    "sed",
    "grep",
    "tr",
    "cut",
    "id",
    "kill",
    "timeout",
    "stat",
    "ls",
    "find",
    "xargs",
    "readlink",
    "basename",
    "dirname",
    "sort",
    "wc",
    "od",
    "tee",
    "ps",
    "pgrep",
    "execlineb",
    "importas",
    "ifelse",
    "emptyenv",
    "eltest",
    "exec",
    "cd",
    "export",
    "backtick",
    "foreground",
    "background",
    "fdmove",
    "redirfd",
    "if",
    "ifte",
    "ifthenelse",
    "s6-envdir",
    "s6-setuidgid",
    "s6-applyuidgid",
    "with-contenv",
    // s6's control clients: a write to a control FIFO on behalf of whoever runs them.
    "s6-svc",
    "s6-svscanctl",
    "s6-svstat",
    "s6-svok",
    // s6's waiters: they subscribe to a service's events for whoever runs them (stage 2's
    // services-up), s6-ftrigrd making and removing the subscription's FIFO in `event/`.
    "s6-svlisten1",
    "s6-ftrigrd",
];

/// The product's programs whose first argument is a subcommand (`hermes-boot setup`).
const SUBCOMMANDS: &[&str] = &["hermes", "hermes-boot", "hermes-registrar"];

#[derive(Debug, Clone)]
struct Proc {
    euid: i64,
    cwd: String,
    /// The executable's display name (`stage2`, `hermes-boot`, `gateway/run`).
    exe: String,
    actor: Actor,
}

impl Proc {
    fn first() -> Proc {
        Proc {
            euid: 0,
            cwd: "/".into(),
            exe: "stage1".into(),
            actor: Actor {
                exe: "stage1".into(),
                sub: None,
            },
        }
    }
}

/// Lexically normalised absolute path of `p` relative to `base`, resolving the symlinks
/// in `links` on every component but the last (and the last too when `follow_last`).
fn resolve(base: &str, p: &str, links: &HashMap<String, String>, follow_last: bool) -> String {
    let start = if p.starts_with('/') { "/" } else { base };
    let mut comps: Vec<String> = start
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let mut todo: Vec<String> = p
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => {}
            ".." => {
                comps.pop();
            }
            _ => {
                comps.push(c);
                let last = todo.is_empty();
                if (!last || follow_last) && hops < 40 {
                    let here = format!("/{}", comps.join("/"));
                    if let Some(target) = links.get(&here) {
                        hops += 1;
                        comps.pop();
                        if target.starts_with('/') {
                            comps.clear();
                        }
                        for t in target.split('/').filter(|c| !c.is_empty()).rev() {
                            todo.push(t.to_string());
                        }
                    }
                }
            }
        }
    }
    format!("/{}", comps.join("/"))
}

fn display_exe(path: &str) -> String {
    let mut it = path.rsplit('/');
    let base = it.next().unwrap_or(path);
    match base {
        "run" | "finish" | "log-run" => match it.next() {
            Some(dir) if !dir.is_empty() => format!("{dir}/{base}"),
            _ => base.to_string(),
        },
        _ => base.to_string(),
    }
}

fn open_flags(call: &Call) -> Option<&str> {
    match call.name.as_str() {
        "open" => call.args.get(1).map(String::as_str),
        "openat" => call.args.get(2).map(String::as_str),
        "openat2" => call.args.get(2).map(String::as_str),
        _ => None,
    }
}

fn writes(flags: &str) -> bool {
    ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"]
        .iter()
        .any(|f| flags.contains(f))
}

/// Read one trace log.
pub fn read(log: &str) -> Trace {
    // 1. Join split calls; order by start.
    let mut pending: HashMap<i64, (usize, String)> = HashMap::new();
    let mut calls: Vec<(usize, i64, String)> = Vec::new();
    let mut unreadable = Vec::new();
    for (idx, line) in log.lines().enumerate() {
        let line = line.trim_end();
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<i64>() else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        if let Some(r) = rest.strip_prefix("<... ") {
            let Some(close) = r.find(" resumed>") else {
                unreadable.push(line.to_string());
                continue;
            };
            let tail = &r[close + " resumed>".len()..];
            match pending.remove(&pid) {
                Some((start, head)) => calls.push((start, pid, format!("{head}{tail}"))),
                None => unreadable.push(line.to_string()),
            }
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (idx, head.to_string()));
        } else {
            calls.push((idx, pid, rest.to_string()));
        }
    }
    calls.sort_by_key(|c| c.0);
    // 2. Replay.
    let mut procs: HashMap<i64, Proc> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    let mut trace = Trace {
        unreadable,
        ..Trace::default()
    };
    for (_, pid, text) in calls {
        let Some(call) = parse_call(pid, &text) else {
            // A call cut off by the end of the log (the tracer killed at shutdown) or a
            // process killed in it: nothing happened that can be read.
            if !text.ends_with("= ?") && !text.contains(") = ?") {
                trace.unreadable.push(format!("{pid} {text}"));
            }
            continue;
        };
        trace.calls += 1;
        let me = procs.entry(pid).or_insert_with(Proc::first).clone();
        if me.euid == 0 {
            trace.root_calls += 1;
        }
        let ok = call.ret.is_some_and(|r| r >= 0);
        match call.name.as_str() {
            "clone" | "clone3" | "fork" | "vfork" => {
                if let Some(child) = call.ret.filter(|r| *r > 0) {
                    procs.insert(child, me.clone());
                }
                continue;
            }
            "execve" | "execveat" if ok => {
                let path_arg = if call.name == "execve" { 0 } else { 1 };
                let Some(path) = call.args.get(path_arg).and_then(|a| unquote(a)) else {
                    continue;
                };
                let full = resolve(&me.cwd, &path, &links, true);
                let exe = display_exe(&full);
                let argv: Vec<String> = call
                    .args
                    .get(path_arg + 1)
                    .map(|a| {
                        let inner = a.trim_start_matches('[').trim_end_matches(']');
                        split_args(inner)
                            .iter()
                            .filter_map(|s| unquote(s))
                            .collect()
                    })
                    .unwrap_or_default();
                let p = procs.get_mut(&pid).expect("inserted above");
                p.exe = exe.clone();
                if !TOOLS.contains(&exe.as_str()) {
                    p.actor = Actor {
                        exe: exe.clone(),
                        sub: SUBCOMMANDS
                            .contains(&exe.as_str())
                            .then(|| argv.get(1).filter(|a| !a.starts_with('-')).cloned())
                            .flatten(),
                    };
                }
                if p.euid == 0 {
                    trace.root_execs.push((exe, argv));
                }
                continue;
            }
            "setuid" | "setfsuid" if ok => {
                if let Some(u) = call.args.first().and_then(|a| a.parse::<i64>().ok()) {
                    procs.get_mut(&pid).expect("inserted").euid = u;
                }
                continue;
            }
            "setreuid" | "setresuid" if ok => {
                if let Some(u) = call.args.get(1).and_then(|a| a.parse::<i64>().ok())
                    && u != -1
                {
                    procs.get_mut(&pid).expect("inserted").euid = u;
                }
                continue;
            }
            "chdir" if ok => {
                if let Some(p) = call.args.first().and_then(|a| unquote(a)) {
                    let cwd = resolve(&me.cwd, &p, &links, true);
                    procs.get_mut(&pid).expect("inserted").cwd = cwd;
                }
                continue;
            }
            "fchdir" if ok => {
                if let Some(p) = call.args.first().and_then(|a| fd_path(a)) {
                    procs.get_mut(&pid).expect("inserted").cwd = p;
                }
                continue;
            }
            _ => {}
        }
        if !ok {
            continue;
        }
        // The base a relative path of argument `i` is taken against: the descriptor
        // argument before it (`*at` calls), else the working directory.
        let cwd = me.cwd.clone();
        let dir_of = |fd_arg: Option<usize>| -> String {
            fd_arg
                .and_then(|i| call.args.get(i))
                .and_then(|a| fd_path(a))
                .unwrap_or_else(|| cwd.clone())
        };
        let path_at = |fd_arg: Option<usize>, i: usize, follow: bool| -> Option<String> {
            let p = unquote(call.args.get(i)?)?;
            if p.is_empty() {
                // AT_EMPTY_PATH: the descriptor itself.
                return fd_arg
                    .and_then(|f| call.args.get(f))
                    .and_then(|a| fd_path(a));
            }
            Some(resolve(&dir_of(fd_arg), &p, &links, follow))
        };
        let mut found: Vec<(String, &str)> = Vec::new();
        match call.name.as_str() {
            "open" | "openat" | "openat2" if open_flags(&call).is_some_and(writes) => {
                let fd = (call.name != "open").then_some(0);
                let arg = if call.name == "open" { 0 } else { 1 };
                if let Some(p) = call.ret_path.clone().or_else(|| path_at(fd, arg, true)) {
                    found.push((p, "write"));
                }
            }
            "creat" | "truncate" => found.extend(path_at(None, 0, true).map(|p| (p, "write"))),
            "mkdir" => found.extend(path_at(None, 0, false).map(|p| (p, "create"))),
            "mkdirat" => found.extend(path_at(Some(0), 1, false).map(|p| (p, "create"))),
            "mknod" | "mknodat" => {
                let (fd, i) = if call.name == "mknod" {
                    (None, 0)
                } else {
                    (Some(0), 1)
                };
                let fifo = call.args.get(i + 1).is_some_and(|m| m.contains("S_IFIFO"));
                found.extend(
                    path_at(fd, i, false).map(|p| (p, if fifo { "mkfifo" } else { "mknod" })),
                );
            }
            "rename" => {
                found.extend(path_at(None, 0, false).map(|p| (p, "rename")));
                found.extend(path_at(None, 1, false).map(|p| (p, "rename")));
            }
            "renameat" | "renameat2" => {
                found.extend(path_at(Some(0), 1, false).map(|p| (p, "rename")));
                found.extend(path_at(Some(2), 3, false).map(|p| (p, "rename")));
            }
            "link" => found.extend(path_at(None, 1, false).map(|p| (p, "link"))),
            "linkat" => found.extend(path_at(Some(2), 3, false).map(|p| (p, "link"))),
            "symlink" => found.extend(path_at(None, 1, false).map(|p| (p, "symlink"))),
            "symlinkat" => found.extend(path_at(Some(1), 2, false).map(|p| (p, "symlink"))),
            "unlink" | "rmdir" => found.extend(path_at(None, 0, false).map(|p| (p, "remove"))),
            "unlinkat" => found.extend(path_at(Some(0), 1, false).map(|p| (p, "remove"))),
            "chown" => found.extend(path_at(None, 0, true).map(|p| (p, "chown"))),
            "lchown" => found.extend(path_at(None, 0, false).map(|p| (p, "chown"))),
            "fchown" => found.extend(
                call.args
                    .first()
                    .and_then(|a| fd_path(a))
                    .map(|p| (p, "chown")),
            ),
            "fchownat" => {
                let follow = !call
                    .args
                    .get(4)
                    .is_some_and(|f| f.contains("AT_SYMLINK_NOFOLLOW"));
                found.extend(path_at(Some(0), 1, follow).map(|p| (p, "chown")));
            }
            "chmod" => found.extend(path_at(None, 0, true).map(|p| (p, "chmod"))),
            "fchmod" => found.extend(
                call.args
                    .first()
                    .and_then(|a| fd_path(a))
                    .map(|p| (p, "chmod")),
            ),
            "fchmodat" => found.extend(path_at(Some(0), 1, true).map(|p| (p, "chmod"))),
            "bind" => {
                let addr = call.args.get(1).cloned().unwrap_or_default();
                if let Some(i) = addr.find("sun_path=\"") {
                    let q = &addr[i + "sun_path=".len()..];
                    let end = q[1..].find('"').map(|e| e + 2).unwrap_or(q.len());
                    if let Some(p) = unquote(&q[..end]) {
                        found.push((resolve(&me.cwd, &p, &links, false), "bind"));
                    }
                }
            }
            _ => {}
        }
        // Keep the symlink map in step with the tree.
        match (call.name.as_str(), found.first()) {
            ("symlink" | "symlinkat", Some((p, _))) => {
                if let Some(t) = call.args.first().and_then(|a| unquote(a)) {
                    links.insert(p.clone(), t);
                }
            }
            ("unlink" | "unlinkat" | "rmdir", Some((p, _))) => {
                let prefix = format!("{p}/");
                links.retain(|k, _| k != p && !k.starts_with(&prefix));
            }
            ("rename" | "renameat" | "renameat2", Some((from, _))) => {
                if let Some((to, _)) = found.get(1) {
                    let prefix = format!("{from}/");
                    let moved: Vec<(String, String)> = links
                        .iter()
                        .filter(|(k, _)| *k == from || k.starts_with(&prefix))
                        .map(|(k, v)| (format!("{to}{}", &k[from.len()..]), v.clone()))
                        .collect();
                    links.retain(|k, _| k != from && !k.starts_with(&prefix));
                    links.extend(moved);
                }
            }
            _ => {}
        }
        if me.euid != 0 {
            continue;
        }
        for (path, op) in found {
            trace.ops.push(RootOp {
                path,
                op: op.to_string(),
                actor: me.actor.clone(),
                tool: (me.exe != me.actor.exe).then(|| me.exe.clone()),
                syscall: call.name.clone(),
                call: call.text.clone(),
            });
        }
        let _ = call.pid;
    }
    trace
}

/// Distinct operations, counted: (path, op, actor) → count.
pub fn count(ops: &[RootOp]) -> BTreeMap<(String, String, String), usize> {
    let mut m = BTreeMap::new();
    for o in ops {
        *m.entry((o.path.clone(), o.op.clone(), o.actor.to_string()))
            .or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"1     execve("/opt/hermes/trace/stage1", ["/opt/hermes/trace/stage1", "hermes"], 0x7ffd /* 5 vars */) = 0
1     mkdir("/run/service", 0755)       = 0
1     clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f1) = 19
19    mkdir("/run/s6-rc/servicedirs/dashboard", 0755) = 0
19    symlink("/run/s6-rc/servicedirs/dashboard", "/run/service/dashboard") = 0
1     execve("/command/s6-svscan", ["s6-svscan", "-c", "1024", "/run/service"], 0x56 /* 2 vars */ <unfinished ...>
19    openat(AT_FDCWD</>, "/run/s6/container_environment/HOME", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0640 <unfinished ...>
1     <... execve resumed>)             = 0
19    <... openat resumed>)             = 3</run/s6/container_environment/HOME>
1     chdir("/run/service")             = 0
1     clone(child_stack=NULL, flags=SIGCHLD <unfinished ...>
1     <... clone resumed>, child_tidptr=0x7f8) = 20
20    execve("/usr/bin/s6-supervise", ["s6-supervise", "dashboard"], 0x7ff /* 1 var */) = 0
20    chdir("dashboard")                = 0
20    mkdir("event", 0700)              = 0
20    openat(AT_FDCWD</run/s6-rc/servicedirs/dashboard>, "supervise/lock", O_WRONLY|O_CREAT|O_NONBLOCK|O_CLOEXEC, 0644) = 3</run/s6-rc/servicedirs/dashboard/supervise/lock>
20    openat(AT_FDCWD</run/s6-rc/servicedirs/dashboard>, "supervise/status", O_RDONLY) = 4</run/s6-rc/servicedirs/dashboard/supervise/status>
1     clone(child_stack=NULL, flags=SIGCHLD) = 43
43    execve("/command/s6-setuidgid", ["/command/s6-setuidgid", "hermes", "/opt/hermes/bin/hermes-boot", "reconcile-plan"], 0x5 /* 5 vars */) = 0
43    setuid(10000)                     = 0
43    execve("/opt/hermes/bin/hermes-boot", ["/opt/hermes/bin/hermes-boot", "reconcile-plan"], 0x5 /* 5 vars */) = 0
43    unlinkat(AT_FDCWD</>, "/opt/data/x", 0) = 0
1     clone(child_stack=NULL, flags=SIGCHLD) = 44
44    execve("/bin/mv", ["mv", "a", "b"], 0x5 /* 5 vars */) = 0
44    renameat2(AT_FDCWD</run/service>, "a", 5</run/hermes>, "b", RENAME_NOREPLACE) = 0
44    fchownat(6</opt/data/profiles/p>, "", 10000, 10000, AT_EMPTY_PATH) = 0
44    bind(3<socket:[1]>, {sa_family=AF_UNIX, sun_path="/run/hermes/registrar.sock"}, 110) = 0
44    unlink("/run/nothing")            = -1 ENOENT (No such file or directory)
44    openat(AT_FDCWD</>, "/etc/we\"ird\n", O_WRONLY|O_CREAT, 0600) = -1 EACCES (Permission denied)
"#;

    #[test]
    fn root_operations_are_read_with_their_paths_and_programs() {
        let t = read(LOG);
        assert!(t.unreadable.is_empty(), "{:?}", t.unreadable);
        let got: Vec<(String, String, String)> = t
            .ops
            .iter()
            .map(|o| (o.path.clone(), o.op.clone(), o.actor.to_string()))
            .collect();
        let want = [
            ("/run/service", "create", "stage1"),
            ("/run/s6-rc/servicedirs/dashboard", "create", "stage1"),
            ("/run/service/dashboard", "symlink", "stage1"),
            ("/run/s6/container_environment/HOME", "write", "stage1"),
            // s6-supervise's relative mkdir, resolved through stage 1's symlink.
            (
                "/run/s6-rc/servicedirs/dashboard/event",
                "create",
                "s6-supervise",
            ),
            (
                "/run/s6-rc/servicedirs/dashboard/supervise/lock",
                "write",
                "s6-supervise",
            ),
            // mv is a tool: s6-svscan ran it.
            ("/run/service/a", "rename", "s6-svscan"),
            ("/run/hermes/b", "rename", "s6-svscan"),
            ("/opt/data/profiles/p", "chown", "s6-svscan"),
            ("/run/hermes/registrar.sock", "bind", "s6-svscan"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(t.ops[6].tool.as_deref(), Some("mv"));
        // The hermes child's unlink is not root's; its program is known all the same.
        assert!(!got.iter().any(|g| g.0 == "/opt/data/x"));
        assert!(t.root_execs.iter().any(|(e, _)| e == "s6-supervise"));
        assert!(
            !t.root_execs
                .iter()
                .any(|(e, a)| e == "hermes-boot" && a[1] == "reconcile-plan")
        );
    }

    #[test]
    fn resolve_is_lexical_with_known_links() {
        let mut links = HashMap::new();
        links.insert("/run/service/x".to_string(), "/real/x".to_string());
        assert_eq!(
            resolve("/run/service", "x/supervise", &links, false),
            "/real/x/supervise"
        );
        assert_eq!(
            resolve("/run/service", "x", &links, false),
            "/run/service/x"
        );
        assert_eq!(resolve("/run/service", "x", &links, true), "/real/x");
        assert_eq!(resolve("/a/b", "../c/./d", &links, false), "/a/c/d");
    }
}
