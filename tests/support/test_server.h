/*
 * Starting the real lsmkv-server binary for end-to-end tests: on a free
 * loopback port, with a temp (or given) data directory and extra flags, its
 * stderr captured to a file for assertions. Starting waits until the server
 * accepts connections (a readiness check by dialing, bounded by a deadline);
 * stopping sends SIGTERM and returns the exit status; killing sends SIGKILL
 * for crash tests. Link lsmkv_test_server; include after cmocka's
 * prerequisites, like test_support.h.
 */
#ifndef LSMKV_TESTS_TEST_SERVER_H
#define LSMKV_TESTS_TEST_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct test_server {
    pid_t pid;         /* 0 once the process is reaped */
    int port;          /* loopback TCP port it listens on */
    char url[64];      /* "tcp://127.0.0.1:<port>" */
    char *data_dir;    /* malloc'd */
    bool own_data_dir; /* created by test_server_start; removed by test_server_fini */
    char stderr_path[512];
    int exit_status; /* after stop, kill or wait: exit code, or 128 + signal */
} test_server;

/* Where the binary is (the build's lsmkv-server). */
const char *test_server_path(void);

/*
 * Starts lsmkv-server --listen tcp://127.0.0.1:<free port> --data-dir <dir>
 * plus extra_args (NULL-terminated; may be NULL), and waits up to 20 s until
 * it accepts connections. data_dir NULL: a new temp dir that fini removes.
 * If the port was taken meanwhile it retries on another one. Fails the test
 * (printing the server's stderr) if the server does not come up.
 */
void test_server_start(test_server *s, const char *data_dir, const char *const *extra_args);

/* Stops the running server (it must exit 0) and starts it again on the same
 * data directory, on a new port (s->url changes), with extra_args. */
void test_server_restart(test_server *s, const char *const *extra_args);

/* SIGTERM, then waits (up to 30 s, else SIGKILL and fail) and returns the exit status. */
int test_server_stop(test_server *s);

/* SIGKILL and reap: a crash. */
void test_server_kill(test_server *s);

/* Waits up to timeout_ms for the process to exit; returns its status, or -1 if still running. */
int test_server_wait(test_server *s, int timeout_ms);

/* Everything the server wrote to stderr so far (malloc'd, NUL-terminated). */
char *test_server_stderr(const test_server *s);

/* Kills the server if still running, removes the stderr file and an owned data dir. */
void test_server_fini(test_server *s);

/*
 * Runs lsmkv-server with exactly args (NULL-terminated, without argv[0]) to
 * completion: for flags and start-up failures. Returns the exit status; its
 * stderr (malloc'd) goes to *stderr_out if not NULL. Kills it and fails the
 * test if it runs longer than timeout_ms.
 */
int test_server_run(const char *const *args, int timeout_ms, char **stderr_out);

/* A loopback TCP port that was free a moment ago (bound to port 0, read back). */
int test_free_port(void);

/*
 * Waits until url accepts an nng REQ connection: true once it does, false at
 * the deadline or as soon as process pid (if > 0) has exited.
 */
bool test_wait_for_listener(const char *url, pid_t pid, int timeout_ms);

#endif
