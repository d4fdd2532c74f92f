#define _GNU_SOURCE
#include "cppsys.h"
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

int ppsys_pipe_cloexec(int fds[2], int nonblock) {
    return pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
}

int ppsys_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int ppsys_pidfd_send_signal(int pidfd, int sig) {
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int ppsys_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int ppsys_wifexited(int status) { return WIFEXITED(status); }
int ppsys_wexitstatus(int status) { return WEXITSTATUS(status); }
int ppsys_wifsignaled(int status) { return WIFSIGNALED(status); }
int ppsys_wtermsig(int status) { return WTERMSIG(status); }

short ppsys_spawn_setsid_flag(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0x80;
#endif
}

void ppsys_sigset_empty(sigset_t *set) { sigemptyset(set); }
void ppsys_sigset_fill(sigset_t *set) { sigfillset(set); }

void ppsys_block_all_signals_in_thread(void) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
}

int64_t ppsys_realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ppsys_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ppsys_ptsname(int fd, char *buf, size_t len) { return ptsname_r(fd, buf, len); }

int ppsys_openpt(void) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) != 0 || unlockpt(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ppsys_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *dir) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
    return posix_spawn_file_actions_addchdir_np(fa, dir);
#else
    (void)fa; (void)dir;
    return ENOSYS;
#endif
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

/* Write end of the self-pipe per signal, plus one (0: not caught). */
static int catch_fd[65];

static void ppsys_on_signal(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    int saved = errno;
    int fd = (sig > 0 && sig < 65) ? __atomic_load_n(&catch_fd[sig], __ATOMIC_ACQUIRE) - 1 : -1;
    if (fd >= 0) {
        unsigned char b = (unsigned char)sig;
        if (sig == SIGINT && info && info->si_code == SI_KERNEL) b |= 0x80;
        ssize_t n = write(fd, &b, 1);
        (void)n;
    }
    errno = saved;
}

int ppsys_signal_catch(int sig, int wfd, struct sigaction *old) {
    if (sig <= 0 || sig >= 65) { errno = EINVAL; return -1; }
    __atomic_store_n(&catch_fd[sig], wfd + 1, __ATOMIC_RELEASE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ppsys_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_RESTART; /* other threads' reads and waits resume; poll still wakes */
    return sigaction(sig, &sa, old);
}

int ppsys_signal_restore(int sig, const struct sigaction *act, int ignore) {
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    int rc = sigaction(sig, ignore ? &ign : act, NULL);
    if (sig > 0 && sig < 65) __atomic_store_n(&catch_fd[sig], 0, __ATOMIC_RELEASE);
    return rc;
}

void ppsys_signal_raise_default(int sig) {
    struct sigaction dfl, mine;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
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
        if (__atomic_load_n(&l->word, __ATOMIC_RELAXED) == 0 && ppsys_cas(&l->word, 0, 1)) return;
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
