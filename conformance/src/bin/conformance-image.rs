//! `conformance-image`: build the image under test exactly as the suite does, and print its tag.
//!
//! Usage: conformance-image [--tag-latest] [--feature <regression-feature>]

use std::process::ExitCode;

use conformance::image::{Variant, ensure_image, progress, tag_latest};

const USAGE: &str = "usage: conformance-image [--tag-latest] [--feature <name>]

Builds the hermes binaries, the offline base image (if its recipe changed) and the product
image (if its inputs changed), serialised with any running test process, and prints the
image's tag on stdout.

  --tag-latest      also tag the result hermes-s6:latest (for `docker run --rm -it hermes-s6:latest`)
  --feature <name>  build a regression variant with that cargo feature of the hermes crate";

fn main() -> ExitCode {
    let mut latest = false;
    let mut features = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tag-latest" => latest = true,
            "--feature" => match args.next() {
                Some(f) => features.push(f),
                None => {
                    eprintln!("conformance-image: --feature needs a name\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("conformance-image: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance-image: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let docker = conformance::docker::connect().await?;
        let tag = ensure_image(&docker, &Variant { features }).await?;
        if latest {
            tag_latest(&docker, &tag).await?;
            progress(format!("tagged {tag} as hermes-s6:latest"));
        }
        anyhow::Ok(tag)
    });
    match result {
        Ok(tag) => {
            println!("{tag}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("conformance-image: {e:#}");
            ExitCode::FAILURE
        }
    }
}
