/*
 * The lsmkv-server under test: started on a free loopback port with its output
 * appended to a log file, ready once it answers a Stats call through the C
 * client; killed with SIGKILL, or stopped with SIGTERM.
 */
#ifndef LSMKV_TOOLS_CRASH_SERVER_H
#define LSMKV_TOOLS_CRASH_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CRASH_SERVER_MAX_ARGS 32

typedef struct crash_server {
    const char *binary;                      /* lsmkv-server */
    const char *data_dir;                    /* --data-dir */
    const char *log_path;                    /* stdout and stderr of every start, appended */
    const char *args[CRASH_SERVER_MAX_ARGS]; /* more flags (--sync ...), NULL-terminated */
    pid_t pid;                               /* 0 when not running */
    char url[64];                            /* tcp://127.0.0.1:PORT of the running server */
} crash_server;

/*
 * Starts the server on a free loopback port and waits (up to timeout_ms) until
 * it answers a Stats call. Retries on another port if the one picked was taken
 * meanwhile. Returns true when it runs; else false with a reason in err.
 */
bool crash_server_start(crash_server *s, int timeout_ms, char *err, size_t err_size);

/* Sends SIGKILL (async-signal-safe: callable from any thread or a signal handler). */
void crash_server_kill(const crash_server *s);

/* Waits for the server to exit and returns its status: the exit code, or 128 +
 * the signal; -1 if it still runs after timeout_ms (it is left running). */
int crash_server_wait(crash_server *s, int timeout_ms);

/* SIGTERM, then waits up to timeout_ms; SIGKILL after that. Returns the status as
 * crash_server_wait does (-1: it had to be killed). */
int crash_server_stop(crash_server *s, int timeout_ms);

#endif
