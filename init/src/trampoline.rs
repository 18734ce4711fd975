//! `/init` from `init/trampoline.S`, for a target architecture: the one source holds x86-64
//! and aarch64, and the C compiler for the target picks its half. No C runtime, text at the
//! start of the file, smaller than a page (see `trampoline.S` for why).
//!
//! A library beside the `stage1` binary so that whatever builds the image, and the tests in
//! `tests/trampoline.rs`, assemble `/init` the same way.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The architectures `trampoline.S` is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture this program was built for, if `trampoline.S` has it.
    pub fn host() -> Option<Arch> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == std::env::consts::ARCH)
    }

    /// Rust's name for it (`std::env::consts::ARCH`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// ELF `e_machine` of a program for it.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Aarch64 => 183,
        }
    }

    /// The C compiler that targets it: `$CC` (else `cc`) for the host; otherwise
    /// `$CC_<arch>` (else Debian's cross compiler, `<arch>-linux-gnu-gcc`).
    pub fn cc(self) -> String {
        let var = if Arch::host() == Some(self) {
            "CC".to_string()
        } else {
            format!("CC_{}", self.name())
        };
        std::env::var(var).unwrap_or_else(|_| {
            if Arch::host() == Some(self) {
                "cc".into()
            } else {
                format!("{}-linux-gnu-gcc", self.name())
            }
        })
    }
}

/// `init/trampoline.S`.
pub fn source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("trampoline.S")
}

/// The command that assembles `/init` for `arch` into `out` with `arch`'s C compiler
/// (`Arch::cc`). `stage1`: the program it execs instead of `/etc/hermes-s6/stage1` (tests
/// only; `None` for the image). The image pipeline runs it under its own deadline.
pub fn assemble_command(arch: Arch, out: &Path, stage1: Option<&str>) -> Command {
    let mut cmd = Command::new(arch.cc());
    cmd.args([
        "-nostdlib",
        "-static",
        // Stripped: the symbol table names cc's temporary object file (ccXXXXXX.o), which
        // made every build's /init, and so the image's content hash, different.
        "-s",
        "-Wl,-n",
        "-Wl,--build-id=none",
    ]);
    if let Some(path) = stage1 {
        cmd.arg(format!("-DSTAGE1=\"{path}\""));
    }
    cmd.arg("-o").arg(out).arg(source());
    cmd
}

/// Assembles `/init` for `arch` into `out` (`assemble_command`, run here).
pub fn assemble(arch: Arch, out: &Path, stage1: Option<&str>) -> io::Result<()> {
    let cc = arch.cc();
    let status = assemble_command(arch, out, stage1).status().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("running {cc} to assemble /init for {}: {e}", arch.name()),
        )
    })?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "{cc} could not assemble {} for {} ({status})",
            source().display(),
            arch.name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_names_source_and_output() {
        let cmd = assemble_command(Arch::X86_64, Path::new("/tmp/x/init"), None);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"-nostdlib".to_string()), "{args:?}");
        let o = args.iter().position(|a| a == "-o").expect("-o given");
        assert_eq!(args[o + 1], "/tmp/x/init");
        assert!(
            args.last().is_some_and(|a| a.ends_with("trampoline.S")),
            "{args:?}"
        );
    }
}
