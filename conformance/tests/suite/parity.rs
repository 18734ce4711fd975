//! Coming from the original image (contract §1, §5): see `conformance::scenarios::parity`.

conformance::scenario_tests! { parity;

#[test]
fn bare_subcommands_run_hermes();

#[test]
fn bare_gateway_run_is_supervised();

#[test]
fn puid_matches_a_host_directory();

#[test]
fn remap_variants();

#[test]
fn bad_puid_is_refused();

#[test]
fn user_guard();

#[test]
fn bootstrap_state_seeds_once();

#[test]
fn bootstrap_state_other_values_ignored();

#[test]
fn top_level_repair();
}
