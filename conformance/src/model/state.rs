//! The reference model (contract §3, §5, §6), plain data: which profiles exist, each one's
//! recorded intent, whether its gateway should be up, its port, and what a container restart,
//! a `docker kill` + start or a `docker stop` + start keeps. Where it and the contract differ,
//! the contract wins and this is fixed.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::expected_port;

/// The gateway port range of contract §6.2.
pub const PORTS: std::ops::Range<u16> = 9200..9800;

/// A profile's `desired_state` as the model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Never started or stopped: no `desired_state` recorded.
    Unset,
    Running,
    Stopped,
    /// A start raced a stop: either may have won; the next check learns which (and then the
    /// slot must agree with it).
    Either,
}

impl Intent {
    /// The `desired_state` value in the state file and `status --json`.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Intent::Unset | Intent::Either => None,
            Intent::Running => Some("running"),
            Intent::Stopped => Some("stopped"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub intent: Intent,
    /// Whether s6 should report the gateway up (and wanted up).
    pub up: bool,
    /// The port `profile create` recorded; `None` when two creates raced for colliding derived
    /// ports and the lock decided (learned at the next check, fixed from then on).
    pub port: Option<u16>,
}

/// The whole system as the contract says it must be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub profiles: BTreeMap<String, Profile>,
}

/// How a Docker verb ends the container's run: all four boot again through the reconciler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reboot {
    Restart,
    KillStart,
    StopStart,
    /// The container removed and a new one started on the same data volume.
    Recreate,
}

impl Model {
    /// The ports held now: `default`'s derived one and every profile's known one.
    pub fn held_ports(&self) -> BTreeSet<u16> {
        std::iter::once(expected_port("default"))
            .chain(self.profiles.values().filter_map(|p| p.port))
            .collect()
    }

    /// Contract §6.2: the derived port, else the next one upwards (wrapping) none holds.
    pub fn port_for_new(&self, name: &str) -> Option<u16> {
        let held = self.held_ports();
        let span = PORTS.end - PORTS.start;
        let start = expected_port(name) - PORTS.start;
        (0..span)
            .map(|i| PORTS.start + (start + i) % span)
            .find(|p| !held.contains(p))
    }

    /// `profile create`: succeeds iff the name is new; the slot is registered down.
    pub fn create(&mut self, name: &str) -> bool {
        if self.profiles.contains_key(name) {
            return false;
        }
        let port = self.port_for_new(name);
        self.profiles.insert(
            name.to_string(),
            Profile {
                intent: Intent::Unset,
                up: false,
                port,
            },
        );
        true
    }

    /// Two creates at once: both made, each with its own port; if their derived ports collide
    /// (with each other) which one the lock served first decides who probes on.
    pub fn create_pair(&mut self, a: &str, b: &str) -> (bool, bool) {
        let racing = expected_port(a) == expected_port(b)
            || self
                .port_for_new(a)
                .is_some_and(|p| Some(p) == self.port_for_new(b));
        let ok = (self.create(a), self.create(b));
        if racing && ok.0 && ok.1 {
            for n in [a, b] {
                if let Some(p) = self.profiles.get_mut(n) {
                    p.port = None;
                }
            }
        }
        ok
    }

    /// `profile delete --yes`: succeeds iff the profile exists.
    pub fn delete(&mut self, name: &str) -> bool {
        self.profiles.remove(name).is_some()
    }

    /// `gateway start` / `restart` (up, `running` recorded) and `stop` (down, `stopped`).
    pub fn set_intent(&mut self, name: &str, intent: Intent) -> bool {
        match self.profiles.get_mut(name) {
            Some(p) => {
                p.intent = intent;
                p.up = intent == Intent::Running;
                true
            }
            None => false,
        }
    }

    /// A start and a stop at once: either wins.
    pub fn race_start_stop(&mut self, name: &str) {
        if let Some(p) = self.profiles.get_mut(name) {
            p.intent = Intent::Either;
        }
    }

    /// What the check learned about an `Either` intent or a raced port.
    pub fn learn(&mut self, name: &str, intent: Option<Intent>, port: Option<u16>) {
        if let Some(p) = self.profiles.get_mut(name) {
            if let (Intent::Either, Some(i)) = (p.intent, intent) {
                p.intent = i;
                p.up = i == Intent::Running;
            }
            if p.port.is_none() {
                p.port = port;
            }
        }
    }

    /// Whether the gateway of `name` should be up (for `kill -9`).
    pub fn is_up(&self, name: &str) -> bool {
        self.profiles
            .get(name)
            .is_some_and(|p| p.up && p.intent == Intent::Running)
    }

    /// The container boots again (contract §5): every profile is registered; only
    /// `desired_state=running` starts it. A gateway ended by SIGTERM (restart, stop) or never
    /// told anything (kill, re-create) keeps `running` on disk (§6.3), so all four end the same.
    pub fn reboot(&mut self, _how: Reboot) {
        for p in self.profiles.values_mut() {
            p.up = p.intent == Intent::Running;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_names_get_distinct_ports_and_a_deleted_port_is_free_again() {
        let mut m = Model::default();
        assert_eq!(expected_port("p28"), expected_port("p38"));
        assert!(m.create("p28"));
        assert!(m.create("p38"));
        let (a, b) = (m.profiles["p28"].port, m.profiles["p38"].port);
        assert_eq!(a, Some(expected_port("p28")));
        assert_ne!(a, b);
        assert!(!m.create("p28"), "a second create of one name fails");
        assert!(m.delete("p28"));
        assert!(m.create("p28"));
        assert_eq!(m.profiles["p28"].port, a);
    }

    #[test]
    fn a_reboot_starts_running_intents_only() {
        let mut m = Model::default();
        for n in ["a", "b", "c"] {
            m.create(n);
        }
        m.set_intent("a", Intent::Running);
        m.set_intent("b", Intent::Stopped);
        for how in [
            Reboot::Restart,
            Reboot::KillStart,
            Reboot::StopStart,
            Reboot::Recreate,
        ] {
            m.reboot(how);
            assert!(m.profiles["a"].up);
            assert!(!m.profiles["b"].up);
            assert!(!m.profiles["c"].up);
        }
    }

    #[test]
    fn an_either_intent_is_learned_once() {
        let mut m = Model::default();
        m.create("a");
        m.race_start_stop("a");
        m.learn("a", Some(Intent::Stopped), None);
        assert_eq!(m.profiles["a"].intent, Intent::Stopped);
        assert!(!m.profiles["a"].up);
        m.learn("a", Some(Intent::Running), None);
        assert_eq!(m.profiles["a"].intent, Intent::Stopped, "learned once");
    }
}
