/*
 * The real lsmkv-cli binary against the real lsmkv-server: every command
 * (scan, batch and mget included), exit codes (0, 1 absent, 2 error), raw and binary values through
 * stdin and
 * --hex, --json output checked by a JSON parser, the prompt fed by a pipe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lsmkv/client.h"
#include "test_server.h"
#include "test_support.h"

#ifndef LSMKV_CLI_PATH
#error "LSMKV_CLI_PATH must name the lsmkv-cli binary (set by tests/CMakeLists.txt)"
#endif

#define PYTHON "/usr/bin/python3"

extern char **environ;

/* ---- running a program -------------------------------------------------------------------- */

typedef struct buf {
    char *data; /* NUL-terminated after len */
    size_t len;
} buf;

typedef struct proc {
    int status; /* exit code, or 128 + signal */
    buf out;
    buf err;
} proc;

static void
buf_read(int fd, buf *b, bool *open)
{
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) {
        *open = false;
        return;
    }
    b->data = realloc(b->data, b->len + (size_t)n + 1);
    assert_non_null(b->data);
    memcpy(b->data + b->len, chunk, (size_t)n);
    b->len += (size_t)n;
    b->data[b->len] = '\0';
}

/* The environment plus `extra` ("NAME=value", may be NULL). */
static char **
make_env(const char *extra)
{
    size_t n = 0;
    while (environ[n] != NULL) {
        n++;
    }
    char **env = calloc(n + 2, sizeof(*env));
    assert_non_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LSMKV_URL=", 10) != 0) {
            env[k++] = environ[i];
        }
    }
    if (extra != NULL) {
        env[k++] = (char *)extra;
    }
    return env;
}

/* Starts argv with pipes for stdin, stdout and stderr: fds = {in (write end), out, err}. */
static pid_t
spawn_piped(const char *const *argv, const char *env_extra, int fds[3])
{
    int pin[2], pout[2], perr[2];
    assert_int_equal(pipe(pin), 0);
    assert_int_equal(pipe(pout), 0);
    assert_int_equal(pipe(perr), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pin[0], 0);
    posix_spawn_file_actions_adddup2(&actions, pout[1], 1);
    posix_spawn_file_actions_adddup2(&actions, perr[1], 2);
    int all[] = {pin[0], pin[1], pout[0], pout[1], perr[0], perr[1]};
    for (int i = 0; i < 6; i++) {
        posix_spawn_file_actions_addclose(&actions, all[i]);
    }
    char **env = make_env(env_extra);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &actions, NULL, (char *const *)argv, env), 0);
    free(env);
    posix_spawn_file_actions_destroy(&actions);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    fds[0] = pin[1];
    fds[1] = pout[0];
    fds[2] = perr[0];
    return pid;
}

/*
 * Runs argv with `in` on its stdin; collects stdout, stderr and the exit
 * status. Input and output are pumped together, so neither side can block the
 * other whatever their sizes.
 */
static void
run_program(const char *const *argv, const char *env_extra, const void *in, size_t in_len, proc *p)
{
    memset(p, 0, sizeof(*p));
    int fds[3];
    pid_t pid = spawn_piped(argv, env_extra, fds);
    size_t written = 0;
    bool open[3] = {in_len > 0, true, true};
    if (!open[0]) {
        close(fds[0]);
    }
    while (open[0] || open[1] || open[2]) {
        struct pollfd pfd[3];
        for (int i = 0; i < 3; i++) {
            pfd[i] = (struct pollfd){.fd = open[i] ? fds[i] : -1, .events = i ? POLLIN : POLLOUT};
        }
        if (poll(pfd, 3, -1) < 0) {
            assert_int_equal(errno, EINTR);
            continue;
        }
        if (open[0] && pfd[0].revents) {
            ssize_t n = write(fds[0], (const char *)in + written, in_len - written);
            written += n > 0 ? (size_t)n : 0;
            if ((n < 0 && errno != EAGAIN) || written == in_len) {
                close(fds[0]);
                open[0] = false;
            }
        }
        for (int i = 1; i < 3; i++) {
            if (open[i] && pfd[i].revents) {
                buf_read(fds[i], i == 1 ? &p->out : &p->err, &open[i]);
            }
        }
    }
    close(fds[1]);
    close(fds[2]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        assert_int_equal(errno, EINTR);
    }
    p->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    p->out.data = p->out.data ? p->out.data : calloc(1, 1);
    p->err.data = p->err.data ? p->err.data : calloc(1, 1);
}

