//! The suite against a remote engine (`DOCKER_HOST=tcp://…`), proved without a second host: a
//! TCP proxy in front of the local engine's socket records every request the suite sends, a
//! group of scenarios runs in a child process of this test binary with `DOCKER_HOST` pointing
//! at the proxy, and the recorded traffic is audited for what a remote engine could not honour:
//! bind mounts of this host's paths and ports published on this host.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};

use crate::report::{self, ScenarioRecord};
use crate::{Ctx, config};

/// The scenarios run through the proxy: between them they create, exec into (as hermes and as
/// root), read the logs of, restart, kill and remove containers, and use named volumes.
/// Not in the group: `docker_stop_is_prompt`, which counts its offsets from PID 1 holding
/// SIGTERM in this host's `/proc`, and so falls back to a coarser clock on a remote engine.
pub const GROUP: &[&str] = &[
    "detection::status_reports_s6",
    "lifecycle::start_stop_restart",
    "restart::running_gateway_survives_docker_kill",
    "container_lifecycle::main_exit_code_is_container_exit_code::case_2_seven",
    "parity::bootstrap_state_seeds_once",
];

/// How long the child run of [`GROUP`] may take.
const GROUP_DEADLINE: Duration = Duration::from_secs(300);

/// The local engine's socket: `DOCKER_HOST` when it is `unix://…`, else Docker's default.
fn local_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => PathBuf::from(h.trim_start_matches("unix://")),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// A TCP front for the local engine that keeps a copy of every byte clients sent.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start() -> Result<Proxy> {
        let socket = local_socket();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the proxy on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let socket = socket.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    if let Ok(engine) = UnixStream::connect(&socket).await {
                        relay(client, engine, log).await;
                    }
                });
            }
        });
        Ok(Proxy { addr, sent, task })
    }

    /// Everything clients sent so far, as text (request lines, headers, JSON bodies).
    pub fn sent(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().expect("proxy log lock")).into_owned()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relay one connection both ways until either side closes (hijacked exec streams included),
/// recording the client's bytes.
async fn relay(client: tokio::net::TcpStream, engine: UnixStream, log: Arc<Mutex<Vec<u8>>>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut er, mut ew) = engine.into_split();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    log.lock()
                        .expect("proxy log lock")
                        .extend_from_slice(&buf[..n]);
                    if ew.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = ew.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut er, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// What the recorded requests show.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Audit {
    pub creates: usize,
    pub execs: usize,
    /// `DELETE /containers/…`: removals, the shared pool's at the child's exit among them.
    pub removes: usize,
    /// Each a quoted piece of a request that a remote engine could not honour.
    pub host_bound: Vec<String>,
}

/// Count container creations and exec creations, and find bind mounts of host paths and
/// published ports in the request bodies.
pub fn audit(sent: &str) -> Audit {
    let mut a = Audit {
        creates: requests(sent, "POST", "/containers/create"),
        execs: requests(sent, "POST", "/exec"),
        removes: requests(sent, "DELETE", "/containers/"),
        host_bound: Vec::new(),
    };
    let compact: String = sent.chars().filter(|c| !c.is_whitespace()).collect();
    for needle in [
        "\"Type\":\"bind\"",
        "\"PublishAllPorts\":true",
        "\"HostPort\":",
    ] {
        if let Some(i) = compact.find(needle) {
            a.host_bound.push(around(&compact, i));
        }
    }
    // `"Binds":null` and `"Binds":[]` bind nothing; anything else names a host path.
    let mut from = 0;
    while let Some(i) = compact[from..].find("\"Binds\":") {
        let at = from + i;
        let rest = &compact[at + "\"Binds\":".len()..];
        if !(rest.starts_with("null") || rest.starts_with("[]")) {
            a.host_bound.push(around(&compact, at));
        }
        from = at + 1;
    }
    a
}

/// Requests `METHOD /…path… HTTP/1.1` (any API version prefix, query ignored) in the recorded
/// text; a request may follow the previous body on the same line, so they are found anywhere.
fn requests(sent: &str, method: &str, path_part: &str) -> usize {
    let start = format!("{method} /");
    sent.match_indices(&start)
        .filter(|(i, _)| {
            let rest = &sent[i + method.len() + 1..];
            let Some((path, after)) = rest.split_once(' ') else {
                return false;
            };
            after.starts_with("HTTP/1.1")
                && path.split('?').next().unwrap_or("").contains(path_part)
        })
        .count()
}

/// Up to 60 characters before `i` and 100 from it (on character boundaries).
fn around(s: &str, i: usize) -> String {
    let mut start = i.saturating_sub(60);
    while !s.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (i + 100).min(s.len());
    while !s.is_char_boundary(end) {
        end += 1;
    }
    s[start..end].to_string()
}

