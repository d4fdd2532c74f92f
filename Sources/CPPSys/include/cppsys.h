// PPSystem's private C helper: what Glibc does not export to Swift (GNU names, macros, variadics) and the signal
// handler, which must be plain C. Nothing but PPSystem imports it.
#ifndef CPPSYS_H
#define CPPSYS_H
#include <sys/types.h>
#include <spawn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/// pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)); 0 or -1 with errno.
int ppsys_pipe_cloexec(int fds[2], int nonblock);

/// malloc_trim(0): freed heap goes back to the system (malloc.h is not in Swift's Glibc module).
void ppsys_trim_heap(void);
/// pidfd_open(2) and pidfd_send_signal(2) through syscall(2); -1 with errno on failure.
int ppsys_pidfd_open(pid_t pid);
int ppsys_pidfd_send_signal(int pidfd, int sig);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int ppsys_eventfd(void);
/// POSIX_SPAWN_SETSID (a GNU extension Glibc hides from Swift).
short ppsys_spawn_setsid_flag(void);
/// A new pty master (close-on-exec, granted, unlocked) with its slave's name in `name`; -1 with errno.
int ppsys_openpt(char *name, size_t len);
/// posix_spawn_file_actions_addchdir_np: the child changes to `dir` before exec; 0 or an errno.
int ppsys_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *dir);
/// The child closes every descriptor >= lowfd: posix_spawn_file_actions_addclosefrom_np, or (Glibc before 2.34)
/// one close action per descriptor listed in /proc/self/fd; 0 or an errno.
int ppsys_spawn_addclosefrom(posix_spawn_file_actions_t *fa, int lowfd);
/// The process environment (`environ`, which Swift 6 treats as unsafe shared state).
char **ppsys_environ(void);
/// 1 if child `pid` has exited (not reaped: waitid WNOWAIT), 0 if still running, -1 with errno.
int ppsys_child_exited_nowait(pid_t pid);

/// Catches `sig` with a handler that only writes one byte to `wfd` (the signal number, | 0x80 for a SIGINT the
/// terminal sent): write(2) is async-signal-safe, nothing else runs there. The previous action is kept.
int ppsys_signal_catch(int sig, int wfd);
/// Puts the previous action back for `sig` (ignore != 0: SIG_IGN instead) and stops writing for it.
void ppsys_signal_restore(int sig, int ignore);
/// Sets the default action for `sig`, unblocks it and raises it; then puts the previous action back
/// (for SIGTSTP this returns once the process is continued).
void ppsys_signal_raise_default(int sig);

/// A lock for hot state shared by more threads than cores: spin briefly, then sched_yield (so a preempted holder
/// gets the core back), then park on a futex. 0 = free.
typedef struct { int word; } ppsys_lock_t;
void ppsys_lock(ppsys_lock_t *l);
void ppsys_unlock(ppsys_lock_t *l);

// The fork server's calls.
#include "ppsys_fork.h"

#endif
