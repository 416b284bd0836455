#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "filename.h"

#include <stdio.h>
#include <string.h>

static void
test_wal_and_table_names_are_zero_padded(void **state)
{
    char out[FILENAME_PATH_MAX];
    filename_wal(out, "/data/db", 1);
    assert_string_equal(out, "/data/db/000001.wal");
    filename_table(out, "/data/db", 1);
    assert_string_equal(out, "/data/db/000001.sst");
    filename_wal(out, "d", 0);
    assert_string_equal(out, "d/000000.wal");
    filename_table(out, "d", 123);
    assert_string_equal(out, "d/000123.sst");
    filename_table(out, "d", 999999);
    assert_string_equal(out, "d/999999.sst");
}

static void
test_larger_numbers_grow_past_six_digits(void **state)
{
    char out[FILENAME_PATH_MAX];
    filename_wal(out, "d", 1000000);
    assert_string_equal(out, "d/1000000.wal");
    filename_table(out, "d", UINT64_C(1234567890123));
    assert_string_equal(out, "d/1234567890123.sst");
    filename_table(out, "d", UINT64_C(9999999999999999999));
    assert_string_equal(out, "d/9999999999999999999.sst");
}

static void
test_join(void **state)
{
    char out[FILENAME_PATH_MAX];
    filename_join(out, "/store", FILENAME_MANIFEST);
    assert_string_equal(out, "/store/MANIFEST");
    filename_join(out, "rel/dir", FILENAME_LOCK);
    assert_string_equal(out, "rel/dir/LOCK");
    filename_join(out, ".", FILENAME_MANIFEST_TEMP);
    assert_string_equal(out, "./MANIFEST.tmp");
}

static void
test_long_directory_is_truncated_not_overflowed(void **state)
{
    /* The store refuses directories longer than FILENAME_DIR_MAX; even so,
     * a longer one must not overflow out. */
    static char dir[FILENAME_PATH_MAX + 100];
    memset(dir, 'd', sizeof(dir) - 1);
    dir[sizeof(dir) - 1] = '\0';
    char out[FILENAME_PATH_MAX];
    filename_table(out, dir, 7);
    assert_int_equal(strlen(out), FILENAME_PATH_MAX - 1);
    filename_wal(out, dir, 7);
    assert_int_equal(strlen(out), FILENAME_PATH_MAX - 1);
    filename_join(out, dir, "LOCK");
    assert_int_equal(strlen(out), FILENAME_PATH_MAX - 1);

    /* At FILENAME_DIR_MAX, every name still fits. */
    dir[FILENAME_DIR_MAX] = '\0';
    filename_table(out, dir, UINT64_MAX);
    assert_int_equal(strlen(out), FILENAME_DIR_MAX + strlen("/18446744073709551615.sst"));
    filename_join(out, dir, FILENAME_MANIFEST_TEMP);
    assert_int_equal(strlen(out), FILENAME_DIR_MAX + strlen("/MANIFEST.tmp"));
}

static void
test_parse_numbered_files(void **state)
{
    uint64_t n = 0;
    assert_int_equal(filename_parse("000001.wal", &n), FILE_KIND_WAL);
    assert_int_equal(n, 1);
    assert_int_equal(filename_parse("000042.sst", &n), FILE_KIND_TABLE);
    assert_int_equal(n, 42);
    assert_int_equal(filename_parse("000000.sst", &n), FILE_KIND_TABLE);
    assert_int_equal(n, 0);
    assert_int_equal(filename_parse("1234567.wal", &n), FILE_KIND_WAL);
    assert_int_equal(n, 1234567);
    /* Fewer digits than the padding still parse. */
    assert_int_equal(filename_parse("7.sst", &n), FILE_KIND_TABLE);
    assert_int_equal(n, 7);
    assert_int_equal(filename_parse("9999999999999999999.wal", &n), FILE_KIND_WAL);
    assert_int_equal(n, UINT64_C(9999999999999999999));
    assert_int_equal(filename_parse("0000000000000000001.sst", &n), FILE_KIND_TABLE);
    assert_int_equal(n, 1);
}

static void
test_parse_round_trips_built_names(void **state)
{
    const uint64_t numbers[] = {
        0, 1, 99, 999999, 1000000, UINT64_C(123456789012345), UINT64_C(9999999999999999999)};
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        char path[FILENAME_PATH_MAX];
        uint64_t n = ~numbers[i];
        filename_wal(path, "dir", numbers[i]);
        assert_int_equal(filename_parse(path + strlen("dir/"), &n), FILE_KIND_WAL);
        assert_int_equal(n, numbers[i]);
        n = ~numbers[i];
        filename_table(path, "dir", numbers[i]);
        assert_int_equal(filename_parse(path + strlen("dir/"), &n), FILE_KIND_TABLE);
        assert_int_equal(n, numbers[i]);
    }
}

static void
test_parse_fixed_names(void **state)
{
    uint64_t n = 77;
    assert_int_equal(filename_parse("MANIFEST", &n), FILE_KIND_MANIFEST);
    assert_int_equal(filename_parse("MANIFEST.tmp", &n), FILE_KIND_TEMP);
    assert_int_equal(filename_parse(FILENAME_MANIFEST_TEMP, &n), FILE_KIND_TEMP);
    assert_int_equal(filename_parse("LOCK", &n), FILE_KIND_LOCK);
    assert_int_equal(filename_parse("000005.sst.tmp", &n), FILE_KIND_TEMP);
    assert_int_equal(filename_parse("anything.tmp", &n), FILE_KIND_TEMP);
    assert_int_equal(n, 77); /* number only set for WAL and table files */
}

static void
test_parse_rejects_malformed_names(void **state)
{
    const char *bad[] = {
        "",
        ".sst",
        ".wal",
        "12.sst.bak",
        "abc.wal",
        "0000001x.sst",
        "x0000001.sst",
        "-1.sst",
        "+1.sst",
        " 1.sst",
        "1 .sst",
        "000001.SST",
        "000001.WAL",
        "000001.sst ",
        "000001sst",
        "000001.",
        "000001",
        "000001.log",
        "000001.ss",
        "1.2.sst",
        "000000000000000000001.sst",   /* 21 digits */
        "123456789012345678901.wal",   /* 21 digits */
        "99999999999999999999999.sst", /* far past UINT64_MAX */
        "MANIFEST-000001",
        "manifest",
        "MANIFEST.old",
        "LOCK.old",
        "lock",
        "LOCKX",
        "tmp",
        ".",
        "..",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t n = 55;
        if (filename_parse(bad[i], &n) != FILE_KIND_UNKNOWN) {
            fail_msg("\"%s\" parsed as kind %d", bad[i], filename_parse(bad[i], &n));
        }
        assert_int_equal(n, 55);
    }
}

/* filename_table(UINT64_MAX) produces 20 digits, which filename_parse refuses. */
static void
test_filename_round_trip_max(void **state)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, "d", UINT64_MAX);
    uint64_t n = 0;
    assert_int_equal(filename_parse(path + 2, &n), FILE_KIND_TABLE);
    assert_int_equal(n, UINT64_MAX);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filename_round_trip_max),
        cmocka_unit_test(test_wal_and_table_names_are_zero_padded),
        cmocka_unit_test(test_larger_numbers_grow_past_six_digits),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_long_directory_is_truncated_not_overflowed),
        cmocka_unit_test(test_parse_numbered_files),
        cmocka_unit_test(test_parse_round_trips_built_names),
        cmocka_unit_test(test_parse_fixed_names),
        cmocka_unit_test(test_parse_rejects_malformed_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
