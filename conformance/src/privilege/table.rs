//! Contract §10.1, "Paths root touches": the declared list of every path a root process
//! creates, writes, renames, removes, chowns or chmods, parsed from `docs/contract.md` as it
//! was when the suite was compiled (`include_str!`), and matched against traced operations.
//!
//! Pattern syntax (as the contract states it above the table): `$HERMES_HOME` is the home of
//! this boot; `<p>` one profile-name component, `<svc>` one static service, `<n>` one
//! component of digits, `*` any characters within one component, `**` any number of
//! components (none included). A path cell may hold several patterns, each in backquotes.

use std::collections::BTreeSet;

use anyhow::{Result, bail, ensure};

/// `docs/contract.md` as compiled into the suite.
pub const CONTRACT: &str = include_str!("../../../docs/contract.md");
const HEADING: &str = "### 10.1 Paths root touches";
const HEADER: &str = "| path | program | operations | hermes-writable | why it is safe |";

/// The static services (`<svc>`).
const SERVICES: &[&str] = &["dashboard", "main-hermes", "registrar"];

/// What a root process did to a path, in the table's words.
pub const OPERATIONS: &[&str] = &[
    "create", "write", "symlink", "mkfifo", "mknod", "link", "rename", "remove", "chown", "chmod",
    "bind",
];

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// 1-based line in `docs/contract.md`.
    pub line: usize,
    /// The cells as written.
    pub path: String,
    pub program: String,
    pub operations: String,
    pub hermes_writable: bool,
    patterns: Vec<Vec<Seg>>,
    programs: Vec<Prog>,
    ops: BTreeSet<String>,
}

/// One pattern component.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Home,
    AnyDepth,
    Component(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    Profile,
    Service,
    Digits,
    Star,
}

/// A program of the program cell: an executable's name and, optionally, its subcommand.
#[derive(Debug, Clone, PartialEq)]
struct Prog {
    exe: String,
    sub: Option<String>,
}

/// Who did it, as the trace names it: the product program responsible (a generic tool such as
/// `mv` is attributed to the program that ran it), its subcommand, and the tool, if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Actor {
    pub exe: String,
    pub sub: Option<String>,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sub {
            Some(s) => write!(f, "{} {s}", self.exe),
            None => write!(f, "{}", self.exe),
        }
    }
}

/// The cont-init scripts the table names by their number, and what they exec.
const ALIASES: &[(&str, &str, &str, &str)] = &[
    ("01", "01-hermes-setup", "hermes-boot", "setup"),
    (
        "015",
        "015-supervise-perms",
        "hermes-boot",
        "supervise-perms",
    ),
    ("02", "02-reconcile-profiles", "hermes-boot", "reconcile"),
];

/// The backquoted spans of a cell.
fn spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

fn parse_pattern(p: &str) -> Result<Vec<Seg>> {
    let rest = if let Some(r) = p.strip_prefix("$HERMES_HOME") {
        ensure!(
            r.is_empty() || r.starts_with('/'),
            "pattern {p:?}: $HERMES_HOME must be a whole component"
        );
        r
    } else if p.starts_with('/') {
        p
    } else {
        bail!("pattern {p:?} is neither absolute nor under $HERMES_HOME");
    };
    let mut segs = Vec::new();
    if p.starts_with("$HERMES_HOME") {
        segs.push(Seg::Home);
    }
    for comp in rest.split('/').filter(|c| !c.is_empty()) {
        if comp == "**" {
            segs.push(Seg::AnyDepth);
            continue;
        }
        let mut toks = Vec::new();
        let mut s = comp;
        while !s.is_empty() {
            if let Some(r) = s.strip_prefix("<p>") {
                toks.push(Tok::Profile);
                s = r;
            } else if let Some(r) = s.strip_prefix("<svc>") {
                toks.push(Tok::Service);
                s = r;
            } else if let Some(r) = s.strip_prefix("<n>") {
                toks.push(Tok::Digits);
                s = r;
            } else if let Some(r) = s.strip_prefix('*') {
                ensure!(
                    !r.starts_with('*'),
                    "pattern {p:?}: `**` must be a whole component"
                );
                toks.push(Tok::Star);
                s = r;
            } else {
                let c = s.chars().next().expect("non-empty");
                ensure!(c != '<', "pattern {p:?}: unknown placeholder in {comp:?}");
                toks.push(Tok::Lit(c));
                s = &s[c.len_utf8()..];
            }
        }
        segs.push(Seg::Component(toks));
    }
    Ok(segs)
}

fn is_profile_char(c: char, first: bool) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || (!first && (c == '_' || c == '-'))
}

