//! Who may talk to the dashboard: the loopback rule for binds and HTTP basic auth.

use base64::Engine;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// True for `localhost`, 127.0.0.0/8, `::1` (bracketed or not) and IPv4-mapped loopback.
/// Anything else — other names, `0.0.0.0`, `::` — counts as public: the refusal to serve
/// without credentials must fail closed.
pub fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()),
        Err(_) => false,
    }
}

/// The expected `user:password` of basic auth.
pub struct Credentials {
    expected: Vec<u8>,
}

impl Credentials {
    /// Both must be non-empty: an empty password is a misconfiguration, not an open door.
    pub fn new(user: &str, password: &str) -> Option<Self> {
        (!user.is_empty() && !password.is_empty()).then(|| Credentials {
            expected: format!("{user}:{password}").into_bytes(),
        })
    }

    /// From HERMES_DASHBOARD_BASIC_AUTH_USERNAME / _PASSWORD.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Credentials::new(
            &var("HERMES_DASHBOARD_BASIC_AUTH_USERNAME"),
            &var("HERMES_DASHBOARD_BASIC_AUTH_PASSWORD"),
        )
    }

    /// Does this `Authorization` header value carry the expected credentials?
    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        authorization
            .and_then(parse_basic)
            .is_some_and(|given| ct_eq(&given, &self.expected))
    }
}

/// `Basic <base64>` (scheme case-insensitive) → the decoded `user:password` bytes. Padding
/// may be left out (some clients do); any other deviation from standard base64 is refused.
pub fn parse_basic(value: &str) -> Option<Vec<u8>> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    BASE64.decode(rest.trim()).ok()
}

/// Standard alphabet; padding accepted when present, not required.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Compares in time that depends only on the lengths (`subtle`), so response timing does not
/// reveal how much of a guess was right. The length of the secret is not hidden.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "0.0.0.0",
            "::",
            "[::]",
            "10.0.0.1",
            "128.0.0.1",
            "example.com",
            "localhost.evil",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn base64() {
        let d = |s: &str| BASE64.decode(s).ok();
        assert_eq!(d("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(d("YQ==").unwrap(), b"a");
        assert_eq!(d("YQ").unwrap(), b"a");
        assert_eq!(d("YWI=").unwrap(), b"ab");
        assert_eq!(d("").unwrap(), b"");
        assert_eq!(d("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(d("Y").is_none());
        assert!(d("dXN!").is_none());
        assert!(
            d("dXNl-jpw").is_none(),
            "URL-safe alphabet is not basic auth's"
        );
    }

    #[test]
    fn basic_header() {
        assert_eq!(parse_basic("Basic dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(parse_basic("basic  dXNlcjpwYXNz ").unwrap(), b"user:pass");
        assert!(parse_basic("Bearer dXNlcjpwYXNz").is_none());
        assert!(parse_basic("Basic").is_none());
    }

    #[test]
    fn credentials() {
        assert!(Credentials::new("", "x").is_none());
        assert!(Credentials::new("x", "").is_none());
        let c = Credentials::new("user", "pass").unwrap();
        assert!(c.accepts(Some("Basic dXNlcjpwYXNz")));
        assert!(!c.accepts(Some("Basic dXNlcjpwYXN6"))); // user:pasz
        assert!(!c.accepts(Some("Basic dXNlcjpwYXNzeA=="))); // user:passx
        assert!(!c.accepts(Some("Basic dXNlcjpwYXM="))); // user:pas
        assert!(!c.accepts(Some("garbage")));
        assert!(!c.accepts(None));
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"abd", b"abc"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"abcd", b"abc"));
        assert!(!ct_eq(b"abc\0", b"abc"));
    }
}
