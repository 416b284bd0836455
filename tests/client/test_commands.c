#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "commands.h"
#include "test_support.h"

/* A session whose output and errors go to memory, against no server. */
typedef struct session {
    cli c;
    char *out;
    size_t out_size;
    char *err;
    size_t err_size;
} session;

static void
session_start(session *s)
{
    memset(s, 0, sizeof(*s));
    s->c.url = "tcp://127.0.0.1:1";
    s->c.timeout_ms = 50;
    s->c.output.out = open_memstream(&s->out, &s->out_size);
    s->c.output.err = open_memstream(&s->err, &s->err_size);
    assert_non_null(s->c.output.out);
    assert_non_null(s->c.output.err);
}

static void
session_finish(session *s)
{
    commands_close(&s->c);
    fclose(s->c.output.out);
    fclose(s->c.output.err);
}

static void
session_free(session *s)
{
    free(s->out);
    free(s->err);
}

/* Runs a command line given as NULL-terminated words; returns the exit status. */
static int
run(session *s, const char *const *words)
{
    cli_arg args[16] = {{0}};
    size_t n = 0;
    for (; words[n] != NULL; n++) {
        args[n] = escape_arg_copy(words[n], strlen(words[n]));
    }
    int rc = commands_run(&s->c, args, n);
    for (size_t i = 0; i < n; i++) {
        free(args[i].data);
    }
    fflush(s->c.output.out);
    fflush(s->c.output.err);
    return rc;
}

/* ---- the table follows kv.proto ---------------------------------------------------------- */

static void
test_every_kv_method_has_a_command(void **state)
{
    for (size_t m = 0; m < codec_service_method_count(); m++) {
        const char *method = codec_service_method_name(m);
        size_t matches = 0;
        for (size_t i = 0; i < commands_count(); i++) {
            const command *cmd = commands_at(i);
            if (cmd->method != NULL && strcmp(cmd->method, method) == 0) {
                matches++;
            }
        }
        if (matches != 1) {
            fail_msg("kv.proto's method %s has %zu lsmkv-cli commands", method, matches);
        }
    }
}

static void
test_every_command_method_is_in_kv_proto(void **state)
{
    assert_null(commands_at(commands_count()));
    for (size_t i = 0; i < commands_count(); i++) {
        const command *cmd = commands_at(i);
        assert_non_null(cmd->summary);
        assert_non_null(cmd->help);
        assert_true(cmd->min_args <= cmd->max_args);
        cli_arg name = escape_arg_copy(cmd->name, strlen(cmd->name));
        assert_ptr_equal(commands_find(&name), cmd);
        free(name.data);
        if (cmd->method == NULL) {
            continue;
        }
        bool found = false;
        for (size_t m = 0; m < codec_service_method_count(); m++) {
            found |= strcmp(codec_service_method_name(m), cmd->method) == 0;
        }
        if (!found) {
            fail_msg("command %s calls %s, which kv.proto does not have", cmd->name, cmd->method);
        }
    }
}

/* ---- usage --------------------------------------------------------------------------------- */

static void
test_help_for_the_tool_and_each_command(void **state)
{
    session s;
    session_start(&s);
    assert_int_equal(run(&s, (const char *[]){"help", NULL}), CLI_EXIT_OK);
    assert_int_equal(run(&s, (const char *[]){"help", "put", NULL}), CLI_EXIT_OK);
    assert_int_equal(run(&s, (const char *[]){"get", "--help", NULL}), CLI_EXIT_OK);
    assert_int_equal(run(&s, (const char *[]){"scan", "--help", NULL}), CLI_EXIT_OK);
    assert_int_equal(run(&s, (const char *[]){"help", "batch", NULL}), CLI_EXIT_OK);
    assert_int_equal(run(&s, (const char *[]){"mget", "--help", NULL}), CLI_EXIT_OK);
    assert_int_equal(run(&s, (const char *[]){"help", "nosuch", NULL}), CLI_EXIT_ERROR);
    session_finish(&s);
    assert_non_null(strstr(s.out, "stats"));
    assert_non_null(strstr(s.out, "Usage: put [--sync=MODE] KEY VALUE"));
    assert_non_null(strstr(s.out, "Usage: get KEY"));
    assert_non_null(strstr(s.out, "Exit status 1"));
    assert_non_null(strstr(s.out, "Usage: scan [--prefix P] [--start S] [--end E] [--limit N] "
                                  "[--keys-only]"));
    assert_non_null(strstr(s.out, "Usage: batch [--sync=MODE]"));
    assert_non_null(strstr(s.out, "Usage: mget KEY [KEY...]"));
    assert_non_null(strstr(s.out, "Calls /lsmkv.v1.KV/MultiGet."));
    assert_non_null(strstr(s.err, "(error) INVALID_ARGUMENT: unknown command \"nosuch\""));
    session_free(&s);

    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    commands_print_usage(f);
    fclose(f);
    for (size_t i = 0; i < commands_count(); i++) {
        assert_non_null(strstr(text, commands_at(i)->name));
    }
    assert_non_null(strstr(text, "Exit status: 0"));
    assert_non_null(strstr(text, "--hex"));
    assert_non_null(strstr(text, "LSMKV_URL"));
    free(text);
}

