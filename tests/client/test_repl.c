#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl.h"
#include "test_support.h"

/* Runs the prompt over `input` against no server; returns what it printed. */
static char *
run_repl(const char *input, size_t len, bool prompt)
{
    char *text = NULL;
    size_t size = 0;
    cli c = {.url = "tcp://127.0.0.1:1", .timeout_ms = 50};
    c.output.out = open_memstream(&text, &size);
    c.output.err = stderr; /* the prompt must send errors to out instead */
    c.output.raw = true;   /* and show values for people */
    FILE *in = fmemopen((void *)input, len, "r");
    assert_non_null(in);
    assert_int_equal(repl_run(&c, in, prompt), CLI_EXIT_OK);
    assert_true(c.interactive);
    assert_false(c.output.raw);
    fclose(in);
    commands_close(&c);
    fclose(c.output.out);
    return text;
}

static void
test_prompt_names_the_server(void **state)
{
    char buf[128];
    repl_prompt("tcp://127.0.0.1:7420", buf, sizeof(buf));
    assert_string_equal(buf, "lsmkv 127.0.0.1:7420> ");
    repl_prompt("ipc:///tmp/lsmkv.sock", buf, sizeof(buf));
    assert_string_equal(buf, "lsmkv ipc:///tmp/lsmkv.sock> ");
}

static void
test_lines_run_until_quit(void **state)
{
    static const char input[] = "help\n\n   \nhelp get\r\nquit\nhelp\n";
    char *text = run_repl(input, sizeof(input) - 1, false);
    assert_non_null(strstr(text, "Commands:"));
    assert_non_null(strstr(text, "quit"));
    assert_non_null(strstr(text, "Usage: get KEY"));
    /* Nothing after quit ran: the command list appears once. */
    assert_null(strstr(strstr(text, "Commands:") + 1, "Commands:"));
    free(text);
}

static void
test_errors_are_shown_in_line(void **state)
{
    static const char input[] = "put \"unbalanced\nnosuch\nget \"k\\x00\"\nexit\n";
    char *text = run_repl(input, sizeof(input) - 1, false);
    const char *a = strstr(text, "(error) INVALID_ARGUMENT: unbalanced quotes\n");
    const char *b = strstr(text, "(error) INVALID_ARGUMENT: unknown command \"nosuch\"");
    const char *c = strstr(text, "(error) UNAVAILABLE: cannot reach lsmkv-server");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    free(text);
}

static void
test_prompt_shown_for_terminals_and_end_of_input_leaves(void **state)
{
    static const char input[] = "help help";
    char *text = run_repl(input, sizeof(input) - 1, true);
    assert_int_equal(strncmp(text, "lsmkv 127.0.0.1:1> ", 19), 0);
    assert_non_null(strstr(text, "Usage: help [COMMAND]"));
    /* the second prompt, answered by the end of input */
    assert_non_null(strstr(text, "lsmkv 127.0.0.1:1> \n"));
    free(text);
}

static void
test_quit_line_stops(void **state)
{
    cli c = {.url = "tcp://127.0.0.1:1", .output = {.out = stdout, .err = stderr}};
    assert_false(repl_line(&c, "quit", 4));
    assert_false(repl_line(&c, "  exit  ", 8));
    assert_true(repl_line(&c, "", 0));
    assert_true(repl_line(&c, "\"quit", 5)); /* an error, not a quit */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_names_the_server),
        cmocka_unit_test(test_lines_run_until_quit),
        cmocka_unit_test(test_errors_are_shown_in_line),
        cmocka_unit_test(test_prompt_shown_for_terminals_and_end_of_input_leaves),
        cmocka_unit_test(test_quit_line_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
