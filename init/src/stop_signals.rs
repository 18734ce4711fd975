// The stop signals: the one definition of the set `/init` blocks with its first instruction,
// stage 1 keeps blocked into s6-svscan, and the preloaded `svscan-handover` records while
// s6-svscan starts. Included by path into crate `svscan-handover` (no dependency between the
// two); `init/stop_signals.h`, which the trampoline includes, is checked against it by
// `stop_signals_h_matches` below.
//
// TERM is `docker stop`, INT is ^C and QUIT asks s6-svscan for a teardown that also kills the
// loggers: each of the three makes s6-svscan tear the tree down. HUP is no stop in s6 2.11
// (s6-svscan rescans and prunes on it), but it is held back too, so that one sent during the
// boot reaches s6-svscan instead of being discarded by the kernel.

/// HUP, INT, QUIT, TERM (Linux numbers, the same on x86-64 and aarch64).
pub const STOP_SIGNALS: [std::ffi::c_int; 4] = [1, 2, 3, 15];

/// The set as the kernel's 64-bit signal mask: bit n-1 for signal n (what the trampoline
/// passes to `rt_sigprocmask`).
pub const fn stop_mask() -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < STOP_SIGNALS.len() {
        mask |= 1 << (STOP_SIGNALS[i] - 1);
        i += 1;
    }
    mask
}

#[cfg(test)]
mod stop_signals_tests {
    use super::*;

    /// The trampoline's mask comes from `init/stop_signals.h`: it must say the same set.
    #[test]
    fn stop_signals_h_matches() {
        let header = include_str!("../stop_signals.h");
        let value = header
            .lines()
            .find_map(|l| l.trim().strip_prefix("#define STOP_SIGNAL_MASK"))
            .map(str::trim)
            .expect("init/stop_signals.h defines STOP_SIGNAL_MASK");
        let parsed = u64::from_str_radix(value.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| panic!("STOP_SIGNAL_MASK {value:?} is not hex: {e}"));
        assert_eq!(
            parsed,
            stop_mask(),
            "init/stop_signals.h says {parsed:#x}, STOP_SIGNALS {STOP_SIGNALS:?} make {:#x}",
            stop_mask()
        );
    }

    #[test]
    fn the_mask_is_hup_int_quit_term() {
        assert_eq!(stop_mask(), 0x4007);
    }
}
