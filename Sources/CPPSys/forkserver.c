#define _GNU_SOURCE
#include "ppsys_fork.h"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

pid_t ppsys_fork(void) { return fork(); }

long ppsys_send_with_fds(int sock, const void *buf, unsigned long len, const int *fds, int nfds) {
    if (nfds < 0 || nfds > 4) { errno = EINVAL; return -1; }
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union { char bytes[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    long n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

long ppsys_recv_with_fds(int sock, void *buf, unsigned long len, int *fds, int maxfds) {
    for (int i = 0; i < maxfds; i++) fds[i] = -1;
    if (maxfds < 0 || maxfds > 4) { errno = EINVAL; return -1; }
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union { char bytes[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                         .msg_controllen = sizeof control.bytes};
    long n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return n;
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *in = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            // More than asked for: closed, never leaked.
            if (got < maxfds) fds[got++] = in[i]; else close(in[i]);
        }
    }
    return n;
}

int ppsys_sigchld_fd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

void ppsys_unblock_all_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
}

pid_t ppsys_reap_any(int *status, struct rusage *usage) {
    pid_t p;
    do { p = wait4(-1, status, WNOHANG, usage); } while (p < 0 && errno == EINTR);
    return p;
}

int ppsys_thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

// glibc calls .init_array functions with main's arguments: the real argv, whose strings are contiguous.
static int saved_argc;
static char **saved_argv;
static void ppsys_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}
__attribute__((section(".init_array"), used)) static void (*ppsys_capture_arguments_entry)(int, char **, char **) =
    ppsys_capture_arguments;

int ppsys_set_arguments(const char *const *args, int count) {
    if (!saved_argv || saved_argc < 1) return -1;
    char *start = saved_argv[0];
    char *end = saved_argv[saved_argc - 1] + strlen(saved_argv[saved_argc - 1]) + 1;
    size_t need = 0;
    for (int i = 0; i < count; i++) need += strlen(args[i]) + 1;
    if (need > (size_t)(end - start)) return -1;
    char *p = start;
    for (int i = 0; i < count; i++) {
        size_t n = strlen(args[i]) + 1;
        memmove(p, args[i], n);
        p += n;
    }
    memset(p, 0, (size_t)(end - p));
    return 0;
}
