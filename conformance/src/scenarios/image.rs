//! The image itself (contract §1): every tool the contract, the stage layer and the suite rely
//! on is there and runs as hermes; the package tools the product does not need are not; and it
//! stays small. The base is built from an explicit package list (`docker/base/packages.txt`),
//! so a package dropped from it, or one that stops working without what it used to pull in,
//! shows here rather than in a scenario that happens to run it.

use crate::support::SHARED_PRODUCT;
use anyhow::{Context, Result, ensure};

use crate::Ctx;
use crate::container::EXEC_DEADLINE;
use crate::image::progress;

/// The ceiling on the product image's size (`docker image inspect` Size, bytes; docs/contract.md
/// §1).
pub const MAX_IMAGE_BYTES: i64 = 40_000_000;

/// A tool, how to run it harmlessly, and a word its output must contain (`""`: any output,
/// but it must exit 0).
pub struct Tool {
    pub name: &'static str,
    pub argv: &'static [&'static str],
    pub expect: &'static str,
    pub why: &'static str,
}

const fn tool(
    name: &'static str,
    argv: &'static [&'static str],
    expect: &'static str,
    why: &'static str,
) -> Tool {
    Tool {
        name,
        argv,
        expect,
        why,
    }
}

/// Contract §1: "Tools the suite relies on inside the image".
pub const CONTRACT_TOOLS: &[Tool] = &[
    tool("sh", &["sh", "-c", "echo sh-runs"], "sh-runs", "§1"),
    tool("ps", &["ps", "-p", "1", "-o", "comm="], "s6-svscan", "§1"),
    tool("pgrep", &["pgrep", "-x", "s6-svscan"], "1", "§1"),
    // The program, not a shell's builtin: `docker exec … kill`.
    tool("kill", &["kill", "-l", "15"], "TERM", "§1"),
    tool(
        "stat",
        &["stat", "-c", "%U:%G", "/etc/hermes-s6/stage2"],
        "root:root",
        "§1",
    ),
    tool("id", &["id", "-u", "hermes"], "10000", "§1"),
    tool(
        "find",
        &["find", "/etc/cont-init.d", "-name", "01-hermes-setup"],
        "/etc/cont-init.d/01-hermes-setup",
        "§1",
    ),
    tool("cat", &["cat", "/proc/1/comm"], "s6-svscan", "§1"),
    tool(
        "ls",
        &["ls", "/etc/cont-init.d"],
        "015-supervise-perms",
        "§1",
    ),
];

/// What the stage layer (stage2, svscan-teardown/-finish, with-contenv, the services' and
/// slots' run/finish scripts) and the suite's own execs run besides the above.
pub const OTHER_TOOLS: &[Tool] = &[
    tool(
        "env",
        &["env", "--default-signal=INT,QUIT", "echo", "env-runs"],
        "env-runs",
        "stage2 (the command's signals)",
    ),
    tool("sleep", &["sleep", "0.01"], "", "stage2, svscan-teardown"),
    tool(
        "mv",
        &["mv", "--version"],
        "coreutils",
        "stage2 (atomic ready marker)",
    ),
    tool("chmod", &["chmod", "--version"], "coreutils", "stage2"),
    tool(
        "execlineb",
        &[
            "/usr/lib/execline/bin/execlineb",
            "-c",
            "echo execline-runs",
        ],
        "execline-runs",
        "with-contenv's interpreter",
    ),
    tool(
        "with-contenv",
        &["/command/with-contenv", "sh", "-c", "echo contenv-runs"],
        "contenv-runs",
        "gateway/run, dashboard/run and finish, cont-init",
    ),
    tool(
        "s6-svscan",
        &["/command/s6-svstat", "-o", "up", "/run/service/main-hermes"],
        "true",
        "s6 programs under /command",
    ),
    tool(
        "bash",
        &["bash", "-c", "echo \"bash $BASH_VERSION\""],
        "bash 5",
        "the suite's HTTP probes (/dev/tcp)",
    ),
    tool(
        "grep",
        &["grep", "-c", "^hermes:", "/etc/passwd"],
        "1",
        "scenarios",
    ),
    tool(
        "sed",
        &["sh", "-c", "echo abc | sed s/b/X/"],
        "aXc",
        "security scenarios, bench",
    ),
    tool(
        "timeout",
        &["timeout", "5", "echo", "timeout-runs"],
        "timeout-runs",
        "dashboard scenarios",
    ),
    tool("date", &["date", "+%s"], "", "dashboard scenarios"),
    tool("mktemp", &["mktemp", "-u"], "/tmp/", "zombie scenarios"),
    tool(
        "readlink",
        &["readlink", "/proc/self/exe"],
        "readlink",
        "boot scenarios",
    ),
    tool(
        "od",
        &["sh", "-c", "printf A | od -An -tx1"],
        "41",
        "security scenarios",
    ),
    tool(
        "cut wc tr",
        &[
            "sh",
            "-c",
            "echo 'a b c' | cut -d' ' -f2 | tr b B; printf '1\\n2\\n' | wc -l",
        ],
        "B\n2",
        "zombie and security scenarios",
    ),
];

