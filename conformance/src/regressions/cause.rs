//! Whether a failure names its stated cause in the product's own words (contract §9): the
//! evidence filter, and the check of a catalogue entry's words against it.

use anyhow::{Result, ensure};

use super::Regression;

/// What a failure message says in the product's and s6's own words: the message without
/// the command lines it quotes (the `command:`/`user:`/`env:`/`exit:` lines of an exec
/// report, and the backquoted command of its headline) and without the permission dump, which
/// is collected as root and names every s6 file. A cause word found only there proves nothing.
pub fn evidence(message: &str) -> String {
    let mut out = Vec::new();
    for line in message.lines() {
        let t = line.trim_start();
        if t.starts_with("permission dump") {
            break;
        }
        if ["command:", "user:", "env:", "exit:"]
            .iter()
            .any(|k| t.starts_with(k))
        {
            continue;
        }
        out.push(strip_backquoted(line));
    }
    out.join("\n")
}

/// A line with every `…` span removed (where exec headlines quote their command).
fn strip_backquoted(line: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in line.chars() {
        if c == '`' {
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// Check that the evidence of `message` names every word of the stated cause.
pub fn names_cause(reg: &Regression, message: &str) -> Result<()> {
    let evidence = evidence(message);
    let missing: Vec<&str> = reg
        .cause
        .iter()
        .copied()
        .filter(|c| !evidence.contains(c))
        .collect();
    ensure!(
        missing.is_empty(),
        "{}: the catcher failed, but not for the stated reason (missing {missing:?} from what the product and s6 said):\n{message}",
        reg.id
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_leaves_out_quoted_commands_and_the_dump() {
        let msg = "expected the command to succeed: `/command/s6-svstat /run/service/x` as hermes gave exit 111: s6-svstat: fatal: unable to check x: Permission denied
  command: /command/s6-svstat /run/service/x
  user:    hermes
  exit:    111 (after 3ms)
  stdout:  (empty)
  stderr:  s6-svstat: fatal: unable to check x: Permission denied
  permission dump (collected as root right after the failure):
    drwx------ root:root /run/service/x/log/supervise";
        let e = evidence(msg);
        assert!(e.contains("unable to check x: Permission denied"));
        assert!(!e.contains("/command/s6-svstat /run/service/x"), "{e}");
        assert!(!e.contains("log/supervise"), "{e}");
        assert!(!e.contains("user:"), "{e}");
    }
}
