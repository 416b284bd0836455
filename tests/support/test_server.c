#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_server.h"
#include "test_support.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef LSMKV_SERVER_PATH
#error "LSMKV_SERVER_PATH must name the lsmkv-server binary (set by tests/CMakeLists.txt)"
#endif

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS  30000
#define START_ATTEMPTS   5
#define MAX_ARGS         64

const char *
test_server_path(void)
{
    return LSMKV_SERVER_PATH;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- processes ----------------------------------------------------------------------- */

static int
decode_status(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

/* True if pid has exited (without reaping it). */
static bool
process_exited(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

/* Blocks up to timeout_ms for pid to change state: on its pidfd if the kernel has them. */
static void
wait_for_event(int pidfd, int timeout_ms)
{
    if (timeout_ms <= 0) {
        return;
    }
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        poll(&p, 1, timeout_ms);
    } else {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    return -1;
#endif
}

/* Reaps pid within timeout_ms: its status, or -1 if it is still running. */
static int
wait_pid(pid_t pid, int timeout_ms)
{
    int pidfd = open_pidfd(pid);
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
        if (r < 0 || left <= 0) {
            break;
        }
        wait_for_event(pidfd, pidfd >= 0 || left < 10 ? (int)left : 10);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    return result;
}

/* Spawns the server with args (NULL-terminated), stdout and stderr appended to stderr_path. */
static pid_t
spawn_server(const char *const *args, const char *stderr_path)
{
    const char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = LSMKV_SERVER_PATH;
    for (; args != NULL && *args != NULL; args++) {
        assert_true(argc < MAX_ARGS);
        argv[argc++] = *args;
    }
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, stderr_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawn(&pid, LSMKV_SERVER_PATH, &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        fail_msg("cannot start %s: %s", LSMKV_SERVER_PATH, strerror(rc));
    }
    return pid;
}

static void
make_stderr_file(char *path, size_t size)
{
    const char *base = getenv("LSMKV_TEST_TMPDIR");
    snprintf(path, size, "%s/server-stderr-XXXXXX", base && *base ? base : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        fail_msg("mkstemp %s: %s", path, strerror(errno));
    }
    close(fd);
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    size_t n;
    while ((n = fread(text + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            text = realloc(text, cap);
        }
    }
    fclose(f);
    text[len] = '\0';
    return text;
}

/* ---- readiness ------------------------------------------------------------------------ */

int
test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

bool
test_wait_for_listener(const char *url, pid_t pid, int timeout_ms)
{
    nng_socket sock;
    assert_int_equal(nng_req0_open(&sock), 0);
    int pidfd = pid > 0 ? open_pidfd(pid) : -1;
    int64_t deadline = now_ms() + timeout_ms;
    bool ready = false;
    for (;;) {
        /* A synchronous dial: refused at once while nothing listens. */
        if (nng_dial(sock, url, NULL, 0) == 0) {
            ready = true;
            break;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0 || (pid > 0 && process_exited(pid))) {
            break;
        }
        /* Retry shortly; wake at once if the process exits meanwhile. */
        wait_for_event(pidfd, left < 20 ? (int)left : 20);
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    nng_close(sock);
    return ready;
}

/* ---- the server's lifecycle ------------------------------------------------------------- */

/* Starts the server on a fresh port; retries when the port was taken meanwhile. */
static void
server_launch(test_server *s, const char *const *extra_args)
{
    for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        s->port = test_free_port();
        snprintf(s->url, sizeof(s->url), "tcp://127.0.0.1:%d", s->port);
        const char *args[MAX_ARGS + 1];
        int n = 0;
        args[n++] = "--listen";
        args[n++] = s->url;
        args[n++] = "--data-dir";
        args[n++] = s->data_dir;
        for (; extra_args != NULL && *extra_args != NULL; extra_args++) {
            assert_true(n < MAX_ARGS);
            args[n++] = *extra_args;
        }
        args[n] = NULL;
        s->pid = spawn_server(args, s->stderr_path);
        if (test_wait_for_listener(s->url, s->pid, START_TIMEOUT_MS)) {
            return;
        }
        int status = wait_pid(s->pid, 5000);
        char *log = test_server_stderr(s);
        if (status < 0) {
            test_server_kill(s);
            fail_msg("lsmkv-server did not accept connections within %d ms; stderr:\n%s",
                     START_TIMEOUT_MS, log);
        }
        s->pid = 0;
        s->exit_status = status;
        if (strstr(log, "already in use") == NULL) {
            fail_msg("lsmkv-server exited with status %d at start-up; stderr:\n%s", status, log);
        }
        free(log); /* someone took the port between our check and the server's bind */
    }
    fail_msg("lsmkv-server found no free port in %d attempts", START_ATTEMPTS);
}

void
test_server_start(test_server *s, const char *data_dir, const char *const *extra_args)
{
    memset(s, 0, sizeof(*s));
    if (data_dir != NULL) {
        s->data_dir = strdup(data_dir);
    } else {
        s->data_dir = test_make_temp_dir("server");
        s->own_data_dir = true;
    }
    make_stderr_file(s->stderr_path, sizeof(s->stderr_path));
    server_launch(s, extra_args);
}

void
test_server_restart(test_server *s, const char *const *extra_args)
{
    int status = test_server_stop(s);
    if (status != 0) {
        char *log = test_server_stderr(s);
        fail_msg("lsmkv-server exited with status %d on SIGTERM; stderr:\n%s", status, log);
    }
    server_launch(s, extra_args);
}

int
test_server_wait(test_server *s, int timeout_ms)
{
    if (s->pid == 0) {
        return s->exit_status;
    }
    int status = wait_pid(s->pid, timeout_ms);
    if (status >= 0) {
        s->pid = 0;
        s->exit_status = status;
    }
    return status;
}

int
test_server_stop(test_server *s)
{
    if (s->pid == 0) {
        return s->exit_status;
    }
    kill(s->pid, SIGTERM);
    int status = test_server_wait(s, STOP_TIMEOUT_MS);
    if (status < 0) {
        test_server_kill(s);
        fail_msg("lsmkv-server did not exit within %d ms of SIGTERM", STOP_TIMEOUT_MS);
    }
    return status;
}

void
test_server_kill(test_server *s)
{
    if (s->pid == 0) {
        return;
    }
    kill(s->pid, SIGKILL);
    int status = 0;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
    }
    s->pid = 0;
    s->exit_status = decode_status(status);
}

char *
test_server_stderr(const test_server *s)
{
    return read_file(s->stderr_path);
}

void
test_server_fini(test_server *s)
{
    test_server_kill(s);
    unlink(s->stderr_path);
    if (s->own_data_dir) {
        test_remove_dir(s->data_dir);
    } else {
        free(s->data_dir);
    }
    s->data_dir = NULL;
}

int
test_server_run(const char *const *args, int timeout_ms, char **stderr_out)
{
    char path[512];
    make_stderr_file(path, sizeof(path));
    pid_t pid = spawn_server(args, path);
    int status = wait_pid(pid, timeout_ms);
    if (status < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        unlink(path);
        fail_msg("lsmkv-server did not exit within %d ms", timeout_ms);
    }
    if (stderr_out != NULL) {
        *stderr_out = read_file(path);
    }
    unlink(path);
    return status;
}