/// The package manager and the interpreters it brought (docs/contract.md §1): nothing uses them.
pub const ABSENT: &[&str] = &[
    "apt",
    "apt-get",
    "apt-cache",
    "dpkg",
    "dpkg-deb",
    "perl",
    "debconf-set-selections",
];

/// Every tool of §1 and of the stage layer runs as hermes and says what it should.
pub async fn tools_present_and_run(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    let mut failures = Vec::new();
    for t in CONTRACT_TOOLS.iter().chain(OTHER_TOOLS) {
        // Explicitly hermes, whatever HERMES_CONFORMANCE_USER says: the tools must work for
        // the user everything runs as.
        let o = h.exec_full("hermes", t.argv, &[], EXEC_DEADLINE).await?;
        if !o.success() || !o.stdout.contains(t.expect) {
            failures.push(format!(
                "{} (needed by {}): expected output containing {:?}\n{o}",
                t.name, t.why, t.expect
            ));
        }
    }
    // Every /command link resolves to a program (the Dockerfile links them at build time).
    let dangling = h
        .exec_full(
            "hermes",
            &[
                "sh",
                "-c",
                "for f in /command/*; do [ -x \"$f\" ] || echo \"$f\"; done",
            ],
            &[],
            EXEC_DEADLINE,
        )
        .await?;
    dangling.succeeds();
    if !dangling.out().is_empty() {
        failures.push(format!(
            "/command entries that are not runnable: {}",
            dangling.out()
        ));
    }
    ensure!(
        failures.is_empty(),
        "{} tool(s) missing or broken in the image:\n{}",
        failures.len(),
        failures.join("\n")
    );
    h.remove().await
}

/// apt, dpkg, perl (and debconf) are not in the image: not on PATH, nor anywhere else.
pub async fn package_tools_absent(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    let mut present = Vec::new();
    for name in ABSENT {
        let script = format!(
            "command -v {name}; for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do \
               [ -e \"$d/{name}\" ] && echo \"$d/{name}\"; done; true"
        );
        let o = h
            .exec_full("hermes", &["sh", "-c", &script], &[], EXEC_DEADLINE)
            .await?;
        o.succeeds();
        if !o.out().is_empty() {
            present.push(format!("{name}: {}", o.out().replace('\n', " ")));
        }
    }
    // Perl's library tree, should a perl binary hide under another name.
    let perl_lib = h
        .exec_full(
            "hermes",
            &[
                "sh",
                "-c",
                "ls -d /usr/lib/*/perl* /usr/share/perl* /usr/lib/perl* 2>/dev/null; true",
            ],
            &[],
            EXEC_DEADLINE,
        )
        .await?;
    perl_lib.succeeds();
    if !perl_lib.out().is_empty() {
        present.push(format!("perl's library: {}", perl_lib.out()));
    }
    ensure!(
        present.is_empty(),
        "the image holds tools the product does not need (docs/contract.md §1):\n{}",
        present.join("\n")
    );
    h.remove().await
}

/// The image is at most `MAX_IMAGE_BYTES` (its size is printed either way).
pub async fn image_is_small(ctx: Ctx) -> Result<()> {
    let info = ctx
        .docker
        .inspect_image(&ctx.image)
        .await
        .with_context(|| format!("inspecting {}", ctx.image))?;
    let size = info
        .size
        .with_context(|| format!("{}: docker reports no size", ctx.image))?;
    let mb = size as f64 / 1e6;
    progress(format!(
        "image {}: {size} bytes ({mb:.1} MB, {:.1} MiB; ceiling {} MB)",
        ctx.image,
        size as f64 / (1024.0 * 1024.0),
        MAX_IMAGE_BYTES / 1_000_000
    ));
    ensure!(
        size <= MAX_IMAGE_BYTES,
        "image {} is {mb:.1} MB, over the {} MB ceiling (docs/contract.md §1): see docker/base/packages.txt",
        ctx.image,
        MAX_IMAGE_BYTES / 1_000_000
    );
    Ok(())
}
