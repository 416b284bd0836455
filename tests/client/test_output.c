#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "test_support.h"

/* An output writing into memory; finish() returns the text. */
typedef struct capture {
    output o;
    char *text;
    size_t size;
} capture;

static void
capture_start(capture *c, bool json, bool hex, bool raw)
{
    memset(c, 0, sizeof(*c));
    c->o.out = open_memstream(&c->text, &c->size);
    assert_non_null(c->o.out);
    c->o.err = c->o.out;
    c->o.json = json;
    c->o.hex = hex;
    c->o.raw = raw;
}

static char *
capture_finish(capture *c)
{
    fclose(c->o.out);
    return c->text;
}

/* Whether text is valid JSON, by python3 -m json.tool when it is there. */
static bool
python_accepts_json(const char *text)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        return true;
    }
    char *dir = test_make_temp_dir("output");
    char path[4096];
    snprintf(path, sizeof(path), "%s/out.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -m json.tool %s > /dev/null", path);
    int rc = system(cmd);
    test_remove_dir(dir);
    return rc == 0;
}

static void
test_values_for_people_raw_hex_and_json(void **state)
{
    static const uint8_t v[] = {'a', 0, 'b', '\n'};
    capture c;
    capture_start(&c, false, false, false);
    output_value(&c.o, true, v, sizeof(v));
    output_value(&c.o, false, NULL, 0);
    char *text = capture_finish(&c);
    assert_string_equal(text, "\"a\\x00b\\n\"\n(nil)\n");
    free(text);

    capture_start(&c, false, false, true);
    output_value(&c.o, true, v, sizeof(v));
    output_value(&c.o, false, NULL, 0);
    fflush(c.o.out);
    assert_int_equal(c.size, sizeof(v)); /* the bytes exactly, no newline, nothing for nil */
    assert_memory_equal(c.text, v, sizeof(v));
    free(capture_finish(&c));

    capture_start(&c, false, true, false);
    output_value(&c.o, true, v, sizeof(v));
    text = capture_finish(&c);
    assert_string_equal(text, "6100620a\n");
    free(text);

    capture_start(&c, true, false, false);
    output_value(&c.o, true, v, sizeof(v));
    output_value(&c.o, true, (const uint8_t *)"\xff", 1);
    output_value(&c.o, false, NULL, 0);
    text = capture_finish(&c);
    assert_string_equal(text,
                        "{\"found\":true,\"value\":\"a\\u0000b\\n\",\"value_hex\":\"6100620a\"}\n"
                        "{\"found\":true,\"value_hex\":\"ff\"}\n"
                        "{\"found\":false}\n");
    free(text);
}

static void
test_ok_and_errors(void **state)
{
    capture c;
    capture_start(&c, false, false, false);
    output_write_ok(&c.o, 7);
    output_error(&c.o, LSMKV_CLIENT_INVALID_ARGUMENT, "the key is empty");
    char *text = capture_finish(&c);
    assert_string_equal(text, "OK\n(error) INVALID_ARGUMENT: the key is empty\n");
    free(text);

    capture_start(&c, true, false, false);
    output_write_ok(&c.o, 7);
    text = capture_finish(&c);
    assert_string_equal(text, "{\"ok\":true,\"sequence\":7}\n");
    free(text);
}

static void
test_format_bytes(void **state)
{
    char buf[32];
    assert_string_equal(output_format_bytes(0, buf, sizeof(buf)), "0 B");
    assert_string_equal(output_format_bytes(1023, buf, sizeof(buf)), "1023 B");
    assert_string_equal(output_format_bytes(1536, buf, sizeof(buf)), "1.5 KiB");
    assert_string_equal(output_format_bytes(16u << 20, buf, sizeof(buf)), "16.0 MiB");
    assert_string_equal(output_format_bytes(UINT64_MAX, buf, sizeof(buf)), "16.0 EiB");
}

static lsmkv_client_stats
sample_stats(lsmkv_client_level_stats *levels)
{
    levels[0] = (lsmkv_client_level_stats){.level = 0, .tables = 2, .bytes = 3000};
    levels[1] = (lsmkv_client_level_stats){
        .level = 1, .tables = 4, .bytes = 5 << 20, .target_bytes = 16 << 20, .compactions = 3};
    return (lsmkv_client_stats){
        .memtable_entries = 12,
        .memtable_bytes = 2048,
        .sstables = 6,
        .level_count = 2,
        .levels = levels,
        .puts = 100,
        .gets = 20,
        .user_bytes_written = 1000,
        .wal_bytes_written = 1100,
        .flush_bytes_written = 900,
        .compaction_bytes_written = 500,
        .block_cache_hits = 3,
        .block_cache_misses = 1,
        .uptime_seconds = 3723,
        .server_version = "0.1.0 \"quoted\"",
        .requests = 130,
        .scans = 7,
        .batches = 8,
        .multi_gets = 9,
    };
}