static void
proc_free(proc *p)
{
    free(p->out.data);
    free(p->err.data);
}

/* lsmkv-cli -a URL args... (NULL-terminated), with `in` on stdin. */
static void
run_cli(const char *url, const void *in, size_t in_len, proc *p, ...)
{
    const char *argv[32] = {LSMKV_CLI_PATH, "-a", url};
    int n = 3;
    va_list ap;
    va_start(ap, p);
    const char *arg;
    while ((arg = va_arg(ap, const char *)) != NULL) {
        assert_true(n < 31);
        argv[n++] = arg;
    }
    va_end(ap);
    argv[n] = NULL;
    run_program(argv, NULL, in, in_len, p);
}

static void
expect_status(const proc *p, int status)
{
    if (p->status != status) {
        fail_msg("lsmkv-cli exited %d, not %d; stdout:\n%s\nstderr:\n%s", p->status, status,
                 p->out.data, p->err.data);
    }
}

/* Whether text parses as JSON (python3's json.tool); true when python3 is missing. */
static bool
is_json(const buf *text)
{
    if (access(PYTHON, X_OK) != 0) {
        return true;
    }
    const char *argv[] = {PYTHON, "-m", "json.tool", NULL};
    proc p;
    run_program(argv, NULL, text->data, text->len, &p);
    bool ok = p.status == 0;
    if (!ok) {
        fprintf(stderr, "not JSON (%s): %s\n", p.err.data, text->data);
    }
    proc_free(&p);
    return ok;
}

/* ---- tests -------------------------------------------------------------------------------------
 */

