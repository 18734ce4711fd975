//! The one table printer of the suite's programs: the bench's figures and the summary of a
//! suite run. Columns are as wide as their widest cell (counted in characters, so `×` and `→`
//! count once) or a minimum, two spaces apart; text left-aligned, numbers right-aligned; a rule
//! of dashes under the header. A left-aligned last column is free text: never padded, and the
//! rule ends with its header. The same table also renders as Markdown (`bench.md`).

use std::fmt::Write as _;

/// Where a column's cells sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub header: &'static str,
    pub align: Align,
    /// The column is never narrower than this.
    pub min_width: usize,
}

impl Column {
    pub const fn left(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Left,
            min_width: 0,
        }
    }

    pub const fn right(header: &'static str) -> Column {
        Column {
            header,
            align: Align::Right,
            min_width: 0,
        }
    }

    pub const fn min_width(mut self, w: usize) -> Column {
        self.min_width = w;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

const GAP: &str = "  ";

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Table {
    pub fn new(columns: impl IntoIterator<Item = Column>) -> Table {
        Table {
            columns: columns.into_iter().collect(),
            rows: Vec::new(),
        }
    }

    /// One row; a missing cell is empty, an extra one is left out.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        let mut cells: Vec<String> = cells.into_iter().take(self.columns.len()).collect();
        cells.resize(self.columns.len(), String::new());
        self.rows.push(cells);
    }

    fn last_is_free(&self) -> bool {
        self.columns.last().is_some_and(|c| c.align == Align::Left)
    }

    /// Each column's width: its widest cell or header, at least its minimum. A free last
    /// column counts only its header (for the rule).
    fn widths(&self) -> Vec<usize> {
        let free = self.last_is_free();
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cells = if free && i + 1 == self.columns.len() {
                    0
                } else {
                    self.rows.iter().map(|r| width(&r[i])).max().unwrap_or(0)
                };
                cells.max(width(c.header)).max(c.min_width)
            })
            .collect()
    }

    fn line(&self, out: &mut String, widths: &[usize], cells: &[&str]) {
        let last = cells.len().saturating_sub(1);
        let mut line = String::new();
        for (i, (cell, col)) in cells.iter().zip(&self.columns).enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
            match col.align {
                Align::Right => {
                    let _ = write!(line, "{pad}{cell}");
                }
                Align::Left if i == last => line.push_str(cell),
                Align::Left => {
                    let _ = write!(line, "{cell}{pad}");
                }
            }
            if i < last {
                line.push_str(GAP);
            }
        }
        // An empty free last cell leaves no trailing blanks.
        out.push_str(line.trim_end_matches(' '));
        out.push('\n');
    }

    /// The rule under the header (and wherever a caller wants one more, e.g. under the rows).
    pub fn rule(&self) -> String {
        let w = self.widths();
        "-".repeat(w.iter().sum::<usize>() + GAP.len() * w.len().saturating_sub(1))
    }

    /// Header, rule, rows; each line ends with a newline.
    pub fn render(&self) -> String {
        let w = self.widths();
        let mut out = String::new();
        let header: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
        self.line(&mut out, &w, &header);
        out.push_str(&self.rule());
        out.push('\n');
        for r in &self.rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            self.line(&mut out, &w, &cells);
        }
        out
    }

    /// The same table as Markdown, alignment included (`--:` for a right-aligned column).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let header: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let marks: Vec<&str> = self
            .columns
            .iter()
            .map(|c| match c.align {
                Align::Left => "---",
                Align::Right => "--:",
            })
            .collect();
        let _ = writeln!(out, "|{}|", marks.join("|"));
        for r in &self.rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_rules() {
        let mut t = Table::new([Column::left("name"), Column::right("n")]);
        t.row(["a".to_string(), "10".to_string()]);
        t.row(["long→name".to_string(), "3".to_string()]);
        assert_eq!(
            t.render(),
            "name        n\n\
             -------------\n\
             a          10\n\
             long→name   3\n"
        );
        assert_eq!(
            t.markdown(),
            "| name | n |\n|---|--:|\n| a | 10 |\n| long→name | 3 |\n"
        );
    }

    #[test]
    fn a_free_last_column_is_not_padded() {
        let mut t = Table::new([
            Column::left("scenario").min_width(8),
            Column::right("time").min_width(6),
            Column::left("why"),
        ]);
        t.row([
            "x".to_string(),
            "1.0 s".to_string(),
            "a long reason".to_string(),
        ]);
        t.row(["y".to_string(), "2.0 s".to_string()]);
        assert_eq!(
            t.render(),
            "scenario    time  why\n\
             ---------------------\n\
             x          1.0 s  a long reason\n\
             y          2.0 s\n"
        );
        assert_eq!(t.rule().len(), 8 + 2 + 6 + 2 + 3);
    }
}
