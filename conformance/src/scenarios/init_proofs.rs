//! Deterministic proofs of the stop-during-boot fix (contract §2.2 point 1), made outside
//! PID 1 so that no timing is involved:
//! - `svscan_handover_passes_on_a_pending_term`: a TERM already pending when s6-svscan starts
//!   kills it without `svscan-handover.so` (skalibs unblocks every signal before it traps
//!   any), and with it preloaded s6-svscan reads it and tears down (its `finish` runs);
//! - `skalibs_imports_signalfd`: the library can only step in because s6-svscan reaches
//!   `signalfd` through the dynamic symbol table (`libskarnet` imports it from libc): a
//!   skalibs that called it internally, or trapped with `sigaction`, would bypass the wrapper.
//!
//! Both run as hermes: any user may start an s6-svscan of their own and preload a library
//! the image ships readable.

use crate::support::SHARED_PRODUCT;
use anyhow::{Context, Result, ensure};

use crate::{Container, ContainerSpec, Ctx};

/// The hand-over library, as stage 1 preloads it into PID 1's s6-svscan.
const HANDOVER: &str = "/opt/hermes/lib/svscan-handover.so";
/// What the library says when it passes a recorded stop on (crate `svscan-handover`).
const PASSED_ON: &str = "a stop signal arrived while it was starting: passed on";
/// The scratch s6-svscan's `finish` exits with this: proof that it ran its teardown.
const FINISH_CODE: i64 = 42;

/// One scratch s6-svscan started with SIGTERM blocked and already pending (`env
/// --block-signal`, then the shell sends it to itself and execs s6-svscan: both survive the
/// exec), `preload` or not. Prints the status it ended with and whether `finish` ran.
fn pending_term_script(preload: bool) -> String {
    let env = if preload {
        format!("env LD_PRELOAD={HANDOVER} ")
    } else {
        String::new()
    };
    format!(
        r#"set -u
d=$(mktemp -d /tmp/handover.XXXXXX) || exit 1
mkdir "$d/scan" "$d/scan/.s6-svscan"
printf '#!/bin/sh\necho ran >%s/finished\nexit {FINISH_CODE}\n' "$d" >"$d/scan/.s6-svscan/finish"
chmod 0755 "$d/scan/.s6-svscan/finish"
timeout -s KILL 10 env --block-signal=TERM sh -c 'kill -TERM $$ && exec {env}/command/s6-svscan "$1"' sh "$d/scan" 2>"$d/err"
echo "status=$?"
if [ -e "$d/finished" ]; then echo finish=ran; else echo finish=none; fi
cat "$d/err" >&2
rm -rf "$d""#
    )
}

struct Outcome {
    status: i64,
    finish_ran: bool,
    stderr: String,
}

async fn scratch_svscan_with_pending_term(h: &Container, preload: bool) -> Result<Outcome> {
    let o = h.sh(&pending_term_script(preload)).await?;
    o.succeeds();
    let status = o
        .stdout_lines()
        .iter()
        .find_map(|l| l.strip_prefix("status="))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status= line\n{o}"))?;
    let finish_ran = o.stdout_lines().contains(&"finish=ran");
    Ok(Outcome {
        status,
        finish_ran,
        stderr: o.stderr.clone(),
    })
}

/// Without the library the pending TERM kills s6-svscan outright (status 143 = 128 + 15, no
/// finish); with it, s6-svscan gets the TERM on its signalfd, tears down and execs its
/// `finish`, whose code it ends with, and the library says it passed the stop on.
pub async fn svscan_handover_passes_on_a_pending_term(ctx: Ctx) -> Result<()> {
    let h = ctx.start(ContainerSpec::default()).await?;
    let bare = scratch_svscan_with_pending_term(&h, false).await?;
    ensure!(
        bare.status == 128 + 15 && !bare.finish_ran,
        "the premise failed: without {HANDOVER}, s6-svscan should die of a TERM pending at its \
         start (status 143, no finish), but it ended with status {} (finish ran: {})\n{}",
        bare.status,
        bare.finish_ran,
        bare.stderr
    );
    let handed = scratch_svscan_with_pending_term(&h, true).await?;
    ensure!(
        handed.status == FINISH_CODE && handed.finish_ran,
        "with {HANDOVER} preloaded, a TERM pending at s6-svscan's start was not handed over: \
         status {} (expected {FINISH_CODE}, from its finish), finish ran: {}\n{}",
        handed.status,
        handed.finish_ran,
        handed.stderr
    );
    ensure!(
        handed.stderr.contains(PASSED_ON),
        "s6-svscan tore down, but the library did not say `{PASSED_ON}`:\n{}",
        handed.stderr
    );
    h.remove().await
}

