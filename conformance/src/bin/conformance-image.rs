//! `conformance-image`: build the image under test exactly as the suite does, and print its tag.
//!
//! Usage: conformance-image [--tag-latest] [--regression <id> | --trace]

use std::process::ExitCode;

use conformance::image::{Variant, ensure_image, progress, tag_latest};

const USAGE: &str = "usage: conformance-image [--tag-latest] [--regression <id> | --trace]

Builds the hermes binaries, the offline base image (if its recipe changed) and the product
image (if its inputs changed), serialised with any running test process, and prints the
image's tag on stdout.

  --tag-latest      also tag the result hermes-s6:latest (for `docker run --rm -it hermes-s6:latest`)
  --regression <id> build the regression variant of a catalogue id (contract §9) instead
  --trace           build the trace variant (hermes-s6-trace:*, contract §10.1) instead";

fn main() -> ExitCode {
    let mut latest = false;
    let mut regression: Option<String> = None;
    let mut trace = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tag-latest" => latest = true,
            "--trace" => trace = true,
            "--regression" => match args.next() {
                Some(id) => regression = Some(id),
                None => {
                    eprintln!("conformance-image: --regression needs an id\n{USAGE}");
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
        let variant = match (&regression, trace) {
            (Some(id), _) => Variant::regression(id),
            (None, true) => Variant::trace(),
            (None, false) => Variant::production(),
        };
        if latest && !variant.is_production() {
            anyhow::bail!("--tag-latest is for the product image only");
        }
        let tag = ensure_image(&docker, &variant).await?;
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
