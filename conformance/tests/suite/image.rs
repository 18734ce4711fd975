//! Contract §1 and issue 15: the image has every tool it needs, none it does not, and is small.

use conformance::run;
use conformance::scenarios::image;

#[test]
fn tools_present_and_run() {
    run(image::tools_present_and_run);
}

#[test]
fn package_tools_absent() {
    run(image::package_tools_absent);
}

#[test]
fn image_is_small() {
    run(image::image_is_small);
}
