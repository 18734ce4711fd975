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
 * its first instruction faults in nothing from FUSE, and that instruction blocks SIGTERM,
 * SIGINT, SIGHUP and SIGQUIT. A blocked signal stays pending, and the mask survives execve
 * into stage 1 (crate hermes-init), which hands the signals on to s6-svscan.
 *
 * Built with: cc -nostdlib -static -s -Wl,-n -Wl,--build-id=none -o init trampoline.S
 * (no C runtime, text at the start of the file). x86-64 Linux only.
 */
        .text
        .globl  _start
_start:
        /* rt_sigprocmask(SIG_BLOCK, &{HUP,INT,QUIT,TERM}, NULL, 8); the set is written below
           %rsp, which nothing uses yet (the kernel put argc at (%rsp)). */
        movq    $0x4007, -8(%rsp)
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

stage1:
        .asciz  "/etc/hermes-s6/stage1"
failed:
        .ascii  "/init: fatal: cannot exec /etc/hermes-s6/stage1\n"
        .set    failed_len, . - failed

        .section .note.GNU-stack,"",@progbits
