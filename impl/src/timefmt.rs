//! UTC ISO-8601 for the state file, the boot log and the dashboard, on the `time` crate: its
//! calendar knows that February has no 31st, which a hand-rolled day count did not check.

use std::time::{SystemTime, UNIX_EPOCH};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

pub fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ`. A time outside years 0000–9999 (which RFC 3339 cannot write) comes
/// out as `@<epoch seconds>`, still one token, never a panic.
pub fn iso8601(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{epoch}"))
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]` to epoch seconds; without an offset
/// the time is taken as UTC (what Python's `str(datetime.utcnow())` writes). `None` for
/// anything else, including dates the calendar does not have.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    // The space separator and a lower-case `z` are RFC 3339's allowances, not ISO 8601's:
    // normalise them (both are ASCII, so the byte offsets are char boundaries).
    let mut s = s.trim().to_string();
    if s.as_bytes().get(10) == Some(&b' ') {
        s.replace_range(10..11, "T");
    }
    if s.ends_with('z') {
        s.replace_range(s.len() - 1.., "Z");
    }
    let s = s.as_str();
    // Only the extended forms with a full date and seconds: ISO 8601 also has week dates,
    // ordinal dates and reduced precision, which nothing here writes.
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp());
    }
    PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_778_155_200), "2026-05-07T12:00:00Z");
        for t in [0, 951_782_400, 1_778_155_200, 4_102_444_799] {
            assert_eq!(parse_iso8601(&iso8601(t)), Some(t));
        }
        assert_eq!(iso8601(i64::MAX), format!("@{}", i64::MAX));
    }

    #[test]
    fn parses_variants() {
        assert_eq!(
            parse_iso8601("2026-05-07T12:00:00.123456+00:00"),
            Some(1_778_155_200)
        );
        assert_eq!(
            parse_iso8601("2026-05-07T14:00:00+0200"),
            Some(1_778_155_200)
        );
        assert_eq!(
            parse_iso8601("2026-05-07T14:00:00+02:00"),
            Some(1_778_155_200)
        );
        assert_eq!(
            parse_iso8601("2026-05-07T10:30:00-01:30"),
            Some(1_778_155_200)
        );
        assert_eq!(parse_iso8601("2026-05-07 12:00:00"), Some(1_778_155_200));
        assert_eq!(parse_iso8601("2026-05-07T12:00:00Z"), Some(1_778_155_200));
        assert_eq!(parse_iso8601(" 2026-05-07T12:00:00z "), Some(1_778_155_200));
        assert_eq!(parse_iso8601("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn rejects_dates_the_calendar_lacks() {
        assert_eq!(parse_iso8601("2026-02-31T12:00:00Z"), None);
        assert_eq!(parse_iso8601("2026-02-29T12:00:00Z"), None); // not a leap year
        assert_eq!(parse_iso8601("2026-04-31 00:00:00"), None);
        assert_eq!(parse_iso8601("2026-13-07T12:00:00Z"), None);
        assert_eq!(parse_iso8601("2026-05-07T24:00:01Z"), None);
        assert_eq!(parse_iso8601("2026-05-07T12:60:00Z"), None);
    }

    #[test]
    fn rejects_other_text() {
        for bad in [
            "",
            "yesterday",
            "2026-05-07",
            "2026-05-07T12:00",
            "20260507T120000Z",
            "2026-W19-4T12:00:00Z",
            "2026-05-07T12:00:00+2",
            "2026-05-07T12:00:00 UTC",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }
}
