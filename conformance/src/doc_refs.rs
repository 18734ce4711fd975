//! References between the project's files and its contract stay true: every `§x.y` written
//! anywhere in the repository names a heading `docs/contract.md` really has, and nothing points
//! at documents or trackers that are not in the repository (the contract's origin, `SPEC`, and
//! `issue N` numbers of a tracker a reader of the code cannot see). A comment that cites a
//! section that was renumbered or removed fails here, naming file and line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::privilege::table::CONTRACT;

/// Section numbers the contract's headings define: `## 3. Slots` gives `3`, `### 3.2 Slot
/// layout` gives `3.2`.
fn contract_sections(contract: &str) -> BTreeSet<String> {
    contract
        .lines()
        .filter(|l| l.starts_with("## ") || l.starts_with("### "))
        .filter_map(|l| {
            let number = l.trim_start_matches('#').trim_start().split(' ').next()?;
            let number = number.trim_end_matches('.');
            number
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                .then(|| number.to_string())
                .filter(|n| !n.is_empty())
        })
        .collect()
}

/// Every `§` reference on a line: `§6.2–6.4` gives `6.2` and `6.4`, `§§3.3, 5` gives `3.3`.
fn section_refs(line: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for (i, _) in line.match_indices('§') {
        let rest = line[i..].trim_start_matches('§');
        let first = leading_number(rest);
        if first.is_empty() {
            continue;
        }
        let after = &rest[first.len()..];
        refs.push(first);
        // A range: `§6.2–6.4` or `§6.2-6.4`.
        for dash in ['–', '-'] {
            if let Some(tail) = after.strip_prefix(dash) {
                let second = leading_number(tail);
                if second.contains('.') {
                    refs.push(second);
                }
            }
        }
    }
    refs
}

fn leading_number(s: &str) -> String {
    let n: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    n.trim_end_matches('.').to_string()
}

/// A pointer at something outside the repository: the contract's origin document or a
/// tracker's issue number.
fn outside_pointer(line: &str) -> Option<&'static str> {
    // Spelled apart so that this file does not cite what it forbids.
    let spec_ref = concat!("SPEC", " §");
    if line.contains(spec_ref) || line.contains("SPEC.md") {
        return Some("a reference to SPEC (not in the repository; cite docs/contract.md)");
    }
    let lower = line.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("issue ") {
        let after = &rest[i + "issue ".len()..];
        let before_ok = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
        if before_ok && after.starts_with(|c: char| c.is_ascii_digit()) {
            return Some("an `issue N` reference (a tracker the repository does not hold)");
        }
        rest = after;
    }
    None
}

/// The repository's own text files: sources, scripts, docs; not build output, not git's.
fn repository_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                    stack.push(path);
                }
            } else if ft.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_are_read() {
        let s = contract_sections("# t\n## 3. Slots\n### 3.2 Slot layout\n## Decisions\n");
        assert_eq!(s.into_iter().collect::<Vec<_>>(), ["3", "3.2"]);
    }

    #[test]
    fn references_are_found() {
        assert_eq!(
            section_refs("see §6.2–6.4 and §10.1."),
            ["6.2", "6.4", "10.1"]
        );
        assert_eq!(section_refs("contract §3, §5"), ["3", "5"]);
        assert!(section_refs("no § number").is_empty());
        assert!(outside_pointer(concat!("// SPEC", " §2 points 5-7")).is_some());
        assert!(outside_pointer("(issue 19)").is_some());
        assert!(outside_pointer("an issue with this").is_none());
        assert!(outside_pointer("tissue 3").is_none());
    }

    /// The check itself: it walks the repository the suite was compiled from.
    #[test]
    fn every_section_reference_names_a_contract_heading() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sections = contract_sections(CONTRACT);
        assert!(
            sections.contains("10.1") && sections.contains("2.2"),
            "the contract's headings were not read: {sections:?}"
        );
        let mut wrong = Vec::new();
        let files = repository_files(&root);
        assert!(
            files.len() > 50,
            "only {} files found under {}",
            files.len(),
            root.display()
        );
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // not text
            };
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            for (n, line) in text.lines().enumerate() {
                for r in section_refs(line) {
                    if !sections.contains(&r) {
                        wrong.push(format!(
                            "{shown}:{}: §{r} is no heading of docs/contract.md",
                            n + 1
                        ));
                    }
                }
                // This file names the patterns it forbids.
                if !shown.ends_with("doc_refs.rs")
                    && let Some(why) = outside_pointer(line)
                {
                    wrong.push(format!("{shown}:{}: {why}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "{} stale references:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }
}