static void
test_stats_table_for_people(void **state)
{
    lsmkv_client_level_stats levels[2];
    lsmkv_client_stats s = sample_stats(levels);
    assert_true(output_write_amplification(&s) > 2.49 && output_write_amplification(&s) < 2.51);
    capture c;
    capture_start(&c, false, false, false);
    output_stats(&c.o, &s);
    char *text = capture_finish(&c);
    static const char *const expected[] = {
        "memtable     12 entries, 2.0 KiB",
        "sstables     6 tables",
        "level     tables       bytes      target  compactions",
        "1              4     5.0 MiB    16.0 MiB            3",
        "100 puts, 20 gets",
        "write amp    2.50",
        "75.0% hits",
        "up 1h 2m 3s",
        "130 answered",
        "7 scan pages, 8 batches, 9 multi-gets",
    };
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        if (strstr(text, expected[i]) == NULL) {
            fail_msg("'%s' not in:\n%s", expected[i], text);
        }
    }
    free(text);

    lsmkv_client_stats empty = {0};
    capture_start(&c, false, false, false);
    output_stats(&c.o, &empty);
    text = capture_finish(&c);
    assert_non_null(strstr(text, "write amp    -"));
    free(text);
}

static void
test_stats_json_is_json_with_every_field(void **state)
{
    lsmkv_client_level_stats levels[2];
    lsmkv_client_stats s = sample_stats(levels);
    capture c;
    capture_start(&c, true, false, false);
    output_stats(&c.o, &s);
    char *text = capture_finish(&c);
    static const char *const fields[] = {
        "memtable_entries",
        "memtable_bytes",
        "immutable_memtables",
        "immutable_bytes",
        "sstables",
        "sstable_bytes",
        "levels",
        "puts",
        "gets",
        "deletes",
        "flushes",
        "compactions",
        "user_bytes_written",
        "wal_bytes_written",
        "flush_bytes_written",
        "compaction_bytes_read",
        "compaction_bytes_written",
        "wal_syncs",
        "write_slowdowns",
        "write_stalls",
        "stall_micros",
        "pending_compaction_bytes",
        "corruptions",
        "last_sequence",
        "open_tables",
        "block_cache_capacity",
        "block_cache_usage",
        "block_cache_hits",
        "block_cache_misses",
        "uptime_seconds",
        "server_version",
        "requests",
        "request_errors",
        "scans",
        "batches",
        "multi_gets",
        "target_bytes",
        "bytes_moved",
        "write_amplification",
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "\"%s\":", fields[i]);
        if (strstr(text, quoted) == NULL) {
            fail_msg("%s not in %s", quoted, text);
        }
    }
    assert_non_null(strstr(text, "\"server_version\":\"0.1.0 \\\"quoted\\\"\""));
    assert_true(python_accepts_json(text));
    free(text);
}

static void
test_tables_and_compaction(void **state)
{
    lsmkv_client_table_info t = {.id = 7,
                                 .level = 0,
                                 .size_bytes = 1536,
                                 .entries = 10,
                                 .tombstones = 1,
                                 .max_sequence = 20,
                                 .min_key = (uint8_t *)"a\0",
                                 .min_key_len = 2,
                                 .max_key = (uint8_t *)"\xff",
                                 .max_key_len = 1};
    lsmkv_client_table_list list = {.count = 1, .tables = &t};
    capture c;
    capture_start(&c, false, false, false);
    output_tables(&c.o, &list);
    lsmkv_client_table_list none = {0};
    output_tables(&c.o, &none);
    lsmkv_client_compaction_result nothing = {0};
    output_compaction(&c.o, &nothing);
    lsmkv_client_compaction_result r = {.input_tables = 3,
                                        .input_bytes = 4096,
                                        .output_bytes = 2048,
                                        .dropped_entries = 5,
                                        .outputs = list};
    output_compaction(&c.o, &r);
    char *text = capture_finish(&c);
    assert_non_null(strstr(text, "table 000007  level 0  1.5 KiB  10 entries (1 tombstones)  max "
                                 "sequence 20  keys \"a\\x00\" .. \"\\xff\"\n"));
    assert_non_null(strstr(text, "(nothing to flush)\n"));
    assert_non_null(strstr(text, "(nothing to compact)\n"));
    assert_non_null(
        strstr(text, "compacted 3 tables (4.0 KiB) into 1 (2.0 KiB), dropped 5 entries\n"));
    free(text);

    capture_start(&c, true, false, false);
    output_tables(&c.o, &list);
    output_compaction(&c.o, &r);
    text = capture_finish(&c);
    assert_non_null(strstr(text, "\"min_key\":\"a\\u0000\",\"min_key_hex\":\"6100\""));
    assert_non_null(strstr(text, "\"max_key_hex\":\"ff\""));
    assert_null(strstr(text, "\"max_key\":"));
    assert_non_null(strstr(text, "\"dropped_entries\":5"));
    char *newline = strchr(text, '\n');
    *newline = '\0';
    assert_true(python_accepts_json(text));
    assert_true(python_accepts_json(newline + 1));
    free(text);
}

