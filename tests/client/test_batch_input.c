#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_input.h"
#include "test_support.h"

/* Reads text (len bytes, NULs allowed) as a batch's standard input. */
static bool
read_text(const char *text, size_t len, bool hex, size_t max_bytes, batch_input *b, char *error,
          size_t size)
{
    FILE *in = fmemopen((void *)text, len, "r");
    assert_non_null(in);
    error[0] = '\0';
    bool ok = batch_input_read(in, hex, max_bytes, b, error, size);
    fclose(in);
    return ok;
}

static void
expect_op(const batch_input *b, size_t i, lsmkv_client_op_type type, const void *key,
          size_t key_len, const void *value, size_t value_len)
{
    assert_true(i < b->count);
    const lsmkv_client_op *op = &b->ops[i];
    assert_int_equal(op->type, type);
    assert_int_equal(op->key_len, key_len);
    assert_memory_equal(op->key, key, key_len);
    assert_int_equal(op->value_len, value_len);
    if (value_len > 0) {
        assert_memory_equal(op->value, value, value_len);
    }
}

static void
test_reads_puts_and_deletes_with_quotes_and_escapes(void **state)
{
    static const char text[] = "put a 1\n"
                               "\n"
                               "   # a comment\n"
                               "del b\n"
                               "put \"two words\" 'it\\'s'\r\n"
                               "delete \"\\x00\\xff\"\n"
                               "put k \"\"\n"
                               "\tput last \"x\\ny\"";
    batch_input b;
    char error[256];
    assert_true(read_text(text, sizeof(text) - 1, false, 1 << 20, &b, error, sizeof(error)));
    assert_int_equal(b.count, 6);
    expect_op(&b, 0, LSMKV_CLIENT_OP_PUT, "a", 1, "1", 1);
    expect_op(&b, 1, LSMKV_CLIENT_OP_DELETE, "b", 1, NULL, 0);
    assert_null(b.ops[1].value);
    expect_op(&b, 2, LSMKV_CLIENT_OP_PUT, "two words", 9, "it's", 4);
    expect_op(&b, 3, LSMKV_CLIENT_OP_DELETE, "\0\xff", 2, NULL, 0);
    expect_op(&b, 4, LSMKV_CLIENT_OP_PUT, "k", 1, "", 0);
    expect_op(&b, 5, LSMKV_CLIENT_OP_PUT, "last", 4, "x\ny", 3);
    batch_input_fini(&b);
    assert_int_equal(b.count, 0);
}

static void
test_empty_input_is_an_empty_batch(void **state)
{
    batch_input b;
    char error[256];
    assert_true(read_text("", 0, false, 100, &b, error, sizeof(error)));
    assert_int_equal(b.count, 0);
    batch_input_fini(&b);
    assert_true(read_text("\n# nothing\n\n", 12, false, 100, &b, error, sizeof(error)));
    assert_int_equal(b.count, 0);
    batch_input_fini(&b);
}

static void
test_hex_keys_and_values(void **state)
{
    static const char text[] = "put 00ff 6100\ndel 41\n";
    batch_input b;
    char error[256];
    assert_true(read_text(text, sizeof(text) - 1, true, 100, &b, error, sizeof(error)));
    assert_int_equal(b.count, 2);
    expect_op(&b, 0, LSMKV_CLIENT_OP_PUT, "\0\xff", 2, "a\0", 2);
    expect_op(&b, 1, LSMKV_CLIENT_OP_DELETE, "A", 1, NULL, 0);
    batch_input_fini(&b);
    assert_false(read_text("put 00 zz\n", 10, true, 100, &b, error, sizeof(error)));
    assert_string_equal(error, "line 1: not hex digits (--hex)");
    assert_int_equal(b.count, 0);
}

/* Each bad input is refused, naming its line, with nothing kept. */
static void
test_bad_lines_name_their_line(void **state)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"put a 1\nget a\n", "line 2: unknown operation (put KEY VALUE, or del KEY)"},
        {"put a\n", "line 1: put takes KEY VALUE"},
        {"put a b c\n", "line 1: put takes KEY VALUE"},
        {"put a 1\n\ndel\n", "line 3: del takes KEY"},
        {"del a b\n", "line 1: del takes KEY"},
        {"put \"a 1\n", "line 1: unbalanced quotes"},
        {"put \"\\x4\" v\n", "line 1: \\x must be followed by two hex digits"},
        {"PUT a 1\n", "line 1: unknown operation (put KEY VALUE, or del KEY)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        batch_input b;
        char error[256];
        assert_false(
            read_text(cases[i].text, strlen(cases[i].text), false, 100, &b, error, sizeof(error)));
        assert_string_equal(error, cases[i].error);
        assert_int_equal(b.count, 0);
        assert_null(b.ops);
    }
}

static void
test_input_over_the_limit_is_refused(void **state)
{
    batch_input b;
    char error[256];
    assert_true(read_text("put abc defg\n", 13, false, 7, &b, error, sizeof(error)));
    batch_input_fini(&b);
    assert_false(read_text("put abc defg\nput h i\n", 21, false, 7, &b, error, sizeof(error)));
    assert_string_equal(error, "line 2: the batch is over 7 bytes");
}

static void
test_nul_bytes_in_a_line_are_taken_literally(void **state)
{
    static const char text[] = "put k\0ey v\0al\n";
    batch_input b;
    char error[256];
    assert_true(read_text(text, sizeof(text) - 1, false, 100, &b, error, sizeof(error)));
    assert_int_equal(b.count, 1);
    expect_op(&b, 0, LSMKV_CLIENT_OP_PUT, "k\0ey", 4, "v\0al", 4);
    batch_input_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_puts_and_deletes_with_quotes_and_escapes),
        cmocka_unit_test(test_empty_input_is_an_empty_batch),
        cmocka_unit_test(test_hex_keys_and_values),
        cmocka_unit_test(test_bad_lines_name_their_line),
        cmocka_unit_test(test_input_over_the_limit_is_refused),
        cmocka_unit_test(test_nul_bytes_in_a_line_are_taken_literally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
