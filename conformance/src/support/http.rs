//! The one HTTP client of the scenarios: a `GET` made from inside the container with bash's
//! `/dev/tcp` (the image has no curl), so it reaches what listens on the container's loopback
//! exactly as a local client would, and the response parsed off the wire.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::{Container, wait};

/// One HTTP/1.x response as read off the wire: status line parsed, headers split, body kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("body is not JSON: {:?}", self.body))
    }
}

/// Parses `HTTP/1.x <3 digits> <reason>`, the header lines and the body. Anything else (no
/// status line, a status that is not three digits, no blank line after the head) is an error
/// quoting what was received, so a check never passes on a `200` that happens to be in a body.
pub fn parse_response(raw: &str) -> Result<HttpResponse> {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .with_context(|| format!("no end of HTTP head in {raw:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    ensure!(
        matches!(version, "HTTP/1.0" | "HTTP/1.1"),
        "not an HTTP/1.x status line: {status_line:?}"
    );
    ensure!(
        code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
        "no three-digit status in {status_line:?}"
    );
    let headers = lines
        .map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("header line without ':' {l:?} in {raw:?}"))
        })
        .collect::<Result<_>>()?;
    Ok(HttpResponse {
        status: code.parse()?,
        headers,
        body: body.to_string(),
    })
}

/// `GET path` on 127.0.0.1:`port` from inside the container as the scenario user, with
/// `Authorization: Basic <basic>` when given. Returns the raw response (head and body); fails
/// naming the exec when nothing answered.
pub async fn get_raw(h: &Container, port: u16, path: &str, basic: Option<&str>) -> Result<String> {
    let auth = basic.map_or_else(String::new, |b64| {
        format!("Authorization: Basic {b64}\\r\\n")
    });
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n{auth}\\r\\n' >&3 && timeout 5 cat <&3"
    );
    let o = h.exec(&["bash", "-c", &script]).await?;
    if !o.success() {
        bail!(
            "{}\n{o}",
            o.headline(&format!("GET {path} on port {port} failed"))
        );
    }
    Ok(o.stdout)
}

/// `GET path`, parsed.
pub async fn get(h: &Container, port: u16, path: &str) -> Result<HttpResponse> {
    parse_response(&get_raw(h, port, path, None).await?)
}

/// `GET path` with `Authorization: Basic <b64>`, parsed.
pub async fn get_with_basic(
    h: &Container,
    port: u16,
    path: &str,
    b64: &str,
) -> Result<HttpResponse> {
    parse_response(&get_raw(h, port, path, Some(b64)).await?)
}

/// Poll until something answers HTTP on `port`, returning the raw response.
pub async fn wait_http(h: &Container, port: u16, path: &str, deadline: Duration) -> Result<String> {
    wait::poll_until(&format!("HTTP on port {port}"), deadline, || async {
        match get_raw(h, port, path, None).await {
            Ok(body) if body.starts_with("HTTP/") => Ok(Some(body)),
            Ok(body) => bail!("not HTTP: {body:?}"),
            Err(e) => bail!("{}", super::first_line(&e)),
        }
    })
    .await
}