/// s6-svscan is linked against libskarnet, and libskarnet takes `signalfd` from the dynamic
/// symbol table (undefined there, bound at run time): the preload's wrapper is what it gets.
pub async fn skalibs_imports_signalfd(ctx: Ctx) -> Result<()> {
    let h = ctx.start_shared(SHARED_PRODUCT).await?;
    let svscan = read_file(&h, "/usr/bin/s6-svscan").await?;
    let svscan = elf::Dynamic::parse(&svscan).context("/usr/bin/s6-svscan")?;
    ensure!(
        svscan.interpreter,
        "/usr/bin/s6-svscan is not dynamically linked: LD_PRELOAD cannot reach it"
    );
    let skalibs = svscan
        .needed
        .iter()
        .find(|n| n.starts_with("libskarnet.so"))
        .with_context(|| {
            format!(
                "s6-svscan does not load libskarnet (DT_NEEDED: {:?})",
                svscan.needed
            )
        })?
        .clone();
    let found = h
        .sh(&format!(
            "ls /usr/lib/*-linux-gnu/{skalibs} /lib/*-linux-gnu/{skalibs} 2>/dev/null | head -n 1"
        ))
        .await?;
    found.succeeds();
    let path = found.out().to_string();
    ensure!(
        !path.is_empty(),
        "{skalibs} (s6-svscan's DT_NEEDED) is not in the image"
    );
    let lib = elf::Dynamic::parse(&read_file(&h, &path).await?).with_context(|| path.clone())?;
    ensure!(
        lib.imports.iter().any(|s| s == "signalfd"),
        "{path} does not import signalfd dynamically (undefined symbols: {} of them; \
         signalfd defined or absent), so svscan-handover's wrapper would never be called",
        lib.imports.len()
    );
    ensure!(
        !svscan.defines.iter().any(|s| s == "signalfd"),
        "s6-svscan defines signalfd itself"
    );
    h.remove().await
}

/// A file's bytes, as hermes, through `od` (the exec's output is text).
async fn read_file(h: &Container, path: &str) -> Result<Vec<u8>> {
    let o = h.exec(&["od", "-An", "-v", "-tx1", path]).await?;
    o.succeeds_or(&format!("reading {path}"));
    o.stdout
        .split_ascii_whitespace()
        .map(|b| u8::from_str_radix(b, 16).with_context(|| format!("od gave {b:?}")))
        .collect()
}

/// Just enough of ELF64 (little-endian) to list a program's interpreter, its `DT_NEEDED`
/// libraries and its dynamic symbols, defined and undefined.
mod elf {
    use anyhow::{Result, bail, ensure};

    const SHT_DYNSYM: u32 = 11;
    const SHT_DYNAMIC: u32 = 6;
    const PT_INTERP: u32 = 3;
    const DT_NEEDED: u64 = 1;

    #[derive(Debug, Default)]
    pub struct Dynamic {
        pub interpreter: bool,
        pub needed: Vec<String>,
        /// Undefined dynamic symbols: taken from other objects at run time.
        pub imports: Vec<String>,
        pub defines: Vec<String>,
    }

