//! The declared list of every path a root process touches (`docs/contract.md` §10.1), read
//! from the contract itself so that the table a person reads and the one the suite checks
//! are the same text.

use anyhow::{Result, bail};

/// The contract, compiled in: the suite checks the table as committed.
pub const CONTRACT: &str = include_str!("../../docs/contract.md");

/// One row of §10.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPath {
    /// The pattern, e.g. `$HERMES_HOME/profiles/**` (several for a row that lists more).
    pub patterns: Vec<String>,
    pub program: String,
    pub operations: Vec<String>,
    /// Whether hermes can change any component of the path (the matrix plants there).
    pub hermes_writable: bool,
    pub why: String,
}

impl RootPath {
    /// Under `$HERMES_HOME`?
    pub fn in_home(&self) -> bool {
        self.patterns.iter().any(|p| p.starts_with("$HERMES_HOME"))
    }
}

/// The §10.1 table's rows.
pub fn declared() -> Result<Vec<RootPath>> {
    parse(CONTRACT)
}

/// Parses the first Markdown table after the `### 10.1` heading of `contract`.
pub fn parse(contract: &str) -> Result<Vec<RootPath>> {
    let Some(start) = contract.find("\n### 10.1 ") else {
        bail!("docs/contract.md has no `### 10.1` section (the paths root touches)");
    };
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in contract[start + 1..].lines().skip(1) {
        if line.starts_with("## ") || line.starts_with("### ") {
            break;
        }
        let line = line.trim();
        if !line.starts_with('|') {
            if in_table {
                break;
            }
            continue;
        }
        in_table = true;
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 5 {
            bail!("§10.1: a row needs 5 cells, not {}: {line}", cells.len());
        }
        if cells[0] == "path" || cells[0].starts_with("---") {
            continue;
        }
        let patterns: Vec<String> = cells[0]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        if patterns.is_empty() {
            bail!("§10.1: no `pattern` in the path cell: {line}");
        }
        let hermes_writable = match cells[3] {
            "yes" => true,
            "no" => false,
            other => bail!("§10.1: hermes-writable must be yes or no, not {other:?}: {line}"),
        };
        rows.push(RootPath {
            patterns,
            program: cells[1].to_string(),
            operations: cells[2].split(',').map(|s| s.trim().to_string()).collect(),
            hermes_writable,
            why: cells[4].to_string(),
        });
    }
    if rows.is_empty() {
        bail!("§10.1 has no table rows");
    }
    Ok(rows)
}

/// Does `path` match `pattern` (§10.1's syntax) once `$HERMES_HOME` is `home`?
/// `<p>` one profile-name component, `<svc>` one static service, `<n>` digits, `*` any run
/// of characters within one component, `**` any number of components (none included).
pub fn matches(pattern: &str, home: &str, path: &str) -> bool {
    let pattern = pattern.replace("$HERMES_HOME", home);
    let pat: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let comps: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match_components(&pat, &comps)
}

fn match_components(pat: &[&str], comps: &[&str]) -> bool {
    match pat.split_first() {
        None => comps.is_empty(),
        Some((&"**", rest)) => (0..=comps.len()).any(|i| match_components(rest, &comps[i..])),
        Some((p, rest)) => {
            !comps.is_empty() && match_one(p, comps[0]) && match_components(rest, &comps[1..])
        }
    }
}

