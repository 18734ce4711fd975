/*
 * /init, the image's entrypoint: block the stop signals, then exec stage 1.
 *
 * A signal sent to a PID namespace's init while init has no handler for it is discarded by
 * the kernel. From the moment runc's execve of /init passes its point of no return until the
 * signals are blocked, a `docker stop` sent right after `docker start` is lost that way, and
 * Docker waits its whole 10 s grace before SIGKILL. On the FUSE overlay of this project's
 * machines every page of a program is read through FUSE the first time it runs in a
 * container, so that window is as long as the page faults before the block: blocking in a
 * Rust `main` lost 7 stops in 100 under load, and even a first instruction in the Rust
 * binary's text (282 KiB into the file) lost 1 in 180.
 *
 * This program is smaller than a page. The kernel has read that page while loading it, so
 * its first instructions fault in nothing from FUSE, and its first system call (the 7th
 * instruction on x86-64, the 9th on aarch64) blocks SIGHUP, SIGINT, SIGQUIT and SIGTERM
 * (STOP_SIGNAL_MASK, init/stop_signals.h). A blocked signal stays pending, and the
 * mask survives execve into stage 1 (crate hermes-init), which hands the signals on to
 * s6-svscan.
 *
 * One source for x86-64 and aarch64 (the C preprocessor picks the architecture the compiler
 * targets). Built with: cc -nostdlib -static -s -Wl,-n -Wl,--build-id=none -o init trampoline.S
 * (no C runtime, text at the start of the file); for aarch64 with aarch64-linux-gnu-gcc and the
 * same flags (see init/src/trampoline.rs). STAGE1 may be set with -D for tests only.
 */
#include "stop_signals.h"

#ifndef STAGE1
#define STAGE1 "/etc/hermes-s6/stage1"
#endif

        .text
        .globl  _start
_start:
#if defined(__x86_64__)
        /* rt_sigprocmask(SIG_BLOCK, &{HUP,INT,QUIT,TERM}, NULL, 8); the set is written below
           %rsp, which nothing uses yet (the kernel put argc at (%rsp)). */
        movq    $STOP_SIGNAL_MASK, -8(%rsp)
        xorl    %edi, %edi
        leaq    -8(%rsp), %rsi
        xorl    %edx, %edx
        movl    $8, %r10d
        movl    $14, %eax
        syscall

        /* execve(stage1, argv, envp): argv at 8(%rsp), envp after argv's NULL. */
        movq    (%rsp), %rcx
        leaq    8(%rsp), %rsi
        leaq    16(%rsp,%rcx,8), %rdx
        leaq    stage1(%rip), %rdi
        movl    $59, %eax
        syscall

        /* Only reached if the exec failed: say so, exit 111. */
        movl    $2, %edi
        leaq    failed(%rip), %rsi
        movl    $failed_len, %edx
        movl    $1, %eax
        syscall
        movl    $111, %edi
        movl    $60, %eax
        syscall
#elif defined(__aarch64__)
        /* rt_sigprocmask(SIG_BLOCK, &{HUP,INT,QUIT,TERM}, NULL, 8); the set is pushed on the
           stack (sp stays 16-byte aligned), argc is then at [x19]. */
        mov     x19, sp
        mov     x9, #STOP_SIGNAL_MASK
        str     x9, [sp, #-16]!
        mov     x0, #0
        mov     x1, sp
        mov     x2, #0
        mov     x3, #8
        mov     x8, #135
        svc     #0

        /* execve(stage1, argv, envp): argv at [x19, #8], envp after argv's NULL. */
        ldr     x9, [x19]
        add     x1, x19, #8
        add     x2, x1, x9, lsl #3
        add     x2, x2, #8
        adr     x0, stage1
        mov     x8, #221
        svc     #0

        /* Only reached if the exec failed: say so, exit 111. */
        mov     x0, #2
        adr     x1, failed
        mov     x2, #failed_len
        mov     x8, #64
        svc     #0
        mov     x0, #111
        mov     x8, #93
        svc     #0
#else
#error "/init is written for x86-64 and aarch64 only"
#endif

stage1:
        .asciz  STAGE1
failed:
        .ascii  "/init: fatal: cannot exec " STAGE1 "\n"
        .set    failed_len, . - failed

        .section .note.GNU-stack,"",%progbits
