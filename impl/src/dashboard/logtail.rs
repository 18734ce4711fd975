//! The last lines of a gateway's log: `$HERMES_HOME/logs/gateways/<p>/current`, the file
//! s6-log writes as hermes (contract §3.2, `log/run`). Read from the end, so a full log costs
//! no more than a short one.

use crate::paths::Paths;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Lines shown per gateway.
pub const LINES: usize = 10;
/// Read at most this much from the end of the file.
const WINDOW: u64 = 16 * 1024;
/// Longer lines are cut (and marked) so one runaway line cannot fill the page.
const MAX_LINE_CHARS: usize = 400;

pub fn current(paths: &Paths, profile: &str) -> PathBuf {
    paths
        .logs_dir()
        .join("gateways")
        .join(profile)
        .join("current")
}

/// Opens without following a symlink and without blocking: whatever sits at `current` is
/// only read if it is a regular file (a FIFO planted there would otherwise hang the read).
fn open_regular(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(f)
}

/// The last `n` lines of the file at `path`.
pub fn last_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let mut f = open_regular(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(WINDOW);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(WINDOW).read_to_end(&mut buf)?;
    Ok(tail_of(&buf, start > 0, n))
}

/// The last `n` non-empty lines of `buf`; `cut` says the buffer starts mid-file, so its
/// first line is probably partial and is dropped.
pub fn tail_of(buf: &[u8], cut: bool, n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(buf);
    let mut lines: Vec<&str> = text.split('\n').skip(usize::from(cut)).collect();
    lines.retain(|l| !l.trim().is_empty());
    let from = lines.len().saturating_sub(n);
    lines[from..]
        .iter()
        .map(|l| {
            let l = l.trim_end_matches('\r');
            match l.char_indices().nth(MAX_LINE_CHARS) {
                Some((at, _)) => format!("{} …", &l[..at]),
                None => l.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        assert_eq!(tail_of(b"a\nb\nc\n", false, 2), ["b", "c"]);
        assert_eq!(tail_of(b"a\nb\nc", false, 10), ["a", "b", "c"]);
        assert_eq!(tail_of(b"artial\nb\n\n\nc\n", true, 10), ["b", "c"]);
        assert_eq!(tail_of(b"", false, 10), Vec::<String>::new());
        assert_eq!(tail_of(b"x\r\n", false, 1), ["x"]);
        let long = "é".repeat(MAX_LINE_CHARS + 5);
        let cut = &tail_of(long.as_bytes(), false, 1)[0];
        assert!(cut.ends_with(" …") && cut.chars().count() == MAX_LINE_CHARS + 2);
        assert_eq!(tail_of(b"\xff\xfe ok\n", false, 1), ["\u{fffd}\u{fffd} ok"]);
    }

    #[test]
    fn reads_the_end_of_a_large_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("current");
        let body: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, body).unwrap();
        let last = last_lines(&p, 3).unwrap();
        assert_eq!(last, ["line 4997", "line 4998", "line 4999"]);
    }

    #[test]
    fn refuses_links_and_fifos() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("secret");
        std::fs::write(&target, "secret\n").unwrap();
        let link = d.path().join("current");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(last_lines(&link, 3).is_err());
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(last_lines(&fifo, 3).is_err());
        assert_eq!(
            last_lines(&d.path().join("absent"), 3).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
