//! `/init` (`trampoline.S`) assembled and run for each architecture: it must block exactly the
//! stop signals (HUP, INT, QUIT, TERM) and exec its target with its own argv, and stay smaller
//! than a page. The target here is a probe that prints its blocked signals and its argv.
//!
//! The host's architecture runs natively. aarch64 on an x86-64 host needs Debian's cross
//! compiler and user-mode emulator (`apt-get install gcc-aarch64-linux-gnu
//! libc6-dev-arm64-cross qemu-user`), so those tests are ignored by default; run them with
//! `cargo test -p hermes-init --test trampoline -- --include-ignored`. Under qemu-user an
//! exec of an aarch64 program is handed to the host kernel, which cannot run it, so the
//! trampoline's target there is `qemu-aarch64` itself, which then runs the aarch64 probe: the
//! mask the emulated trampoline set crosses a real `execve` on its way to the probe.

use std::path::{Path, PathBuf};
use std::process::Command;

use hermes_init::{Arch, assemble};

const PROBE_C: &str = r#"
#include <signal.h>
#include <stdio.h>
int main(int argc, char **argv) {
    sigset_t s;
    sigprocmask(SIG_BLOCK, 0, &s);
    printf("blocked:");
    for (int i = 1; i < 65; i++) if (sigismember(&s, i) == 1) printf(" %d", i);
    printf("\nargv:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    return 0;
}
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The probe, compiled for `arch` (static: qemu-user runs it without an aarch64 libc).
fn probe(arch: Arch, dir: &Path) -> PathBuf {
    let src = dir.join("probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let out = dir.join("probe");
    let (code, _, err) = run(Command::new(arch.cc())
        .args(["-static", "-o"])
        .arg(&out)
        .arg(&src));
    assert_eq!(code, 0, "{} could not build the probe: {err}", arch.cc());
    out
}

/// The ELF header says `arch`, and the whole program fits in one page.
fn check_elf(arch: Arch, init: &Path) {
    let bytes = std::fs::read(init).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        init.display()
    );
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    assert_eq!(
        machine,
        arch.elf_machine(),
        "e_machine of {}",
        init.display()
    );
    assert!(
        bytes.len() < 4096,
        "/init for {} is {} bytes: it must stay smaller than a page",
        arch.name(),
        bytes.len()
    );
}

const EXPECTED_BLOCKED: &str = "blocked: 1 2 3 15";

#[test]
fn one_source_holds_every_architecture() {
    let src = std::fs::read_to_string(hermes_init::source()).unwrap();
    for arch in Arch::ALL {
        assert!(
            src.contains(&format!("defined(__{}__)", arch.name())),
            "trampoline.S has no {} part",
            arch.name()
        );
    }
}

#[test]
fn host_trampoline_blocks_the_stop_signals_and_execs_its_target() {
    let arch = Arch::host().expect("the host is x86-64 or aarch64");
    let dir = scratch("trampoline-host");
    let probe = probe(arch, &dir);
    let init = dir.join("init");
    assemble(arch, &init, Some(probe.to_str().unwrap())).unwrap();
    check_elf(arch, &init);
    let (code, out, err) = run(Command::new(&init).args(["x", "y"]));
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out,
        format!("{EXPECTED_BLOCKED}\nargv: {} x y\n", init.display())
    );
    // The control: the probe run directly has nothing blocked.
    let (_, direct, _) = run(&mut Command::new(&probe));
    assert!(direct.starts_with("blocked:\n"), "{direct}");
}

#[test]
fn host_trampoline_says_why_when_stage1_is_missing() {
    let arch = Arch::host().expect("the host is x86-64 or aarch64");
    let dir = scratch("trampoline-missing");
    let init = dir.join("init");
    let missing = dir.join("no-such-stage1");
    assemble(arch, &init, Some(missing.to_str().unwrap())).unwrap();
    let (code, _, err) = run(&mut Command::new(&init));
    assert_eq!(code, 111);
    assert_eq!(
        err,
        format!("/init: fatal: cannot exec {}\n", missing.display())
    );
}

#[test]
fn the_image_trampoline_is_the_one_the_source_gives() {
    let arch = Arch::host().expect("the host is x86-64 or aarch64");
    let dir = scratch("trampoline-image");
    let init = dir.join("init");
    assemble(arch, &init, None).unwrap();
    check_elf(arch, &init);
    let bytes = std::fs::read(&init).unwrap();
    let stage1 = b"/etc/hermes-s6/stage1\0";
    assert!(
        bytes.windows(stage1.len()).any(|w| w == stage1),
        "the image's /init does not exec /etc/hermes-s6/stage1"
    );
}

#[test]
#[ignore = "needs gcc-aarch64-linux-gnu and libc6-dev-arm64-cross on an x86-64 host"]
fn aarch64_trampoline_assembles_smaller_than_a_page() {
    let dir = scratch("trampoline-aarch64-image");
    let init = dir.join("init");
    assemble(Arch::Aarch64, &init, None).unwrap();
    check_elf(Arch::Aarch64, &init);
}

#[test]
#[ignore = "needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user on an x86-64 host"]
fn aarch64_trampoline_blocks_the_stop_signals_and_execs_its_target_under_qemu() {
    let arch = Arch::Aarch64;
    let dir = scratch("trampoline-aarch64");
    let probe = probe(arch, &dir);
    let qemu = ["/usr/bin/qemu-aarch64", "/usr/bin/qemu-aarch64-static"]
        .into_iter()
        .find(|q| Path::new(q).exists())
        .expect("qemu-aarch64 (Debian: qemu-user or qemu-user-static)");
    let init = dir.join("init");
    assemble(arch, &init, Some(qemu)).unwrap();
    check_elf(arch, &init);
    let (code, out, err) = run(Command::new(qemu).arg(&init).arg(&probe).args(["x", "y"]));
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out,
        format!("{EXPECTED_BLOCKED}\nargv: {} x y\n", probe.display())
    );
    let (_, direct, _) = run(Command::new(qemu).arg(&probe));
    assert!(direct.starts_with("blocked:\n"), "{direct}");
}
