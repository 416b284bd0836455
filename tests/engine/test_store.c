#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "file.h"
#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The public API end to end, in one process. */

/* ---- fixture --------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    lsmkv_options options;
    lsmkv *db;
} fixture;

/* Expected failures log at ERROR; keep the test output readable. */
static void
discard_log(void *ctx, lsmkv_log_level level, const char *line)
{
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("store");
    lsmkv_options_init(&f->options);
    f->options.sync = LSMKV_SYNC_NONE; /* the tests do not need power-loss durability */
    f->options.log_fn = discard_log;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static void
open_db(fixture *f)
{
    lsmkv_error err = {0};
    assert_null(f->db);
    if (lsmkv_open(f->dir, &f->options, &f->db, &err) != LSMKV_OK) {
        fail_msg("lsmkv_open: %s", err.message);
    }
}

static void
reopen_db(fixture *f)
{
    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    f->db = NULL;
    open_db(f);
}

static void
put_bytes(lsmkv *db, const void *key, size_t key_len, const void *value, size_t value_len)
{
    lsmkv_error err = {0};
    if (lsmkv_put(db, NULL, key, key_len, value, value_len, &err) != LSMKV_OK) {
        fail_msg("lsmkv_put: %s", err.message);
    }
}

static void
put_str(lsmkv *db, const char *key, const char *value)
{
    put_bytes(db, key, strlen(key), value, strlen(value));
}

static void
del_str(lsmkv *db, const char *key)
{
    lsmkv_error err = {0};
    if (lsmkv_delete(db, NULL, (const uint8_t *)key, strlen(key), &err) != LSMKV_OK) {
        fail_msg("lsmkv_delete: %s", err.message);
    }
}

/* value NULL: expect found = false. */
static void
expect_bytes(lsmkv *db, const void *key, size_t key_len, const void *value, size_t value_len)
{
    uint8_t *got = NULL;
    size_t got_len = 0;
    bool found = !value;
    lsmkv_error err = {0};
    if (lsmkv_get(db, key, key_len, &got, &got_len, &found, &err) != LSMKV_OK) {
        fail_msg("lsmkv_get: %s", err.message);
    }
    if (value == NULL) {
        assert_false(found);
        return;
    }
    assert_true(found);
    assert_non_null(got);
    assert_int_equal(got_len, value_len);
    assert_memory_equal(got, value, value_len);
    lsmkv_free(got);
}

static void
expect_str(lsmkv *db, const char *key, const char *value)
{
    expect_bytes(db, key, strlen(key), value, value ? strlen(value) : 0);
}

static lsmkv_stats
get_stats(lsmkv *db)
{
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    return s;
}

static void
flush_db(lsmkv *db)
{
    lsmkv_error err = {0};
    if (lsmkv_flush(db, NULL, &err) != LSMKV_OK) {
        fail_msg("lsmkv_flush: %s", err.message);
    }
}

static void
expect_message(const lsmkv_error *err, const char *needle)
{
    if (strstr(err->message, needle) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", needle, err->message);
    }
}

/* ---- put, get, delete ------------------------------------------------------------------ */

static void
test_put_get_delete(void **state)
{
    fixture *f = *state;
    open_db(f);
    expect_str(f->db, "missing", NULL);
    put_str(f->db, "k", "v1");
    expect_str(f->db, "k", "v1");
    put_str(f->db, "k", "v2"); /* overwrite */
    expect_str(f->db, "k", "v2");
    del_str(f->db, "k");
    expect_str(f->db, "k", NULL);
    del_str(f->db, "never-written"); /* deleting a missing key is fine */
    expect_str(f->db, "never-written", NULL);
    put_str(f->db, "k", "v3"); /* a key comes back after its delete */
    expect_str(f->db, "k", "v3");
}

static void
test_binary_keys_and_values(void **state)
{
    fixture *f = *state;
    open_db(f);
    const uint8_t k1[] = {0}, k2[] = {0, 0}, k3[] = {'a', 0, 'b'}, k4[] = {'a'};
    const uint8_t v1[] = {0, 1, 2, 0}, v2[] = {0xff, 0, 0xfe};
    put_bytes(f->db, k1, 1, v1, 4);
    put_bytes(f->db, k2, 2, v2, 3);
    put_bytes(f->db, k3, 3, k3, 3);
    put_bytes(f->db, k4, 1, "plain", 5);
    for (int round = 0; round < 2; round++) {
        expect_bytes(f->db, k1, 1, v1, 4);
        expect_bytes(f->db, k2, 2, v2, 3);
        expect_bytes(f->db, k3, 3, k3, 3);
        expect_bytes(f->db, k4, 1, "plain", 5);
        expect_bytes(f->db, "a\0", 2, NULL, 0); /* a prefix is another key */
        flush_db(f->db);
    }
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_delete(f->db, NULL, k2, 2, &err), LSMKV_OK);
    expect_bytes(f->db, k2, 2, NULL, 0);
    expect_bytes(f->db, k1, 1, v1, 4);
}

