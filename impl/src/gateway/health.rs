//! `GET /health` on 127.0.0.1:<port>: a thread per connection, std::net only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Serves forever on `listener` (call from a dedicated thread).
pub fn serve(listener: TcpListener, body: Arc<String>) {
    for stream in listener.incoming().flatten() {
        let body = Arc::clone(&body);
        thread::spawn(move || handle(stream, &body));
    }
}

fn handle(mut s: TcpStream, body: &str) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n")
        && !buf.windows(2).any(|w| w == b"\n\n")
        && buf.len() < 8192
    {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let req = String::from_utf8_lossy(&buf);
    let mut parts = req.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/health") => ("200 OK", body.to_string()),
        (_, "/health") => (
            "405 Method Not Allowed",
            "{\"error\":\"method not allowed\"}".into(),
        ),
        _ => ("404 Not Found", "{\"error\":\"not found\"}".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = s.write_all(body.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn health_and_404() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        thread::spawn(move || serve(l, Arc::new("{\"state\":\"running\"}".into())));
        let r = get(port, "/health");
        assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
        assert!(r.ends_with("{\"state\":\"running\"}"));
        assert!(get(port, "/nope").starts_with("HTTP/1.1 404"));
    }
}
