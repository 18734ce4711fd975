//! The HTML page: self-contained (inline CSS, no external assets), refreshed by the browser
//! every 5 s, every dynamic value escaped. Rows carry `data-*` attributes so scripts and the
//! conformance suite can read state without scraping cell text.

use super::model::{Gateway, Service, Status};
use crate::timefmt;
use std::fmt::Write;

pub const TITLE: &str = "hermes-s6 dashboard";

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}\
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
table{border-collapse:collapse;min-width:40rem;background:#fff}\
th,td{border:1px solid #ccc;padding:.35rem .7rem;text-align:left;vertical-align:top}\
th{background:#eee}.up{color:#176f2c;font-weight:600}.down{color:#a11}\
.unknown{color:#a60;font-weight:600}.err{color:#a11;font-size:.85rem}\
.meta{color:#555}.banner{border:1px solid #a11;background:#fee;padding:.5rem 1rem}";

/// Escapes text for element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
    v.map_or_else(|| "-".into(), |v| escape(&v.to_string()))
}

/// The state cell: up/down from s6, `unknown` plus the s6 error when s6-svstat failed.
fn state_cell(registered: bool, up: Option<bool>, error: Option<&str>) -> String {
    match (registered, up, error) {
        (_, _, Some(e)) => format!(
            "<td class=\"state unknown\">unknown<div class=\"err\">{}</div></td>",
            escape(e)
        ),
        (false, _, _) => "<td class=\"state down\">no slot</td>".into(),
        (true, Some(true), _) => "<td class=\"state up\">up</td>".into(),
        (true, _, _) => "<td class=\"state down\">down</td>".into(),
    }
}

pub fn gateway_row(g: &Gateway) -> String {
    let i = &g.info;
    let health_class = match g.health.as_str() {
        "ok" => "up",
        "down" => "down",
        _ => "unknown",
    };
    format!(
        "<tr class=\"gateway\" data-profile=\"{p}\" data-up=\"{up}\">\
<td class=\"profile\">{p}</td>{state}<td class=\"pid\">{pid}</td><td class=\"uptime\">{upt}</td>\
<td class=\"desired\">{desired}</td><td class=\"port\">{port}</td>\
<td class=\"health {health_class}\">{health}</td></tr>\n",
        p = escape(&i.profile),
        // Only a confirmed "up" from s6 is true; unknown is not up.
        up = i.up == Some(true),
        state = state_cell(i.registered, i.up, i.error.as_deref()),
        pid = opt(i.pid),
        upt = uptime(i.uptime_secs),
        desired = opt(i.desired_state.as_deref()),
        port = i.port,
        health = escape(&g.health),
    )
}

pub fn service_row(s: &Service) -> String {
    format!(
        "<tr class=\"service\" data-name=\"{n}\" data-up=\"{up}\">\
<td class=\"name\">{n}</td>{state}<td class=\"pid\">{pid}</td><td class=\"uptime\">{upt}</td></tr>\n",
        n = escape(&s.name),
        up = s.up == Some(true),
        state = state_cell(true, s.up, s.error.as_deref()),
        pid = opt(s.pid),
        upt = uptime(s.uptime_secs),
    )
}

pub fn render(st: &Status) -> String {
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"5\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{TITLE}</title><style>{STYLE}</style></head>\n<body>\n<h1>{TITLE}</h1>\n\
<p class=\"meta\">Manager: <span class=\"manager\" data-manager=\"{m}\">{label}</span> · \
generated {at}</p>\n",
        m = escape(st.manager),
        label = escape(&st.manager_label),
        at = escape(&timefmt::iso8601(st.generated_at)),
    );
    if let Some(e) = &st.error {
        let _ = writeln!(
            h,
            "<p class=\"banner err\">cannot list gateways: {}</p>",
            escape(e)
        );
    }
    h.push_str(
        "<h2>Gateways</h2>\n<table class=\"gateways\"><thead><tr><th>Profile</th><th>State</th>\
<th>PID</th><th>Uptime</th><th>Desired state</th><th>Port</th><th>Health</th></tr></thead>\n<tbody>\n",
    );
    if st.gateways.is_empty() {
        h.push_str("<tr class=\"empty\"><td colspan=\"7\">no gateways registered</td></tr>\n");
    }
    for g in &st.gateways {
        h.push_str(&gateway_row(g));
    }
    h.push_str(
        "</tbody></table>\n<h2>Services</h2>\n<table class=\"services\"><thead><tr>\
<th>Service</th><th>State</th><th>PID</th><th>Uptime</th></tr></thead>\n<tbody>\n",
    );
    if st.services.is_empty() {
        h.push_str("<tr class=\"empty\"><td colspan=\"4\">no supervisor</td></tr>\n");
    }
    for s in &st.services {
        h.push_str(&service_row(s));
    }
    h.push_str("</tbody></table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::fixture;
    use super::*;

    #[test]
    fn escapes_everything_dangerous() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain ⚕"), "plain ⚕");
    }

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
        assert_eq!(
            gateway_row(&st.gateways[0]),
            "<tr class=\"gateway\" data-profile=\"default\" data-up=\"true\">\
<td class=\"profile\">default</td><td class=\"state up\">up</td><td class=\"pid\">4242</td>\
<td class=\"uptime\">1h 02m</td><td class=\"desired\">running</td><td class=\"port\">9321</td>\
<td class=\"health up\">ok</td></tr>\n"
        );
        let down = gateway_row(&st.gateways[1]);
        assert!(
            down.starts_with(
                "<tr class=\"gateway\" data-profile=\"&lt;b&gt;x\" data-up=\"false\">"
            )
        );
        assert!(down.contains("<td class=\"state down\">down</td><td class=\"pid\">-</td>"));
        assert!(!down.contains("<b>"));
        let broken = gateway_row(&st.gateways[2]);
        assert!(broken.contains("data-up=\"false\""));
        assert!(broken.contains("unknown<div class=\"err\">s6-svstat: fatal: unable to read status: &lt;Permission denied&gt;</div>"));
        assert!(broken.contains("error: HTTP 500"));
    }

    #[test]
    fn page() {
        let page = render(&fixture());
        assert!(page.contains("<title>hermes-s6 dashboard</title>"));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert_eq!(page.matches("<tr class=\"gateway\"").count(), 3);
        assert!(page.contains("<tr class=\"service\" data-name=\"dashboard\" data-up=\"true\">"));
        assert!(
            page.contains("<tr class=\"service\" data-name=\"main-hermes\" data-up=\"false\">")
        );
        // Self-contained: nothing fetched from elsewhere.
        for external in ["<link", "<script", "src=", "http://", "https://"] {
            assert!(!page.contains(external), "{external}");
        }
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
