//! The walk itself: both methods (openat2 and the per-component fallback) on real trees.

use super::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::sync::Mutex;

/// `force_fallback` is process-wide: tests that depend on the method hold this.
static METHOD: Mutex<()> = Mutex::new(());

fn both(f: impl Fn(&str)) {
    let _g = METHOD.lock().unwrap_or_else(|p| p.into_inner());
    for fallback in [false, true] {
        force_fallback(fallback);
        f(method());
    }
    force_fallback(false);
}

#[test]
fn validation() {
    for ok in ["/", "/opt/data", "/opt/data/nest/bin"] {
        assert!(validate_absolute(Path::new(ok)).is_ok(), "{ok}");
    }
    for bad in [
        "opt/data",
        "",
        "/opt/../etc",
        "/opt/./data",
        "/opt//data",
        "/opt/data/",
        "/opt/data/..",
    ] {
        let e = validate_absolute(Path::new(bad)).unwrap_err();
        assert!(e.to_string().contains("refusing"), "{bad}: {e}");
    }
}

#[test]
fn a_link_at_any_depth_is_refused_and_named() {
    both(|m| {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let target = base.join("target");
        fs::create_dir_all(target.join("bin/x")).unwrap();
        fs::create_dir_all(base.join("vol/a/b")).unwrap();
        // depth 1, 2, 3 below `vol`: the link is the first, second, third component.
        for (link, want) in [
            ("vol/l1", "vol/l1/bin/x"),
            ("vol/a/l2", "vol/a/l2/bin"),
            ("vol/a/b/l3", "vol/a/b/l3"),
        ] {
            symlink(&target, base.join(link)).unwrap();
            let e = Dir::open(&base.join(want)).unwrap_err();
            assert!(e.is_link(), "{m}: {want}: {e}");
            assert!(
                e.to_string()
                    .contains(&base.join(link).display().to_string()),
                "{m}: the refusal names the planted link: {e}"
            );
            assert!(e.to_string().contains("refusing"), "{m}: {e}");
        }
        // The real directory is reached.
        let d = Dir::open(&base.join("vol/a/b")).unwrap();
        assert_eq!(
            d.stat().unwrap().st_ino,
            fs::metadata(base.join("vol/a/b")).unwrap().ino()
        );
    });
}

#[test]
fn beneath_refuses_dotdot_and_absolute() {
    both(|m| {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open(&t.path().canonicalize().unwrap()).unwrap();
        for bad in ["..", "a/../..", "/etc"] {
            assert!(d.open_beneath(Path::new(bad)).is_err(), "{m}: {bad}");
        }
    });
}

#[test]
fn changes_go_through_the_held_descriptor() {
    both(|m| {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        fs::create_dir_all(base.join("home")).unwrap();
        let d = Dir::open(&base.join("home")).unwrap();
        // The name is swapped for a link after the walk: what we change is still the
        // directory we reached, never the link's target.
        fs::rename(base.join("home"), base.join("moved")).unwrap();
        fs::create_dir_all(base.join("elsewhere")).unwrap();
        symlink(base.join("elsewhere"), base.join("home")).unwrap();
        d.write_new(OsStr::new("f"), b"x", 0o640, None).unwrap();
        assert!(base.join("moved/f").exists(), "{m}");
        assert!(!base.join("elsewhere/f").exists(), "{m}");
        assert_eq!(
            fs::metadata(base.join("moved/f")).unwrap().mode() & 0o777,
            0o640
        );
    });
}

#[test]
fn write_new_never_writes_through_a_link_or_fifo() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    fs::write(base.join("victim"), "v").unwrap();
    symlink(base.join("victim"), base.join("l")).unwrap();
    nix::unistd::mkfifo(&base.join("p"), Mode::from_bits_truncate(0o600)).unwrap();
    let d = Dir::open(&base).unwrap();
    assert!(d.write_new(OsStr::new("l"), b"x", 0o644, None).is_err());
    assert!(d.write_new(OsStr::new("p"), b"x", 0o644, None).is_err());
    assert!(d.open_regular_rw(OsStr::new("l"), 0o600).is_err());
    assert!(d.open_regular_rw(OsStr::new("p"), 0o600).is_err());
    assert_eq!(fs::read_to_string(base.join("victim")).unwrap(), "v");
}

#[test]
fn remove_tree_removes_links_not_their_targets() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    fs::create_dir_all(base.join("keep")).unwrap();
    fs::write(base.join("keep/f"), "x").unwrap();
    fs::create_dir_all(base.join("gone/sub")).unwrap();
    symlink(base.join("keep"), base.join("gone/sub/l")).unwrap();
    let d = Dir::open(&base).unwrap();
    d.remove_tree(OsStr::new("gone")).unwrap();
    d.remove_tree(OsStr::new("absent")).unwrap();
    assert!(!base.join("gone").exists());
    assert!(base.join("keep/f").exists());
}

#[test]
fn rename_noreplace_never_replaces() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    fs::create_dir_all(base.join("a")).unwrap();
    fs::create_dir_all(base.join("b")).unwrap();
    let d = Dir::open(&base).unwrap();
    assert!(
        d.rename(OsStr::new("a"), &d, OsStr::new("b"), true)
            .is_err()
    );
    assert!(base.join("a").exists());
    d.rename(OsStr::new("a"), &d, OsStr::new("c"), true)
        .unwrap();
    assert!(base.join("c").exists());
}

#[test]
fn names_are_single_components() {
    let t = tempfile::tempdir().unwrap();
    let d = Dir::open(&t.path().canonicalize().unwrap()).unwrap();
    for bad in ["", ".", "..", "a/b"] {
        assert!(d.mkdir(OsStr::new(bad), 0o755).is_err(), "{bad:?}");
        assert!(d.dir(OsStr::new(bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn openat2_is_used_where_the_kernel_has_it() {
    let _g = METHOD.lock().unwrap_or_else(|p| p.into_inner());
    force_fallback(false);
    let t = tempfile::tempdir().unwrap();
    let base = t.path().canonicalize().unwrap();
    fs::create_dir_all(base.join("a")).unwrap();
    Dir::open(&base.join("a")).unwrap();
    // Informational on kernels without it; on this project's machines (≥ 5.6) it is used.
    eprintln!("safe_walk method on this kernel: {}", method());
}