static void
test_put_get_delete_and_exit_codes(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    proc p;

    run_cli(s.url, NULL, 0, &p, "put", "greeting", "hello world", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "OK\n");
    proc_free(&p);

    /* stdout is a pipe: the raw value, no newline */
    run_cli(s.url, NULL, 0, &p, "get", "greeting", NULL);
    expect_status(&p, 0);
    assert_int_equal(p.out.len, 11);
    assert_memory_equal(p.out.data, "hello world", 11);
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "get", "nothing", NULL);
    expect_status(&p, 1);
    assert_int_equal(p.out.len, 0);
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "delete", "--sync=always", "greeting", NULL);
    expect_status(&p, 0);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "get", "greeting", NULL);
    expect_status(&p, 1);
    proc_free(&p);

    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_flush_compact_stats_and_errors(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    proc p;
    run_cli(s.url, NULL, 0, &p, "put", "--sync=none", "k2", "v2", NULL);
    expect_status(&p, 0);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "flush", NULL);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "table "));
    assert_non_null(strstr(p.out.data, "level 0"));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "flush", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "(nothing to flush)\n");
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "compact", NULL);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "compacted 1 tables"));
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "stats", NULL);
    expect_status(&p, 0);
    static const char *const rows[] = {"memtable",  "sstables", "level", "target", "operations",
                                       "write amp", "stalls",   "cache", "server", "up "};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (strstr(p.out.data, rows[i]) == NULL) {
            fail_msg("'%s' missing from stats:\n%s", rows[i], p.out.data);
        }
    }
    proc_free(&p);

    /* Errors: exit 2 with the server's message. */
    run_cli(s.url, NULL, 0, &p, "put", "", "v", NULL);
    expect_status(&p, 2);
    assert_non_null(strstr(p.err.data, "(error) INVALID_ARGUMENT: the key is empty"));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "put", "onlykey", NULL);
    expect_status(&p, 2);
    proc_free(&p);

    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_json_output_parses(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    proc p;
    run_cli(s.url, NULL, 0, &p, "--json", "put", "k", "v", NULL);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "\"sequence\":"));
    assert_true(is_json(&p.out));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "flush", NULL);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "\"min_key\":\"k\""));
    assert_true(is_json(&p.out));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "get", "k", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "{\"found\":true,\"value\":\"v\",\"value_hex\":\"76\"}\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "compact", NULL);
    expect_status(&p, 0);
    assert_true(is_json(&p.out));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "stats", NULL);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "\"levels\":["));
    assert_non_null(strstr(p.out.data, "\"server_version\":\""));
    assert_non_null(strstr(p.out.data, "\"puts\":1,"));
    assert_true(is_json(&p.out));
    proc_free(&p);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_binary_values_through_stdin_and_hex(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    size_t len = 300u << 10; /* more than a pipe holds */
    uint8_t *value = malloc(len);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, value, len);
    value[0] = 0;
    value[len - 1] = 0;
    proc p;
    run_cli(s.url, value, len, &p, "put", "blob", "-", NULL);
    expect_status(&p, 0);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "get", "blob", NULL);
    expect_status(&p, 0);
    assert_int_equal(p.out.len, len);
    assert_memory_equal(p.out.data, value, len);
    proc_free(&p);

    /* --hex: key 00ff, value "a\0" */
    run_cli(s.url, NULL, 0, &p, "-x", "put", "00ff", "6100", NULL);
    expect_status(&p, 0);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--hex", "get", "00FF", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "6100\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "-x", "get", "zz", NULL);
    expect_status(&p, 2);
    proc_free(&p);

    /* The C client sees the same bytes. */
    lsmkv_client *c;
    assert_int_equal(lsmkv_client_open(s.url, NULL, &c, NULL), LSMKV_CLIENT_OK);
    uint8_t *got;
    size_t got_len;
    bool found;
    assert_int_equal(
        lsmkv_client_get(c, (const uint8_t *)"\0\xff", 2, &got, &got_len, &found, NULL),
        LSMKV_CLIENT_OK);
    assert_true(found);
    assert_int_equal(got_len, 2);
    assert_memory_equal(got, "a\0", 2);
    lsmkv_client_free(got);
    lsmkv_client_close(c);
    free(value);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_prompt_reads_commands_from_a_pipe(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    static const char script[] = "put \"a b\" \"x\\x00y\\n\"\n"
                                 "get \"a b\"\n"
                                 "get missing\n"
                                 "put \"\" v\n"
                                 "delete 'a b'\n"
                                 "get \"a b\"\n"
                                 "bogus\n"
                                 "quit\n"
                                 "put after quit\n";
    proc p;
    run_cli(s.url, script, sizeof(script) - 1, &p, NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "OK\n"
                                    "\"x\\x00y\\n\"\n"
                                    "(nil)\n"
                                    "(error) INVALID_ARGUMENT: the key is empty\n"
                                    "OK\n"
                                    "(nil)\n"
                                    "(error) INVALID_ARGUMENT: unknown command \"bogus\" (try "
                                    "'help')\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "get", "after", NULL);
    expect_status(&p, 1); /* nothing ran after quit */
    proc_free(&p);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_no_server_is_exit_2_and_url_from_the_environment(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", test_free_port());
    proc p;
    run_cli(url, NULL, 0, &p, "-t", "200", "get", "k", NULL);
    expect_status(&p, 2);
    assert_non_null(strstr(p.err.data, "(error) UNAVAILABLE: cannot reach lsmkv-server at"));
    proc_free(&p);

    test_server s;
    test_server_start(&s, NULL, NULL);
    char env[128];
    snprintf(env, sizeof(env), "LSMKV_URL=%s", s.url);
    const char *argv[] = {LSMKV_CLI_PATH, "put", "from-env", "yes", NULL};
    run_program(argv, env, NULL, 0, &p);
    expect_status(&p, 0);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "get", "from-env", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "yes");
    proc_free(&p);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_help_and_version(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    const char *help[] = {LSMKV_CLI_PATH, "--help", NULL};
    proc p;
    run_program(help, NULL, NULL, 0, &p);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "Usage: lsmkv-cli"));
    assert_non_null(
        strstr(p.out.data, "Exit status: 0 success; 1 get (or mget) found no such key"));
    assert_non_null(strstr(p.out.data, "scan [--prefix P]"));
    proc_free(&p);
    const char *version[] = {LSMKV_CLI_PATH, "--version", NULL};
    run_program(version, NULL, NULL, 0, &p);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, lsmkv_client_version()));
    proc_free(&p);
    const char *command_help[] = {LSMKV_CLI_PATH, "stats", "--help", NULL};
    run_program(command_help, NULL, NULL, 0, &p);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "Usage: stats"));
    proc_free(&p);
    const char *bad[] = {LSMKV_CLI_PATH, "-t", "soon", "stats", NULL};
    run_program(bad, NULL, NULL, 0, &p);
    expect_status(&p, 2);
    proc_free(&p);
}

