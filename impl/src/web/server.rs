//! The accept loop and per-connection rules shared by the dashboard and the gateway's
//! `/health`. One request per connection (no keep-alive: a status page gains nothing from it,
//! and every connection then has one simple life: head, answer, close). Two rules keep
//! clients that connect and then say nothing (or drip a byte at a time) from costing more
//! than a bounded amount, and from locking anyone else out:
//!
//! - **Deadlines counted from accept.** The request head must be complete within
//!   `head_deadline`, and the whole exchange within `conn_deadline`. Arriving bytes never
//!   extend either (an idle timeout that each byte renews is what a slow client exploits).
//! - **A cap on connections still waiting for their head**, not on connections as such. When
//!   it is reached, the *oldest* waiting connection is closed to admit the new one, so idle
//!   connections can never keep out a client that sends its request promptly; a connection
//!   leaves the waiting set as soon as its head has arrived.
//!
//! What this does not do: tell clients apart. A flood that opens connections faster than a
//! legitimate client's head arrives can still close that client's connection; that needs a
//! firewall or a proxy in front, not a status page.

use super::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// The per-connection rules (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accept until the request head is complete.
    pub head_deadline: Duration,
    /// From accept until the response is written; includes `head_deadline`.
    pub conn_deadline: Duration,
    /// Connections whose head has not arrived; beyond it the oldest is closed.
    pub max_waiting: usize,
    /// Largest request head (hyper answers 431 beyond it). hyper's floor is 8 KiB.
    pub max_head: usize,
}

/// hyper refuses a smaller read buffer.
const HYPER_MIN_BUF: usize = 8 * 1024;
/// After a failed accept (out of descriptors, mostly): wait instead of spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Connections accepted whose request head has not arrived yet, oldest first (ids grow).
/// Dropping a connection's sender is what tells it to close.
#[derive(Debug, Default)]
pub struct Waiting {
    next_id: u64,
    conns: BTreeMap<u64, oneshot::Sender<()>>,
}

impl Waiting {
    /// Registers a new connection and closes the oldest ones beyond `max` (at least 1, so
    /// the newcomer always stays). Returns its id and the signal that it has been evicted.
    pub fn admit(&mut self, max: usize) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id;
        self.next_id += 1;
        let (tx, rx) = oneshot::channel();
        self.conns.insert(id, tx);
        while self.conns.len() > max.max(1) {
            self.conns.pop_first();
        }
        (id, rx)
    }

    /// The connection's head arrived (or it ended): it no longer counts.
    pub fn leave(&mut self, id: u64) {
        self.conns.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

/// Serves `listener` forever with `handler`, under `limits`. Runs on whatever runtime polls
/// it; every connection is a task of its own.
pub async fn serve<H, F>(listener: TcpListener, limits: Limits, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let (id, evicted) = lock(&waiting).admit(limits.max_waiting);
        tokio::spawn(connection(
            stream,
            limits,
            handler.clone(),
            Arc::clone(&waiting),
            id,
            evicted,
        ));
    }
}

fn lock(w: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    // The set stays consistent whatever panicked while holding it (inserts and removes only).
    w.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn connection<H, F>(
    stream: TcpStream,
    limits: Limits,
    handler: H,
    waiting: Arc<Mutex<Waiting>>,
    id: u64,
    mut evicted: oneshot::Receiver<()>,
) where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let accepted = Instant::now();
    // hyper calls the service once the head is parsed: that is the moment this connection
    // stops waiting.
    let head_seen = Arc::new(Notify::new());
    let service = {
        let head_seen = Arc::clone(&head_seen);
        hyper::service::service_fn(move |req| {
            head_seen.notify_one();
            let answer = handler(req);
            async move { Ok::<_, Infallible>(answer.await) }
        })
    };
    let conn = http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(limits.max_head.max(HYPER_MIN_BUF))
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        biased;
        _ = &mut conn => true,
        _ = head_seen.notified() => false,
        _ = &mut evicted => true,
        _ = tokio::time::sleep_until(accepted + limits.head_deadline) => true,
    };
    lock(&waiting).leave(id);
    if !ended {
        let _ = tokio::time::timeout_at(accepted + limits.conn_deadline, conn).await;
    }
    // Dropping `conn` closes the socket, answered or not.
}

