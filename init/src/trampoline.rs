//! How `/init` is built: the recipe for assembling `trampoline.S` (see there for why `/init`
//! is a separate, sub-page program), owned here beside its source. The image pipeline
//! (`conformance::image`) runs the command this returns, with its own deadline.
//!
//! The recipe is per architecture: the source file, and the flags that give a program with no
//! C runtime whose text starts the file.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An architecture `/init` can be assembled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
}

impl Arch {
    /// The architecture of the machine this runs on, if `/init` has a source for it.
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            _ => None,
        }
    }

    /// The assembly source of `/init` for this architecture (in this crate's directory).
    pub fn source(self) -> PathBuf {
        let name = match self {
            Arch::X86_64 => "trampoline.S",
        };
        Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
    }
}

/// The flags that make `/init` what `trampoline.S` needs: no C runtime, static, text at the
/// start of the file (`-n`), and byte-identical from one build to the next.
const CC_FLAGS: &[&str] = &[
    "-nostdlib",
    "-static",
    // Stripped: the symbol table names cc's temporary object file (ccXXXXXX.o), which made
    // every build's /init, and so the image's content hash, different.
    "-s",
    "-Wl,-n",
    "-Wl,--build-id=none",
];

/// The command that assembles `/init` for `arch` into `out`, with the C compiler `cc` (the one
/// the Rust toolchain already needs: `$CC`, else `cc`; a cross compiler for another `arch`).
pub fn assemble_command(arch: Arch, cc: &str, out: &Path) -> Command {
    let mut cmd = Command::new(cc);
    cmd.args(CC_FLAGS).arg("-o").arg(out).arg(arch.source());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_source_exists() {
        if let Some(arch) = Arch::host() {
            assert!(arch.source().is_file(), "{}", arch.source().display());
        }
    }

    #[test]
    fn the_command_names_source_and_output() {
        let cmd = assemble_command(Arch::X86_64, "cc", Path::new("/tmp/x/init"));
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