static void
test_batch_scan_and_mget(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    proc p;
    static const char ops[] = "# fruit\n"
                              "put apple red\n"
                              "put banana \"yel\\tlow\"\n"
                              "put \"cherry pie\" ''\n"
                              "put \"bin\\x00key\" \"\\x00\\xff\"\n"
                              "\n"
                              "put gone soon\n"
                              "del gone\n";
    run_cli(s.url, ops, sizeof(ops) - 1, &p, "batch", "--sync=always", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "OK (6 ops)\n");
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "scan", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "apple\tred\n"
                                    "banana\tyel\\tlow\n"
                                    "bin\\x00key\t\\x00\\xff\n"
                                    "cherry pie\t\n");
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "scan", "--prefix", "b", "--keys-only", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "banana\nbin\\x00key\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "scan", "--start=b", "--end", "c", "--limit", "1", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "banana\tyel\\tlow\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "-x", "scan", "--prefix", "62696e", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "62696e006b6579\t00ff\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "scan", "--limit", "2", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "{\"pairs\":[{\"key\":\"apple\",\"key_hex\":\"6170706c65\","
                                    "\"value\":\"red\",\"value_hex\":\"726564\"},{\"key\":"
                                    "\"banana\",\"key_hex\":\"62616e616e61\",\"value\":"
                                    "\"yel\\tlow\",\"value_hex\":\"79656c096c6f77\"}],"
                                    "\"count\":2}\n");
    assert_true(is_json(&p.out));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "scan", "--prefix", "zzz", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "{\"pairs\":[],\"count\":0}\n");
    proc_free(&p);

    /* mget: exit 0 when every key exists, 1 when one does not. */
    run_cli(s.url, NULL, 0, &p, "mget", "apple", "cherry pie", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "\"red\"\n\"\"\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "mget", "apple", "gone", "banana", NULL);
    expect_status(&p, 1);
    assert_string_equal(p.out.data, "\"red\"\n(nil)\n\"yel\\tlow\"\n");
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "--json", "mget", "gone", NULL);
    expect_status(&p, 1);
    assert_string_equal(
        p.out.data,
        "{\"results\":[{\"key\":\"gone\",\"key_hex\":\"676f6e65\",\"found\":false}]}\n");
    assert_true(is_json(&p.out));
    proc_free(&p);

    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_batch_scan_and_mget_errors_exit_2(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    test_server s;
    test_server_start(&s, NULL, NULL);
    proc p;
    /* A line the CLI cannot parse: nothing is sent. */
    static const char unparsable[] = "put a 1\nput b\n";
    run_cli(s.url, unparsable, sizeof(unparsable) - 1, &p, "batch", NULL);
    expect_status(&p, 2);
    assert_non_null(strstr(p.err.data, "(error) INVALID_ARGUMENT: line 2: put takes KEY VALUE"));
    proc_free(&p);
    /* An op the server refuses: nothing is applied. */
    static const char refused[] = "put a 1\nput \"\" 2\n";
    run_cli(s.url, refused, sizeof(refused) - 1, &p, "batch", NULL);
    expect_status(&p, 2);
    assert_non_null(strstr(p.err.data, "(error) INVALID_ARGUMENT: op 1: the key is empty"));
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "mget", "a", NULL);
    expect_status(&p, 1);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "scan", NULL);
    expect_status(&p, 0);
    assert_string_equal(p.out.data, "");
    proc_free(&p);

    run_cli(s.url, NULL, 0, &p, "scan", "--start", "b", "--end", "a", NULL);
    expect_status(&p, 2);
    assert_non_null(strstr(p.err.data, "(error) INVALID_ARGUMENT: start"));
    assert_int_equal(p.out.len, 0);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "scan", "--limit", "0", NULL);
    expect_status(&p, 2);
    proc_free(&p);
    run_cli(s.url, NULL, 0, &p, "mget", "", NULL);
    expect_status(&p, 2);
    assert_non_null(strstr(p.err.data, "(error) INVALID_ARGUMENT: key 0: the key is empty"));
    proc_free(&p);
    /* The prompt has no standard input to spare for batch. */
    static const char prompt[] = "batch\nput x y\nscan\n";
    run_cli(s.url, prompt, sizeof(prompt) - 1, &p, NULL);
    expect_status(&p, 0);
    assert_non_null(strstr(p.out.data, "does not run at the prompt"));
    assert_non_null(strstr(p.out.data, "OK\nx\ty\n"));
    proc_free(&p);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete_and_exit_codes),
        cmocka_unit_test(test_flush_compact_stats_and_errors),
        cmocka_unit_test(test_json_output_parses),
        cmocka_unit_test(test_binary_values_through_stdin_and_hex),
        cmocka_unit_test(test_prompt_reads_commands_from_a_pipe),
        cmocka_unit_test(test_no_server_is_exit_2_and_url_from_the_environment),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_batch_scan_and_mget),
        cmocka_unit_test(test_batch_scan_and_mget_errors_exit_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
