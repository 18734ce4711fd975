//! Running part of a root boot step as hermes: `s6-setuidgid hermes <this program> <args>`
//! (uid, gid and supplementary groups from the user database, as everywhere in the image),
//! with `HOME` set as s6-setuidgid does not. Used where root must not touch hermes' files:
//! the reconciler reads profiles and writes the boot log as hermes (contract §5).

use crate::paths::{COMMAND_DIR, DEFAULT_HERMES_HOME};
use std::io::{self, Write};
use std::process::{Command, Stdio};

/// Runs `args` of the current program as hermes, feeding it `stdin`; returns its stdout. Its
/// stderr is ours (the container log). A non-zero exit is an error naming the step.
pub fn run(args: &[&str], stdin: &[u8]) -> io::Result<Vec<u8>> {
    let me = std::env::current_exe()?;
    let mut child = Command::new(format!("{COMMAND_DIR}/s6-setuidgid"))
        .arg("hermes")
        .arg(&me)
        .args(args)
        .env("HOME", DEFAULT_HERMES_HOME)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    // Written from a thread: the child may fill its stdout before it has read all of stdin.
    let mut pipe = child.stdin.take().expect("stdin was piped");
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output()?;
    let fed = feeder
        .join()
        .map_err(|_| io::Error::other("stdin feeder panicked"))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{} {}` as hermes failed ({})",
            me.display(),
            args.join(" "),
            out.status
        )));
    }
    fed?;
    Ok(out.stdout)
}
