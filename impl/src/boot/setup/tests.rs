//! These tests chown to other users, which only root may do: they are `#[ignore]`d, and
//! `make unit` (so `.ci/run`) runs them with `--include-ignored` when it runs as root.
use super::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};

const U: u32 = 10000;
const HERMES: Owners = Owners {
    uid: U,
    gid: U,
    previous: None,
};

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn creates_dirs_hermes_owned() {
    let t = tempfile::tempdir().unwrap();
    let mut rep = Reporter::quiet("setup");
    run(t.path(), HERMES, &mut rep);
    assert!(rep.ok(), "{:?}", rep.messages);
    for d in ["", "logs", "logs/gateways", "profiles"] {
        assert_eq!(owner(&t.path().join(d)), (U, U), "{d}");
    }
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn repairs_root_owned_without_following_links() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("outside");
    fs::write(&outside, "secret").unwrap();
    let home = t.path().join("home");
    let prof = home.join("profiles/work");
    fs::create_dir_all(prof.join("sub")).unwrap();
    fs::write(prof.join("SOUL.md"), "x").unwrap();
    fs::write(prof.join("sub/file"), "x").unwrap();
    symlink(&outside, prof.join("evil")).unwrap();
    let mut rep = Reporter::quiet("setup");
    run(&home, HERMES, &mut rep);
    assert_eq!(owner(&prof), (U, U));
    assert_eq!(owner(&prof.join("SOUL.md")), (U, U));
    assert_eq!(owner(&prof.join("sub/file")), (U, U));
    assert_eq!(owner(&outside), (0, 0), "link target must not be chowned");
    assert!(
        rep.messages
            .iter()
            .any(|m| m.contains("refusing to follow symlink") && m.contains("evil"))
    );
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn refuses_hard_links_to_files_elsewhere() {
    let t = tempfile::tempdir().unwrap();
    let outside = t.path().join("root-file");
    fs::write(&outside, "x").unwrap();
    let prof = t.path().join("home/profiles/work");
    fs::create_dir_all(&prof).unwrap();
    fs::hard_link(&outside, prof.join("hl")).unwrap();
    let mut rep = Reporter::quiet("setup");
    run(&t.path().join("home"), HERMES, &mut rep);
    assert_eq!(
        owner(&outside),
        (0, 0),
        "the other name's file stays root's"
    );
    assert!(
        rep.messages
            .iter()
            .any(|m| m.contains("refusing") && m.contains("profiles/work/hl")),
        "{:?}",
        rep.messages
    );
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn top_level_only_the_products_own_files() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    fs::create_dir_all(&home).unwrap();
    fs::write(home.join("gateway_state.json"), "{}").unwrap();
    fs::write(home.join(".gateway_state.lock"), "").unwrap();
    fs::write(home.join("notes-of-the-user.txt"), "mine").unwrap();
    symlink("/etc/passwd", home.join(".profiles.lock")).unwrap();
    let mut rep = Reporter::quiet("setup");
    run(&home, HERMES, &mut rep);
    assert_eq!(owner(&home.join("gateway_state.json")), (U, U));
    assert_eq!(owner(&home.join(".gateway_state.lock")), (U, U));
    assert_eq!(owner(&home.join("notes-of-the-user.txt")), (0, 0));
    assert_eq!(owner(Path::new("/etc/passwd")), (0, 0));
    assert!(
        rep.messages
            .iter()
            .any(|m| m.contains("refusing") && m.contains(".profiles.lock"))
    );
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn a_remap_hands_the_previous_ids_files_over_everywhere() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    fs::create_dir_all(home.join("profiles/work")).unwrap();
    fs::create_dir_all(home.join("projects/deep")).unwrap();
    fs::write(home.join("projects/deep/file"), "x").unwrap();
    fs::write(home.join("root-stays"), "x").unwrap();
    for p in [
        "",
        "profiles",
        "profiles/work",
        "projects",
        "projects/deep",
        "projects/deep/file",
    ] {
        std::os::unix::fs::chown(home.join(p), Some(U), Some(U)).unwrap();
    }
    let remapped = Owners {
        uid: 1000,
        gid: 1001,
        previous: Some((U, U)),
    };
    let mut rep = Reporter::quiet("setup");
    run(&home, remapped, &mut rep);
    for p in ["", "profiles/work", "projects/deep/file"] {
        assert_eq!(owner(&home.join(p)), (1000, 1001), "{p}");
    }
    assert_eq!(owner(&home.join("root-stays")), (0, 0));
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn refuses_symlinked_profiles_and_logs_dirs() {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("target");
    fs::create_dir_all(&target).unwrap();
    let home = t.path().join("home");
    fs::create_dir_all(&home).unwrap();
    symlink(&target, home.join("profiles")).unwrap();
    symlink(&target, home.join("logs")).unwrap();
    let mut rep = Reporter::quiet("setup");
    run(&home, HERMES, &mut rep);
    assert_eq!(owner(&target), (0, 0));
    assert!(!target.join("gateways").exists());
    let refusals = rep
        .messages
        .iter()
        .filter(|m| m.contains("refusing"))
        .count();
    assert_eq!(refusals, 2, "{:?}", rep.messages);
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn a_link_above_the_home_is_refused_at_every_depth() {
    // Contract §10 promise 5: `HERMES_HOME=/opt/data/nest/bin` with `nest -> /opt/hermes`
    // made root chown `/opt/hermes/bin` to hermes. Here for depths 1 to 3 below the volume.
    for fallback in [false, true] {
        crate::safe_walk::force_fallback(fallback);
        let t = tempfile::tempdir().unwrap();
        let base = t.path().canonicalize().unwrap();
        let root_dir = base.join("opt-hermes");
        fs::create_dir_all(root_dir.join("bin/x/y")).unwrap();
        let vol = base.join("vol");
        fs::create_dir_all(vol.join("a/b")).unwrap();
        for (link, home) in [
            ("vol/l1", "vol/l1/bin"),
            ("vol/a/l2", "vol/a/l2/bin/x"),
            ("vol/a/b/l3", "vol/a/b/l3/bin/x/y"),
        ] {
            symlink(&root_dir, base.join(link)).unwrap();
            let mut rep = Reporter::quiet("setup");
            run(&base.join(home), HERMES, &mut rep);
            for p in ["", "bin", "bin/x", "bin/x/y"] {
                assert_eq!(owner(&root_dir.join(p)), (0, 0), "{home}: {p}");
            }
            assert!(!root_dir.join("bin/logs").exists(), "{home}");
            assert!(
                rep.messages.iter().any(|m| m.contains("refusing")
                    && m.contains(&base.join(link).display().to_string())),
                "{home}: {:?}",
                rep.messages
            );
        }
    }
    crate::safe_walk::force_fallback(false);
}

#[test]
#[ignore = "needs root (chown to other users); `make unit` runs it as root"]
fn private_root_files_are_left_to_root() {
    // Contract §10 promise 6: a root 0600 file renamed into a repaired place was chowned.
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let prof = home.join("profiles/work");
    fs::create_dir_all(&prof).unwrap();
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    fs::write(prof.join("secret"), "s").unwrap();
    mode(&prof.join("secret"), 0o600);
    fs::write(home.join("gateway_state.json"), "{}").unwrap();
    mode(&home.join("gateway_state.json"), 0o600);
    fs::create_dir_all(home.join("logs/inner")).unwrap();
    fs::write(home.join("logs/inner/f"), "x").unwrap();
    mode(&home.join("logs"), 0o700);
    fs::write(prof.join("readable"), "r").unwrap();
    mode(&prof.join("readable"), 0o644);
    fs::create_dir_all(prof.join("closed")).unwrap();
    fs::write(prof.join("closed/open-file"), "o").unwrap();
    mode(&prof.join("closed"), 0o750);
    let mut rep = Reporter::quiet("setup");
    run(&home, HERMES, &mut rep);
    for p in [
        "profiles/work/secret",
        "gateway_state.json",
        "logs",
        "logs/inner/f",
    ] {
        assert_eq!(owner(&home.join(p)), (0, 0), "{p}: {:?}", rep.messages);
    }
    for p in ["profiles/work/closed", "profiles/work/closed/open-file"] {
        assert_eq!(owner(&home.join(p)), (0, 0), "{p}: below a private dir");
    }
    assert_eq!(
        owner(&prof.join("readable")),
        (U, U),
        "readable leftovers are given back"
    );
    assert_eq!(owner(&prof), (U, U));
    for p in ["profiles/work/secret (mode 0600)", "logs (mode 0700)"] {
        let (name, m) = p.split_once(' ').unwrap();
        assert!(
            rep.messages
                .iter()
                .any(|l| l.contains(name) && l.contains(&format!("left to root: private {m}"))),
            "{p}: {:?}",
            rep.messages
        );
    }
}

#[test]
fn an_unnormalised_home_is_refused_untouched() {
    let mut rep = Reporter::quiet("setup");
    run(Path::new("/opt/data/../hermes"), HERMES, &mut rep);
    assert!(rep.ok(), "a refusal, not a failure: {:?}", rep.messages);
    assert!(rep.messages[0].contains("refusing"), "{:?}", rep.messages);
    assert!(
        rep.messages[0].contains("not repaired"),
        "{:?}",
        rep.messages
    );
}

#[test]
fn remap_record() {
    assert_eq!(
        parse_remap_record("10000 10000 1000 1000\n"),
        Some((10000, 10000))
    );
    assert_eq!(parse_remap_record("x"), None);
}
