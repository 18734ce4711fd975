//! Routing and the accept loop: a thread per connection, capped in number, each with a
//! deadline on reading the request so a slow client cannot pin a thread.

use super::auth::Credentials;
use super::http::{self, ParseError, Request, Response};
use super::{html, model};
use crate::app::Ctx;
use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Concurrent connections served; beyond this a client gets 503 at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Whole-request deadline for reading the head, and per-write timeout.
pub const IO_DEADLINE: Duration = Duration::from_secs(10);
/// Per-connection threads do little; a small stack keeps the footprint small.
const THREAD_STACK: usize = 256 * 1024;

/// Answers one parsed request. `status` is only called for the two status resources, after
/// authentication.
pub fn route(
    req: &Request,
    creds: Option<&Credentials>,
    status: impl FnOnce() -> model::Status,
) -> Response {
    if let Some(c) = creds
        && !c.accepts(req.header("authorization"))
    {
        return Response::text(401, "authentication required")
            .with_header("WWW-Authenticate", "Basic realm=\"hermes\"");
    }
    if !matches!(req.path.as_str(), "/" | "/api/status") {
        return Response::text(404, "not found");
    }
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Response::text(405, "method not allowed").with_header("Allow", "GET, HEAD");
    }
    let st = status();
    if req.path == "/" {
        Response::new(200, "text/html; charset=utf-8", html::render(&st))
    } else {
        let mut body = serde_json::to_vec_pretty(&st).unwrap_or_default();
        body.push(b'\n');
        Response::new(200, "application/json", body)
    }
}

pub struct Shared {
    pub ctx: Ctx,
    pub creds: Option<Credentials>,
    active: AtomicUsize,
}

impl Shared {
    pub fn new(ctx: Ctx, creds: Option<Credentials>) -> Self {
        Shared {
            ctx,
            creds,
            active: AtomicUsize::new(0),
        }
    }
}

/// Decrements the connection count however the handler ends.
struct Slot<'a>(&'a AtomicUsize);
impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves forever (call from a dedicated thread; the main thread waits for SIGTERM).
pub fn serve(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = Response::text(503, "busy").write_to(&mut stream, false);
            continue;
        }
        let sh = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("dashboard-conn".into())
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _slot = Slot(&sh.active);
                handle(stream, &sh);
            });
        if let Err(e) = spawned {
            // The closure (and its Slot) never ran: undo the count here.
            shared.active.fetch_sub(1, Ordering::SeqCst);
            eprintln!("hermes dashboard: cannot spawn connection thread: {e}");
        }
    }
}

/// A reader that gives up once a fixed deadline has passed, whatever the pace of the bytes.
struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut s: &TcpStream = self.stream;
        s.read(buf)
    }
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_write_timeout(Some(IO_DEADLINE));
    let mut reader = DeadlineReader {
        stream: &stream,
        deadline: Instant::now() + IO_DEADLINE,
    };
    let head = match http::read_head(&mut reader) {
        Ok(h) => h,
        Err(_) => return, // timed out or reset: nobody to answer
    };
    let parsed = head.and_then(|h| http::parse_head(&h));
    let (resp, head_only) = match parsed {
        Ok(req) => (
            route(&req, shared.creds.as_ref(), || model::gather(&shared.ctx)),
            req.method == "HEAD",
        ),
        Err(ParseError::TooLarge) => (Response::text(431, "request head too large"), false),
        Err(ParseError::Malformed(why)) => (Response::text(400, why), false),
    };
    if resp.write_to(&mut stream, head_only).is_ok() {
        linger(&stream);
    }
}

/// Closing with unread input (an oversized head, a request body) makes the kernel send RST,
/// which can destroy the response before the client reads it. So: end our side, then drain
/// briefly until the client closes too.
fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut r = DeadlineReader {
        stream,
        deadline: Instant::now() + Duration::from_secs(1),
    };
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        match r.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::fixture;
    use super::*;
    use std::io::Write;

    fn req(method: &str, path: &str, auth: Option<&str>) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: auth
                .map(|a| vec![("Authorization".to_string(), a.to_string())])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn routes() {
        let r = route(&req("GET", "/api/status", None), None, fixture);
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["gateways"].as_array().unwrap().len(), 3);

        let r = route(&req("GET", "/", None), None, fixture);
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/html"));

        let never = || -> model::Status { panic!("status gathered for an error response") };
        assert_eq!(route(&req("GET", "/nope", None), None, never).status, 404);
        assert_eq!(
            route(&req("GET", "/api/status/", None), None, never).status,
            404
        );
        let r = route(&req("POST", "/api/status", None), None, never);
        assert_eq!(r.status, 405);
        assert!(r.headers.contains(&("Allow", "GET, HEAD".into())));
        assert_eq!(route(&req("DELETE", "/", None), None, never).status, 405);
        assert_eq!(route(&req("HEAD", "/", None), None, fixture).status, 200);
    }

    #[test]
    fn auth_gate() {
        let c = Credentials::new("user", "pass").unwrap();
        let never = || -> model::Status { panic!("status gathered without auth") };
        for bad in [None, Some("Basic dXNlcjpwYXN6"), Some("Bearer x")] {
            let r = route(&req("GET", "/api/status", bad), Some(&c), never);
            assert_eq!(r.status, 401, "{bad:?}");
            assert!(
                r.headers
                    .contains(&("WWW-Authenticate", "Basic realm=\"hermes\"".into()))
            );
        }
        // Even unknown paths need credentials: nothing is learnt without them.
        assert_eq!(route(&req("GET", "/x", None), Some(&c), never).status, 401);
        let ok = req("GET", "/api/status", Some("Basic dXNlcjpwYXNz"));
        assert_eq!(route(&ok, Some(&c), fixture).status, 200);
    }

    fn exchange(port: u16, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn over_the_wire() {
        let root = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            paths: crate::paths::Paths::under(root.path()),
            detection: crate::s6::detect::Detection::None("test".into()),
        };
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let shared = Arc::new(Shared::new(ctx, None));
        thread::spawn(move || serve(l, shared));

        let r = exchange(port, b"GET /api/status HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        let body = r.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["manager"], "none");
        assert_eq!(v["gateways"], serde_json::json!([]));

        let r = exchange(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        assert!(exchange(port, b"GET /x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(exchange(port, b"PUT / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(exchange(port, b"GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
        let big = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(http::MAX_HEAD)
        );
        assert!(exchange(port, big.as_bytes()).starts_with("HTTP/1.1 431"));
    }
}