static void
test_usage_errors_exit_2_without_calling(void **state)
{
    session s;
    session_start(&s);
    assert_int_equal(run(&s, (const char *[]){"put", "k", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"get", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"flush", "x", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"frobnicate", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"put", "--sync=sometimes", "k", "v", NULL}),
                     CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"get", "--sync=always", "k", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"get", "--bogus", "k", NULL}), CLI_EXIT_ERROR);
    assert_null(s.c.client); /* nothing above needed the server */
    session_finish(&s);
    assert_non_null(strstr(s.err, "wrong number of arguments for 'put' (usage: put "
                                  "[--sync=MODE] KEY VALUE)"));
    assert_non_null(strstr(s.err, "--sync takes always, none or default"));
    assert_non_null(strstr(s.err, "unknown option for 'get'"));
    assert_int_equal(s.out_size, 0);
    session_free(&s);
}

static void
test_double_dash_ends_options(void **state)
{
    session s;
    session_start(&s);
    /* "--help" is the key here: the call is made (and fails: no server). */
    assert_int_equal(run(&s, (const char *[]){"get", "--", "--help", NULL}), CLI_EXIT_ERROR);
    session_finish(&s);
    assert_non_null(strstr(s.err, "(error) UNAVAILABLE"));
    session_free(&s);
}

static void
test_hex_arguments_are_checked(void **state)
{
    session s;
    session_start(&s);
    s.c.output.hex = true;
    assert_int_equal(run(&s, (const char *[]){"get", "0g", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"put", "00", "abc", NULL}), CLI_EXIT_ERROR);
    session_finish(&s);
    assert_non_null(strstr(s.err, "the key is not hex digits"));
    assert_non_null(strstr(s.err, "the value is not hex digits"));
    session_free(&s);
}

static void
test_calls_without_a_server_exit_2_with_the_error(void **state)
{
    static const char *const lines[][4] = {
        {"put", "k", "v", NULL}, {"get", "k", NULL}, {"delete", "--sync=none", "k", NULL},
        {"flush", NULL},         {"compact", NULL},  {"stats", NULL},
        {"scan", NULL},          {"mget", "a", "b"},
    };
    session s;
    session_start(&s);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        assert_int_equal(run(&s, lines[i]), CLI_EXIT_ERROR);
    }
    session_finish(&s);
    int errors = 0;
    for (const char *p = s.err; (p = strstr(p, "(error) UNAVAILABLE: cannot reach")); p++) {
        errors++;
    }
    assert_int_equal(errors, 8);
    session_free(&s);
}

static void
test_put_reads_the_value_from_stdin(void **state)
{
    /* Stdin is read (binary-safe) before the call; the call then fails: no server. */
    static const char input[] = "bin\0ary";
    session s;
    session_start(&s);
    s.c.in = fmemopen((void *)input, sizeof(input) - 1, "r");
    assert_int_equal(run(&s, (const char *[]){"put", "k", "-", NULL}), CLI_EXIT_ERROR);
    assert_true(feof(s.c.in));
    fclose(s.c.in);
    session_finish(&s);
    assert_non_null(strstr(s.err, "UNAVAILABLE"));
    session_free(&s);
}

static void
test_bad_url_is_an_error(void **state)
{
    session s;
    session_start(&s);
    s.c.url = "nonsense";
    assert_int_equal(run(&s, (const char *[]){"stats", NULL}), CLI_EXIT_ERROR);
    session_finish(&s);
    assert_non_null(strstr(s.err, "(error) INVALID_ARGUMENT: invalid server URL 'nonsense'"));
    session_free(&s);
}

/* ---- scan, batch, mget ------------------------------------------------------------------------
 */

