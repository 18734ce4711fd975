//! Root-side cont-init steps (contract §2.3). Rule for every step: never follow a symlink it
//! did not create. Every path is reached with `crate::safe_walk` (no link in any component)
//! and changed through the descriptor it holds, so hermes cannot swap a path component for a
//! link between our check and our chown and have root hand it e.g. `/etc/shadow`.

pub mod as_hermes;
/// Only in the regression image `scandir-writable-by-hermes` (contract §9): the seeds' `02`.
#[cfg(feature = "regression")]
pub mod scandir_perms;
pub mod setup;
pub mod supervise_perms;

/// Collects what a step did; every line goes to stderr as `hermes-boot: <step>: …`.
#[derive(Debug)]
pub struct Reporter {
    pub step: &'static str,
    pub messages: Vec<String>,
    pub failures: usize,
    pub quiet: bool,
}

impl Reporter {
    pub fn new(step: &'static str) -> Self {
        Reporter {
            step,
            messages: Vec::new(),
            failures: 0,
            quiet: false,
        }
    }

    /// For tests: collect without printing.
    pub fn quiet(step: &'static str) -> Self {
        Reporter {
            quiet: true,
            ..Reporter::new(step)
        }
    }

    pub fn info(&mut self, msg: impl Into<String>) {
        let line = format!("hermes-boot: {}: {}", self.step, msg.into());
        if !self.quiet {
            // Never `eprintln!`: a full or closed log pipe must not abort the boot.
            crate::logline::err(&line);
        }
        self.messages.push(line);
    }

    pub fn fail(&mut self, msg: impl Into<String>) {
        self.failures += 1;
        self.info(msg);
    }

    /// A symlink where we would chown or write: say so and skip it (not a failure of the
    /// step: the link itself is left alone, which is the safe outcome).
    pub fn refuse(&mut self, path: &std::path::Path) {
        self.info(format!("refusing to follow symlink {}", path.display()));
    }

    /// What the safe walk said: a refusal is a line, anything else a failure of the step.
    pub fn walk_error(&mut self, e: crate::safe_walk::WalkError) {
        if e.is_refusal() {
            self.info(e.to_string());
        } else {
            self.fail(e.to_string());
        }
    }

    pub fn ok(&self) -> bool {
        self.failures == 0
    }
}
