//! Routing and answering, on `web::server` (which owns connections, deadlines and the
//! waiting-connection cap). Authentication comes first: without valid credentials (when they
//! are configured) nothing is gathered and nothing else is learnt, not even which paths exist.

use super::auth::Credentials;
use super::{html, model};
use crate::app::Ctx;
use crate::web::{Body, server};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// The dashboard's connection rules (see `web::server`). A browser sends its request head
/// at once; 10 s leaves room for a slow network. Connections still waiting for their head
/// are capped at 128, the oldest making room for a new one, so however many connections sit
/// idle, a client that sends its request promptly is answered.
pub const LIMITS: server::Limits = server::Limits {
    head_deadline: Duration::from_secs(10),
    conn_deadline: Duration::from_secs(20),
    max_waiting: 128,
    max_head: 16 * 1024,
};

/// Threads that gather status (s6-svstat runs, file reads) at once; more requests queue.
pub const GATHER_THREADS: usize = 4;

pub struct Shared {
    pub ctx: Arc<Ctx>,
    pub creds: Option<Credentials>,
}

/// What a request is after, decided from its head alone.
#[derive(Debug)]
pub enum Route {
    /// `GET /`: the HTML page.
    Page,
    /// `GET /api/status`: the JSON report.
    Api,
    /// Answered without gathering anything.
    Reply(Response<Body>),
}

pub fn route(
    method: &Method,
    path: &str,
    authorization: Option<&str>,
    creds: Option<&Credentials>,
) -> Route {
    if let Some(c) = creds
        && !c.accepts(authorization)
    {
        let mut r = text(StatusCode::UNAUTHORIZED, "authentication required");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"hermes\""),
        );
        return Route::Reply(r);
    }
    if !matches!(path, "/" | "/api/status") {
        return Route::Reply(text(StatusCode::NOT_FOUND, "not found"));
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Route::Reply(r);
    }
    if path == "/" { Route::Page } else { Route::Api }
}

/// A response with the headers every answer carries: nothing cached (it is live state),
/// no content sniffing.
pub fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Body::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", format!("{body}\n"))
}

static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    HeaderValue::from_str(&html::content_security_policy())
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// Answers one request.
pub async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match route(
        req.method(),
        req.uri().path(),
        authorization,
        shared.creds.as_ref(),
    ) {
        Route::Reply(r) => r,
        Route::Page => {
            let st = model::gather(Arc::clone(&shared.ctx), true).await;
            let mut r = response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                html::render(&st),
            );
            r.headers_mut().insert(
                HeaderName::from_static("content-security-policy"),
                CSP.clone(),
            );
            r
        }
        Route::Api => {
            let st = model::gather(Arc::clone(&shared.ctx), false).await;
            let mut body = serde_json::to_vec_pretty(&st).unwrap_or_default();
            body.push(b'\n');
            response(StatusCode::OK, "application/json", body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn status_of(r: &Route) -> Option<StatusCode> {
        match r {
            Route::Reply(r) => Some(r.status()),
            _ => None,
        }
    }

    #[test]
    fn routes() {
        assert!(matches!(
            route(&Method::GET, "/api/status", None, None),
            Route::Api
        ));
        assert!(matches!(route(&Method::GET, "/", None, None), Route::Page));
        assert!(matches!(route(&Method::HEAD, "/", None, None), Route::Page));
        assert_eq!(
            status_of(&route(&Method::GET, "/nope", None, None)),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            status_of(&route(&Method::GET, "/api/status/", None, None)),
            Some(StatusCode::NOT_FOUND)
        );
        let Route::Reply(r) = route(&Method::POST, "/api/status", None, None) else {
            panic!("POST must be refused")
        };
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, HEAD");
        assert_eq!(
            status_of(&route(&Method::DELETE, "/", None, None)),
            Some(StatusCode::METHOD_NOT_ALLOWED)
        );
    }

    #[test]
    fn auth_gate() {
        let c = Credentials::new("user", "pass").unwrap();
        for bad in [None, Some("Basic dXNlcjpwYXN6"), Some("Bearer x")] {
            let Route::Reply(r) = route(&Method::GET, "/api/status", bad, Some(&c)) else {
                panic!("{bad:?} let through")
            };
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
            assert_eq!(
                r.headers()[header::WWW_AUTHENTICATE],
                "Basic realm=\"hermes\""
            );
        }
        // Even unknown paths need credentials: nothing is learnt without them.
        assert_eq!(
            status_of(&route(&Method::GET, "/x", None, Some(&c))),
            Some(StatusCode::UNAUTHORIZED)
        );
        let ok = route(
            &Method::GET,
            "/api/status",
            Some("Basic dXNlcjpwYXNz"),
            Some(&c),
        );
        assert!(matches!(ok, Route::Api));
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
        let shared = Arc::new(Shared {
            ctx: Arc::new(Ctx {
                paths: crate::paths::Paths::under(root.path()),
                detection: crate::s6::detect::Detection::None("test".into()),
            }),
            creds: None,
        });
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        server::spawn("test-dashboard", l, LIMITS, GATHER_THREADS, move |req| {
            handle(Arc::clone(&shared), req)
        })
        .unwrap();

        let r = exchange(port, b"GET /api/status HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
        assert!(r.contains("content-type: application/json\r\n"), "{r}");
        assert!(r.contains("cache-control: no-store\r\n"), "{r}");
        let body = r.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["manager"], "none");
        assert_eq!(v["gateways"], serde_json::json!([]));

        let page = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(
            page.contains("content-security-policy: default-src 'none';"),
            "{page}"
        );
        assert!(page.contains("<title>hermes-s6 dashboard</title>"));

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
            "a".repeat(LIMITS.max_head)
        );
        assert!(exchange(port, big.as_bytes()).starts_with("HTTP/1.1 431"));
    }
}