static void
test_empty_value(void **state)
{
    fixture *f = *state;
    open_db(f);
    put_bytes(f->db, "e", 1, NULL, 0);
    put_bytes(f->db, "f", 1, "", 0);
    for (int round = 0; round < 3; round++) {
        for (const char *k = "ef"; *k; k++) {
            uint8_t *got = NULL;
            size_t len = 99;
            bool found = false;
            assert_int_equal(lsmkv_get(f->db, (const uint8_t *)k, 1, &got, &len, &found, NULL),
                             LSMKV_OK);
            assert_true(found); /* empty is a value, not a delete */
            assert_int_equal(len, 0);
            assert_non_null(got);
            lsmkv_free(got);
        }
        if (round == 0) {
            flush_db(f->db);
        } else {
            reopen_db(f);
        }
    }
}

static void
test_one_mib_value(void **state)
{
    fixture *f = *state;
    open_db(f);
    size_t len = 1u << 20;
    uint8_t *value = malloc(len);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, value, len);
    put_bytes(f->db, "big", 3, value, len);
    expect_bytes(f->db, "big", 3, value, len);
    lsmkv_table_list written = {0};
    assert_int_equal(lsmkv_flush(f->db, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 1);
    assert_true(written.tables[0].size_bytes > len);
    lsmkv_table_list_fini(&written);
    expect_bytes(f->db, "big", 3, value, len);
    reopen_db(f);
    expect_bytes(f->db, "big", 3, value, len);
    free(value);
}

static void
test_invalid_keys_and_values(void **state)
{
    fixture *f = *state;
    f->options.max_key_bytes = 16;
    f->options.max_value_bytes = 100;
    open_db(f);
    uint8_t buf[200];
    memset(buf, 'x', sizeof(buf));
    lsmkv_error err = {0};
    uint8_t *value = NULL;
    size_t len = 0;
    bool found = false;

    assert_int_equal(lsmkv_put(f->db, NULL, NULL, 0, buf, 1, &err), LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "empty");
    assert_int_equal(lsmkv_put(f->db, NULL, buf, 0, buf, 1, &err), LSMKV_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_delete(f->db, NULL, buf, 0, &err), LSMKV_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_get(f->db, buf, 0, &value, &len, &found, &err), LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "empty");

    memset(&err, 0, sizeof(err));
    assert_int_equal(lsmkv_put(f->db, NULL, buf, 17, buf, 1, &err), LSMKV_INVALID_ARGUMENT);
    assert_int_equal(err.code, LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "17");
    expect_message(&err, "16");
    assert_int_equal(lsmkv_delete(f->db, NULL, buf, 17, &err), LSMKV_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_get(f->db, buf, 17, &value, &len, &found, &err), LSMKV_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_put(f->db, NULL, buf, 16, buf, 1, &err), LSMKV_OK); /* at the limit */

    memset(&err, 0, sizeof(err));
    assert_int_equal(lsmkv_put(f->db, NULL, buf, 1, buf, 101, &err), LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "101");
    expect_message(&err, "100");
    assert_int_equal(lsmkv_put(f->db, NULL, buf, 1, NULL, 5, &err), LSMKV_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_put(f->db, NULL, buf, 1, buf, 100, &err), LSMKV_OK);

    /* Nothing invalid was written or counted. */
    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.puts, 2);
    assert_int_equal(s.deletes, 0);
    assert_int_equal(s.last_sequence, 2);
    assert_null(value);
    expect_bytes(f->db, buf, 1, buf, 100);
}

/* ---- options and open ------------------------------------------------------------------- */

static void
expect_bad_option(fixture *f, const lsmkv_options *o, const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/never-created", f->dir);
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_open(dir, o, &db, &err), LSMKV_INVALID_ARGUMENT);
    assert_null(db);
    assert_int_equal(err.code, LSMKV_INVALID_ARGUMENT);
    expect_message(&err, name);
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0); /* rejected before touching the disk */
}

static void
test_options_validation(void **state)
{
    fixture *f = *state;
    lsmkv_options o;
#define BAD(field, value, name)                                                                    \
    do {                                                                                           \
        lsmkv_options_init(&o);                                                                    \
        o.field = value;                                                                           \
        expect_bad_option(f, &o, name);                                                            \
    } while (0)
    BAD(sync, (lsmkv_sync_mode)7, "sync");
    BAD(sync, LSMKV_SYNC_DEFAULT, "sync");
    BAD(memtable_bytes, 1024, "memtable_bytes");
    BAD(memtable_bytes, (size_t)4 << 30, "memtable_bytes");
    BAD(max_immutables, 0, "max_immutables");
    BAD(max_immutables, -1, "max_immutables");
    BAD(max_immutables, 17, "max_immutables");
    BAD(block_bytes, 16, "block_bytes");
    BAD(block_bytes, 2u << 20, "block_bytes");
    BAD(bloom_bits_per_key, -1, "bloom_bits_per_key");
    BAD(bloom_bits_per_key, 31, "bloom_bits_per_key");
    BAD(sstable_target_bytes, 1, "sstable_target_bytes");
    BAD(max_key_bytes, 0, "max_key_bytes");
    BAD(max_key_bytes, 2u << 20, "max_key_bytes");
    BAD(max_value_bytes, (size_t)2 << 30, "max_value_bytes");
    BAD(log_level, (lsmkv_log_level)-1, "log_level");
    BAD(log_level, (lsmkv_log_level)4, "log_level");
#undef BAD
    /* The boundaries themselves are fine. */
    lsmkv_options_init(&f->options);
    f->options.memtable_bytes = 64u << 10;
    f->options.max_immutables = 16;
    f->options.bloom_bits_per_key = 0;
    f->options.max_value_bytes = 0;
    f->options.block_bytes = 256;
    open_db(f);
    put_bytes(f->db, "k", 1, NULL, 0);
    expect_bytes(f->db, "k", 1, "", 0);
}

