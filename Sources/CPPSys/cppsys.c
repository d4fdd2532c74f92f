#define _GNU_SOURCE
#include "cppsys.h"
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <malloc.h>

int ppsys_pipe_cloexec(int fds[2], int nonblock) { return pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)); }

void ppsys_trim_heap(void) { malloc_trim(0); }
int ppsys_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int ppsys_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }
int ppsys_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
short ppsys_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int ppsys_openpt(char *name, size_t len) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0 && (grantpt(fd) != 0 || unlockpt(fd) != 0 || (errno = ptsname_r(fd, name, len)) != 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ppsys_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *dir) {
    return posix_spawn_file_actions_addchdir_np(fa, dir);
}

int ppsys_spawn_addclosefrom(posix_spawn_file_actions_t *fa, int lowfd) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(fa, lowfd);
#else
    DIR *d = opendir("/proc/self/fd");
    if (!d) return errno;
    int rc = 0, self = dirfd(d);
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd >= lowfd && fd != self)
            rc = posix_spawn_file_actions_addclose(fa, fd);
    }
    closedir(d);
    return rc;
#endif
}

extern char **environ;
char **ppsys_environ(void) { return environ; }


int ppsys_child_exited_nowait(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid == pid ? 1 : 0;
}

/* Per signal: the self-pipe's write end plus one (0: not caught), and the action before ours. */
static int catch_fd[65];
static struct sigaction previous[65];

static void ppsys_on_signal(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    int saved = errno, fd = __atomic_load_n(&catch_fd[sig], __ATOMIC_ACQUIRE) - 1;
    unsigned char b = (unsigned char)(sig | (sig == SIGINT && info && info->si_code == SI_KERNEL ? 0x80 : 0));
    if (fd >= 0 && write(fd, &b, 1) < 0) { /* full pipe: the signal is already waiting there */ }
    errno = saved;
}

int ppsys_signal_catch(int sig, int wfd) {
    if (sig <= 0 || sig >= 65) { errno = EINVAL; return -1; }
    __atomic_store_n(&catch_fd[sig], wfd + 1, __ATOMIC_RELEASE);
    struct sigaction sa = { .sa_sigaction = ppsys_on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigemptyset(&sa.sa_mask); /* SA_RESTART: other threads' reads and waits resume; poll still wakes */
    return sigaction(sig, &sa, &previous[sig]);
}

void ppsys_signal_restore(int sig, int ignore) {
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigemptyset(&ign.sa_mask);
    sigaction(sig, ignore ? &ign : &previous[sig], NULL);
    __atomic_store_n(&catch_fd[sig], 0, __ATOMIC_RELEASE);
}

void ppsys_signal_raise_default(int sig) {
    struct sigaction dfl = { .sa_handler = SIG_DFL }, mine;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, &mine);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    sigaction(sig, &mine, NULL);
}

#include <sched.h>
#include <linux/futex.h>

static inline int ppsys_cas(int *w, int expect, int desired) {
    return __atomic_compare_exchange_n(w, &expect, desired, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void ppsys_lock(ppsys_lock_t *l) {
    if (ppsys_cas(&l->word, 0, 1)) return;
    for (int i = 0; i < 64; i++) {
        int w = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
        if (w == 0 && ppsys_cas(&l->word, 0, 1)) return;
        /* Someone already sleeps on it: more threads want it than there are cores (a thousand engine threads woken
           at once). Yielding among them only keeps a preempted holder off the core: sleep at once. */
        if (w == 2) break;
        if (i < 16) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#elif defined(__aarch64__)
            __asm__ volatile("yield");
#endif
        } else {
            sched_yield();
        }
    }
    /* 2 = locked with (possible) waiters. */
    while (__atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE) != 0) {
        syscall(SYS_futex, &l->word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    }
}

void ppsys_unlock(ppsys_lock_t *l) {
    if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) == 2) {
        syscall(SYS_futex, &l->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}
