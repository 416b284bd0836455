#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The expected table, written out by hand so a change to LSMKV_STATUS_TABLE shows up here. */
static const struct {
    int code;
    const char *name;
    const char *message;
    int grpc;
} expected[] = {
    {LSMKV_OK, "OK", "ok", 0},
    {LSMKV_NOT_FOUND, "NOT_FOUND", "not found", 5},
    {LSMKV_INVALID_ARGUMENT, "INVALID_ARGUMENT", "invalid argument", 3},
    {LSMKV_CORRUPTION, "CORRUPTION", "corruption", 15},
    {LSMKV_IO_ERROR, "IO_ERROR", "I/O error", 14},
    {LSMKV_NO_SPACE, "NO_SPACE", "no space left on device", 8},
    {LSMKV_BUSY, "BUSY", "busy", 14},
    {LSMKV_READ_ONLY, "READ_ONLY", "store is read-only", 9},
    {LSMKV_NOT_SUPPORTED, "NOT_SUPPORTED", "not supported", 12},
    {LSMKV_NO_MEMORY, "NO_MEMORY", "out of memory", 8},
    {LSMKV_TIMED_OUT, "TIMED_OUT", "timed out", 4},
    {LSMKV_CLOSED, "CLOSED", "store is closed", 9},
    {LSMKV_INTERNAL, "INTERNAL", "internal error", 13},
    {LSMKV_WOULD_BLOCK, "WOULD_BLOCK", "would block", 14},
};

#define EXPECTED_COUNT (sizeof(expected) / sizeof(expected[0]))

/* An lsmkv_error filled with a marker so a test can tell whether it was written. */
static void
poison(lsmkv_error *err)
{
    memset(err, 0x5a, sizeof(*err));
    err->code = -12345;
    err->message[sizeof(err->message) - 1] = '\0';
}

static void
test_every_code_has_name_message_and_grpc_code(void **state)
{
    for (size_t i = 0; i < EXPECTED_COUNT; i++) {
        assert_int_equal(expected[i].code, (int)i); /* codes are dense from 0 */
        assert_string_equal(lsmkv_status_name(expected[i].code), expected[i].name);
        assert_string_equal(lsmkv_status_str(expected[i].code), expected[i].message);
        assert_int_equal(lsmkv_status_grpc_code(expected[i].code), expected[i].grpc);
    }
}

static void
test_grpc_codes_are_in_range(void **state)
{
    for (int code = 0; code < (int)EXPECTED_COUNT; code++) {
        int g = lsmkv_status_grpc_code(code);
        assert_in_range(g, 0, 16);
        /* Only OK maps to gRPC OK: an error must never reach a client as success. */
        assert_true((code == LSMKV_OK) == (g == 0));
    }
}

static void
test_unknown_code_is_unknown(void **state)
{
    const int unknown[] = {-1, (int)EXPECTED_COUNT, 99, 1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(lsmkv_status_name(unknown[i]), "UNKNOWN");
        assert_non_null(lsmkv_status_str(unknown[i]));
        assert_true(strlen(lsmkv_status_str(unknown[i])) > 0);
        assert_int_equal(lsmkv_status_grpc_code(unknown[i]), 2);
    }
}

static void
test_set_formats_and_returns_code(void **state)
{
    lsmkv_error err;
    poison(&err);
    int rc = status_set(&err, LSMKV_CORRUPTION, "%s: bad block at offset %d", "000007.sst", 4096);
    assert_int_equal(rc, LSMKV_CORRUPTION);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    assert_string_equal(err.message, "000007.sst: bad block at offset 4096");
}

static void
test_set_overwrites_previous_message(void **state)
{
    lsmkv_error err;
    status_set(&err, LSMKV_IO_ERROR, "a long first message that should vanish");
    assert_int_equal(status_set(&err, LSMKV_BUSY, "short"), LSMKV_BUSY);
    assert_int_equal(err.code, LSMKV_BUSY);
    assert_string_equal(err.message, "short");
}

static void
test_set_with_null_err_returns_code(void **state)
{
    assert_int_equal(status_set(NULL, LSMKV_NOT_FOUND, "missing %s", "key"), LSMKV_NOT_FOUND);
    assert_int_equal(status_set(NULL, LSMKV_OK, "fine"), LSMKV_OK);
    assert_int_equal(status_set_errno(NULL, ENOSPC, "write %s", "f"), LSMKV_NO_SPACE);
    assert_int_equal(status_set_errno(NULL, EIO, "write %s", "f"), LSMKV_IO_ERROR);
}

