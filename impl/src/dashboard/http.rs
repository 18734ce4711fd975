//! Just enough HTTP/1.x for a status page: one request per connection (`Connection: close`),
//! a bounded request head, no bodies read. Parsing is separate from I/O so it can be tested.

use std::io::{self, Read, Write};

/// Largest request head accepted; a status page needs a few hundred bytes.
pub const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    TooLarge,
    Malformed(&'static str),
}

/// Reads until the blank line ending the head, at most `MAX_HEAD` bytes. The caller sets the
/// read timeout, so a slow or silent client cannot hold a thread for long.
pub fn read_head(r: &mut impl Read) -> io::Result<Result<Vec<u8>, ParseError>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        match head_end(&buf) {
            Some(end) if end <= MAX_HEAD => {
                buf.truncate(end);
                return Ok(Ok(buf));
            }
            Some(_) => return Ok(Err(ParseError::TooLarge)),
            None => {}
        }
        if buf.len() > MAX_HEAD {
            return Ok(Err(ParseError::TooLarge));
        }
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(Err(ParseError::Malformed(
                "connection closed before end of head",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Offset just past the head terminator (`\r\n\r\n`, or `\n\n` from lenient clients).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `METHOD SP target SP HTTP/1.x` → (method, path without query).
pub fn parse_request_line(line: &str) -> Result<(String, String), ParseError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ParseError::Malformed("bad method"));
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(ParseError::Malformed("unsupported HTTP version"));
    }
    // Absolute-form (`http://host/path`) is allowed by HTTP/1.1; keep only the path.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    if !target.starts_with('/') {
        return Err(ParseError::Malformed("target is not a path"));
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    Ok((method.to_string(), path.to_string()))
}

pub fn parse_head(head: &[u8]) -> Result<Request, ParseError> {
    let text = std::str::from_utf8(head).map_err(|_| ParseError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let (method, path) = parse_request_line(lines.next().unwrap_or(""))?;
    let mut headers = Vec::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or(ParseError::Malformed("header line without ':'"))?;
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(ParseError::Malformed("bad header name"));
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(Request {
        method,
        path,
        headers,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the whole response; `head_only` for HEAD requests.
    pub fn write_to(&self, w: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        if !head_only {
            w.write_all(&self.body)?;
        }
        w.flush()
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line("GET /api/status HTTP/1.1").unwrap(),
            ("GET".into(), "/api/status".into())
        );
        assert_eq!(
            parse_request_line("GET /?x=1 HTTP/1.0").unwrap(),
            ("GET".into(), "/".into())
        );
        assert_eq!(
            parse_request_line("GET http://h:9119/api/status?a HTTP/1.1").unwrap(),
            ("GET".into(), "/api/status".into())
        );
        assert_eq!(
            parse_request_line("POST / HTTP/1.1").unwrap(),
            ("POST".into(), "/".into())
        );
        for bad in [
            "",
            "GET /",
            "GET / HTTP/2.0",
            "get / HTTP/1.1",
            "GET  / HTTP/1.1",
            "GET / HTTP/1.1 x",
            "GET * HTTP/1.1",
        ] {
            assert!(parse_request_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn heads() {
        let r =
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\nauthorization:  Basic abc \r\n\r\n").unwrap();
        assert_eq!(r.header("Authorization"), Some("Basic abc"));
        assert_eq!(r.header("host"), Some("x"));
        assert_eq!(r.header("cookie"), None);
        assert!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n").is_err());
    }

    #[test]
    fn bounded_reads() {
        let mut ok: &[u8] = b"GET / HTTP/1.0\n\nbody ignored";
        assert_eq!(read_head(&mut ok).unwrap().unwrap(), b"GET / HTTP/1.0\n\n");
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            read_head(&mut big.as_bytes()).unwrap(),
            Err(ParseError::TooLarge)
        );
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\n";
        assert!(matches!(
            read_head(&mut cut).unwrap(),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn response_bytes() {
        let mut out = Vec::new();
        Response::text(404, "not found")
            .with_header("X-A", "b")
            .write_to(&mut out, false)
            .unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(s.contains("Content-Length: 10\r\n"));
        assert!(s.contains("X-A: b\r\n"));
        assert!(s.ends_with("\r\n\r\nnot found\n"));
        let mut head = Vec::new();
        Response::text(200, "x").write_to(&mut head, true).unwrap();
        assert!(String::from_utf8(head).unwrap().ends_with("\r\n\r\n"));
    }
}