/// Builds a current-thread runtime, takes `listener` into it and serves it from a thread of
/// its own named `name`. `blocking_threads` caps the runtime's pool for `spawn_blocking`.
/// The calling thread's signal mask is inherited by every thread started here.
pub fn spawn<H, F>(
    name: &str,
    listener: std::net::TcpListener,
    limits: Limits,
    blocking_threads: usize,
    handler: H,
) -> io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(blocking_threads.max(1))
        .thread_name(format!("{name}-blocking"))
        .build()?;
    listener.set_nonblocking(true)?;
    let listener = {
        let _in_runtime = rt.enter();
        TcpListener::from_std(listener)?
    };
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || rt.block_on(serve(listener, limits, handler)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;
    use std::io::{Read, Write};
    use tokio::sync::oneshot::error::TryRecvError;

    #[test]
    fn waiting_evicts_oldest_first() {
        let mut w = Waiting::default();
        let (a, mut ra) = w.admit(2);
        let (_b, mut rb) = w.admit(2);
        assert_eq!(w.len(), 2);
        let (_c, mut rc) = w.admit(2);
        assert_eq!(w.len(), 2);
        assert_eq!(ra.try_recv(), Err(TryRecvError::Closed), "oldest evicted");
        assert_eq!(rb.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(rc.try_recv(), Err(TryRecvError::Empty));
        w.leave(a); // already gone: harmless
        assert_eq!(w.len(), 2);
        let (_d, _rd) = w.admit(0); // a cap of 0 still admits the newcomer
        assert_eq!(w.len(), 1);
        assert_eq!(rb.try_recv(), Err(TryRecvError::Closed));
        assert_eq!(rc.try_recv(), Err(TryRecvError::Closed));
    }

    async fn ok(_req: Request<Incoming>) -> Response<Body> {
        Response::new(Body::from("ok\n"))
    }

    fn start(limits: Limits) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        spawn("test-http", l, limits, 1, ok).unwrap();
        port
    }

    const QUICK: Limits = Limits {
        head_deadline: Duration::from_millis(600),
        conn_deadline: Duration::from_secs(2),
        max_waiting: 4,
        max_head: 8 * 1024,
    };

    fn exchange(port: u16, raw: &[u8]) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Reads until the server closes; `None` if it has not within `within`.
    fn closed_within(s: &mut std::net::TcpStream, within: Duration) -> Option<std::time::Instant> {
        s.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Some(std::time::Instant::now()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Some(std::time::Instant::now());
                }
                Err(_) => return None,
            }
        }
    }

    #[test]
    fn one_request_per_connection() {
        let port = start(QUICK);
        let r = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.to_ascii_lowercase().contains("connection: close"), "{r}");
        assert!(r.ends_with("\r\n\r\nok\n"), "{r}");
        let r = exchange(port, b"GET / HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    }

    #[test]
    fn malformed_and_oversized_heads() {
        let port = start(QUICK);
        assert!(exchange(port, b"GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(16 * 1024));
        let r = exchange(port, big.as_bytes());
        assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    }

    #[test]
    fn a_dripping_client_cannot_extend_the_head_deadline() {
        let port = start(QUICK);
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let started = std::time::Instant::now();
        // One byte every 100 ms would renew any idle timeout forever.
        let dripper = {
            let mut w = s.try_clone().unwrap();
            std::thread::spawn(move || {
                for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                    if w.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let closed = closed_within(&mut s, Duration::from_secs(5)).expect("never closed");
        let after = closed - started;
        assert!(
            after >= QUICK.head_deadline - Duration::from_millis(50)
                && after < QUICK.head_deadline + Duration::from_millis(500),
            "closed after {after:?}"
        );
        dripper.join().unwrap();
    }

    #[test]
    fn idle_connections_do_not_lock_out_a_prompt_client() {
        let port = start(Limits {
            head_deadline: Duration::from_secs(30),
            ..QUICK
        });
        // Far more idle connections than the waiting cap, and a deadline far away.
        let mut idle: Vec<_> = (0..20)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let started = std::time::Instant::now();
        let r = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        assert!(started.elapsed() < Duration::from_secs(1));
        // The oldest were closed to make room; the newest still wait.
        assert!(closed_within(&mut idle[0], Duration::from_secs(2)).is_some());
        let last = idle.last_mut().unwrap();
        assert!(closed_within(last, Duration::from_millis(200)).is_none());
    }

    #[test]
    fn a_head_that_arrived_no_longer_counts_as_waiting() {
        // A handler slower than the head deadline: the answer still comes, because the
        // head deadline ended when the head arrived; only the connection deadline applies.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let slow = |_req: Request<Incoming>| async {
            tokio::time::sleep(Duration::from_millis(900)).await;
            let mut r = Response::new(Body::from("late\n"));
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        };
        spawn("test-http-slow", l, QUICK, 1, slow).unwrap();
        let r = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    }
}
