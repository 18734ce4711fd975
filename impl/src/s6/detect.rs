//! s6 detection (docs/contract.md §4): `/proc/1/comm` reads `s6-svscan` and `/run/s6/basedir` is a
//! directory. Fails closed: any read error means "not s6". Never reads `/proc/1/exe`,
//! which hermes cannot read (the `proc1-exe-probe` regression).

use std::fs;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    S6,
    /// Not on s6, with the reason (shown by `hermes status`).
    None(String),
}

impl Detection {
    pub fn is_s6(&self) -> bool {
        matches!(self, Detection::S6)
    }
}

pub fn detect(proc_root: &Path, s6_basedir: &Path) -> Detection {
    // Regression `proc1-exe-probe`: the original probe resolved /proc/1/exe, which hermes
    // cannot read, so s6 was "not detected" for the very user the product runs as.
    #[cfg(feature = "regression")]
    if crate::regression::on("proc1-exe-probe") {
        return match fs::read_link(proc_root.join("1/exe")) {
            Ok(exe) if exe.ends_with("s6-svscan") && s6_basedir.is_dir() => Detection::S6,
            Ok(exe) => Detection::None(format!("PID 1 is {}", exe.display())),
            Err(e) => Detection::None(format!("cannot resolve /proc/1/exe: {e}")),
        };
    }
    let comm_path = proc_root.join("1/comm");
    let comm = match fs::read(&comm_path) {
        Ok(bytes) => bytes,
        Err(e) => return Detection::None(format!("cannot read {}: {e}", comm_path.display())),
    };
    let comm = String::from_utf8_lossy(&comm);
    let comm = comm.trim();
    if comm != "s6-svscan" {
        return Detection::None(format!("PID 1 is {comm:?}, not s6-svscan"));
    }
    // symlink_metadata would refuse a linked basedir; s6-overlay's is a real dir, but a
    // followed link is harmless for a read-only probe, so plain metadata is used.
    match fs::metadata(s6_basedir) {
        Ok(m) if m.is_dir() => Detection::S6,
        Ok(_) => Detection::None(format!("{} is not a directory", s6_basedir.display())),
        Err(e) => Detection::None(format!("cannot stat {}: {e}", s6_basedir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn setup(comm: Option<&str>, basedir: bool) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("proc/1")).unwrap();
        if let Some(c) = comm {
            fs::write(t.path().join("proc/1/comm"), c).unwrap();
        }
        if basedir {
            fs::create_dir_all(t.path().join("s6/basedir")).unwrap();
        }
        t
    }

    fn run(t: &tempfile::TempDir) -> Detection {
        detect(&t.path().join("proc"), &t.path().join("s6/basedir"))
    }

    #[test]
    fn positive() {
        assert_eq!(run(&setup(Some("s6-svscan\n"), true)), Detection::S6);
    }

    #[test]
    fn wrong_pid1() {
        let d = run(&setup(Some("docker-init\n"), true));
        assert!(matches!(d, Detection::None(r) if r.contains("docker-init")));
    }

    #[test]
    fn basedir_missing() {
        let d = run(&setup(Some("s6-svscan\n"), false));
        assert!(matches!(d, Detection::None(r) if r.contains("basedir")));
    }

    #[test]
    fn basedir_is_file() {
        let t = setup(Some("s6-svscan\n"), false);
        fs::create_dir_all(t.path().join("s6")).unwrap();
        fs::write(t.path().join("s6/basedir"), "").unwrap();
        assert!(!run(&t).is_s6());
    }

    #[test]
    fn comm_missing() {
        let d = run(&setup(None, true));
        assert!(matches!(d, Detection::None(r) if r.contains("cannot read")));
    }

    #[test]
    fn comm_is_dir() {
        let t = setup(None, true);
        fs::create_dir_all(t.path().join("proc/1/comm")).unwrap();
        assert!(!run(&t).is_s6());
    }

    #[test]
    fn comm_unreadable() {
        let t = setup(Some("s6-svscan\n"), true);
        let p = t.path().join("proc/1/comm");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
        // root reads anyway; only assert fail-closed when the read really fails.
        if fs::read(&p).is_err() {
            assert!(!run(&t).is_s6());
        }
    }

    #[test]
    fn never_uses_exe() {
        // A comm that says s6-svscan wins even with no exe link at all.
        let t = setup(Some("s6-svscan"), true);
        assert!(!t.path().join("proc/1/exe").exists());
        assert!(run(&t).is_s6());
    }
}
