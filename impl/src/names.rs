//! Profile-name rules, slot names and port derivation (docs/contract.md §3.1, §6.2): the one place.

use sha2::{Digest, Sha256};
use std::fmt;

/// The root profile: valid for `-p default`, but it cannot be created or deleted.
pub const DEFAULT_PROFILE: &str = "default";
/// Names that would collide with users, tools or scratch dirs inside the image.
pub const RESERVED: &[&str] = &["hermes", "test", "tmp", "root", "sudo"];
/// Prefix of every gateway slot in the scandir.
pub const SLOT_PREFIX: &str = "gateway-";
/// Longest accepted profile name.
pub const MAX_LEN: usize = 64;

/// Why a profile name was rejected; the message names the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong(usize),
    BadFirst(char),
    BadChar(char),
    Reserved(String),
    DefaultIsRoot,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const RULE: &str = "profile names must match ^[a-z0-9][a-z0-9_-]{0,63}$";
        match self {
            NameError::Empty => write!(f, "invalid profile name: must not be empty ({RULE})"),
            NameError::TooLong(n) => write!(
                f,
                "invalid profile name: too long ({n} > {MAX_LEN} characters; {RULE})"
            ),
            NameError::BadFirst(c) => write!(
                f,
                "invalid profile name: must start with a lowercase letter or digit, not {c:?} ({RULE})"
            ),
            NameError::BadChar(c) => write!(
                f,
                "invalid profile name: character {c:?} not allowed, only a-z 0-9 _ - ({RULE})"
            ),
            NameError::Reserved(n) => write!(
                f,
                "invalid profile name: {n:?} is reserved (reserved: {})",
                RESERVED.join(", ")
            ),
            NameError::DefaultIsRoot => write!(
                f,
                "invalid profile name: \"default\" is the root profile; it cannot be created or deleted"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Validates a name used to *address* a profile (`-p`): `default` is accepted.
pub fn validate(name: &str) -> Result<(), NameError> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err(NameError::Empty);
    };
    let len = name.chars().count();
    if len > MAX_LEN {
        return Err(NameError::TooLong(len));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Err(NameError::BadFirst(first));
    }
    if let Some(c) =
        chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-'))
    {
        return Err(NameError::BadChar(c));
    }
    if RESERVED.contains(&name) {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(())
}

/// Validates a name for `profile create` / `profile delete`: `default` is refused too.
pub fn validate_new(name: &str) -> Result<(), NameError> {
    validate(name)?;
    if name == DEFAULT_PROFILE {
        return Err(NameError::DefaultIsRoot);
    }
    Ok(())
}

/// `gateway-<profile>`.
pub fn slot_name(profile: &str) -> String {
    format!("{SLOT_PREFIX}{profile}")
}

/// The profile a slot dir name belongs to, if it is a visible gateway slot.
pub fn profile_of_slot(slot: &str) -> Option<&str> {
    if slot.starts_with('.') {
        return None;
    }
    slot.strip_prefix(SLOT_PREFIX).filter(|p| !p.is_empty())
}

/// A name as it may appear in a log line: printable ASCII other than `\\` and space kept,
/// every other byte written `\\xNN`. A name read from disk or from a client can then never
/// forge a line, a field or a terminal escape (contract §5).
pub fn escape_for_log(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_graphic() && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A profile's first-choice port in [9200, 9800) (`ports` probes on from it at create): 9200 + (first 8 hex digits of sha256) mod 600.
pub fn derived_port(profile: &str) -> u16 {
    let digest = Sha256::digest(profile.as_bytes());
    let h = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    9200 + (h % 600) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("a")]
    #[case("0")]
    #[case("work")]
    #[case("my-profile_2")]
    #[case("default")]
    #[case(&"a".repeat(64))]
    fn accepts(#[case] name: &str) {
        assert_eq!(validate(name), Ok(()));
    }

    #[rstest]
    #[case("", NameError::Empty)]
    #[case(&"a".repeat(65), NameError::TooLong(65))]
    #[case("Work", NameError::BadFirst('W'))]
    #[case("wOrk", NameError::BadChar('O'))]
    #[case("-x", NameError::BadFirst('-'))]
    #[case(".x", NameError::BadFirst('.'))]
    #[case("_x", NameError::BadFirst('_'))]
    #[case("a/b", NameError::BadChar('/'))]
    #[case("..", NameError::BadFirst('.'))]
    #[case("a b", NameError::BadChar(' '))]
    #[case("a\tb", NameError::BadChar('\t'))]
    #[case("a\0b", NameError::BadChar('\0'))]
    #[case("é", NameError::BadFirst('é'))]
    #[case("aé", NameError::BadChar('é'))]
    #[case("a.b", NameError::BadChar('.'))]
    #[case("hermes", NameError::Reserved("hermes".into()))]
    #[case("test", NameError::Reserved("test".into()))]
    #[case("tmp", NameError::Reserved("tmp".into()))]
    #[case("root", NameError::Reserved("root".into()))]
    #[case("sudo", NameError::Reserved("sudo".into()))]
    fn rejects(#[case] name: &str, #[case] err: NameError) {
        assert_eq!(validate(name), Err(err));
    }

    #[test]
    fn default_cannot_be_created() {
        assert_eq!(validate_new("default"), Err(NameError::DefaultIsRoot));
        assert_eq!(validate_new("work"), Ok(()));
        assert!(validate_new("Bad").is_err());
    }

    #[test]
    fn messages_name_the_rule() {
        assert!(NameError::Empty.to_string().contains("empty"));
        assert!(NameError::TooLong(65).to_string().contains("too long"));
        assert!(
            NameError::Reserved("tmp".into())
                .to_string()
                .contains("reserved")
        );
        assert!(NameError::BadChar('/').to_string().contains("not allowed"));
    }

    #[test]
    fn log_escaping_keeps_lines_whole() {
        assert_eq!(escape_for_log(b"work-1"), "work-1");
        assert_eq!(
            escape_for_log(b"a\nprofile=x action=started"),
            "a\\x0aprofile=x\\x20action=started"
        );
        assert_eq!(escape_for_log("é\\".as_bytes()), "\\xc3\\xa9\\x5c");
    }

    #[test]
    fn slot_names() {
        assert_eq!(slot_name("work"), "gateway-work");
        assert_eq!(profile_of_slot("gateway-work"), Some("work"));
        assert_eq!(profile_of_slot(".gateway-work.tmp"), None);
        assert_eq!(profile_of_slot("gateway-"), None);
        assert_eq!(profile_of_slot("dashboard"), None);
    }

    #[test]
    fn port_is_deterministic_and_in_range() {
        // sha256("default") starts with 37a8eec1 → 0x37a8eec1 % 600 = 337.
        assert_eq!(derived_port("default"), 9200 + (0x37a8eec1u32 % 600) as u16);
        let mut seen = std::collections::HashSet::new();
        for i in 0..100 {
            let p = derived_port(&format!("p{i}"));
            assert!((9200..9800).contains(&p));
            assert_eq!(p, derived_port(&format!("p{i}")));
            seen.insert(p);
        }
        assert!(seen.len() >= 60);
    }
}