static void
test_default_options(void **state)
{
    fixture *f = *state;
    lsmkv_options o;
    memset(&o, 0xab, sizeof(o));
    lsmkv_options_init(&o);
    assert_true(o.create_if_missing);
    assert_false(o.error_if_exists);
    assert_int_equal(o.sync, LSMKV_SYNC_ALWAYS);
    assert_int_equal(o.memtable_bytes, 4u << 20);
    assert_int_equal(o.max_immutables, 2);
    assert_int_equal(o.max_key_bytes, 64u << 10);
    assert_int_equal(o.max_value_bytes, 16u << 20);
    assert_int_equal(o.log_level, LSMKV_LOG_WARN);
    assert_null(o.log_fn);
    /* NULL options mean the defaults. */
    assert_int_equal(lsmkv_open(f->dir, NULL, &f->db, NULL), LSMKV_OK);
    put_str(f->db, "a", "b");
    assert_int_equal(get_stats(f->db).wal_syncs, 1); /* sync=always */
}

static void
test_open_bad_dir(void **state)
{
    fixture *f = *state;
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_open(NULL, &f->options, &db, &err), LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "directory");
    assert_int_equal(lsmkv_open("", &f->options, &db, &err), LSMKV_INVALID_ARGUMENT);
    assert_null(db);
    size_t n = 5000;
    char *longdir = malloc(n + 1);
    memset(longdir, 'd', n);
    longdir[n] = '\0';
    assert_int_equal(lsmkv_open(longdir, &f->options, &db, &err), LSMKV_INVALID_ARGUMENT);
    free(longdir);
    /* A file where the directory should be. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/plain-file", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_not_equal(lsmkv_open(path, &f->options, &db, &err), LSMKV_OK);
    assert_null(db);
}

static void
test_create_if_missing_and_error_if_exists(void **state)
{
    fixture *f = *state;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/sub/store", f->dir);
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    f->options.create_if_missing = false;
    assert_int_equal(lsmkv_open(dir, &f->options, &db, &err), LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "create_if_missing");
    assert_int_equal(lsmkv_open(f->dir, &f->options, &db, &err), LSMKV_INVALID_ARGUMENT);

    f->options.create_if_missing = true;
    assert_int_equal(lsmkv_open(dir, &f->options, &db, &err), LSMKV_OK); /* parents too */
    put_str(db, "k", "v");
    assert_int_equal(lsmkv_close(db), LSMKV_OK);

    f->options.error_if_exists = true;
    db = NULL;
    assert_int_equal(lsmkv_open(dir, &f->options, &db, &err), LSMKV_INVALID_ARGUMENT);
    expect_message(&err, "exists");
    assert_null(db);
    f->options.error_if_exists = false;
    f->options.create_if_missing = false;
    assert_int_equal(lsmkv_open(dir, &f->options, &db, &err), LSMKV_OK);
    expect_str(db, "k", "v");
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
}

static void
test_second_open_is_busy(void **state)
{
    fixture *f = *state;
    open_db(f);
    lsmkv *second = NULL;
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_open(f->dir, &f->options, &second, &err), LSMKV_BUSY);
    assert_null(second);
    assert_int_equal(err.code, LSMKV_BUSY);
    put_str(f->db, "still", "works"); /* the failed open disturbed nothing */
    expect_str(f->db, "still", "works");
    reopen_db(f); /* once closed, the store opens again */
    expect_str(f->db, "still", "works");
    assert_int_equal(lsmkv_close(NULL), LSMKV_OK);
}

/* ---- durability across reopen ----------------------------------------------------------- */

static void
test_reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    open_db(f);
    put_str(f->db, "flushed", "f1");
    put_str(f->db, "flushed-then-deleted", "x");
    put_str(f->db, "overwritten", "old");
    flush_db(f->db);
    put_str(f->db, "memtable", "m1");
    put_str(f->db, "overwritten", "new");
    del_str(f->db, "flushed-then-deleted");
    put_str(f->db, "memtable-deleted", "y");
    del_str(f->db, "memtable-deleted");
    uint64_t seq = get_stats(f->db).last_sequence;
    assert_int_equal(seq, 8);

    for (int round = 0; round < 3; round++) {
        reopen_db(f);
        expect_str(f->db, "flushed", "f1");
        expect_str(f->db, "memtable", "m1");
        expect_str(f->db, "overwritten", "new");
        expect_str(f->db, "flushed-then-deleted", NULL);
        expect_str(f->db, "memtable-deleted", NULL);
        assert_int_equal(get_stats(f->db).last_sequence, seq);
    }
    /* New writes after a reopen are newer than everything recovered. */
    put_str(f->db, "overwritten", "newest");
    assert_int_equal(get_stats(f->db).last_sequence, seq + 1);
    lsmkv_compaction_result result = {0};
    assert_int_equal(lsmkv_compact(f->db, &result, NULL), LSMKV_OK);
    lsmkv_compaction_result_fini(&result);
    expect_str(f->db, "overwritten", "newest");
    reopen_db(f);
    expect_str(f->db, "overwritten", "newest");
    expect_str(f->db, "flushed-then-deleted", NULL);
}

