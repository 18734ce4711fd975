//! Each profile's gateway port (contract §6.2): the derived port (`names::derived_port`) is the
//! first choice; `profile create` probes on to the next port in [9200, 9800) that no other
//! profile holds and records the choice in the profile (`gateway.port`, written inside the
//! staging dir, so it appears with the profile or not at all). The record is what every later
//! start uses, so the port is stable across restarts and re-creates on the same volume. A
//! profile without a record (made before ports were recorded, and `default`) keeps its derived
//! port. `API_SERVER_PORT` wins over both.

use crate::fileio;
use crate::names;
use crate::paths::Paths;
use crate::profile;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

/// The record in the profile's home: the port as decimal digits and a newline.
pub const PORT_FILE: &str = "gateway.port";
/// The gateway port range, [FIRST, END).
pub const FIRST: u16 = 9200;
pub const END: u16 = 9800;

/// The recorded port of a profile home, if a valid one is there. A link, FIFO or anything but
/// a regular file holding a port in range counts as no record (the derived port then applies).
pub fn recorded(home: &Path) -> Option<u16> {
    let mut f = fileio::open_regular(&home.join(PORT_FILE), false).ok()?;
    let mut text = String::new();
    f.by_ref().take(16).read_to_string(&mut text).ok()?;
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| (FIRST..END).contains(p))
}

/// The port a profile's gateway binds when `API_SERVER_PORT` is not set: its record, else its
/// derived port.
pub fn assigned(paths: &Paths, profile: &str) -> u16 {
    recorded(&paths.profile_home(profile)).unwrap_or_else(|| names::derived_port(profile))
}

/// The port the gateway binds: `API_SERVER_PORT` when it is a valid port, else `assigned`.
pub fn effective(paths: &Paths, profile: &str, api_server_port: Option<&str>) -> u16 {
    api_server_port
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or_else(|| assigned(paths, profile))
}

/// The ports the existing profiles hold, `default` included.
pub fn held(paths: &Paths) -> HashSet<u16> {
    std::iter::once(names::DEFAULT_PROFILE.to_string())
        .chain(profile::names(paths))
        .map(|p| assigned(paths, &p))
        .collect()
}

/// The first port from `name`'s derived port on (wrapping inside the range) that is not in
/// `held`; `None` when every port of the range is held.
pub fn choose(name: &str, held: &HashSet<u16>) -> Option<u16> {
    let span = END - FIRST;
    let start = names::derived_port(name) - FIRST;
    (0..span)
        .map(|i| FIRST + (start + i) % span)
        .find(|p| !held.contains(p))
}

/// Why a new profile gets no port: one line.
pub fn range_full(name: &str) -> String {
    format!(
        "cannot create profile '{name}': every gateway port in [{FIRST}, {END}) is held by \
         another profile"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn layout() -> (tempfile::TempDir, Paths) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path());
        fs::create_dir_all(&paths.hermes_home).unwrap();
        (t, paths)
    }

    /// Two names whose derived ports collide (found, not hard-coded).
    fn colliding_pair() -> (String, String) {
        let mut seen = std::collections::HashMap::new();
        for i in 0.. {
            let n = format!("p{i}");
            if let Some(first) = seen.insert(names::derived_port(&n), n.clone()) {
                return (first, n);
            }
        }
        unreachable!()
    }

    #[test]
    fn derived_port_is_the_first_choice() {
        assert_eq!(
            choose("work", &HashSet::new()),
            Some(names::derived_port("work"))
        );
    }

    #[test]
    fn a_held_port_probes_to_the_next_free_one_and_wraps() {
        let d = names::derived_port("work");
        let held: HashSet<u16> = [d, d + 1].into_iter().filter(|p| *p < END).collect();
        let want = (d..END).chain(FIRST..d).find(|p| !held.contains(p));
        assert_eq!(choose("work", &held), want);
        let all_but_first: HashSet<u16> = (FIRST + 1..END).collect();
        assert_eq!(choose("work", &all_but_first), Some(FIRST));
    }

    #[test]
    fn a_full_range_gives_none() {
        let all: HashSet<u16> = (FIRST..END).collect();
        assert_eq!(choose("work", &all), None);
        assert!(range_full("work").contains("[9200, 9800)"));
    }

    #[test]
    fn colliding_names_get_distinct_recorded_ports() {
        let (a, b) = colliding_pair();
        let (_t, paths) = layout();
        let _l = profile::lock(&paths).unwrap();
        profile::create(&paths, &a).unwrap();
        profile::create(&paths, &b).unwrap();
        let pa = recorded(&paths.profile_home(&a)).expect("a's port is recorded");
        let pb = recorded(&paths.profile_home(&b)).expect("b's port is recorded");
        assert_eq!(pa, names::derived_port(&a));
        assert_ne!(pa, pb);
        assert_eq!(assigned(&paths, &b), pb);
    }

    #[test]
    fn defaults_derived_port_is_never_given_to_another_profile() {
        let d = names::derived_port(names::DEFAULT_PROFILE);
        let other = (0..)
            .map(|i| format!("q{i}"))
            .find(|n| names::derived_port(n) == d)
            .unwrap();
        let (_t, paths) = layout();
        let _l = profile::lock(&paths).unwrap();
        profile::create(&paths, &other).unwrap();
        assert_ne!(assigned(&paths, &other), d);
    }

    #[test]
    fn six_hundred_profiles_fill_the_range_and_the_next_create_changes_nothing() {
        let (_t, paths) = layout();
        let _l = profile::lock(&paths).unwrap();
        // `default` holds one port, so 599 more fill the range.
        for i in 0..599 {
            profile::create(&paths, &format!("f{i}")).unwrap();
        }
        let ports = held(&paths);
        assert_eq!(ports.len(), 600, "every profile has its own port");
        let before = fs::read_dir(paths.profiles_dir()).unwrap().count();
        let e = profile::create(&paths, "onemore").unwrap_err();
        assert_eq!(e.to_string(), range_full("onemore"));
        assert!(!profile::exists(&paths, "onemore"));
        assert_eq!(
            fs::read_dir(paths.profiles_dir()).unwrap().count(),
            before,
            "no staging dir or profile left"
        );
    }

    #[test]
    fn a_profile_without_a_record_keeps_its_derived_port() {
        let (_t, paths) = layout();
        let home = paths.profile_home("legacy");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join(profile::MARKER), "x").unwrap();
        assert_eq!(recorded(&home), None);
        assert_eq!(assigned(&paths, "legacy"), names::derived_port("legacy"));
        assert_eq!(assigned(&paths, "default"), names::derived_port("default"));
    }

    #[test]
    fn a_bad_record_counts_as_none() {
        let (_t, paths) = layout();
        let home = paths.profile_home("x");
        fs::create_dir_all(&home).unwrap();
        for body in ["", "abc", "80", "9800", "70000"] {
            fs::write(home.join(PORT_FILE), body).unwrap();
            assert_eq!(recorded(&home), None, "{body:?}");
        }
        fs::remove_file(home.join(PORT_FILE)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", home.join(PORT_FILE)).unwrap();
        assert_eq!(recorded(&home), None, "a link is no record");
    }

    #[test]
    fn api_server_port_wins_over_the_record() {
        let (_t, paths) = layout();
        let _l = profile::lock(&paths).unwrap();
        profile::create(&paths, "work").unwrap();
        assert_eq!(effective(&paths, "work", Some("8642")), 8642);
        assert_eq!(
            effective(&paths, "work", Some("0")),
            assigned(&paths, "work")
        );
        assert_eq!(effective(&paths, "work", None), assigned(&paths, "work"));
    }
}
