//! The HTML page, from a maud template: every value spliced in is escaped unless it is
//! wrapped in `PreEscaped` (only the constant style sheet and script are). Self-contained (no
//! external assets). It keeps itself current: a small inline script fetches the page again
//! every 5 s and swaps in the new `<main>`, keeping the last data (and saying so) when the
//! dashboard cannot be reached; without script, a meta refresh reloads the whole page. Rows
//! carry `data-*` attributes so scripts and the conformance suite can read state without
//! scraping cell text.

use super::model::{Gateway, Service, Status};
use crate::timefmt;
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

pub const TITLE: &str = "hermes-s6 dashboard";
/// Seconds between two refreshes of the page.
pub const REFRESH_SECS: u32 = 5;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
table{border-collapse:collapse;min-width:40rem;background:#fff}\
th,td{border:1px solid #ccc;padding:.35rem .7rem;text-align:left;vertical-align:top}\
th{background:#eee}.up{color:#176f2c;font-weight:600}.down{color:#a11}\
.unknown{color:#a60;font-weight:600}.err{color:#a11;font-size:.85rem}\
.meta{color:#555}.banner{border:1px solid #a11;background:#fee;padding:.5rem 1rem}\
tr.log td{border-top:none;padding-top:0}\
pre.log{margin:0;font-size:.78rem;line-height:1.3;white-space:pre-wrap;word-break:break-all;\
color:#333;background:#f4f4f4;padding:.3rem .5rem;max-height:14rem;overflow:auto}";

/// Refreshes `<main id="status">` from a fresh copy of this page. The browser resends the
/// basic-auth credentials it already holds for the origin.
const SCRIPT: &str = r#"(function () {
  "use strict";
  var every = 5000;
  var banner = document.getElementById("conn");
  function refresh() {
    fetch(location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var next = doc.getElementById("status");
        if (!next) { throw new Error("the answer holds no status"); }
        document.getElementById("status").replaceWith(document.adoptNode(next));
        banner.hidden = true;
      })
      .catch(function (e) {
        banner.textContent = "Cannot refresh (" + e.message + "): the data below may be " +
          "stale. Retrying every 5 s.";
        banner.hidden = false;
      })
      .then(function () { setTimeout(refresh, every); });
  }
  setTimeout(refresh, every);
})();
"#;

/// `'sha256-…'` of an inline element's text, for the Content-Security-Policy.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The page's Content-Security-Policy: nothing from anywhere, except this page's own inline
/// style and script (by hash) and fetching itself. Any other script that found its way into
/// the page (it should not: everything is escaped) would not run.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// `-` when absent; otherwise compact, e.g. `45s`, `3m 05s`, `2h 03m`, `1d 02h`.
pub fn uptime(secs: Option<u64>) -> String {
    let Some(s) = secs else {
        return "-".into();
    };
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The state cell: up/down from s6, `unknown` plus the s6 error when s6-svstat failed.
fn state_cell(registered: bool, up: Option<bool>, error: Option<&str>) -> Markup {
    html! {
        @match (registered, up, error) {
            (_, _, Some(e)) => td.state.unknown { "unknown" div.err { (e) } },
            (false, _, _) => td.state.down { "no slot" },
            (true, Some(true), _) => td.state.up { "up" },
            (true, _, _) => td.state.down { "down" },
        }
    }
}

pub fn gateway_row(g: &Gateway) -> Markup {
    let i = &g.info;
    let health_class = match g.health.as_str() {
        "ok" => "up",
        "down" => "down",
        _ => "unknown",
    };
    html! {
        // Only a confirmed "up" from s6 is true; unknown is not up.
        tr.gateway data-profile=(i.profile) data-up=(i.up == Some(true)) {
            td.profile { (i.profile) }
            (state_cell(i.registered, i.up, i.error.as_deref()))
            td.pid { (opt(i.pid)) }
            td.uptime { (uptime(i.uptime_secs)) }
            td.desired { (opt(i.desired_state.as_deref())) }
            td.port { (i.port) }
            td class={ "health " (health_class) } { (g.health) }
        }
        @if let Some(log) = &g.log {
            tr.log data-profile=(i.profile) {
                td colspan="7" {
                    @match log {
                        Ok(lines) if lines.is_empty() => span.meta { "log: no lines yet" },
                        Ok(lines) => pre.log { @for l in lines { (l) "\n" } },
                        Err(e) => span.err { "log: " (e) },
                    }
                }
            }
        }
    }
}

pub fn service_row(s: &Service) -> Markup {
    html! {
        tr.service data-name=(s.name) data-up=(s.up == Some(true)) {
            td.name { (s.name) }
            (state_cell(true, s.up, s.error.as_deref()))
            td.pid { (opt(s.pid)) }
            td.uptime { (uptime(s.uptime_secs)) }
        }
    }
}

pub fn render(st: &Status) -> String {
    let generated = timefmt::iso8601(st.generated_at);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                // Without script, reload the whole page instead.
                noscript { meta http-equiv="refresh" content=(REFRESH_SECS); }
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (TITLE) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (TITLE) }
                p #conn.banner.err hidden {}
                main #status {
                    p.meta {
                        "Manager: "
                        span.manager data-manager=(st.manager) { (st.manager_label) }
                        " · generated " time datetime=(generated) { (generated) }
                        " · refreshed every " (REFRESH_SECS) " s"
                    }
                    @if let Some(e) = &st.error {
                        p.banner.err { "cannot list gateways: " (e) }
                    }
                    @for f in &st.boot.failed_steps {
                        p.banner.err.boot { "boot step failed: " (f.describe()) }
                    }
                    @if let Some(e) = &st.boot.error {
                        p.banner.err.boot { "boot steps unknown: " (e) }
                    }
                    h2 { "Gateways" }
                    table.gateways {
                        thead { tr {
                            th { "Profile" } th { "State" } th { "PID" } th { "Uptime" }
                            th { "Desired state" } th { "Port" } th { "Health" }
                        } }
                        tbody {
                            @if st.gateways.is_empty() {
                                tr.empty { td colspan="7" { "no gateways registered" } }
                            }
                            @for g in &st.gateways { (gateway_row(g)) }
                        }
                    }
                    h2 { "Services" }
                    table.services {
                        thead { tr {
                            th { "Service" } th { "State" } th { "PID" } th { "Uptime" }
                        } }
                        tbody {
                            @if st.services.is_empty() {
                                tr.empty { td colspan="4" { "no supervisor" } }
                            }
                            @for s in &st.services { (service_row(s)) }
                        }
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::fixture;
    use super::*;

    #[test]
    fn uptimes() {
        assert_eq!(uptime(None), "-");
        assert_eq!(uptime(Some(0)), "0s");
        assert_eq!(uptime(Some(65)), "1m 05s");
        assert_eq!(uptime(Some(3725)), "1h 02m");
        assert_eq!(uptime(Some(90000)), "1d 01h");
    }

    #[test]
    fn gateway_rows() {
        let st = fixture();
        let up = gateway_row(&st.gateways[0]).into_string();
        assert!(
            up.starts_with(
                "<tr class=\"gateway\" data-profile=\"default\" data-up=\"true\">\
<td class=\"profile\">default</td><td class=\"state up\">up</td><td class=\"pid\">4242</td>\
<td class=\"uptime\">1h 02m</td><td class=\"desired\">running</td><td class=\"port\">9321</td>\
<td class=\"health up\">ok</td></tr>"
            ),
            "{up}"
        );
        // The log lines, escaped like everything else.
        assert!(up.contains(
            "<tr class=\"log\" data-profile=\"default\"><td colspan=\"7\"><pre class=\"log\">\
2026-05-07T12:00:00.000000001  ⚕ Hermes Gateway Starting\n\
&lt;script&gt;alert(1)&lt;/script&gt;\n</pre></td></tr>"
        ));
        let down = gateway_row(&st.gateways[1]).into_string();
        assert!(
            down.starts_with(
                "<tr class=\"gateway\" data-profile=\"&lt;b&gt;x\" data-up=\"false\">"
            )
        );
        assert!(down.contains("<td class=\"state down\">down</td><td class=\"pid\">-</td>"));
        assert!(down.contains("<span class=\"err\">log: no log yet</span>"));
        assert!(!down.contains("<b>"));
        let broken = gateway_row(&st.gateways[2]).into_string();
        assert!(broken.contains("data-up=\"false\""));
        assert!(broken.contains("unknown<div class=\"err\">s6-svstat: fatal: unable to read status: &lt;Permission denied&gt;</div>"));
        assert!(broken.contains("error: HTTP 500"));
        assert!(
            !broken.contains("class=\"log\""),
            "no log row when logs were not read"
        );
    }

    #[test]
    fn page() {
        let page = render(&fixture());
        assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\">"));
        assert!(page.contains("<title>hermes-s6 dashboard</title>"));
        assert!(page.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"));
        assert!(page.contains("<main id=\"status\">"));
        assert!(page.contains("<time datetime=\"2023-11-14T22:13:20Z\">"));
        assert_eq!(page.matches("<tr class=\"gateway\"").count(), 3);
        assert!(page.contains("<tr class=\"service\" data-name=\"dashboard\" data-up=\"true\">"));
        assert!(
            page.contains("<tr class=\"service\" data-name=\"main-hermes\" data-up=\"false\">")
        );
        // Self-contained: nothing fetched from elsewhere, one script, inline.
        for external in ["<link", "src=", "http://", "https://"] {
            assert!(!page.contains(external), "{external}");
        }
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(page.matches("<script>alert").count(), 0);
    }

    #[test]
    fn the_policy_admits_exactly_the_inline_style_and_script() {
        let page = render(&fixture());
        let inline = |tag: &str| {
            let open = format!("<{tag}>");
            let start = page.find(&open).unwrap() + open.len();
            let len = page[start..].find(&format!("</{tag}>")).unwrap();
            page[start..start + len].to_string()
        };
        let csp = content_security_policy();
        assert!(csp.contains(&format!("script-src {};", csp_hash(&inline("script")))));
        assert!(csp.contains(&format!("style-src {};", csp_hash(&inline("style")))));
        assert!(csp.starts_with("default-src 'none';"));
        // A known vector: sha256("") in base64.
        assert_eq!(
            csp_hash(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
    }

    #[test]
    fn failed_boot_steps_are_shown() {
        let mut st = fixture();
        assert!(!render(&st).contains("boot step failed"));
        st.boot.failed_steps = crate::status::failed_steps(
            "cont-init 02-reconcile-profiles start\ncont-init 02-reconcile-profiles exit 1\nuser-bundle failed\n",
        );
        let page = render(&st);
        assert!(
            page.contains("boot step failed: cont-init 02-reconcile-profiles exit 1"),
            "{page}"
        );
        assert!(page.contains("boot step failed: user-bundle"), "{page}");
    }

    #[test]
    fn listing_error_is_shown() {
        let mut st = fixture();
        st.gateways.clear();
        st.error = Some("cannot list /run/service: Permission denied".into());
        let page = render(&st);
        assert!(page.contains("cannot list gateways: cannot list /run/service: Permission denied"));
        assert!(page.contains("no gateways registered"));
    }
}
