#include "crash_process.h"

#include "lsmkv/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define START_ATTEMPTS 5
#define PROBE_MS       250 /* each readiness probe's deadline */

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

/* Reaps pid within timeout_ms: its status, or -1 if it still runs. Polls a pidfd
 * (woken when the process exits) where the kernel has them. */
static int
wait_pid(pid_t pid, int timeout_ms)
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

/* Spawns argv with stdout and stderr appended to out_path; 0 on failure. */
static pid_t
spawn(const char *const *argv, const char *out_path)
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

/* A loopback TCP port that was free a moment ago; 0 if none could be had. */
static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int port = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
}

static long
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* True if the log, from offset on, says the address was in use. */
static bool
log_says_address_in_use(const char *path, long offset)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    fseek(f, offset, SEEK_SET);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = strstr(line, "already in use") != NULL;
    }
    fclose(f);
    return found;
}

/* Waits until the server at s->url answers Stats: 1 ready, 0 it exited, -1 timed out. */
static int
wait_ready(crash_server *s, int timeout_ms)
{
    lsmkv_client_options o;
    lsmkv_client_options_init(&o);
    o.timeout_ms = PROBE_MS;
    lsmkv_client *c;
    if (lsmkv_client_open(s->url, &o, &c, NULL) != LSMKV_CLIENT_OK) {
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    int ready = -1;
    while (now_ms() < deadline) {
        lsmkv_client_stats stats;
        if (lsmkv_client_get_stats(c, &stats, NULL) == LSMKV_CLIENT_OK) {
            lsmkv_client_stats_fini(&stats);
            ready = 1;
            break;
        }
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            ready = 0;
            break;
        }
    }
    lsmkv_client_close(c);
    return ready;
}

bool
crash_server_start(crash_server *s, int timeout_ms, char *err, size_t err_size)
{
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        int port = free_port();
        if (port == 0) {
            snprintf(err, err_size, "no free loopback port: %s", strerror(errno));
            return false;
        }
        snprintf(s->url, sizeof(s->url), "tcp://127.0.0.1:%d", port);
        const char *argv[CRASH_SERVER_MAX_ARGS + 6] = {s->binary, "--listen", s->url, "--data-dir",
                                                       s->data_dir};
        int argc = 5;
        for (int i = 0; i < CRASH_SERVER_MAX_ARGS && s->args[i] != NULL; i++) {
            argv[argc++] = s->args[i];
        }
        argv[argc] = NULL;
        long log_offset = file_size(s->log_path);
        s->pid = spawn(argv, s->log_path);
        if (s->pid == 0) {
            snprintf(err, err_size, "cannot run %s", s->binary);
            return false;
        }
        int ready = wait_ready(s, timeout_ms);
        if (ready == 1) {
            return true;
        }
        if (ready < 0) {
            crash_server_kill(s);
            crash_server_wait(s, 10000);
            snprintf(err, err_size, "%s did not answer within %d ms (log: %s)", s->binary,
                     timeout_ms, s->log_path);
            return false;
        }
        if (!log_says_address_in_use(s->log_path, log_offset)) {
            snprintf(err, err_size, "%s exited at start-up (log: %s)", s->binary, s->log_path);
            return false;
        }
        /* Someone took the port between our check and the server's bind: again. */
    }
    snprintf(err, err_size, "no free port in %d attempts", START_ATTEMPTS);
    return false;
}

void
crash_server_kill(const crash_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
    }
}

int
crash_server_wait(crash_server *s, int timeout_ms)
{
    if (s->pid == 0) {
        return -1;
    }
    int status = wait_pid(s->pid, timeout_ms);
    if (status >= 0) {
        s->pid = 0;
    }
    return status;
}

int
crash_server_stop(crash_server *s, int timeout_ms)
{
    if (s->pid == 0) {
        return -1;
    }
    kill(s->pid, SIGTERM);
    int status = crash_server_wait(s, timeout_ms);
    if (status < 0) {
        crash_server_kill(s);
        crash_server_wait(s, 10000);
    }
    return status;
}

int
crash_run(const char *const *argv, const char *out_path, int timeout_ms)
{
    pid_t pid = spawn(argv, out_path);
    if (pid == 0) {
        return -1;
    }
    int status = wait_pid(pid, timeout_ms);
    if (status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return status;
}

void
crash_print_tail(const char *path, size_t max_bytes)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    long size = file_size(path);
    if ((size_t)size > max_bytes) {
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
