#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "test_support.h"

/* escape_write into a malloc'd string. */
static char *
escaped(const void *data, size_t len, bool quoted)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    escape_write(f, data, len, quoted);
    fclose(f);
    return text;
}

static void
split_ok(const char *line, size_t expected_count, cli_arg **args)
{
    size_t count = 99;
    const char *error = NULL;
    assert_true(escape_split_line(line, strlen(line), args, &count, &error));
    assert_int_equal(count, expected_count);
}

static void
split_fails(const char *line, const char *expected_error)
{
    cli_arg *args = NULL;
    size_t count = 0;
    const char *error = NULL;
    assert_false(escape_split_line(line, strlen(line), &args, &count, &error));
    assert_non_null(strstr(error, expected_error));
}

static void
test_split_plain_words(void **state)
{
    cli_arg *args;
    split_ok("  put  key\tvalue  ", 3, &args);
    assert_true(escape_arg_is(&args[0], "put"));
    assert_true(escape_arg_is(&args[1], "key"));
    assert_true(escape_arg_is(&args[2], "value"));
    escape_args_free(args, 3);

    split_ok("", 0, &args);
    escape_args_free(args, 0);
    split_ok("   \t ", 0, &args);
    escape_args_free(args, 0);
}

static void
test_split_double_quotes_and_escapes(void **state)
{
    cli_arg *args;
    split_ok("put \"a b\" \"x\\x00y\\n\\\"q\\\" \\\\ \\t\\r\\a\\b\\z\"", 3, &args);
    assert_true(escape_arg_is(&args[1], "a b"));
    static const char expected[] = "x\0y\n\"q\" \\ \t\r\a\bz";
    assert_int_equal(args[2].len, sizeof(expected) - 1);
    assert_memory_equal(args[2].data, expected, args[2].len);
    escape_args_free(args, 3);

    split_ok("\"\"", 1, &args); /* an empty argument */
    assert_int_equal(args[0].len, 0);
    escape_args_free(args, 1);

    split_ok("get \"\\xFF\\x7f\"", 2, &args);
    assert_int_equal(args[1].len, 2);
    assert_memory_equal(args[1].data, "\xff\x7f", 2);
    escape_args_free(args, 2);
}

static void
test_split_single_quotes_are_literal(void **state)
{
    cli_arg *args;
    split_ok("put 'it\\'s' 'a\\x00b'", 3, &args);
    assert_true(escape_arg_is(&args[1], "it's"));
    assert_true(escape_arg_is(&args[2], "a\\x00b"));
    escape_args_free(args, 3);
}

static void
test_split_unquoted_text_is_literal(void **state)
{
    cli_arg *args;
    split_ok("put a\\x00b c\"d", 3, &args);
    assert_true(escape_arg_is(&args[1], "a\\x00b"));
    assert_true(escape_arg_is(&args[2], "c\"d"));
    escape_args_free(args, 3);
}

static void
test_split_rejects_bad_lines(void **state)
{
    split_fails("put \"abc", "unbalanced");
    split_fails("put 'abc", "unbalanced");
    split_fails("put \"a\"b", "closing quote");
    split_fails("put \"\\x4\"", "two hex digits");
    split_fails("put \"\\xzz\"", "two hex digits");
    split_fails("put \"trailing\\", "unbalanced");
}

static void
test_split_handles_embedded_nul_in_the_line(void **state)
{
    static const char line[] = "put k\0ey v";
    cli_arg *args;
    size_t count;
    const char *error;
    assert_true(escape_split_line(line, sizeof(line) - 1, &args, &count, &error));
    assert_int_equal(count, 3);
    assert_int_equal(args[1].len, 4);
    assert_memory_equal(args[1].data, "k\0ey", 4);
    escape_args_free(args, count);
}

static void
test_write_escapes_non_printable_bytes(void **state)
{
    char *text = escaped("a\0b\n\"c\\\x7f\xff\t\r\a\b", 13, true);
    assert_string_equal(text, "\"a\\x00b\\n\\\"c\\\\\\x7f\\xff\\t\\r\\a\\b\"");
    free(text);
    text = escaped("say \"hi\"", 8, false);
    assert_string_equal(text, "say \"hi\"");
    free(text);
    text = escaped("", 0, true);
    assert_string_equal(text, "\"\"");
    free(text);
}

static void
test_escaped_output_splits_back_to_the_same_bytes(void **state)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (int i = 0; i < 500; i++) {
        uint8_t bytes[40];
        size_t len = (size_t)test_rng_below(&rng, sizeof(bytes) + 1);
        test_rng_bytes(&rng, bytes, len);
        char *text = escaped(bytes, len, true);
        cli_arg *args;
        size_t count;
        const char *error;
        assert_true(escape_split_line(text, strlen(text), &args, &count, &error));
        assert_int_equal(count, 1);
        assert_int_equal(args[0].len, len);
        assert_memory_equal(args[0].data, bytes, len);
        escape_args_free(args, count);
        free(text);
    }
}

static void
test_hex_round_trip_and_errors(void **state)
{
    uint8_t *out;
    size_t len;
    assert_true(escape_hex_decode((const uint8_t *)"00fFa5", 6, &out, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(out, "\x00\xff\xa5", 3);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    escape_write_hex(f, out, len);
    fclose(f);
    assert_string_equal(text, "00ffa5");
    free(text);
    free(out);

    assert_true(escape_hex_decode((const uint8_t *)"", 0, &out, &len));
    assert_int_equal(len, 0);
    free(out);
    assert_false(escape_hex_decode((const uint8_t *)"abc", 3, &out, &len));
    assert_false(escape_hex_decode((const uint8_t *)"zz", 2, &out, &len));
    assert_false(escape_hex_decode((const uint8_t *)"0 ", 2, &out, &len));
}

static void
test_utf8_validation(void **state)
{
    assert_true(escape_is_utf8((const uint8_t *)"plain", 5));
    assert_true(escape_is_utf8((const uint8_t *)"caf\xc3\xa9", 5));
    assert_true(escape_is_utf8((const uint8_t *)"\xf0\x9f\x98\x80", 4));
    assert_true(escape_is_utf8((const uint8_t *)"", 0));
    assert_false(escape_is_utf8((const uint8_t *)"\xff", 1));
    assert_false(escape_is_utf8((const uint8_t *)"\xc3", 1));             /* truncated */
    assert_false(escape_is_utf8((const uint8_t *)"\xc0\xaf", 2));         /* overlong */
    assert_false(escape_is_utf8((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(escape_is_utf8((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_plain_words),
        cmocka_unit_test(test_split_double_quotes_and_escapes),
        cmocka_unit_test(test_split_single_quotes_are_literal),
        cmocka_unit_test(test_split_unquoted_text_is_literal),
        cmocka_unit_test(test_split_rejects_bad_lines),
        cmocka_unit_test(test_split_handles_embedded_nul_in_the_line),
        cmocka_unit_test(test_write_escapes_non_printable_bytes),
        cmocka_unit_test(test_escaped_output_splits_back_to_the_same_bytes),
        cmocka_unit_test(test_hex_round_trip_and_errors),
        cmocka_unit_test(test_utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
