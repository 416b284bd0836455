#include "crash_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
decode_status(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

int
crash_process_wait(pid_t pid, int timeout_ms)
{
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    int pidfd = -1;
#endif
    int64_t deadline = now_ms() + timeout_ms;
    int result = -1;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            result = decode_status(status);
            break;
        }
        int64_t left = deadline - now_ms();
        if ((r < 0 && errno != EINTR) || left <= 0) {
            break;
        }
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            poll(&p, 1, (int)left);
        } else {
            struct timespec ts = {0, 10 * 1000000L}; /* no pidfd: poll every 10 ms */
            nanosleep(&ts, NULL);
        }
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    return result;
}

pid_t
crash_process_spawn(const char *const *argv, const char *out_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        fprintf(stderr, "lsmkv-crash: cannot run %s: %s\n", argv[0], strerror(rc));
        return 0;
    }
    return pid;
}

int
crash_process_run(const char *const *argv, const char *out_path, int timeout_ms)
{
    pid_t pid = crash_process_spawn(argv, out_path);
    if (pid == 0) {
        return -1;
    }
    int status = crash_process_wait(pid, timeout_ms);
    if (status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return status;
}

void
crash_process_print_tail(const char *path, size_t max_bytes)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size > 0 && (size_t)size > max_bytes) {
        fseek(f, size - (long)max_bytes, SEEK_SET);
        int c;
        while ((c = fgetc(f)) != EOF && c != '\n') {
        } /* start at a line */
    }
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
        fprintf(stderr, "    %s", line);
    }
    fclose(f);
}
