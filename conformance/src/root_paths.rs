//! The declared list of every path a root process touches (`docs/contract.md` §10.1), as the
//! attack matrix needs it: each row's patterns and whether hermes can change a component of
//! them. The one parser and matcher of the table is `crate::privilege::table`; this is a view
//! over it.

use anyhow::Result;

use crate::privilege::table::{self, Row};

/// One row of §10.1.
#[derive(Debug, Clone)]
pub struct RootPath {
    /// The patterns of the row's path cell, e.g. `$HERMES_HOME/profiles/**`.
    pub patterns: Vec<String>,
    /// Whether hermes can change any component of the path (the matrix plants there).
    pub hermes_writable: bool,
    row: Row,
}

impl RootPath {
    /// Under `$HERMES_HOME`?
    pub fn in_home(&self) -> bool {
        self.patterns.iter().any(|p| p.starts_with("$HERMES_HOME"))
    }

    /// Does one of the row's patterns match `path`, with `home` as `$HERMES_HOME`?
    pub fn matches(&self, path: &str, home: &str) -> bool {
        self.row.matches_path(path, home)
    }
}

/// The §10.1 table's rows, from the contract compiled into the suite.
pub fn declared() -> Result<Vec<RootPath>> {
    Ok(table::rows()?
        .into_iter()
        .map(|row| RootPath {
            patterns: table::spans(&row.path),
            hermes_writable: row.hermes_writable,
            row,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_declares_its_root_paths() {
        let rows = declared().unwrap();
        assert!(rows.len() >= 10);
        assert!(rows.iter().any(|r| r.in_home() && r.hermes_writable));
        assert!(
            rows.iter().all(|r| r.in_home() == r.hermes_writable),
            "only $HERMES_HOME's rows are hermes-writable"
        );
        let gw = rows
            .iter()
            .find(|r| {
                r.patterns
                    .iter()
                    .any(|p| p == "/run/service/gateway-<p>/**")
            })
            .unwrap();
        assert!(gw.matches("/run/service/gateway-a/supervise", "/opt/data"));
        assert!(!gw.matches("/run/service/gateway-A/x", "/opt/data"));
    }
}