static void
test_set_truncates_long_message(void **state)
{
    char longarg[2000];
    memset(longarg, 'x', sizeof(longarg) - 1);
    longarg[sizeof(longarg) - 1] = '\0';
    lsmkv_error err;
    poison(&err);
    assert_int_equal(status_set(&err, LSMKV_INTERNAL, "prefix %s suffix", longarg), LSMKV_INTERNAL);
    assert_int_equal(err.code, LSMKV_INTERNAL);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    assert_memory_equal(err.message, "prefix xxx", 10);
}

struct errno_case {
    int errno_value;
    int code;
};

static void
test_set_errno_maps_codes_and_appends_strerror(void **state)
{
    const struct errno_case cases[] = {
        {ENOSPC, LSMKV_NO_SPACE}, {EDQUOT, LSMKV_NO_SPACE}, {ENOMEM, LSMKV_NO_MEMORY},
        {EIO, LSMKV_IO_ERROR},    {EACCES, LSMKV_IO_ERROR}, {ENOENT, LSMKV_IO_ERROR},
        {EROFS, LSMKV_IO_ERROR},  {EBADF, LSMKV_IO_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lsmkv_error err;
        poison(&err);
        int rc = status_set_errno(&err, cases[i].errno_value, "write %s", "/d/000001.wal");
        assert_int_equal(rc, cases[i].code);
        assert_int_equal(err.code, cases[i].code);
        char want[600];
        snprintf(want, sizeof(want), "write /d/000001.wal: %s", strerror(cases[i].errno_value));
        assert_string_equal(err.message, want);
    }
}

static void
test_set_errno_truncates_long_message(void **state)
{
    char longarg[1000];
    memset(longarg, 'p', sizeof(longarg) - 1);
    longarg[sizeof(longarg) - 1] = '\0';
    lsmkv_error err;
    poison(&err);
    assert_int_equal(status_set_errno(&err, EIO, "open %s", longarg), LSMKV_IO_ERROR);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    assert_memory_equal(err.message, "open ppp", 8);

    /* A message that just fits leaves a truncated strerror, still terminated. */
    char fit[sizeof(err.message) - 3];
    memset(fit, 'q', sizeof(fit) - 1);
    fit[sizeof(fit) - 1] = '\0';
    poison(&err);
    assert_int_equal(status_set_errno(&err, ENOSPC, "%s", fit), LSMKV_NO_SPACE);
    assert_int_equal(strlen(err.message), sizeof(err.message) - 1);
    assert_memory_equal(err.message + sizeof(fit) - 1, ": ", 2);
}

static void
test_copy_copies_and_returns_code(void **state)
{
    lsmkv_error src, dst;
    status_set(&src, LSMKV_CORRUPTION, "table %d damaged", 9);
    poison(&dst);
    assert_int_equal(status_copy(&dst, &src), LSMKV_CORRUPTION);
    assert_int_equal(dst.code, LSMKV_CORRUPTION);
    assert_string_equal(dst.message, "table 9 damaged");

    assert_int_equal(status_copy(NULL, &src), LSMKV_CORRUPTION);
    assert_int_equal(status_copy(&src, &src), LSMKV_CORRUPTION);
    assert_string_equal(src.message, "table 9 damaged");
}

/* Adding context with the error's own message as an argument. */
static void
test_status_set_own_message(void **state)
{
    lsmkv_error err;
    status_set(&err, LSMKV_IO_ERROR, "disk on fire");
    status_set(&err, err.code, "open 000001.wal: %s", err.message);
    assert_string_equal(err.message, "open 000001.wal: disk on fire");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_set_own_message),
        cmocka_unit_test(test_every_code_has_name_message_and_grpc_code),
        cmocka_unit_test(test_grpc_codes_are_in_range),
        cmocka_unit_test(test_unknown_code_is_unknown),
        cmocka_unit_test(test_set_formats_and_returns_code),
        cmocka_unit_test(test_set_overwrites_previous_message),
        cmocka_unit_test(test_set_with_null_err_returns_code),
        cmocka_unit_test(test_set_truncates_long_message),
        cmocka_unit_test(test_set_errno_maps_codes_and_appends_strerror),
        cmocka_unit_test(test_set_errno_truncates_long_message),
        cmocka_unit_test(test_copy_copies_and_returns_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