static void
test_wal_segments_do_not_pile_up(void **state)
{
    fixture *f = *state;
    open_db(f);
    assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    put_str(f->db, "a", "1");
    flush_db(f->db);
    /* The flushed memtable's segment is gone; the new active one remains. */
    assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        put_str(f->db, key, "v");
        if (i % 2 == 0) {
            flush_db(f->db);
        }
        reopen_db(f);
        assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    }
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        expect_str(f->db, key, "v");
    }
    /* Reopening an idle store adds neither segments nor tables. */
    int tables = test_count_files(f->dir, ".sst");
    for (int i = 0; i < 3; i++) {
        reopen_db(f);
    }
    assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    assert_int_equal(test_count_files(f->dir, ".sst"), tables);
}

/* ---- flush and compact --------------------------------------------------------------------- */

static void
test_flush_returns_written_table(void **state)
{
    fixture *f = *state;
    open_db(f);
    lsmkv_table_list written;
    memset(&written, 0xff, sizeof(written));
    assert_int_equal(lsmkv_flush(f->db, &written, NULL), LSMKV_OK); /* nothing yet */
    assert_int_equal(written.count, 0);
    lsmkv_table_list_fini(&written);

    put_str(f->db, "b", "2");
    put_str(f->db, "a", "1");
    put_str(f->db, "c", "3");
    del_str(f->db, "d");
    memset(&written, 0, sizeof(written));
    assert_int_equal(lsmkv_flush(f->db, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 1);
    const lsmkv_table_info *t = &written.tables[0];
    assert_int_equal(t->level, 0);
    assert_int_equal(t->entries, 4);
    assert_int_equal(t->tombstones, 1);
    assert_int_equal(t->max_sequence, 4);
    assert_int_equal(t->min_key_len, 1);
    assert_memory_equal(t->min_key, "a", 1);
    assert_int_equal(t->max_key_len, 1);
    assert_memory_equal(t->max_key, "d", 1);
    assert_true(t->size_bytes > 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%06llu.sst", f->dir, (unsigned long long)t->id);
    assert_int_equal(test_file_size(path), (long long)t->size_bytes);
    lsmkv_table_list_fini(&written);
    assert_int_equal(written.count, 0);

    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.memtable_entries, 0);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(s.sstables, 1);
    assert_int_equal(s.levels[0].tables, 1);
    assert_int_equal(s.flushes, 1);
    assert_true(s.flush_bytes_written > 0);
    expect_str(f->db, "a", "1");
    expect_str(f->db, "d", NULL);

    /* Flushing again has nothing to write. */
    assert_int_equal(lsmkv_flush(f->db, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 0);
    assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).sstables, 1);
}