/// Does one component match its tokens (backtracking; components are short)?
fn match_component(toks: &[Tok], s: &[char]) -> bool {
    match toks.split_first() {
        None => s.is_empty(),
        Some((Tok::Lit(c), rest)) => s.first() == Some(c) && match_component(rest, &s[1..]),
        Some((Tok::Star, rest)) => (0..=s.len()).any(|i| match_component(rest, &s[i..])),
        Some((Tok::Digits, rest)) => (1..=s.len())
            .take_while(|&i| s[i - 1].is_ascii_digit())
            .any(|i| match_component(rest, &s[i..])),
        Some((Tok::Profile, rest)) => (1..=s.len().min(64))
            .take_while(|&i| is_profile_char(s[i - 1], i == 1))
            .any(|i| match_component(rest, &s[i..])),
        Some((Tok::Service, rest)) => SERVICES.iter().any(|svc| {
            let n = svc.chars().count();
            s.len() >= n && s[..n].iter().copied().eq(svc.chars()) && match_component(rest, &s[n..])
        }),
    }
}

fn match_segs(segs: &[Seg], comps: &[&str], home: &[&str]) -> bool {
    match segs.split_first() {
        None => comps.is_empty(),
        Some((Seg::Home, rest)) => {
            comps.len() >= home.len()
                && comps[..home.len()] == *home
                && match_segs(rest, &comps[home.len()..], home)
        }
        Some((Seg::AnyDepth, rest)) => {
            (0..=comps.len()).any(|i| match_segs(rest, &comps[i..], home))
        }
        Some((Seg::Component(toks), rest)) => {
            !comps.is_empty()
                && match_component(toks, &comps[0].chars().collect::<Vec<_>>())
                && match_segs(rest, &comps[1..], home)
        }
    }
}

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

impl Row {
    /// The patterns of the path cell as written (`$HERMES_HOME/profiles/**`, …).
    pub fn patterns(&self) -> Vec<String> {
        spans(&self.path)
    }

    /// Does a pattern of this row match `path` (absolute, normalised), with `home` as
    /// `$HERMES_HOME`?
    pub fn matches_path(&self, path: &str, home: &str) -> bool {
        let comps = components(path);
        let home = components(home);
        self.patterns.iter().any(|p| match_segs(p, &comps, &home))
    }

    /// Is `actor` one of this row's programs?
    pub fn names_actor(&self, actor: &Actor) -> bool {
        self.programs.iter().any(|p| {
            p.exe == actor.exe && p.sub.as_ref().is_none_or(|s| Some(s) == actor.sub.as_ref())
        })
    }

    /// Does this row declare operation `op`? Opening a file for writing is declared by
    /// `write` or `create` (an `O_CREAT` open may or may not create).
    pub fn declares(&self, op: &str) -> bool {
        self.ops.contains(op) || (op == "write" && self.ops.contains("create"))
    }

    /// The row as one line, for messages and the map.
    pub fn key(&self) -> String {
        format!("{} | {} | {}", self.path, self.program, self.operations)
    }
}

/// The rows of §10.1 in `contract`.
pub fn parse(contract: &str) -> Result<Vec<Row>> {
    let lines: Vec<&str> = contract.lines().collect();
    let Some(h) = lines.iter().position(|l| l.trim() == HEADING) else {
        bail!("docs/contract.md has no heading {HEADING:?}");
    };
    let Some(t) = lines[h..].iter().position(|l| l.trim() == HEADER) else {
        bail!("docs/contract.md §10.1 has no table with the header {HEADER:?}");
    };
    let first = h + t + 2;
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(first) {
        let line = line.trim();
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        ensure!(
            cells.len() == 5,
            "docs/contract.md:{}: a §10.1 row needs 5 cells, has {}: {line}",
            i + 1,
            cells.len()
        );
        let patterns = spans(cells[0])
            .iter()
            .map(|p| parse_pattern(p))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| anyhow::anyhow!("docs/contract.md:{}: {e}", i + 1))?;
        ensure!(
            !patterns.is_empty(),
            "docs/contract.md:{}: the path cell has no `pattern`",
            i + 1
        );
        let mut programs = Vec::new();
        for span in spans(cells[1]) {
            if let Some((_, script, exe, sub)) = ALIASES.iter().find(|a| a.0 == span) {
                programs.push(Prog {
                    exe: script.to_string(),
                    sub: None,
                });
                programs.push(Prog {
                    exe: exe.to_string(),
                    sub: Some(sub.to_string()),
                });
                continue;
            }
            let mut words = span.split_whitespace();
            let exe = words.next().unwrap_or_default().to_string();
            programs.push(Prog {
                exe,
                sub: words.next().map(str::to_string),
            });
        }
        ensure!(
            !programs.is_empty(),
            "docs/contract.md:{}: the program cell names no `program`",
            i + 1
        );
        let ops: BTreeSet<String> = cells[2]
            .split(',')
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        for op in &ops {
            ensure!(
                OPERATIONS.contains(&op.as_str()),
                "docs/contract.md:{}: unknown operation {op:?} (known: {})",
                i + 1,
                OPERATIONS.join(", ")
            );
        }
        let hermes_writable = match cells[3] {
            "yes" => true,
            "no" => false,
            other => bail!(
                "docs/contract.md:{}: hermes-writable must be yes or no, is {other:?}",
                i + 1
            ),
        };
        rows.push(Row {
            line: i + 1,
            path: cells[0].to_string(),
            program: cells[1].to_string(),
            operations: cells[2].to_string(),
            hermes_writable,
            patterns,
            programs,
            ops,
        });
    }
    ensure!(
        !rows.is_empty(),
        "docs/contract.md §10.1 has an empty table"
    );
    Ok(rows)
}

