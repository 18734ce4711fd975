//! JUnit XML from the scenario records, for CI systems that show test results from it
//! (`target/conformance/junit.xml`, written by `conformance-summary`). One `<testsuite>` per
//! area (the part of a scenario's name before the first `::`, as in the test name), one `<testcase>` per scenario;
//! a failure carries its first line as the message and the whole text as the body. Each case
//! names the user its commands ran as, the image and every reason it gave for a root exec, as
//! properties.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::ScenarioRecord;

/// The whole document.
pub fn render(records: &[ScenarioRecord]) -> String {
    let mut areas: BTreeMap<&str, Vec<&ScenarioRecord>> = BTreeMap::new();
    for r in records {
        let area = r.scenario.split_once("::").map_or("suite", |(a, _)| a);
        areas.entry(area).or_default().push(r);
    }
    let failures = records.iter().filter(|r| !r.passed).count();
    let total_s: f64 = records.iter().map(seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"hermes-s6 conformance\" tests=\"{}\" failures=\"{failures}\" time=\"{total_s:.3}\">",
        records.len()
    );
    for (area, cases) in areas {
        let failed = cases.iter().filter(|r| !r.passed).count();
        let time: f64 = cases.iter().map(|r| seconds(r)).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{time:.3}\">",
            escape(area),
            cases.len()
        );
        for r in cases {
            let _ = writeln!(
                x,
                "    <testcase classname=\"conformance.{}\" name=\"{}\" time=\"{:.3}\">",
                escape(area),
                escape(&r.scenario),
                seconds(r)
            );
            let _ = write!(
                x,
                "      <properties><property name=\"user\" value=\"{}\"/><property name=\"image\" value=\"{}\"/>",
                escape(&r.user),
                escape(&r.image)
            );
            for why in &r.root_execs {
                let _ = write!(
                    x,
                    "<property name=\"root_exec\" value=\"{}\"/>",
                    escape(why)
                );
            }
            x.push_str("</properties>\n");
            if !r.passed {
                let first = r.message.lines().next().unwrap_or("failed");
                let _ = writeln!(
                    x,
                    "      <failure message=\"{}\" type=\"scenario\">{}</failure>",
                    escape(first),
                    escape(&r.message)
                );
            }
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

fn seconds(r: &ScenarioRecord) -> f64 {
    r.duration_ms as f64 / 1000.0
}

/// Escapes text for an attribute or element body. Characters XML 1.0 cannot carry at all
/// (control characters other than tab, newline and carriage return, e.g. a terminal's ESC in
/// a failure's captured output) become `\u{..}` text rather than making the file unreadable.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, passed: bool, message: &str) -> ScenarioRecord {
        ScenarioRecord {
            scenario: name.into(),
            passed,
            duration_ms: 1500,
            message: message.into(),
            user: "hermes".into(),
            image: "hermes-s6:abc".into(),
            root_execs: vec![],
            containers: 0,
            execs: 0,
            run: String::new(),
        }
    }

    #[test]
    fn groups_by_area_and_counts_failures() {
        let x = render(&[
            rec("lifecycle::create", true, ""),
            rec("lifecycle::delete", false, "exit 1\nmore"),
            ScenarioRecord {
                root_execs: vec!["only root can read /proc/1/exe".into()],
                ..rec("boot::order", true, "")
            },
        ]);
        assert!(
            x.contains("<testsuites name=\"hermes-s6 conformance\" tests=\"3\" failures=\"1\"")
        );
        assert!(x.contains("<testsuite name=\"lifecycle\" tests=\"2\" failures=\"1\""));
        assert!(x.contains("<testsuite name=\"boot\" tests=\"1\" failures=\"0\""));
        assert!(x.contains("<failure message=\"exit 1\" type=\"scenario\">exit 1\nmore</failure>"));
        assert!(x.contains("name=\"user\" value=\"hermes\""));
        assert!(
            x.contains("<property name=\"root_exec\" value=\"only root can read /proc/1/exe\"/>")
        );
        assert_eq!(x.matches("<testcase ").count(), 3);
        assert_eq!(x.matches("</testcase>").count(), 3);
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("red\u{1b}[31m\tok\n"), "red\\u{1b}[31m\tok\n");
    }
}
