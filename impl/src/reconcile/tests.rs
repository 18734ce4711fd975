use super::*;
use crate::s6::scandir::fixture;

fn profile(paths: &Paths, name: &str, state: Option<&str>) {
    let home = paths.profile_home(name);
    fs::create_dir_all(&home).unwrap();
    if name != "default" {
        fs::write(home.join("SOUL.md"), "x").unwrap();
    }
    if let Some(s) = state {
        fs::write(home.join(state::STATE_FILE), s).unwrap();
    }
}

fn triples(actions: &[Action]) -> Vec<(&str, Option<&str>, Act)> {
    actions
        .iter()
        .map(|a| (a.profile.as_str(), a.prior_state.as_deref(), a.action))
        .collect()
}

#[test]
fn plan_reads_every_intent() {
    let t = tempfile::tempdir().unwrap();
    let paths = Paths::under(t.path());
    profile(&paths, "default", Some(r#"{"gateway_state":"running"}"#));
    profile(
        &paths,
        "b-stopped",
        Some(r#"{"desired_state":"stopped","gateway_state":"running"}"#),
    );
    profile(
        &paths,
        "a-run",
        Some(r#"{"desired_state":"running","gateway_state":"stopped"}"#),
    );
    profile(&paths, "c-drain", Some(r#"{"gateway_state":"draining"}"#));
    profile(&paths, "d-corrupt", Some("{oops"));
    profile(&paths, "e-none", None);
    profile(&paths, "f-array", Some("[]"));
    profile(&paths, "Bad", None);
    profile(&paths, "new\nline", None);
    fs::create_dir_all(paths.profiles_dir().join("no-soul")).unwrap();
    fs::write(paths.profiles_dir().join("no-soul/config.yaml"), "").unwrap();
    fs::create_dir_all(paths.profiles_dir().join(".x.tmp-1")).unwrap();
    fs::write(paths.profile_home("a-run").join("gateway.pid"), "1").unwrap();
    fs::write(paths.profile_home("a-run").join("processes.json"), "[]").unwrap();

    let actions = plan(&paths, None, &mut |_| {});
    assert_eq!(
        triples(&actions),
        vec![
            ("default", Some("running"), Act::Started),
            ("Bad", None, Act::Skipped),
            ("a-run", Some("running"), Act::Started),
            ("b-stopped", Some("stopped"), Act::Registered),
            ("c-drain", Some("running"), Act::Started),
            ("d-corrupt", None, Act::Registered),
            ("e-none", None, Act::Registered),
            ("f-array", None, Act::Registered),
            ("new\\x0aline", None, Act::Skipped),
        ]
    );
    assert!(
        actions[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("invalid profile name")
    );
    assert!(actions[5].reason.as_deref().unwrap().contains("corrupt"));
    assert!(!paths.profile_home("a-run").join("gateway.pid").exists());
    assert!(!paths.profile_home("a-run").join("processes.json").exists());
    let line = actions[8].line("T");
    assert!(!line.contains('\n'), "a name cannot forge a line: {line:?}");
}

#[test]
fn apply_registers_in_one_batch_and_never_claims_an_unsupervised_slot() {
    // gateway-b never gets a supervisor (as when s6-svscan hits its service limit).
    let (_t, s) = fixture::scandir(
        "exit 0",
        r#"case "$1" in *gateway-b*) exit 1;; *) exit 0;; esac"#,
    );
    let plan = vec![
        Action {
            profile: "default".into(),
            prior_state: Some("running".into()),
            action: Act::Started,
            reason: None,
        },
        Action {
            profile: "b".into(),
            prior_state: None,
            action: Act::Registered,
            reason: Some("state file is empty".into()),
        },
        skipped("Bad", None, "invalid profile name".into()),
        Action {
            profile: "../x".into(),
            prior_state: None,
            action: Act::Registered,
            reason: None,
        },
    ];
    let out = apply(plan, &s);
    assert_eq!(out[0].action, Act::Started);
    assert!(!s.paths.slot_dir("default").join("down").exists());
    assert_eq!(out[1].action, Act::Skipped);
    let why = out[1].reason.as_deref().unwrap();
    assert!(
        why.contains("no supervisor") && why.contains("state file is empty"),
        "{why}"
    );
    assert!(
        !s.paths.slot_dir("b").exists(),
        "withdrawn, never left registered"
    );
    assert_eq!(out[2].action, Act::Skipped);
    assert_eq!(
        out[3].action,
        Act::Skipped,
        "a name from the plan is validated again"
    );
    assert!(
        out[3]
            .reason
            .as_deref()
            .unwrap()
            .contains("invalid profile name")
    );
}

#[test]
fn temp_files_of_killed_writers_are_swept_and_named() {
    let t = tempfile::tempdir().unwrap();
    let paths = Paths::under(t.path());
    profile(&paths, "default", None);
    profile(&paths, "work", None);
    let pd = paths.profiles_dir();
    fs::create_dir_all(pd.join(".x.tmp-123/inner")).unwrap();
    fs::create_dir_all(pd.join(".y.del-7")).unwrap();
    fs::write(paths.hermes_home.join(".gateway_state.json.tmp-9"), "{").unwrap();
    fs::write(
        paths
            .profile_home("work")
            .join(".gateway-planned-stop.json.tmp-9"),
        "",
    )
    .unwrap();
    fs::write(paths.profile_home("work").join(".keep-me"), "").unwrap();
    let mut lines = Vec::new();
    plan(&paths, None, &mut |l| lines.push(l));
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("removed stale temp file "))
    );
    assert!(!pd.join(".x.tmp-123").exists() && !pd.join(".y.del-7").exists());
    assert!(paths.profile_home("work").join(".keep-me").exists());
}

#[test]
fn bootstrap_seeds_once_and_never_through_a_link() {
    let t = tempfile::tempdir().unwrap();
    let paths = Paths::under(t.path());
    fs::create_dir_all(&paths.hermes_home).unwrap();
    let state = state::state_path(&paths.hermes_home);
    assert!(seed_bootstrap_state(&paths, None).is_none());
    let line = seed_bootstrap_state(&paths, Some("stopped")).unwrap();
    assert!(line.contains("ignoring"), "{line}");
    assert!(!state.exists());
    assert!(
        seed_bootstrap_state(&paths, Some("running"))
            .unwrap()
            .contains("seeded")
    );
    assert_eq!(
        state::read(&paths.hermes_home).unwrap().unwrap().prior(),
        state::Prior::Known {
            label: "running",
            start: true
        }
    );
    fs::write(&state, r#"{"gateway_state":"stopped"}"#).unwrap();
    assert!(
        seed_bootstrap_state(&paths, Some("running")).is_none(),
        "never clobbered"
    );
    fs::remove_file(&state).unwrap();
    let target = t.path().join("target");
    fs::write(&target, "orig").unwrap();
    std::os::unix::fs::symlink(&target, &state).unwrap();
    let line = seed_bootstrap_state(&paths, Some("running")).unwrap();
    assert!(
        line.contains("refusing") && line.contains("gateway_state.json"),
        "{line}"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "orig");
}

#[test]
fn log_lines_and_rotation() {
    let t = tempfile::tempdir().unwrap();
    let logs = t.path().join("logs");
    let a = vec![
        Action {
            profile: "default".into(),
            prior_state: None,
            action: Act::Registered,
            reason: None,
        },
        skipped("x", Some("running".into()), "bad\nthing".into()),
    ];
    write_log(&logs, &a, 0).unwrap();
    let body = fs::read_to_string(logs.join(BOOT_LOG)).unwrap();
    assert_eq!(
        body,
        "1970-01-01T00:00:00Z profile=default prior_state=None action=registered\n\
         1970-01-01T00:00:00Z profile=x prior_state=running action=skipped reason=bad thing\n"
    );
    fs::write(logs.join(BOOT_LOG), vec![b'x'; ROTATE_AT as usize]).unwrap();
    write_log(&logs, &a[..1], 0).unwrap();
    assert_eq!(
        fs::metadata(logs.join(format!("{BOOT_LOG}.1")))
            .unwrap()
            .len(),
        ROTATE_AT
    );
    assert_eq!(
        fs::read_to_string(logs.join(BOOT_LOG))
            .unwrap()
            .lines()
            .count(),
        1
    );
}
