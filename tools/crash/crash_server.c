#include "crash_server.h"

#include "crash_process.h"

#include "lsmkv/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_ATTEMPTS 5
#define PROBE_MS       250 /* each readiness probe's deadline */

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

/* Waits until the server at s->url answers Stats: 1 ready, 0 it exited, -1 timed out.
 * A probe waits for the connection at most PROBE_MS, so timeout_ms / PROBE_MS
 * probes last at most about timeout_ms. */
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
    int ready = -1;
    for (int probe = 0; probe <= timeout_ms / PROBE_MS && ready < 0; probe++) {
        lsmkv_client_stats stats;
        int status;
        if (lsmkv_client_get_stats(c, &stats, NULL) == LSMKV_CLIENT_OK) {
            lsmkv_client_stats_fini(&stats);
            ready = 1;
        } else if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            ready = 0;
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
        s->pid = crash_process_spawn(argv, s->log_path);
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
    int status = crash_process_wait(s->pid, timeout_ms);
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
