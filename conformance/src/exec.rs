//! The result of one `docker exec`, with fluent assertions in the style of uutils' `CmdResult`.
//!
//! Every assertion is `#[track_caller]` and, when it fails, prints the whole story: the
//! command, the user it ran as, the exit status, stdout, stderr and, when the command hit a
//! permission error, the permission dump collected right after it ran (see `dump.rs`).

use std::fmt;
use std::time::Duration;

/// Everything a person needs to understand one exec without re-running it.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    /// The command as given (argv).
    pub cmd: Vec<String>,
    /// The user the exec ran as (`hermes` unless a scenario opted into root).
    pub user: String,
    /// Why the scenario ran this one as root (`Exec::as_root`).
    pub root_reason: Option<String>,
    /// Extra environment given to the exec (`KEY=value`).
    pub env: Vec<String>,
    /// Exit status; `None` if Docker reported none.
    pub code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Modes and owners of the s6 control files, collected when stderr shows EACCES.
    pub permission_dump: Option<String>,
}

impl ExecOutcome {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout with surrounding whitespace removed: most probes print one line.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// True when stderr (or stdout: some tools report there) shows a permission error.
    pub fn hit_permission_error(&self) -> bool {
        let both = format!("{}\n{}", self.stderr, self.stdout);
        both.contains("Permission denied") || both.contains("EACCES")
    }

    /// The command as one shell-like line, for messages.
    pub fn command_line(&self) -> String {
        self.cmd
            .iter()
            .map(|a| {
                if a.is_empty()
                    || a.contains(|c: char| c.is_whitespace() || "'\"$;&|<>".contains(c))
                {
                    format!("'{}'", a.replace('\'', r"'\''"))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// One line for summaries: the expectation, the command, the user, the status and the
    /// first line of stderr (where a `Permission denied` usually is).
    pub fn headline(&self, what: &str) -> String {
        let code = self
            .code
            .map_or_else(|| "no status".to_string(), |c| format!("exit {c}"));
        let err = self
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let mut line = format!(
            "{what}: `{}` as {} gave {code}",
            self.command_line(),
            self.user
        );
        if !err.is_empty() {
            line.push_str(": ");
            line.push_str(err.trim());
        }
        line
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        panic!("{}\n{self}", self.headline(what));
    }

    /// Exit status 0.
    #[track_caller]
    pub fn succeeds(&self) -> &Self {
        if !self.success() {
            self.fail("expected the command to succeed");
        }
        self
    }

    /// Exit status 0, or fail saying `why` (what the failure means for the scenario).
    #[track_caller]
    pub fn succeeds_or(&self, why: &str) -> &Self {
        if !self.success() {
            self.fail(why);
        }
        self
    }

    /// Any non-zero exit status.
    #[track_caller]
    pub fn fails(&self) -> &Self {
        if self.success() {
            self.fail("expected the command to fail");
        }
        self
    }

    #[track_caller]
    pub fn code_is(&self, code: i64) -> &Self {
        if self.code != Some(code) {
            self.fail(&format!("expected exit status {code}"));
        }
        self
    }

    /// Trimmed stdout equals `expected`.
    #[track_caller]
    pub fn stdout_is(&self, expected: &str) -> &Self {
        if self.out() != expected {
            self.fail(&format!("expected stdout (trimmed) to be {expected:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Self {
        if !self.stdout.contains(needle) {
            self.fail(&format!("expected stdout to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        if self.stdout.contains(needle) {
            self.fail(&format!("expected stdout not to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        if !self.stderr.contains(needle) {
            self.fail(&format!("expected stderr to contain {needle:?}"));
        }
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        if self.stderr.contains(needle) {
            self.fail(&format!("expected stderr not to contain {needle:?}"));
        }
        self
    }

    /// Fail with this outcome's full report and a reason of the caller's choosing.
    #[track_caller]
    pub fn fail_because(&self, reason: &str) -> ! {
        self.fail(reason)
    }
}

impl fmt::Display for ExecOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self
            .code
            .map_or_else(|| "none".to_string(), |c| c.to_string());
        writeln!(f, "  command: {}", self.command_line())?;
        match &self.root_reason {
            Some(why) => writeln!(f, "  user:    {} (opted in: {why})", self.user)?,
            None => writeln!(f, "  user:    {}", self.user)?,
        }
        if !self.env.is_empty() {
            writeln!(f, "  env:     {}", self.env.join(" "))?;
        }
        writeln!(f, "  exit:    {code} (after {:.0?})", self.elapsed)?;
        writeln!(f, "  stdout:  {}", indent_block(&self.stdout))?;
        write!(f, "  stderr:  {}", indent_block(&self.stderr))?;
        if let Some(dump) = &self.permission_dump {
            write!(
                f,
                "\n  permission dump (collected as root right after the failure):\n{}",
                indent_all(dump, "    ")
            )?;
        }
        Ok(())
    }
}

fn indent_block(text: &str) -> String {
    let t = text.trim_end();
    if t.is_empty() {
        return "(empty)".into();
    }
    if !t.contains('\n') {
        return t.to_string();
    }
    format!("\n{}", indent_all(t, "    | "))
}

fn indent_all(text: &str, prefix: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: i64, stdout: &str, stderr: &str) -> ExecOutcome {
        ExecOutcome {
            cmd: vec!["sh".into(), "-c".into(), "echo 'hi there'".into()],
            user: "hermes".into(),
            root_reason: None,
            env: vec![],
            code: Some(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            elapsed: Duration::from_millis(12),
            permission_dump: None,
        }
    }

    #[test]
    fn a_root_exec_says_why_in_its_failure_text() {
        let mut o = outcome(1, "", "boom\n");
        o.user = "root".into();
        o.root_reason = Some("only root can read /proc/1/exe".into());
        let text = o.to_string();
        assert!(
            text.contains("user:    root (opted in: only root can read /proc/1/exe)"),
            "{text}"
        );
    }

    #[test]
    fn failure_message_names_command_user_status_and_streams() {
        let o = outcome(
            111,
            "",
            "s6-svc: fatal: unable to control x: Permission denied\n",
        );
        let err = std::panic::catch_unwind(|| {
            o.succeeds();
        })
        .expect_err("a failing command must not pass succeeds()");
        let msg = err
            .downcast_ref::<String>()
            .expect("panic carries a String");
        assert!(
            msg.contains("command: sh -c 'echo '\\''hi there'\\'''"),
            "{msg}"
        );
        assert!(msg.contains("user:    hermes"), "{msg}");
        let first = msg.lines().next().unwrap_or_default();
        assert!(
            first.contains("as hermes gave exit 111: s6-svc: fatal"),
            "{first}"
        );
        assert!(first.contains("Permission denied"), "{first}");
        assert!(msg.contains("exit:    111"), "{msg}");
        assert!(msg.contains("Permission denied"), "{msg}");
        assert!(o.hit_permission_error());
    }

    #[test]
    fn passing_assertions_chain() {
        let o = outcome(0, "s6-svscan\n", "");
        o.succeeds().stdout_is("s6-svscan").stderr_lacks("denied");
        assert!(!o.hit_permission_error());
    }

    #[test]
    fn code_is_distinguishes_statuses() {
        let o = outcome(2, "", "bad name");
        o.code_is(2).fails();
        assert!(
            std::panic::catch_unwind(|| {
                o.code_is(1);
            })
            .is_err()
        );
    }
}
