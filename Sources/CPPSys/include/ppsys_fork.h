// The fork server's system calls (PPSystem's ForkServer): fork itself (unavailable to Swift), descriptors passed over
// a Unix socket (SCM_RIGHTS: cmsg macros), SIGCHLD as a descriptor. Nothing but PPSystem imports it.
#ifndef PPSYS_FORK_H
#define PPSYS_FORK_H
#include <sys/types.h>
#include <sys/resource.h>

/// fork(2): 0 in the child, its pid in the parent, -1 with errno. Only from a single-threaded process.
pid_t ppsys_fork(void);

/// One message of `len` bytes with `nfds` descriptors (at most 4) on a SOCK_SEQPACKET socket; bytes sent or -1.
long ppsys_send_with_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds);

/// One message into `buf` (at most `len` bytes) and up to `maxfds` (at most 4) descriptors, received close-on-exec
/// into `fds` (the rest set to -1); bytes received, 0 at end, or -1 with errno.
long ppsys_recv_with_fds(int sock, void *buf, unsigned long len, int *fds, int maxfds);

/// Blocks SIGCHLD in this (single-threaded) process and returns a non-blocking signalfd for it, or -1.
int ppsys_sigchld_fd(void);

/// Clears the signal mask (a forked child undoes `ppsys_sigchld_fd`'s block).
void ppsys_unblock_all_signals(void);

/// Reaps one exited child without blocking: its pid (status and usage filled), 0 if none is ready, -1 if none is left.
pid_t ppsys_reap_any(int *status, struct rusage *usage);

/// Rewrites this process's own arguments in place (what `ps` and /proc/PID/cmdline show) with `args`, padded with
/// NULs; 0, or -1 if they do not fit in the original arguments' space.
int ppsys_set_arguments(const char *const *args, int count);

/// Threads in this process (from /proc/self/task), or -1 if it cannot be read.
int ppsys_thread_count(void);
#endif