/// Run [`GROUP`] in a child process of this test binary whose only way to the engine is the
/// proxy (`DOCKER_HOST=tcp://…`), then check that every scenario passed there, that the traffic
/// really went through the proxy, and that none of it needed this host.
pub async fn group_through_tcp_proxy(ctx: Ctx) -> Result<()> {
    let proxy = Proxy::start().await?;
    let exe = std::env::current_exe().context("the test binary's own path")?;
    let report_file = config::work_dir().join(format!("remote-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&report_file);
    let host = format!("tcp://{}", proxy.addr);
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg("--exact")
        .args(GROUP)
        .env("DOCKER_HOST", &host)
        .env(config::ENV_IMAGE, &ctx.image)
        .env(report::REPORT_ENV, &report_file)
        .kill_on_drop(true);
    let out = tokio::time::timeout(GROUP_DEADLINE, cmd.output())
        .await
        .map_err(|_| {
            anyhow::anyhow!("the group through {host} did not finish within {GROUP_DEADLINE:?}")
        })?
        .with_context(|| format!("running {} --exact {GROUP:?}", exe.display()))?;
    let records: Vec<ScenarioRecord> = report::read_from(&report_file).unwrap_or_default();
    let _ = std::fs::remove_file(&report_file);
    let tail = crate::container::tail(&String::from_utf8_lossy(&out.stdout), 30);
    for name in GROUP {
        match records.iter().find(|r| r.scenario == *name) {
            Some(r) if r.passed => {}
            Some(r) => bail!(
                "{name} failed with DOCKER_HOST={host}:\n{}\n(child's output)\n{tail}",
                r.message
            ),
            None => bail!(
                "{name} did not run with DOCKER_HOST={host} (exit {:?}):\n{tail}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    ensure!(
        out.status.success(),
        "the child run with DOCKER_HOST={host} exited {:?}:\n{tail}",
        out.status.code()
    );
    let seen = audit(&proxy.sent());
    // What the scenarios say they started (a shared container counts for the scenario that
    // started it).
    let started: u32 = records
        .iter()
        .filter(|r| GROUP.contains(&r.scenario.as_str()))
        .map(|r| r.containers)
        .sum();
    ensure!(
        started > 0 && seen.creates >= started as usize && seen.execs > 0,
        "the scenarios did not talk to the engine through the proxy at {host}: it saw {} \
         container creations and {} exec creations for {} scenarios that started {started} \
         containers",
        seen.creates,
        seen.execs,
        GROUP.len()
    );
    // Every container the child created is gone, through the proxy too: the shared pool's is
    // removed as the child exits, not left for the next run's sweep.
    ensure!(
        seen.removes >= seen.creates,
        "the child run through {host} created {} containers and removed {}: a container was \
         left behind (a shared pool's is removed at the process's exit)",
        seen.creates,
        seen.removes
    );
    ensure!(
        seen.host_bound.is_empty(),
        "requests a remote engine could not honour (bind mounts of this host's paths or ports \
         published on this host):\n{}",
        seen.host_bound.join("\n")
    );
    crate::image::progress(format!(
        "remote engine: {} scenarios through {host}: {} container creations, {} execs, no host binds or published ports",
        GROUP.len(),
        seen.creates,
        seen.execs
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "POST /v1.41/containers/create?name=x HTTP/1.1\r\nhost: h\r\n\r\n";

    #[test]
    fn counts_creates_and_execs() {
        let sent = format!(
            "{CREATE}{{\"Image\":\"i\",\"HostConfig\":{{\"Binds\":null,\"Mounts\":[{{\"Type\":\"volume\"}}]}}}}\
             POST /v1.41/containers/abc/exec HTTP/1.1\r\n\r\n{{}}\
             GET /v1.41/containers/abc/json HTTP/1.1\r\n\r\n"
        );
        let a = audit(&sent);
        assert_eq!((a.creates, a.execs), (1, 1));
        assert!(a.host_bound.is_empty(), "{a:?}");
    }

    #[test]
    fn finds_bind_mounts_and_published_ports() {
        for body in [
            r#"{"HostConfig":{"Binds":["/home/me:/data"]}}"#,
            r#"{"HostConfig":{"Mounts":[{"Type": "bind","Source":"/x"}]}}"#,
            r#"{"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}}"#,
            r#"{"HostConfig":{"PublishAllPorts":true}}"#,
        ] {
            let a = audit(&format!("{CREATE}{body}"));
            assert_eq!(a.host_bound.len(), 1, "{body}: {a:?}");
        }
        assert!(
            audit(&format!("{CREATE}{{\"HostConfig\":{{\"Binds\":[]}}}}"))
                .host_bound
                .is_empty()
        );
    }
}
