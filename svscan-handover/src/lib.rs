//! Preloaded into s6-svscan by `/init` (`LD_PRELOAD`, for PID 1 only): a stop signal that
//! reaches PID 1 while s6-svscan starts is handed to s6-svscan instead of being lost.
//!
//! The problem. A signal sent to a PID namespace's init while init has no handler for it is
//! discarded by the kernel. `/init` blocks the stop signals (TERM, INT, HUP, QUIT) from its
//! first instruction, so a `docker stop` that arrives during the boot stays pending, and the
//! blocked mask survives the exec of s6-svscan. But s6-svscan's start-up unblocks every signal
//! before it traps the ones it handles (skalibs: `selfpipe_init` calls `sig_blocknone`, then
//! `selfpipe_trapset` blocks the set again and opens a signalfd for it): a stop pending at that
//! point, or arriving in between, meets no handler and is discarded. Docker then waits its
//! whole 10 s grace and SIGKILLs the container. On this project's machines (a FUSE overlay)
//! the exec alone takes 15–35 ms, just when a stop sent right after `docker start` arrives.
//!
//! The fix, in two hooks that never change what s6-svscan does afterwards:
//! 1. a constructor, which runs after the dynamic loader and before s6-svscan's `main`,
//!    installs a handler that records the stop signals (they are still blocked, so nothing is
//!    delivered yet), and removes `LD_PRELOAD` from the environment so that nothing s6-svscan
//!    starts loads this library;
//! 2. `signalfd` is wrapped: once s6-svscan opens its signalfd for a set holding a stop signal
//!    (the set is blocked by then), the handlers go back to the default and every stop signal
//!    recorded so far is sent again to PID 1 — it is now blocked, so it waits in the signalfd,
//!    where s6-svscan reads it as it would any later stop.
//!
//! From `/init`'s block to s6-svscan's signalfd there is thus no moment at which a stop signal
//! is both unblocked and unhandled. (skalibs built without signalfd support would trap with
//! `sigaction` instead and never call the wrapper; Debian's does use signalfd, and the
//! conformance suite's stop-during-boot scenario is what proves it on the image.)

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

/// The signals `/init` blocks (HUP, INT, QUIT, TERM): one definition, in crate `hermes-init`.
#[path = "../../init/src/stop_signals.rs"]
#[allow(dead_code)] // stop_mask is the trampoline's view; this library tests membership
mod stop_signals;
use stop_signals::STOP_SIGNALS;
const SIG_DFL: usize = 0;
const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

/// Stop signals delivered to the recording handler: bit n-1 for signal n.
static RECORDED: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    fn signal(sig: c_int, handler: usize) -> usize;
    fn sigismember(set: *const c_void, sig: c_int) -> c_int;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn getpid() -> c_int;
    fn unsetenv(name: *const c_char) -> c_int;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
}

/// Async-signal-safe: one atomic OR.
extern "C" fn record(sig: c_int) {
    RECORDED.fetch_or(1 << (sig - 1), Ordering::SeqCst);
}

extern "C" fn on_load() {
    // SAFETY: runs single-threaded before main; the strings are NUL-terminated constants.
    unsafe {
        unsetenv(c"LD_PRELOAD".as_ptr());
        for sig in STOP_SIGNALS {
            signal(sig, record as extern "C" fn(c_int) as usize);
        }
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static ON_LOAD: extern "C" fn() = on_load;

type SignalFd = unsafe extern "C" fn(c_int, *const c_void, c_int) -> c_int;

/// The wrapper around libc's `signalfd(2)`; see the module documentation.
///
/// # Safety
/// Same contract as `signalfd(2)`: `mask` points to a valid `sigset_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn signalfd(fd: c_int, mask: *const c_void, flags: c_int) -> c_int {
    // SAFETY: dlsym with a NUL-terminated name; the symbol found is libc's signalfd, whose
    // signature is `SignalFd`.
    let fd = unsafe {
        let next = dlsym(RTLD_NEXT, c"signalfd".as_ptr());
        if next.is_null() {
            return -1;
        }
        std::mem::transmute::<*mut c_void, SignalFd>(next)(fd, mask, flags)
    };
    // SAFETY: mask is the caller's valid sigset_t.
    let traps_stop = STOP_SIGNALS
        .iter()
        .any(|&sig| unsafe { sigismember(mask, sig) } == 1);
    if fd < 0 || !traps_stop {
        return fd;
    }
    // SAFETY: plain signal/kill calls; the stop signals are blocked in this thread now (the
    // set handed to signalfd was blocked first), so a re-sent one waits in the signalfd.
    unsafe {
        for sig in STOP_SIGNALS {
            signal(sig, SIG_DFL);
        }
        let recorded = RECORDED.swap(0, Ordering::SeqCst);
        for sig in STOP_SIGNALS {
            if recorded & (1 << (sig - 1)) != 0 {
                let msg = b"s6-svscan: a stop signal arrived while it was starting: passed on\n";
                write(2, msg.as_ptr().cast(), msg.len());
                kill(getpid(), sig);
            }
        }
    }
    fd
}