static void
test_compact_with_no_tables(void **state)
{
    fixture *f = *state;
    open_db(f);
    put_str(f->db, "only-in-memtable", "v");
    lsmkv_compaction_result result;
    memset(&result, 0xff, sizeof(result));
    assert_int_equal(lsmkv_compact(f->db, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, 0);
    assert_int_equal(result.input_bytes, 0);
    assert_int_equal(result.output_bytes, 0);
    assert_int_equal(result.dropped_entries, 0);
    assert_int_equal(result.outputs.count, 0);
    lsmkv_compaction_result_fini(&result);
    assert_int_equal(lsmkv_compact(f->db, NULL, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).compactions, 0);
    expect_str(f->db, "only-in-memtable", "v");
}

static void
test_compact_result_fields(void **state)
{
    fixture *f = *state;
    open_db(f);
    put_str(f->db, "a", "a1");
    put_str(f->db, "b", "b1");
    put_str(f->db, "c", "c1");
    flush_db(f->db);
    put_str(f->db, "a", "a2");
    del_str(f->db, "b");
    flush_db(f->db);
    del_str(f->db, "c");
    put_str(f->db, "d", "d1");
    flush_db(f->db);
    lsmkv_stats before = get_stats(f->db);
    assert_int_equal(before.levels[0].tables, 3);

    lsmkv_compaction_result result = {0};
    assert_int_equal(lsmkv_compact(f->db, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, 3);
    assert_int_equal(result.input_bytes, before.sstable_bytes);
    /* 7 entries in; a2 and d1 out. */
    assert_int_equal(result.dropped_entries, 5);
    assert_int_equal(result.outputs.count, 1);
    const lsmkv_table_info *t = &result.outputs.tables[0];
    assert_int_equal(t->level, 1);
    assert_int_equal(t->entries, 2);
    assert_int_equal(t->tombstones, 0);
    assert_int_equal(result.output_bytes, t->size_bytes);

    lsmkv_stats after = get_stats(f->db);
    assert_int_equal(after.compactions, 1);
    assert_int_equal(after.sstables, 1);
    assert_int_equal(after.levels[0].tables, 0);
    assert_int_equal(after.levels[1].tables, 1);
    assert_int_equal(after.sstable_bytes, result.output_bytes);
    assert_int_equal(after.compaction_bytes_read, result.input_bytes);
    assert_int_equal(after.compaction_bytes_written, result.output_bytes);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    lsmkv_compaction_result_fini(&result);

    expect_str(f->db, "a", "a2");
    expect_str(f->db, "b", NULL);
    expect_str(f->db, "c", NULL);
    expect_str(f->db, "d", "d1");
    reopen_db(f);
    expect_str(f->db, "a", "a2");
    expect_str(f->db, "c", NULL);
}

static void
test_compaction_everything_deleted(void **state)
{
    fixture *f = *state;
    open_db(f);
    put_str(f->db, "a", "1");
    flush_db(f->db);
    del_str(f->db, "a");
    flush_db(f->db);
    lsmkv_compaction_result result = {0};
    assert_int_equal(lsmkv_compact(f->db, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, 2);
    assert_int_equal(result.outputs.count, 0);
    assert_int_equal(result.dropped_entries, 2);
    lsmkv_compaction_result_fini(&result);
    assert_int_equal(get_stats(f->db).sstables, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
    expect_str(f->db, "a", NULL);
    reopen_db(f);
    expect_str(f->db, "a", NULL);
}

/* Fails creating any table file while armed (engine seam: file.h). */
static int
fail_table_creation(void *ctx, file_op op, const char *path)
{
    size_t len = strlen(path);
    return op == FILE_OP_OPEN && len > 4 && strcmp(path + len - 4, ".sst") == 0 ? ENOSPC : 0;
}

static void
test_flush_failure_is_reported_and_recovers(void **state)
{
    fixture *f = *state;
    open_db(f);
    put_str(f->db, "a", "1");
    file_set_fault_hook(fail_table_creation, NULL);
    lsmkv_table_list written = {0};
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_flush(f->db, &written, &err), LSMKV_NO_SPACE);
    assert_int_equal(written.count, 0);
    expect_message(&err, ".sst");
    /* The memtable stays readable and its segment stays on disk. */
    expect_str(f->db, "a", "1");
    assert_int_equal(test_count_files(f->dir, ".wal"), 2);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
    put_str(f->db, "b", "2"); /* writes go on: one memtable waiting is within limits */

    file_set_fault_hook(NULL, NULL);
    /* One attempt may have failed just before the hook went; the retry after it cannot. */
    int rc = lsmkv_flush(f->db, &written, NULL);
    if (rc != LSMKV_OK) {
        assert_int_equal(rc, LSMKV_NO_SPACE);
        rc = lsmkv_flush(f->db, &written, NULL);
    }
    assert_int_equal(rc, LSMKV_OK);
    lsmkv_table_list_fini(&written);
    assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(s.memtable_entries, 0);
    assert_int_equal(s.sstables, 2);
    assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    expect_str(f->db, "a", "1");
    expect_str(f->db, "b", "2");
    reopen_db(f);
    expect_str(f->db, "a", "1");
    expect_str(f->db, "b", "2");
}

/* Holds every table creation (the flush thread's) until released. */
typedef struct flush_gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool released;
} flush_gate;

static int
hold_table_creation(void *ctx, file_op op, const char *path)
{
    flush_gate *g = ctx;
    size_t len = strlen(path);
    if (op == FILE_OP_OPEN && len > 4 && strcmp(path + len - 4, ".sst") == 0) {
        pthread_mutex_lock(&g->mutex);
        while (!g->released) {
            pthread_cond_wait(&g->cond, &g->mutex);
        }
        pthread_mutex_unlock(&g->mutex);
    }
    return 0;
}

static void
test_write_deadline_while_flush_is_held(void **state)
{
    fixture *f = *state;
    f->options.memtable_bytes = 64u << 10;
    f->options.max_immutables = 1;
    open_db(f);
    flush_gate g = {.released = false};
    pthread_mutex_init(&g.mutex, NULL);
    pthread_cond_init(&g.cond, NULL);
    file_set_fault_hook(hold_table_creation, &g);

    /* With the only flush held, the store fills up: writes are slowed, then
     * stall, and a write with a deadline gives up at it. None fails otherwise. */
    lsmkv_write_options wo = {.timeout_ms = 1};
    uint8_t value[1024];
    memset(value, 'v', sizeof(value));
    int written = 0, rc = LSMKV_OK;
    for (; written < 1000; written++) {
        char key[32];
        snprintf(key, sizeof(key), "key%06d", written);
        rc = lsmkv_put(f->db, &wo, (const uint8_t *)key, strlen(key), value, sizeof(value), NULL);
        if (rc != LSMKV_OK) {
            break;
        }
    }
    assert_int_equal(rc, LSMKV_TIMED_OUT);
    assert_true(written > 64); /* more than one memtable's worth went in first */
    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.immutable_memtables, 1);
    assert_true(s.write_slowdowns > 0);
    assert_true(s.write_stalls > 0);
    assert_int_equal(s.puts, (uint64_t)written);

    pthread_mutex_lock(&g.mutex);
    g.released = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.mutex);
    put_str(f->db, "after", "release"); /* no deadline: waits for the flush */
    flush_db(f->db);
    file_set_fault_hook(NULL, NULL);
    for (int i = 0; i < written; i += 50) {
        char key[32];
        snprintf(key, sizeof(key), "key%06d", i);
        expect_bytes(f->db, key, strlen(key), value, sizeof(value));
    }
    expect_str(f->db, "after", "release");
    pthread_mutex_destroy(&g.mutex);
    pthread_cond_destroy(&g.cond);
}

/* ---- background flushes -------------------------------------------------------------------- */

static void
numbered(char *key, size_t key_cap, uint8_t *value, size_t *value_len, int i)
{
    snprintf(key, key_cap, "key-%06d", i);
    *value_len = 50 + (size_t)(i * 37) % 300;
    for (size_t j = 0; j < *value_len; j++) {
        value[j] = (uint8_t)(i * 13 + (int)j);
    }
}

