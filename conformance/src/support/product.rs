//! The product's vocabulary as the contract names it: where things are, what slots and homes
//! are called, which port a profile's gateway gets. Computed here independently of `impl/`, so
//! a scenario checks the product against the contract, not against itself.

use sha2::{Digest, Sha256};

/// s6-svscan's scan directory (docs/contract.md §3.2).
pub const SCANDIR: &str = "/run/service";
/// `$HERMES_HOME`: the default profile's home, the parent of every other profile's.
pub const HERMES_HOME: &str = "/opt/data";
/// The dashboard's service directory.
pub const DASHBOARD: &str = "/run/service/dashboard";
/// The dashboard's port when `HERMES_DASHBOARD_PORT` is not set.
pub const DASHBOARD_PORT: u16 = 9119;
/// The static services hermes may read and control; the registrar's supervisor is root's
/// alone, hermes reaches the registrar through its socket only.
pub const STATIC_SERVICES: &[&str] = &["dashboard", "main-hermes"];
/// The registrar's socket, through which hermes asks root for a slot.
pub const REGISTRAR_SOCK: &str = "/run/hermes/registrar.sock";
/// The first line of `hermes gateway status` / `hermes status` under s6.
pub const MANAGER_S6: &str = "Manager: s6 (container supervisor)";

/// A profile's slot in the scandir: `gateway-<profile>`.
pub fn slot_dir(profile: &str) -> String {
    format!("{SCANDIR}/gateway-{profile}")
}

/// A profile's home: `$HERMES_HOME` for `default`, else `$HERMES_HOME/profiles/<p>`.
pub fn profile_home(profile: &str) -> String {
    if profile == "default" {
        HERMES_HOME.to_string()
    } else {
        format!("{HERMES_HOME}/profiles/{profile}")
    }
}

/// The gateway port the contract derives from a profile name, computed independently of the
/// product: 9200 + (first 8 hex digits of sha256(name)) mod 600.
pub fn expected_port(profile: &str) -> u16 {
    let digest = Sha256::digest(profile.as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    9200 + (first % 600) as u16
}

/// The pool of `Ctx::start_shared` whose container is the product as a person runs it.
pub const SHARED_PRODUCT: &str = "product";
/// Every profile name the scenarios of [`SHARED_PRODUCT`] use, `default` (which runs in every
/// container) first: names are what keeps them apart, so a new scenario of the pool adds its
/// own here, and no two may derive the same gateway port (checked below).
pub const SHARED_PRODUCT_PROFILES: &[&str] = &[
    "default",
    // lifecycle
    "alpha",
    "quick",
    "beta",
    "rooted",
    "asroot1",
    "asrootyes",
    "asroottrue",
    "asroot2",
    "asrootno",
    "ghost",
    // cli
    "fifo",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_pool_ports_are_distinct() {
        let mut seen = std::collections::BTreeMap::new();
        for p in SHARED_PRODUCT_PROFILES {
            if let Some(other) = seen.insert(expected_port(p), p) {
                panic!(
                    "{p} and {other} derive the same port {}: they cannot share a container",
                    expected_port(p)
                );
            }
        }
    }

    #[test]
    fn ports_are_in_range_and_deterministic() {
        for p in ["default", "alpha", "p", "x-1"] {
            let port = expected_port(p);
            assert!((9200..9800).contains(&port), "{p} -> {port}");
            assert_eq!(port, expected_port(p));
        }
    }
}
