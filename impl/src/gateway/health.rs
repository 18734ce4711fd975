//! `GET /health` on 127.0.0.1:<port> (contract §6.2): the gateway's JSON (profile, pid,
//! state, port), served by `web::server` on a current-thread runtime in a thread of its own,
//! so the gateway stays one small process.

use crate::web::{Body, server};
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use std::io;
use std::net::TcpListener;
use std::time::Duration;

/// Loopback only and asked by the dashboard with a 300 ms budget: short deadlines, and a
/// small waiting set (the oldest idle connection makes room for a new one).
pub const LIMITS: server::Limits = server::Limits {
    head_deadline: Duration::from_secs(5),
    conn_deadline: Duration::from_secs(10),
    max_waiting: 64,
    max_head: 8 * 1024,
};

/// The answer to `method path` (query ignored), given the health document.
pub fn answer(method: &Method, path: &str, body: &Bytes) -> Response<Body> {
    let (status, body) = match (method, path) {
        (&Method::GET | &Method::HEAD, "/health") => (StatusCode::OK, body.clone()),
        (_, "/health") => (
            StatusCode::METHOD_NOT_ALLOWED,
            Bytes::from_static(b"{\"error\":\"method not allowed\"}"),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            Bytes::from_static(b"{\"error\":\"not found\"}"),
        ),
    };
    let mut r = Response::new(Body::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Serves `/health` on `listener` from a new thread, for as long as the process lives.
pub fn spawn(listener: TcpListener, body: String) -> io::Result<()> {
    let body = Bytes::from(body);
    server::spawn("gateway-health", listener, LIMITS, 1, move |req| {
        let r = answer(req.method(), req.uri().path(), &body);
        async move { r }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn exchange(port: u16, raw: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn health_404_and_405() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        spawn(l, "{\"state\":\"running\"}".into()).unwrap();
        let r = exchange(port, "GET /health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        assert!(r.contains("content-type: application/json\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n{\"state\":\"running\"}"), "{r}");
        let head = exchange(port, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        assert!(exchange(port, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        let post = exchange(port, "POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    }
}
