//! `conformance-repro [<id>]`: bring one historical bug (`docs/contract.md` §9) back and watch
//! the suite catch it. Builds the regression image, starts a container, runs the catching scenario as
//! hermes and prints what failed: command, user, exit status, stderr and the permission dump.
//! Without an id, lists the catalogue.
//!
//! Exit status: 1 when the bug was reproduced and caught (like the failing test it is),
//! 3 when the scenario unexpectedly passed, 2 for an unknown id.

use std::process::ExitCode;

use conformance::image::{Variant, progress};
use conformance::regressions::{CATALOG, RETIRED, find, names_cause, outcome_of};
use conformance::{Ctx, config, docker, runner};

fn list() {
    println!("regression ids (docs/contract.md §9); reproduce one with `make repro BUG=<id>`:");
    for r in CATALOG {
        println!("  {:<28} {}", r.id, r.bug);
    }
    for (id, why) in RETIRED {
        println!("  {id:<28} {}", why.split(':').next().unwrap_or("retired"));
    }
}

fn main() -> ExitCode {
    let Some(id) = std::env::args().nth(1).filter(|a| !a.is_empty()) else {
        list();
        return ExitCode::SUCCESS;
    };
    if id == "-h" || id == "--help" {
        println!("usage: conformance-repro [<id>]\n");
        list();
        return ExitCode::SUCCESS;
    }
    if let Some((_, why)) = RETIRED.iter().find(|(r, _)| *r == id) {
        eprintln!("conformance-repro: {id} is {why}");
        return ExitCode::from(2);
    }
    let Some(reg) = find(&id) else {
        eprintln!("conformance-repro: unknown regression id {id:?}\n");
        list();
        return ExitCode::from(2);
    };
    // Assertion failures are reported below, once and in full: silence the default hook.
    std::panic::set_hook(Box::new(|_| {}));
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("conformance-repro: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let docker = docker::connect().await?;
        let image = runner::image_for(&docker, &Variant::regression(reg.id)).await?;
        progress(format!(
            "running {} as hermes on {image}",
            reg.catcher.scenario()
        ));
        let ctx = Ctx::new(docker, image, &format!("repro/{}", reg.id)).as_hermes();
        anyhow::Ok(outcome_of(reg.catcher.run(ctx)).await)
    });
    match result {
        Err(e) => {
            eprintln!("conformance-repro: {e:#}");
            ExitCode::FAILURE
        }
        Ok(Ok(())) => {
            println!(
                "NOT reproduced: {} passed on the regression image of {}",
                reg.catcher.scenario(),
                reg.id
            );
            ExitCode::from(3)
        }
        Ok(Err(message)) => {
            println!("REPRODUCED {}: {}", reg.id, reg.bug);
            println!("caught by {} (as hermes):\n", reg.catcher.scenario());
            println!("{message}");
            match names_cause(reg, &message) {
                Ok(()) => println!("\nthe failure names the stated cause: {:?}", reg.cause),
                Err(e) => println!("\nWARNING: {e}"),
            }
            if reg.root_passes {
                println!(
                    "run as root (and with HERMES_DOCKER_EXEC_AS_ROOT=1, as the old tests ran) the same \
                     scenario passes: that audit gap is how this bug shipped (the sensitivity test checks it)"
                );
            }
            if config::keep_containers() {
                println!("(containers kept: TESTCONTAINERS_COMMAND=keep is set)");
            }
            ExitCode::FAILURE
        }
    }
}
