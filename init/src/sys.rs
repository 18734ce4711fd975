//! The few libc calls std does not wrap. Declared here rather than pulled in from a crate:
//! stage 1 has no dependencies (`/init`, the trampoline, blocked the stop signals already).

use std::ffi::{c_char, c_int};

use crate::stop_signals::stop_mask;

const SIG_BLOCK: c_int = 0;
const SIG_UNBLOCK: c_int = 1;

/// glibc's `sigset_t` (1024 bits).
#[repr(C)]
struct SigSet([u64; 16]);

unsafe extern "C" {
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn getpid() -> c_int;
    #[link_name = "fork"]
    fn libc_fork() -> c_int;
    #[link_name = "_exit"]
    fn libc_exit(code: c_int) -> !;
    fn geteuid() -> u32;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
    -> c_int;
}

/// glibc's `sigset_t` holds signal n at bit n-1 of its first word for n ≤ 64, as the kernel's
/// mask does: the trampoline's mask, widened.
fn stop_set() -> SigSet {
    let mut set = SigSet([0; 16]);
    set.0[0] = stop_mask();
    set
}

/// Blocks the stop signals: while blocked, a stop sent to PID 1 waits instead of being
/// discarded, and the mask survives `execve`.
pub fn block_stop_signals() {
    // SAFETY: a valid set; the old mask is not wanted.
    unsafe { sigprocmask(SIG_BLOCK, &stop_set(), std::ptr::null_mut()) };
}

/// Undoes the entry point's block, for the boots that do not become s6-svscan.
pub fn unblock_stop_signals() {
    // SAFETY: a valid set; the old mask is not wanted.
    unsafe { sigprocmask(SIG_UNBLOCK, &stop_set(), std::ptr::null_mut()) };
}

pub fn pid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { getpid() }
}

/// `fork(2)`: 0 in the child, the child's pid in the parent. `/init` is single-threaded, so
/// the child may go on running ordinary Rust code.
pub fn fork() -> std::io::Result<c_int> {
    // SAFETY: no threads exist, so no lock can be held across the fork.
    match unsafe { libc_fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        pid => Ok(pid),
    }
}

/// `_exit(2)`: leaves without running the parent's exit handlers a second time.
pub fn exit(code: c_int) -> ! {
    // SAFETY: terminates the process.
    unsafe { libc_exit(code) }
}

pub fn euid() -> u32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { geteuid() }
}

/// `execve` with an explicit environment; returns only on failure. std's `Command::exec`
/// would reset the signal mask in the new program, which is exactly what must not happen to
/// s6-svscan (see `main.rs`).
pub fn execve_keeping_mask(path: &str, argv: &[&str], env: &[&str]) -> std::io::Error {
    use std::ffi::CString;
    let cs = |s: &str| CString::new(s).expect("no NUL in a constant");
    let path = cs(path);
    let argv: Vec<CString> = argv.iter().map(|a| cs(a)).collect();
    let env: Vec<CString> = env.iter().map(|e| cs(e)).collect();
    let mut argv_p: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_p.push(std::ptr::null());
    // SAFETY: NUL-terminated strings in NULL-terminated vectors, alive for the call.
    unsafe { execve(path.as_ptr(), argv_p.as_ptr(), env_p.as_ptr()) };
    std::io::Error::last_os_error()
}