/// The rows of the compiled-in contract.
pub fn rows() -> Result<Vec<Row>> {
    parse(CONTRACT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str, program: &str, ops: &str) -> Row {
        let md = format!(
            "{HEADING}\n\n{HEADER}\n|---|---|---|---|---|\n| {path} | {program} | {ops} | no | x |\n"
        );
        parse(&md).unwrap().remove(0)
    }

    #[test]
    fn the_contract_table_parses() {
        let rows = rows().unwrap();
        assert!(rows.len() >= 10, "{rows:?}");
        // The attack matrix plants in the hermes-writable rows: exactly $HERMES_HOME's.
        let in_home = |r: &Row| r.patterns().iter().any(|p| p.starts_with("$HERMES_HOME"));
        assert!(rows.iter().any(|r| in_home(r) && r.hermes_writable));
        assert!(
            rows.iter().all(|r| in_home(r) == r.hermes_writable),
            "{rows:?}"
        );
        let gw = rows
            .iter()
            .find(|r| {
                r.patterns()
                    .iter()
                    .any(|p| p == "/run/service/gateway-<p>/**")
            })
            .unwrap();
        assert!(gw.matches_path("/run/service/gateway-a/supervise", "/opt/data"));
        assert!(!gw.matches_path("/run/service/gateway-A/x", "/opt/data"));
    }

    #[test]
    fn patterns_match_as_the_contract_says() {
        let r = row(
            "`/run/service/.gateway-<p>.*.<n>/**`",
            "`hermes-registrar`",
            "create",
        );
        assert!(r.matches_path("/run/service/.gateway-alpha.new.123", "/opt/data"));
        assert!(r.matches_path("/run/service/.gateway-alpha.del.9/log/run", "/opt/data"));
        assert!(!r.matches_path("/run/service/.gateway-Alpha.new.1", "/opt/data"));
        assert!(!r.matches_path("/run/service/.gateway-a.new.x1", "/opt/data"));
        let r = row(
            "`$HERMES_HOME/profiles/**`",
            "`hermes-boot setup` (`01`)",
            "chown",
        );
        assert!(r.matches_path("/opt/data/profiles", "/opt/data"));
        assert!(r.matches_path("/opt/data/profiles/a/b/c", "/opt/data"));
        assert!(!r.matches_path("/opt/data/logs/x", "/opt/data"));
        assert!(!r.matches_path("/opt/data2/profiles", "/opt/data"));
        assert!(r.names_actor(&Actor {
            exe: "hermes-boot".into(),
            sub: Some("setup".into())
        }));
        assert!(r.names_actor(&Actor {
            exe: "01-hermes-setup".into(),
            sub: None
        }));
        assert!(!r.names_actor(&Actor {
            exe: "hermes-boot".into(),
            sub: Some("reconcile".into())
        }));
        let r = row(
            "`/run/service/<svc>`, `/etc/*.x`",
            "`stage1`",
            "symlink, write",
        );
        assert!(r.matches_path("/run/service/registrar", "/opt/data"));
        assert!(!r.matches_path("/run/service/gateway-a", "/opt/data"));
        assert!(r.matches_path("/etc/passwd.x", "/opt/data"));
        assert!(r.declares("write") && r.declares("symlink") && !r.declares("chown"));
        let r = row("`/run/lock`", "`stage1`", "create");
        assert!(r.declares("write"), "an O_CREAT open is declared by create");
    }

    #[test]
    fn bad_rows_are_refused() {
        let md = |cells: &str| format!("{HEADING}\n\n{HEADER}\n|---|---|---|---|---|\n{cells}\n");
        assert!(parse(&md("| `run/x` | `a` | create | no | x |")).is_err());
        assert!(parse(&md("| `/x` | `a` | frobnicate | no | x |")).is_err());
        assert!(parse(&md("| `/x` | a | create | no | x |")).is_err());
        assert!(parse(&md("| `/x/<q>` | `a` | create | no | x |")).is_err());
        assert!(parse(&md("| `/x` | `a` | create | maybe | x |")).is_err());
    }
}