static void
test_scan_batch_and_mget_usage_errors(void **state)
{
    session s;
    session_start(&s);
    static const char *const lines[][6] = {
        {"scan", "--limit", "0", NULL},
        {"scan", "--limit=", NULL},
        {"scan", "--limit", "12x", NULL},
        {"scan", "--limit", "99999999999999999999", NULL},
        {"scan", "--start", NULL},
        {"scan", "--prefix", NULL},
        {"scan", "extra", NULL},
        {"scan", "--sync=always", NULL},
        {"scan", "--reverse", NULL},
        {"mget", NULL},
        {"mget", "--keys-only", "k", NULL},
        {"batch", "--prefix", "p", NULL},
        {"batch", "extra", NULL},
        {"get", "--start", "a", "k", NULL},
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (run(&s, lines[i]) != CLI_EXIT_ERROR) {
            fail_msg("line %zu was accepted", i);
        }
    }
    assert_null(s.c.client); /* nothing above needed the server */
    session_finish(&s);
    assert_non_null(strstr(s.err, "--limit takes a number of pairs, 1 or more for 'scan'"));
    assert_non_null(strstr(s.err, "--start needs a value for 'scan'"));
    assert_non_null(strstr(s.err, "--prefix needs a value"));
    assert_non_null(strstr(s.err, "wrong number of arguments for 'scan'"));
    assert_non_null(strstr(s.err, "unknown option for 'scan'"));
    assert_non_null(
        strstr(s.err, "wrong number of arguments for 'mget' (usage: mget KEY [KEY...])"));
    assert_non_null(strstr(s.err, "unknown option for 'batch'"));
    assert_non_null(strstr(s.err, "unknown option for 'get'"));
    assert_int_equal(s.out_size, 0);
    session_free(&s);
}

static void
test_scan_options_in_both_spellings_reach_the_call(void **state)
{
    /* Accepted options lead to a call, which fails: there is no server. */
    static const char *const lines[][10] = {
        {"scan", NULL},
        {"scan", "--start", "a", "--end=b", "--prefix", "--x", "--limit=5", "--keys-only", NULL},
        {"scan", "--start=", "--limit", "18446744073709551615", NULL},
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        session s;
        session_start(&s);
        assert_int_equal(run(&s, lines[i]), CLI_EXIT_ERROR);
        session_finish(&s);
        if (strstr(s.err, "(error) UNAVAILABLE") == NULL) {
            fail_msg("line %zu: %s", i, s.err);
        }
        assert_int_equal(s.out_size, 0); /* no half-written JSON or lines */
        session_free(&s);
    }
    session s;
    session_start(&s);
    s.c.output.hex = true;
    assert_int_equal(run(&s, (const char *[]){"scan", "--prefix", "0", NULL}), CLI_EXIT_ERROR);
    assert_int_equal(run(&s, (const char *[]){"mget", "00", "zz", NULL}), CLI_EXIT_ERROR);
    assert_null(s.c.client);
    session_finish(&s);
    assert_non_null(strstr(s.err, "the prefix is not hex digits"));
    assert_non_null(strstr(s.err, "the key is not hex digits"));
    session_free(&s);
}

static void
test_batch_reads_stdin_and_refuses_bad_lines_before_calling(void **state)
{
    static const char bad[] = "put a 1\nput b\n";
    session s;
    session_start(&s);
    s.c.in = fmemopen((void *)bad, sizeof(bad) - 1, "r");
    assert_int_equal(run(&s, (const char *[]){"batch", NULL}), CLI_EXIT_ERROR);
    fclose(s.c.in);
    assert_null(s.c.client); /* nothing was sent */
    static const char good[] = "put a 1\ndel b\n";
    s.c.in = fmemopen((void *)good, sizeof(good) - 1, "r");
    assert_int_equal(run(&s, (const char *[]){"batch", "--sync=always", NULL}), CLI_EXIT_ERROR);
    assert_true(feof(s.c.in));
    fclose(s.c.in);
    session_finish(&s);
    assert_non_null(strstr(s.err, "(error) INVALID_ARGUMENT: line 2: put takes KEY VALUE"));
    assert_non_null(strstr(s.err, "(error) UNAVAILABLE"));
    session_free(&s);

    /* At the prompt standard input holds the commands: batch does not run there. */
    session_start(&s);
    s.c.interactive = true;
    assert_int_equal(run(&s, (const char *[]){"batch", NULL}), CLI_EXIT_ERROR);
    session_finish(&s);
    assert_non_null(strstr(s.err, "does not run at the prompt"));
    session_free(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kv_method_has_a_command),
        cmocka_unit_test(test_every_command_method_is_in_kv_proto),
        cmocka_unit_test(test_help_for_the_tool_and_each_command),
        cmocka_unit_test(test_usage_errors_exit_2_without_calling),
        cmocka_unit_test(test_double_dash_ends_options),
        cmocka_unit_test(test_hex_arguments_are_checked),
        cmocka_unit_test(test_calls_without_a_server_exit_2_with_the_error),
        cmocka_unit_test(test_put_reads_the_value_from_stdin),
        cmocka_unit_test(test_bad_url_is_an_error),
        cmocka_unit_test(test_scan_batch_and_mget_usage_errors),
        cmocka_unit_test(test_scan_options_in_both_spellings_reach_the_call),
        cmocka_unit_test(test_batch_reads_stdin_and_refuses_bad_lines_before_calling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