static void
test_scan_lines_escape_keys_and_values(void **state)
{
    capture c;
    capture_start(&c, false, false, false);
    output_scan_pair(&c.o, 0, (const uint8_t *)"a\tb", 3, (const uint8_t *)"v\x00\n\"", 4);
    output_scan_pair(&c.o, 1, (const uint8_t *)"k", 1, (const uint8_t *)"", 0);
    output_scan_pair(&c.o, 2, (const uint8_t *)"only key", 8, NULL, 0); /* keys only */
    output_scan_end(&c.o, 3);
    char *text = capture_finish(&c);
    /* One line per pair, split at the one real tab; the key's own tab is escaped. */
    assert_string_equal(text, "a\\tb\tv\\x00\\n\"\n"
                              "k\t\n"
                              "only key\n");
    free(text);

    capture_start(&c, false, true, false);
    output_scan_pair(&c.o, 0, (const uint8_t *)"\x00\xff", 2, (const uint8_t *)"A", 1);
    output_scan_end(&c.o, 1);
    text = capture_finish(&c);
    assert_string_equal(text, "00ff\t41\n");
    free(text);

    capture_start(&c, false, false, false);
    output_scan_end(&c.o, 0);
    text = capture_finish(&c);
    assert_string_equal(text, ""); /* nothing in the range: nothing printed */
    free(text);
}

static void
test_scan_json_is_one_object(void **state)
{
    capture c;
    capture_start(&c, true, false, false);
    output_scan_pair(&c.o, 0, (const uint8_t *)"k1", 2, (const uint8_t *)"v\"1", 3);
    output_scan_pair(&c.o, 1, (const uint8_t *)"\xff", 1, (const uint8_t *)"\x00", 1);
    output_scan_end(&c.o, 2);
    char *text = capture_finish(&c);
    assert_string_equal(text,
                        "{\"pairs\":[{\"key\":\"k1\",\"key_hex\":\"6b31\",\"value\":\"v\\\"1\","
                        "\"value_hex\":\"762231\"},{\"key_hex\":\"ff\",\"value\":\"\\u0000\","
                        "\"value_hex\":\"00\"}],\"count\":2}\n");
    assert_true(python_accepts_json(text));
    free(text);

    capture_start(&c, true, false, false);
    output_scan_pair(&c.o, 0, (const uint8_t *)"k", 1, NULL, 0);
    output_scan_end(&c.o, 1);
    text = capture_finish(&c);
    assert_string_equal(text, "{\"pairs\":[{\"key\":\"k\",\"key_hex\":\"6b\"}],\"count\":1}\n");
    free(text);

    capture_start(&c, true, false, false);
    output_scan_end(&c.o, 0);
    text = capture_finish(&c);
    assert_string_equal(text, "{\"pairs\":[],\"count\":0}\n");
    assert_true(python_accepts_json(text));
    free(text);
}

static void
test_multi_get_and_batch_results(void **state)
{
    const uint8_t *keys[] = {(const uint8_t *)"a", (const uint8_t *)"b\x00", (const uint8_t *)"c"};
    const size_t lens[] = {1, 2, 1};
    lsmkv_client_value values[] = {
        {.found = true, .value = (uint8_t *)"x\ny", .value_len = 3},
        {.found = false},
        {.found = true, .value = (uint8_t *)"", .value_len = 0},
    };
    capture c;
    capture_start(&c, false, false, false);
    output_multi_get(&c.o, 3, keys, lens, values);
    output_batch_ok(&c.o, 9, 3);
    char *text = capture_finish(&c);
    assert_string_equal(text, "\"x\\ny\"\n(nil)\n\"\"\nOK (3 ops)\n");
    free(text);

    capture_start(&c, false, true, false);
    output_multi_get(&c.o, 3, keys, lens, values);
    text = capture_finish(&c);
    assert_string_equal(text, "780a79\n(nil)\n\n");
    free(text);

    capture_start(&c, true, false, false);
    output_multi_get(&c.o, 3, keys, lens, values);
    text = capture_finish(&c);
    assert_string_equal(
        text, "{\"results\":[{\"key\":\"a\",\"key_hex\":\"61\",\"found\":true,\"value\":"
              "\"x\\ny\",\"value_hex\":\"780a79\"},{\"key\":\"b\\u0000\",\"key_hex\":"
              "\"6200\",\"found\":false},{\"key\":\"c\",\"key_hex\":\"63\",\"found\":true,"
              "\"value\":\"\",\"value_hex\":\"\"}]}\n");
    assert_true(python_accepts_json(text));
    free(text);

    capture_start(&c, true, false, false);
    output_batch_ok(&c.o, 42, 0);
    text = capture_finish(&c);
    assert_string_equal(text, "{\"ok\":true,\"sequence\":42,\"ops\":0}\n");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_for_people_raw_hex_and_json),
        cmocka_unit_test(test_ok_and_errors),
        cmocka_unit_test(test_format_bytes),
        cmocka_unit_test(test_stats_table_for_people),
        cmocka_unit_test(test_stats_json_is_json_with_every_field),
        cmocka_unit_test(test_tables_and_compaction),
        cmocka_unit_test(test_scan_lines_escape_keys_and_values),
        cmocka_unit_test(test_scan_json_is_one_object),
        cmocka_unit_test(test_multi_get_and_batch_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