static void
check_numbered(lsmkv *db, int n)
{
    char key[32];
    uint8_t value[400];
    size_t len;
    for (int i = 0; i < n; i++) {
        numbered(key, sizeof(key), value, &len, i);
        expect_bytes(db, key, strlen(key), value, len);
    }
}

static void
test_small_memtable_flushes_in_background(void **state)
{
    fixture *f = *state;
    f->options.memtable_bytes = 64u << 10;
    open_db(f);
    int n = 3000; /* ~600 KiB of data: about ten memtables */
    char key[32];
    uint8_t value[400];
    size_t len;
    for (int i = 0; i < n; i++) {
        numbered(key, sizeof(key), value, &len, i);
        put_bytes(f->db, key, strlen(key), value, len);
    }
    check_numbered(f->db, n); /* reads span memtables and tables */
    flush_db(f->db);
    lsmkv_stats s = get_stats(f->db);
    assert_true(s.flushes > 1);
    assert_true(s.sstables > 1); /* one per rotated memtable, not one manual flush */
    assert_int_equal(s.sstables, s.flushes);
    assert_int_equal(s.memtable_entries, 0);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    check_numbered(f->db, n);
    lsmkv_compaction_result result = {0};
    assert_int_equal(lsmkv_compact(f->db, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, s.sstables);
    assert_int_equal(result.dropped_entries, 0);
    lsmkv_compaction_result_fini(&result);
    reopen_db(f);
    check_numbered(f->db, n);
}

/* ---- a random workload against a model ----------------------------------------------------- */

#define MODEL_KEYS 64

typedef struct model {
    uint8_t key[MODEL_KEYS][8];
    size_t key_len[MODEL_KEYS];
    bool present[MODEL_KEYS];
    uint8_t value[MODEL_KEYS][64];
    size_t value_len[MODEL_KEYS];
} model;

static void
check_model(lsmkv *db, const model *m)
{
    for (int i = 0; i < MODEL_KEYS; i++) {
        expect_bytes(db, m->key[i], m->key_len[i], m->present[i] ? m->value[i] : NULL,
                     m->value_len[i]);
    }
}

static void
test_random_workload_matches_model(void **state)
{
    fixture *f = *state;
    open_db(f);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    model *m = calloc(1, sizeof(*m));
    for (int i = 0; i < MODEL_KEYS; i++) {
        /* Short binary keys, NULs included; distinct by their first byte. */
        m->key_len[i] = 1 + test_rng_below(&rng, 8);
        test_rng_bytes(&rng, m->key[i], m->key_len[i]);
        m->key[i][0] = (uint8_t)(i * 4);
    }
    for (int step = 0; step < 2000; step++) {
        int i = (int)test_rng_below(&rng, MODEL_KEYS);
        uint64_t op = test_rng_below(&rng, 100);
        if (op < 60) {
            m->value_len[i] = test_rng_below(&rng, 65);
            test_rng_bytes(&rng, m->value[i], m->value_len[i]);
            put_bytes(f->db, m->key[i], m->key_len[i], m->value[i], m->value_len[i]);
            m->present[i] = true;
        } else if (op < 85) {
            assert_int_equal(lsmkv_delete(f->db, NULL, m->key[i], m->key_len[i], NULL), LSMKV_OK);
            m->present[i] = false;
        } else if (op < 97) {
            check_model(f->db, m);
        } else if (op < 98) {
            flush_db(f->db);
        } else if (op < 99) {
            assert_int_equal(lsmkv_compact(f->db, NULL, NULL), LSMKV_OK);
        } else {
            reopen_db(f);
        }
    }
    check_model(f->db, m);
    reopen_db(f);
    check_model(f->db, m);
    free(m);
}

/* ---- sync modes and statistics ------------------------------------------------------------- */

static void
test_per_write_sync_override(void **state)
{
    fixture *f = *state;
    open_db(f); /* the store's mode: none */
    lsmkv_write_options always = {.sync = LSMKV_SYNC_ALWAYS};
    lsmkv_write_options none = {.sync = LSMKV_SYNC_NONE};
    lsmkv_write_options dflt = {.sync = LSMKV_SYNC_DEFAULT};
    put_str(f->db, "a", "1");
    assert_int_equal(lsmkv_put(f->db, &dflt, (const uint8_t *)"a", 1, NULL, 0, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).wal_syncs, 0);
    assert_int_equal(lsmkv_put(f->db, &always, (const uint8_t *)"a", 1, NULL, 0, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).wal_syncs, 1);
    assert_int_equal(lsmkv_delete(f->db, &always, (const uint8_t *)"a", 1, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).wal_syncs, 2);
    assert_int_equal(lsmkv_put(f->db, &none, (const uint8_t *)"a", 1, NULL, 0, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).wal_syncs, 2);

    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    f->db = NULL;
    f->options.sync = LSMKV_SYNC_ALWAYS;
    open_db(f);
    put_str(f->db, "b", "1");
    assert_int_equal(get_stats(f->db).wal_syncs, 1);
    assert_int_equal(lsmkv_put(f->db, &none, (const uint8_t *)"b", 1, NULL, 0, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_delete(f->db, &none, (const uint8_t *)"b", 1, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).wal_syncs, 1);
    assert_int_equal(lsmkv_put(f->db, &dflt, (const uint8_t *)"b", 1, NULL, 0, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f->db).wal_syncs, 2);
}

static void
test_stats_counters(void **state)
{
    fixture *f = *state;
    open_db(f);
    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.puts, 0);
    assert_int_equal(s.last_sequence, 0);
    assert_int_equal(s.wal_bytes_written, 0);

    put_str(f->db, "key1", "value1"); /* 10 bytes */
    put_str(f->db, "k2", "");         /* 2 bytes */
    del_str(f->db, "key1");           /* 4 bytes */
    del_str(f->db, "nothing");        /* 7 bytes */
    expect_str(f->db, "k2", "");
    expect_str(f->db, "key1", NULL);
    expect_str(f->db, "zzz", NULL);
    s = get_stats(f->db);
    assert_int_equal(s.puts, 2);
    assert_int_equal(s.deletes, 2);
    assert_int_equal(s.gets, 3);
    assert_int_equal(s.user_bytes_written, 23);
    assert_true(s.wal_bytes_written > s.user_bytes_written); /* framing and encoding */
    assert_int_equal(s.last_sequence, 4);
    assert_int_equal(s.memtable_entries, 4);
    assert_true(s.memtable_bytes > 0);
    assert_int_equal(s.sstables, 0);
    assert_int_equal(s.flushes, 0);
    assert_int_equal(s.compactions, 0);
    assert_int_equal(s.corruptions, 0);
    assert_int_equal(s.write_stalls, 0);
    uint64_t wal = s.wal_bytes_written;
    put_str(f->db, "k3", "v");
    assert_true(get_stats(f->db).wal_bytes_written > wal);
}

/* ---- logging and version -------------------------------------------------------------------- */

typedef struct log_capture {
    pthread_mutex_t mutex;
    int lines[4]; /* per level */
    char last[4][512];
} log_capture;

static void
capture_log(void *ctx, lsmkv_log_level level, const char *line)
{
    log_capture *c = ctx;
    pthread_mutex_lock(&c->mutex);
    if ((int)level >= 0 && level <= LSMKV_LOG_DEBUG) {
        c->lines[level]++;
        snprintf(c->last[level], sizeof(c->last[level]), "%s", line);
    }
    pthread_mutex_unlock(&c->mutex);
}

static void
run_logged_session(fixture *f, log_capture *c, lsmkv_log_level level)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->mutex, NULL);
    f->options.log_level = level;
    f->options.log_fn = capture_log;
    f->options.log_ctx = c;
    open_db(f);
    put_str(f->db, "k", "v");
    flush_db(f->db);
    assert_int_equal(lsmkv_compact(f->db, NULL, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    f->db = NULL;
    pthread_mutex_destroy(&c->mutex);
}

static void
test_log_callback_honours_level(void **state)
{
    fixture *f = *state;
    log_capture c;
    run_logged_session(f, &c, LSMKV_LOG_INFO);
    assert_true(c.lines[LSMKV_LOG_INFO] > 0);
    assert_int_equal(c.lines[LSMKV_LOG_DEBUG], 0);
    assert_true(strlen(c.last[LSMKV_LOG_INFO]) > 0);
    assert_null(strchr(c.last[LSMKV_LOG_INFO], '\n'));

    run_logged_session(f, &c, LSMKV_LOG_WARN);
    assert_int_equal(c.lines[LSMKV_LOG_INFO], 0);
    assert_int_equal(c.lines[LSMKV_LOG_DEBUG], 0);

    /* A failed open is reported at ERROR. */
    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.mutex, NULL);
    f->options.log_level = LSMKV_LOG_ERROR;
    FILE *fp = fopen(test_path(f->dir, "MANIFEST"), "w"); /* a damaged manifest */
    assert_non_null(fp);
    fputs("garbage", fp);
    fclose(fp);
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_open(f->dir, &f->options, &db, &err), LSMKV_CORRUPTION);
    expect_message(&err, "MANIFEST");
    assert_int_equal(c.lines[LSMKV_LOG_ERROR], 1);
    assert_non_null(strstr(c.last[LSMKV_LOG_ERROR], "MANIFEST"));
    assert_int_equal(c.lines[LSMKV_LOG_INFO] + c.lines[LSMKV_LOG_WARN], 0);
    pthread_mutex_destroy(&c.mutex);
}

