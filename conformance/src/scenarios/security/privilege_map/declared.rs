//! `root_touched_paths_are_declared`: every path a root process touched in the session matches
//! a row of the docs/contract.md §10.1 table.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Result, bail};

use super::session::Session;
use super::session::preconditions;
use super::session::session;
use crate::Ctx;
use crate::image::progress;
use crate::privilege::map::RowCount;
use crate::privilege::table::{self, Row};
use crate::support::HERMES_HOME;

/// Each root operation against the table: the unmatched ones (with why), and per row what it
/// matched.
pub(super) fn check(s: &Session, rows: &[Row]) -> (Vec<String>, Vec<RowCount>) {
    let mut unmatched: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut per_row: Vec<(usize, BTreeSet<String>, BTreeSet<String>)> = rows
        .iter()
        .map(|_| (0, BTreeSet::new(), BTreeSet::new()))
        .collect();
    for (boot, o) in s.ops() {
        let by_path: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].matches_path(&o.path, HERMES_HOME))
            .collect();
        let by_actor: Vec<usize> = by_path
            .iter()
            .copied()
            .filter(|&i| rows[i].names_actor(&o.actor))
            .collect();
        match by_actor.iter().copied().find(|&i| rows[i].declares(&o.op)) {
            Some(i) => {
                per_row[i].0 += 1;
                per_row[i].1.insert(o.path.clone());
                per_row[i].2.insert(o.op.clone());
            }
            None => {
                let why = if by_path.is_empty() {
                    "no row matches the path".to_string()
                } else if by_actor.is_empty() {
                    format!(
                        "the path matches row(s) at line(s) {} but not for this program",
                        lines(rows, &by_path)
                    )
                } else {
                    format!(
                        "row(s) at line(s) {} match path and program but do not declare `{}`",
                        lines(rows, &by_actor),
                        o.op
                    )
                };
                let tool = o
                    .tool
                    .as_ref()
                    .map(|t| format!(" (via {t})"))
                    .unwrap_or_default();
                let key = format!(
                    "{} — {} by {}{tool}, {}: {why}",
                    o.path, o.op, o.actor, o.syscall
                );
                let e = unmatched
                    .entry(key)
                    .or_insert((0, format!("{boot}: {}", o.call)));
                e.0 += 1;
            }
        }
    }
    let unmatched = unmatched
        .into_iter()
        .map(|(k, (n, ex))| format!("{k} [{n}x; e.g. {ex}]"))
        .collect();
    let counts = rows
        .iter()
        .zip(per_row)
        .map(|(r, (calls, paths, ops))| RowCount {
            row: r.key(),
            calls,
            paths: paths.len(),
            ops: ops.into_iter().collect(),
        })
        .collect();
    (unmatched, counts)
}

fn lines(rows: &[Row], idx: &[usize]) -> String {
    idx.iter()
        .map(|&i| rows[i].line.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Contract §10.1: every path a root process touched in the trace session is declared.
pub async fn root_touched_paths_are_declared(ctx: Ctx) -> Result<()> {
    let rows = table::rows()?;
    let s = session(&ctx).await?;
    preconditions(&s)?;
    let (unmatched, counts) = check(&s, &rows);
    let ops: usize = s.boots.iter().map(|b| b.trace.ops.len()).sum();
    progress(format!(
        "trace session: {} boots, {ops} root file operations, {} rows, {} unmatched ({:.1?})",
        s.boots.len(),
        rows.len(),
        unmatched.len(),
        s.took
    ));
    for c in &counts {
        progress(format!(
            "  §10.1: {} calls, {} paths, ops [{}]: {}",
            c.calls,
            c.paths,
            c.ops.join(", "),
            c.row
        ));
    }
    if !unmatched.is_empty() {
        bail!(
            "{} root-touched path(s) match no row of contract §10.1 (docs/contract.md); add a row, with why it is safe, or stop the product touching them. First: {}\n{}",
            unmatched.len(),
            unmatched[0],
            unmatched.join("\n")
        );
    }
    Ok(())
}
