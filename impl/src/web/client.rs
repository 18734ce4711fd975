//! A bounded `GET` on 127.0.0.1, for the dashboard's probe of each gateway's `/health`: hyper's
//! HTTP/1 client over one connection, the whole exchange (connect, request, status line)
//! inside one deadline.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;
use tokio::net::TcpStream;

/// How a `GET` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The server answered with this status.
    Status(u16),
    /// Nothing listens on the port.
    Refused,
    /// No status line within the deadline.
    TimedOut,
    /// Anything else: reset, not HTTP, …
    Failed(String),
}

/// `GET <path>` on `127.0.0.1:<port>`; only the status is read.
pub async fn get_status(port: u16, path: &str, within: Duration) -> Answer {
    match tokio::time::timeout(within, exchange(port, path)).await {
        Err(_) => Answer::TimedOut,
        Ok(Ok(status)) => Answer::Status(status),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Answer::Refused,
        Ok(Err(e)) => Answer::Failed(e.to_string()),
    }
}

async fn exchange(port: u16, path: &str) -> io::Result<u16> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    let req = Request::get(path)
        .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    // The connection is driven here, next to the request, rather than on a task of its own,
    // so both end when this returns (a task would outlive the deadline on a silent server).
    // The connection may finish first (the server answers and closes); the response is then
    // already in hand, or the request fails with the reason.
    let resp = sender.send_request(req);
    tokio::pin!(conn, resp);
    let mut conn_open = true;
    loop {
        tokio::select! {
            biased;
            r = &mut resp => return r.map(|resp| resp.status().as_u16()).map_err(described),
            r = &mut conn, if conn_open => {
                conn_open = false;
                r.map_err(described)?;
            }
        }
    }
}

/// hyper's error with the socket error it wraps, if any ("connection reset by peer").
fn described(e: hyper::Error) -> io::Error {
    io::Error::other(match std::error::Error::source(&e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A one-shot server answering `raw` to whatever it is sent.
    fn answering(raw: &'static [u8]) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(raw);
        });
        port
    }

    const QUICK: Duration = Duration::from_millis(300);

    #[test]
    fn statuses() {
        let rt = rt();
        let ok = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(
            rt.block_on(get_status(ok, "/health", QUICK)),
            Answer::Status(200)
        );
        let busy = answering(b"HTTP/1.0 503 Busy\r\n\r\n");
        assert_eq!(
            rt.block_on(get_status(busy, "/health", QUICK)),
            Answer::Status(503)
        );
    }

    #[test]
    fn refused_silent_and_garbage() {
        let rt = rt();
        // A port nobody listens on: bind, learn the port, close.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(rt.block_on(get_status(free, "/", QUICK)), Answer::Refused);

        // Accepts (via the backlog) but never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let started = std::time::Instant::now();
        assert_eq!(rt.block_on(get_status(port, "/", QUICK)), Answer::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(1));

        let ssh = answering(b"SSH-2.0-OpenSSH_9.2\r\n");
        assert!(matches!(
            rt.block_on(get_status(ssh, "/", QUICK)),
            Answer::Failed(_)
        ));
    }
}