static void
test_version_string(void **state)
{
    const char *v = lsmkv_version();
    assert_non_null(v);
    int dots = 0;
    for (const char *p = v; *p; p++) {
        if (*p == '.') {
            dots++;
            assert_true(p > v && isdigit((unsigned char)p[-1]) && isdigit((unsigned char)p[1]));
        } else {
            assert_true(isdigit((unsigned char)*p));
        }
    }
    assert_int_equal(dots, 2);
    assert_true(isdigit((unsigned char)v[0]));
}

static void
test_status_names(void **state)
{
    assert_string_equal(lsmkv_status_name(LSMKV_BUSY), "BUSY");
    assert_string_equal(lsmkv_status_name(9999), "UNKNOWN");
    assert_int_equal(lsmkv_status_grpc_code(LSMKV_INVALID_ARGUMENT), 3);
    lsmkv_table_list empty = {0};
    lsmkv_table_list_fini(&empty);
    lsmkv_compaction_result none = {0};
    lsmkv_compaction_result_fini(&none);
    lsmkv_free(NULL);
}

/* ---- writes that must not wait (lsmkv_write_options.no_wait) ------------------------- */

static int
put_no_wait(lsmkv *db, lsmkv_sync_mode sync, const char *key, const char *value)
{
    lsmkv_write_options wo = {.sync = sync, .no_wait = true};
    lsmkv_error err = {0};
    int rc = lsmkv_put(db, &wo, (const uint8_t *)key, strlen(key), (const uint8_t *)value,
                       strlen(value), &err);
    if (rc == LSMKV_WOULD_BLOCK) {
        assert_true(strlen(err.message) > 0);
    }
    return rc;
}