/// One component against one pattern component: literal text, `*` (any run), `<p>` (a
/// profile name), `<n>` (digits) and `<svc>` (a static service), in any mix.
fn match_one(pat: &str, comp: &str) -> bool {
    let tokens = tokenize(pat);
    match_tokens(&tokens, comp)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Lit(&'a str),
    Any,
    Profile,
    Digits,
    Service,
}

fn tokenize(pat: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = pat;
    while !rest.is_empty() {
        let (tok, len) = if rest.starts_with('*') {
            (Token::Any, 1)
        } else if rest.starts_with("<p>") {
            (Token::Profile, 3)
        } else if rest.starts_with("<n>") {
            (Token::Digits, 3)
        } else if rest.starts_with("<svc>") {
            (Token::Service, 5)
        } else {
            let end = rest[1..].find(['*', '<']).map_or(rest.len(), |i| i + 1);
            (Token::Lit(&rest[..end]), end)
        };
        out.push(tok);
        rest = &rest[len..];
    }
    out
}

fn match_tokens(tokens: &[Token<'_>], s: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return s.is_empty();
    };
    match first {
        Token::Lit(l) => s.strip_prefix(l).is_some_and(|r| match_tokens(rest, r)),
        Token::Service => ["dashboard", "main-hermes", "registrar"]
            .iter()
            .any(|svc| s.strip_prefix(svc).is_some_and(|r| match_tokens(rest, r))),
        run => {
            (1..=s.len()).any(|i| {
                let (head, tail) = s.split_at(i);
                let ok = match run {
                    Token::Any => true,
                    Token::Digits => head.bytes().all(|c| c.is_ascii_digit()),
                    Token::Profile => {
                        let b = head.as_bytes();
                        b.len() <= 64
                            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                            && b.iter().all(|c| {
                                c.is_ascii_lowercase()
                                    || c.is_ascii_digit()
                                    || *c == b'_'
                                    || *c == b'-'
                            })
                    }
                    _ => false,
                };
                ok && match_tokens(rest, tail)
            }) || (*run == Token::Any && match_tokens(rest, s))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_declares_its_root_paths() {
        let rows = declared().unwrap();
        assert!(rows.len() >= 10, "{rows:?}");
        assert!(rows.iter().any(|r| r.in_home() && r.hermes_writable));
        assert!(
            rows.iter().all(|r| r.in_home() == r.hermes_writable),
            "only $HERMES_HOME's rows are hermes-writable: {rows:?}"
        );
    }

    #[test]
    fn patterns() {
        let h = "/opt/data/n/home";
        assert!(matches("$HERMES_HOME", h, "/opt/data/n/home"));
        assert!(matches(
            "$HERMES_HOME/profiles/**",
            h,
            "/opt/data/n/home/profiles"
        ));
        assert!(matches(
            "$HERMES_HOME/profiles/**",
            h,
            "/opt/data/n/home/profiles/a/b"
        ));
        assert!(!matches(
            "$HERMES_HOME/profiles/**",
            h,
            "/opt/data/n/home/logs/a"
        ));
        assert!(matches(
            "$HERMES_HOME/*",
            h,
            "/opt/data/n/home/gateway_state.json"
        ));
        assert!(!matches("$HERMES_HOME/*", h, "/opt/data/n/home/a/b"));
        assert!(matches(
            "/run/service/.gateway-<p>.*.<n>/**",
            h,
            "/run/service/.gateway-alpha.new.123/log/run"
        ));
        assert!(matches(
            "/run/service/gateway-<p>/**",
            h,
            "/run/service/gateway-a/supervise"
        ));
        assert!(!matches(
            "/run/service/gateway-<p>/**",
            h,
            "/run/service/gateway-A/x"
        ));
        assert!(matches("/run/service/<svc>", h, "/run/service/dashboard"));
        assert!(!matches("/run/service/<svc>", h, "/run/service/evil"));
        assert!(matches(
            "/run/.hermes-s6-stale-service-*/**",
            h,
            "/run/.hermes-s6-stale-service-12/x"
        ));
    }

    #[test]
    fn a_broken_table_is_an_error_not_an_empty_list() {
        assert!(parse("# x\n").is_err());
        assert!(parse("\n### 10.1 Paths\n\nno table\n").is_err());
        assert!(parse("\n### 10.1 P\n| path | a | b | maybe | c |\n|---|---|---|---|---|\n| `x` | a | b | maybe | c |\n").is_err());
    }
}
