//! docs/contract.md §1: the image has every tool it needs, none it does not, and is small.

conformance::scenario_tests! { image;

#[test]
fn tools_present_and_run();

#[test]
fn package_tools_absent();

#[test]
fn image_is_small();
}