static void
test_no_wait_write_fails_rather_than_waits(void **state)
{
    fixture *f = *state;
    f->options.memtable_bytes = 64 * 1024;
    open_db(f);
    /* Nothing to wait for: done at once. */
    assert_int_equal(put_no_wait(f->db, LSMKV_SYNC_DEFAULT, "a", "1"), LSMKV_OK);
    expect_str(f->db, "a", "1");
    /* A sync write waits for its fsync. */
    assert_int_equal(put_no_wait(f->db, LSMKV_SYNC_ALWAYS, "s", "1"), LSMKV_WOULD_BLOCK);
    expect_str(f->db, "s", NULL);
    /* A full memtable must be switched (a WAL sync, a new file) first. */
    size_t big_len = 64 * 1024;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    put_bytes(f->db, "big", 3, big, big_len);
    free(big);
    assert_int_equal(put_no_wait(f->db, LSMKV_SYNC_NONE, "c", "1"), LSMKV_WOULD_BLOCK);
    expect_str(f->db, "c", NULL);
    /* A write that may wait switches it; then no_wait writes go through again. */
    put_str(f->db, "d", "1");
    assert_int_equal(put_no_wait(f->db, LSMKV_SYNC_NONE, "c", "1"), LSMKV_OK);
    expect_str(f->db, "c", "1");
    /* Refused writes were never applied, even after a restart. */
    reopen_db(f);
    expect_str(f->db, "s", NULL);
    expect_str(f->db, "c", "1");
}

static int
get_no_wait(lsmkv *db, const char *key, const char *expected)
{
    uint8_t *value = NULL;
    size_t len = 0;
    bool found = false;
    lsmkv_error err = {0};
    int rc = lsmkv_get_no_wait(db, (const uint8_t *)key, strlen(key), &value, &len, &found, &err);
    if (rc == LSMKV_OK) {
        assert_int_equal(found, expected != NULL);
        if (expected != NULL) {
            assert_int_equal(len, strlen(expected));
            assert_memory_equal(value, expected, len);
        }
        lsmkv_free(value);
    } else {
        assert_int_equal(rc, LSMKV_WOULD_BLOCK);
        assert_true(strlen(err.message) > 0);
    }
    return rc;
}

static void
test_get_no_wait_answers_from_memory_only(void **state)
{
    fixture *f = *state;
    f->options.mmap_reads = false; /* blocks come from pread or the block cache */
    open_db(f);
    put_str(f->db, "m", "memtable");
    assert_int_equal(get_no_wait(f->db, "m", "memtable"), LSMKV_OK);
    assert_int_equal(get_no_wait(f->db, "absent", NULL), LSMKV_OK);
    assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    reopen_db(f);
    /* After a restart the table's file is not open yet: that would read the disk. */
    assert_int_equal(get_no_wait(f->db, "m", NULL), LSMKV_WOULD_BLOCK);
    /* A blocking get opens it and caches the block; then memory is enough. */
    expect_str(f->db, "m", "memtable");
    assert_int_equal(get_no_wait(f->db, "m", "memtable"), LSMKV_OK);
    /* A key the bloom filter rules out needs no block at all. */
    assert_int_equal(get_no_wait(f->db, "n", NULL), LSMKV_OK);

    /* Without a block cache, a block not mapped is always a disk read. */
    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    f->db = NULL;
    f->options.block_cache_bytes = 0;
    open_db(f);
    expect_str(f->db, "m", "memtable");
    assert_int_equal(get_no_wait(f->db, "m", NULL), LSMKV_WOULD_BLOCK);

    /* Mapped, a block read once is resident in memory. */
    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    f->db = NULL;
    f->options.mmap_reads = true;
    open_db(f);
    expect_str(f->db, "m", "memtable");
    assert_int_equal(get_no_wait(f->db, "m", "memtable"), LSMKV_OK);
    lsmkv_stats stats = get_stats(f->db);
    assert_int_equal(stats.gets, 2); /* a refused get is not counted */
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_get_delete),
        T(test_no_wait_write_fails_rather_than_waits),
        T(test_get_no_wait_answers_from_memory_only),
        T(test_binary_keys_and_values),
        T(test_empty_value),
        T(test_one_mib_value),
        T(test_invalid_keys_and_values),
        T(test_options_validation),
        T(test_default_options),
        T(test_open_bad_dir),
        T(test_create_if_missing_and_error_if_exists),
        T(test_second_open_is_busy),
        T(test_reopen_keeps_everything),
        T(test_wal_segments_do_not_pile_up),
        T(test_flush_returns_written_table),
        T(test_compact_with_no_tables),
        T(test_compact_result_fields),
        T(test_compaction_everything_deleted),
        T(test_flush_failure_is_reported_and_recovers),
        T(test_write_deadline_while_flush_is_held),
        T(test_small_memtable_flushes_in_background),
        T(test_random_workload_matches_model),
        T(test_per_write_sync_override),
        T(test_stats_counters),
        T(test_log_callback_honours_level),
        T(test_version_string),
        T(test_status_names),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
