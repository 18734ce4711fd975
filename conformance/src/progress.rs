//! The one progress line of the suite, the bench and the image pipeline.

use std::io::Write;

/// A line of progress on the real stderr, bypassing libtest's output capture, so a person
/// watching a cold build or a long bench run sees where it is.
pub fn progress(msg: impl AsRef<str>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "[conformance] {}", msg.as_ref());
}