    fn u16_at(b: &[u8], o: usize) -> Result<u16> {
        Ok(u16::from_le_bytes(
            b.get(o..o + 2).ok_or_else(short)?.try_into()?,
        ))
    }
    fn u32_at(b: &[u8], o: usize) -> Result<u32> {
        Ok(u32::from_le_bytes(
            b.get(o..o + 4).ok_or_else(short)?.try_into()?,
        ))
    }
    fn u64_at(b: &[u8], o: usize) -> Result<u64> {
        Ok(u64::from_le_bytes(
            b.get(o..o + 8).ok_or_else(short)?.try_into()?,
        ))
    }
    fn short() -> anyhow::Error {
        anyhow::anyhow!("truncated ELF file")
    }
    fn c_str(b: &[u8], o: usize) -> Result<String> {
        let rest = b.get(o..).ok_or_else(short)?;
        let end = rest.iter().position(|&c| c == 0).ok_or_else(short)?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    struct Section {
        kind: u32,
        offset: usize,
        size: usize,
        link: usize,
        entsize: usize,
    }

    impl Dynamic {
        pub fn parse(b: &[u8]) -> Result<Dynamic> {
            ensure!(b.get(..4) == Some(b"\x7fELF"), "not an ELF file");
            ensure!(
                b.get(4) == Some(&2) && b.get(5) == Some(&1),
                "not ELF64 little-endian"
            );
            let phoff = u64_at(b, 0x20)? as usize;
            let shoff = u64_at(b, 0x28)? as usize;
            let (phentsize, phnum) = (u16_at(b, 0x36)? as usize, u16_at(b, 0x38)? as usize);
            let (shentsize, shnum) = (u16_at(b, 0x3a)? as usize, u16_at(b, 0x3c)? as usize);
            let mut out = Dynamic::default();
            for i in 0..phnum {
                if u32_at(b, phoff + i * phentsize)? == PT_INTERP {
                    out.interpreter = true;
                }
            }
            let sections = (0..shnum)
                .map(|i| {
                    let s = shoff + i * shentsize;
                    Ok(Section {
                        kind: u32_at(b, s + 4)?,
                        offset: u64_at(b, s + 0x18)? as usize,
                        size: u64_at(b, s + 0x20)? as usize,
                        link: u32_at(b, s + 0x28)? as usize,
                        entsize: u64_at(b, s + 0x38)? as usize,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let strtab = |s: &Section| -> Result<usize> {
                match sections.get(s.link) {
                    Some(t) => Ok(t.offset),
                    None => bail!("section link {} out of range", s.link),
                }
            };
            for s in &sections {
                match s.kind {
                    SHT_DYNSYM if s.entsize > 0 => {
                        let names = strtab(s)?;
                        // Entry 0 is the null symbol.
                        for i in 1..s.size / s.entsize {
                            let e = s.offset + i * s.entsize;
                            let name = c_str(b, names + u32_at(b, e)? as usize)?;
                            let shndx = u16_at(b, e + 6)?;
                            if name.is_empty() {
                                continue;
                            }
                            if shndx == 0 {
                                out.imports.push(name);
                            } else {
                                out.defines.push(name);
                            }
                        }
                    }
                    SHT_DYNAMIC if s.entsize > 0 => {
                        let names = strtab(s)?;
                        for i in 0..s.size / s.entsize {
                            let e = s.offset + i * s.entsize;
                            if u64_at(b, e)? == DT_NEEDED {
                                out.needed
                                    .push(c_str(b, names + u64_at(b, e + 8)? as usize)?);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Ok(out)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The test binary itself: dynamically linked against libc, which it imports from.
        #[test]
        fn reads_this_test_binary() {
            let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
            let d = Dynamic::parse(&exe).unwrap();
            assert!(d.interpreter);
            assert!(
                d.needed.iter().any(|n| n.starts_with("libc.so")),
                "{:?}",
                d.needed
            );
            assert!(
                d.imports.iter().any(|s| s == "malloc" || s == "write"),
                "{:?}",
                d.imports
            );
        }

        #[test]
        fn refuses_what_is_not_elf() {
            assert!(Dynamic::parse(b"#!/bin/sh\n").is_err());
        }
    }
}
