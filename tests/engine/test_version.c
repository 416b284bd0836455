#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/*
 * Versions over real tables: search order, point lookups across overlapping
 * level-0 tables and deeper levels (with snapshots), key-range and bloom
 * skipping (reads counted through the file fault hook), stats, iteration and
 * reference counts.
 */

#include "file.h"
#include "filename.h"
#include "internal_key.h"
#include "sstable_builder.h"
#include "table_info.h"
#include "test_support.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture --------------------------------------------------------------------- */

#define MAX_TABLES 16

typedef struct fixture {
    char *dir;
    table_cache *cache; /* no block cache: every read reaches the file */
    table *tables[MAX_TABLES];
    size_t count;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("version");
    f->cache = table_cache_new(f->dir, NULL, 1000, false);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    file_set_fault_hook(NULL, NULL);
    for (size_t i = 0; i < f->count; i++) {
        table_unref(f->tables[i]);
    }
    table_cache_free(f->cache);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* One entry of a table under construction: a TOMBSTONE (NULL) value makes a tombstone. */
typedef struct entry {
    const char *key;
    uint64_t seq;
    const char *value;
} entry;

#define TOMBSTONE NULL

/*
 * Writes table `id` at `level` from entries (in internal-key order), opens it
 * and keeps it in the fixture (which holds one reference).
 */
static table *
make_table(fixture *f, uint64_t id, uint32_t level, const entry *entries, size_t n, int bloom_bits)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, id);
    sstable_builder_options bo = {.block_bytes = 4096, .bloom_bits_per_key = bloom_bits};
    sstable_builder *b = NULL;
    assert_int_equal(sstable_builder_open(path, &bo, &b, NULL), LSMKV_OK);
    buffer key;
    buffer_init(&key);
    for (size_t i = 0; i < n; i++) {
        buffer_clear(&key);
        value_type type = entries[i].value == TOMBSTONE ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE;
        internal_key_append(&key, slice_make(entries[i].key, strlen(entries[i].key)),
                            entries[i].seq, type);
        const char *v = entries[i].value ? entries[i].value : "";
        assert_int_equal(sstable_builder_add(b, buffer_slice(&key), slice_make(v, strlen(v)), NULL),
                         LSMKV_OK);
    }
    buffer_fini(&key);
    sstable_properties props;
    sstable_properties_init(&props);
    assert_int_equal(sstable_builder_finish(b, &props, NULL), LSMKV_OK);
    lsmkv_table_info info = {
        .id = id,
        .level = level,
        .size_bytes = props.file_size,
        .entries = props.entries,
        .tombstones = props.tombstones,
        .max_sequence = props.max_sequence,
    };
    table_info_set_keys(&info, buffer_slice(&props.min_key), buffer_slice(&props.max_key));
    sstable_properties_fini(&props);
    table *t = NULL;
    lsmkv_error err = {0};
    if (table_open(f->cache, &info, &t, &err) != LSMKV_OK) {
        fail_msg("table_open: %s", err.message);
    }
    table_info_fini(&info);
    assert_true(f->count < MAX_TABLES);
    f->tables[f->count++] = t;
    return t;
}

#define MAKE(f, id, level, ...)                                                                    \
    make_table((f), (id), (level), (const entry[]){__VA_ARGS__},                                   \
               sizeof((const entry[]){__VA_ARGS__}) / sizeof(entry), 10)

static version *
fixture_version(fixture *f)
{
    return version_new(f->tables, f->count);
}

/* Looks up key at snapshot and checks the answer: value NULL with found for a tombstone. */
static void
expect_get(version *v, const char *key, uint64_t snapshot, bool found, uint64_t seq,
           const char *value)
{
    lookup_result r;
    lookup_result_init(&r);
    lsmkv_error err = {0};
    int rc = version_get(v, slice_make(key, strlen(key)), snapshot, &r, &err);
    if (rc != LSMKV_OK) {
        fail_msg("version_get(%s): %s", key, err.message);
    }
    if (r.found != found) {
        fail_msg("version_get(%s @%llu): found %d, expected %d", key, (unsigned long long)snapshot,
                 r.found, found);
    }
    if (found) {
        assert_int_equal(r.sequence, seq);
        if (value == TOMBSTONE) {
            assert_int_equal(r.type, VALUE_TYPE_DELETION);
        } else {
            assert_int_equal(r.type, VALUE_TYPE_VALUE);
            assert_true(slice_equal(buffer_slice(&r.value), slice_make(value, strlen(value))));
        }
    }
    lookup_result_fini(&r);
}

/* ---- search order ----------------------------------------------------------------- */

static void
test_search_order(void **state)
{
    fixture *f = *state;
    MAKE(f, 1, 2, {"a", 1, "x"}, {"z", 1, "x"});
    MAKE(f, 2, 1, {"m", 2, "x"}, {"p", 2, "x"});
    MAKE(f, 3, 0, {"c", 5, "x"});
    MAKE(f, 4, 1, {"b", 3, "x"}, {"d", 3, "x"});
    MAKE(f, 5, 0, {"c", 9, "x"});
    MAKE(f, 6, 0, {"c", 7, "x"});
    MAKE(f, 7, 0, {"d", 9, "x"}); /* ties with table 5: the higher id is newer */
    version *v = fixture_version(f);
    uint64_t expected[] = {7, 5, 6, 3, 4, 2, 1};
    assert_int_equal(version_table_count(v), 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(table_info(version_table(v, i))->id, expected[i]);
    }
    version_unref(v);
}

static void
test_empty_version(void **state)
{
    version *v = version_new(NULL, 0);
    assert_int_equal(version_table_count(v), 0);
    expect_get(v, "a", SEQUENCE_MAX, false, 0, NULL);
    lsmkv_level_stats levels[LSMKV_MAX_LEVELS];
    memset(levels, 0xff, sizeof(levels));
    version_level_stats(v, levels);
    for (int i = 0; i < LSMKV_MAX_LEVELS; i++) {
        assert_int_equal(levels[i].tables, 0);
        assert_int_equal(levels[i].bytes, 0);
    }
    iterator *it = version_iterator_new(v);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    version_unref(v);
}

/* ---- lookups ------------------------------------------------------------------------- */

/* Level 1 holds the oldest data, two overlapping level-0 tables newer versions. */
static version *
layered_version(fixture *f)
{
    MAKE(f, 1, 1, {"a", 1, "a-l1"}, {"d", 2, "d-l1"}, {"k", 3, "k-l1"});
    MAKE(f, 2, 1, {"p", 4, "p-l1"}, {"s", 5, "s-l1"});
    MAKE(f, 3, 0, {"d", 6, TOMBSTONE}, {"k", 7, "k-old"}, {"m", 8, "m-old"});
    MAKE(f, 4, 0, {"k", 10, "k-new"}, {"k", 9, "k-9"}, {"p", 11, "p-new"});
    return fixture_version(f);
}

static void
test_get_newest_across_levels(void **state)
{
    fixture *f = *state;
    version *v = layered_version(f);
    expect_get(v, "k", SEQUENCE_MAX, true, 10, "k-new");  /* newest L0 */
    expect_get(v, "m", SEQUENCE_MAX, true, 8, "m-old");   /* older L0 only */
    expect_get(v, "p", SEQUENCE_MAX, true, 11, "p-new");  /* L0 over L1 */
    expect_get(v, "a", SEQUENCE_MAX, true, 1, "a-l1");    /* L1 only */
    expect_get(v, "s", SEQUENCE_MAX, true, 5, "s-l1");    /* second L1 table */
    expect_get(v, "d", SEQUENCE_MAX, true, 6, TOMBSTONE); /* tombstone shadows L1 */
    expect_get(v, "b", SEQUENCE_MAX, false, 0, NULL);     /* between keys */
    expect_get(v, "n", SEQUENCE_MAX, false, 0, NULL);     /* in the L1 gap */
    expect_get(v, "0", SEQUENCE_MAX, false, 0, NULL);     /* before everything */
    expect_get(v, "zz", SEQUENCE_MAX, false, 0, NULL);    /* after everything */
    version_unref(v);
}

static void
test_get_at_snapshot(void **state)
{
    fixture *f = *state;
    version *v = layered_version(f);
    expect_get(v, "k", 9, true, 9, "k-9");
    expect_get(v, "k", 8, true, 7, "k-old");
    expect_get(v, "k", 6, true, 3, "k-l1");
    expect_get(v, "k", 2, false, 0, NULL);
    expect_get(v, "d", 5, true, 2, "d-l1"); /* before the delete */
    expect_get(v, "p", 10, true, 4, "p-l1");
    expect_get(v, "m", 7, false, 0, NULL);
    expect_get(v, "a", 0, false, 0, NULL);
    version_unref(v);
}

/* Counts data-block reads per table file through the fault hook (failing none). */
typedef struct read_counter {
    int reads[MAX_TABLES + 1];
} read_counter;

static int
count_reads(void *ctx, file_op op, const char *path)
{
    read_counter *rc = ctx;
    uint64_t number;
    const char *name = strrchr(path, '/');
    if (op == FILE_OP_READ && name != NULL &&
        filename_parse(name + 1, &number) == FILE_KIND_TABLE && number <= MAX_TABLES) {
        rc->reads[number]++;
    }
    return 0;
}

static void
test_get_skips_tables_by_key_range(void **state)
{
    fixture *f = *state;
    /* No bloom filters: only the key ranges keep tables from being read. */
    make_table(f, 1, 1, (const entry[]){{"a", 1, "1"}, {"c", 1, "1"}}, 2, 0);
    make_table(f, 2, 1, (const entry[]){{"m", 1, "2"}, {"p", 1, "2"}}, 2, 0);
    make_table(f, 3, 0, (const entry[]){{"b", 5, "3"}, {"e", 5, "3"}}, 2, 0);
    make_table(f, 4, 0, (const entry[]){{"n", 6, "4"}, {"o", 6, "4"}}, 2, 0);
    version *v = fixture_version(f);
    read_counter counter;
    memset(&counter, 0, sizeof(counter));
    file_set_fault_hook(count_reads, &counter);

    expect_get(v, "z", SEQUENCE_MAX, false, 0, NULL);
    expect_get(v, "f", SEQUENCE_MAX, false, 0, NULL); /* in no range at all */
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(counter.reads[i], 0);
    }
    expect_get(v, "bb", SEQUENCE_MAX, false, 0, NULL); /* ranges of tables 1 and 3 */
    assert_int_equal(counter.reads[1], 1);
    assert_int_equal(counter.reads[3], 1);
    assert_int_equal(counter.reads[2] + counter.reads[4], 0);
    expect_get(v, "n", SEQUENCE_MAX, true, 6, "4"); /* found in L0: L1 not read */
    assert_int_equal(counter.reads[4], 1);
    assert_int_equal(counter.reads[2], 0);
    assert_int_equal(counter.reads[1] + counter.reads[3], 2);
    file_set_fault_hook(NULL, NULL);
    version_unref(v);
}

static void
test_get_skips_tables_by_bloom_filter(void **state)
{
    fixture *f = *state;
    entry many[64];
    char keys[64][8];
    for (int i = 0; i < 64; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%03d", i * 2); /* even numbers only */
        many[i] = (entry){keys[i], 1, "v"};
    }
    make_table(f, 1, 0, many, 64, 20);
    version *v = fixture_version(f);
    read_counter counter;
    memset(&counter, 0, sizeof(counter));
    file_set_fault_hook(count_reads, &counter);
    int missing = 0;
    for (int i = 1; i < 128; i += 2) { /* odd: in range, never present */
        char key[8];
        snprintf(key, sizeof(key), "k%03d", i);
        expect_get(v, key, SEQUENCE_MAX, false, 0, NULL);
        missing++;
    }
    /* 20 bits per key: false positives are rare; most misses read nothing. */
    assert_true(counter.reads[1] < missing / 4);
    expect_get(v, "k010", SEQUENCE_MAX, true, 1, "v");
    file_set_fault_hook(NULL, NULL);
    version_unref(v);
}

static void
test_get_reports_read_error(void **state)
{
    fixture *f = *state;
    MAKE(f, 1, 0, {"a", 1, "x"});
    MAKE(f, 2, 1, {"b", 1, "y"});
    version *v = fixture_version(f);
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, 1);
    test_flip_bit(path, 3, 0); /* inside the only data block of table 1 */
    lookup_result r;
    lookup_result_init(&r);
    lsmkv_error err = {0};
    assert_int_equal(version_get(v, slice_make("a", 1), SEQUENCE_MAX, &r, &err), LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, "000001.sst"));
    lookup_result_fini(&r);
    expect_get(v, "b", SEQUENCE_MAX, true, 1, "y"); /* other tables still read */
    version_unref(v);
}

/* ---- stats and iteration --------------------------------------------------------------- */

static void
test_level_stats(void **state)
{
    fixture *f = *state;
    version *v = layered_version(f);
    MAKE(f, 5, 3, {"x", 1, "x"});
    version_unref(v);
    v = fixture_version(f);
    lsmkv_level_stats levels[LSMKV_MAX_LEVELS];
    version_level_stats(v, levels);
    uint64_t expected_bytes[LSMKV_MAX_LEVELS] = {0};
    for (size_t i = 0; i < f->count; i++) {
        const lsmkv_table_info *info = table_info(f->tables[i]);
        expected_bytes[info->level] += info->size_bytes;
    }
    assert_int_equal(levels[0].tables, 2);
    assert_int_equal(levels[1].tables, 2);
    assert_int_equal(levels[2].tables, 0);
    assert_int_equal(levels[3].tables, 1);
    for (int i = 0; i < LSMKV_MAX_LEVELS; i++) {
        assert_int_equal(levels[i].bytes, expected_bytes[i]);
        assert_true(levels[i].tables == 0 || levels[i].bytes > 0);
    }
    version_unref(v);
}

static void
test_iterator_merges_all(void **state)
{
    fixture *f = *state;
    version *v = layered_version(f);
    const char *expected = "a@1 d@6 d@2 k@10 k@9 k@7 k@3 m@8 p@11 p@4 s@5 ";
    char got[256] = "";
    iterator *it = version_iterator_new(v);
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        parsed_internal_key k;
        assert_true(internal_key_parse(iterator_key(it), &k));
        size_t len = strlen(got);
        snprintf(got + len, sizeof(got) - len, "%.*s@%llu ", (int)k.user_key.len,
                 (const char *)k.user_key.data, (unsigned long long)k.sequence);
    }
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    assert_string_equal(got, expected);

    /* Seek lands on the newest version at or below the target's sequence. */
    buffer target;
    buffer_init(&target);
    internal_key_append(&target, slice_make("k", 1), 8, VALUE_TYPE_FOR_SEEK);
    iterator_seek(it, buffer_slice(&target));
    assert_true(iterator_valid(it));
    parsed_internal_key k;
    assert_true(internal_key_parse(iterator_key(it), &k));
    assert_true(slice_equal(k.user_key, slice_make("k", 1)));
    assert_int_equal(k.sequence, 7);
    assert_true(slice_equal(iterator_value(it), slice_make("k-old", 5)));
    buffer_fini(&target);
    iterator_free(it);
    version_unref(v);
}

/* ---- reference counts ------------------------------------------------------------------- */

static void
test_version_keeps_tables_alive(void **state)
{
    fixture *f = *state;
    MAKE(f, 1, 0, {"a", 1, "alive"});
    version *v = fixture_version(f);
    /* The manager drops the table and deletes its file: the version still reads it. */
    table_unref(f->tables[0]);
    f->count = 0;
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, 1);
    assert_int_equal(file_remove(path, NULL), LSMKV_OK);
    expect_get(v, "a", SEQUENCE_MAX, true, 1, "alive");

    version *shared = v;
    version_ref(shared);
    version_unref(v);
    expect_get(shared, "a", SEQUENCE_MAX, true, 1, "alive");
    version_unref(shared); /* the last reference closes the table (ASan checks) */
}

static void
test_iterator_keeps_version_alive(void **state)
{
    fixture *f = *state;
    MAKE(f, 1, 0, {"a", 2, "a2"}, {"b", 2, "b2"});
    MAKE(f, 2, 1, {"a", 1, "a1"});
    version *v = fixture_version(f);
    for (size_t i = 0; i < f->count; i++) {
        table_unref(f->tables[i]);
    }
    f->count = 0;
    iterator *it = version_iterator_new(v);
    version_unref(v); /* the iterator holds the last reference */
    int n = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
}

static void
test_two_versions_share_tables(void **state)
{
    fixture *f = *state;
    table *a = MAKE(f, 1, 0, {"a", 1, "a"});
    table *b = MAKE(f, 2, 0, {"b", 2, "b"});
    version *v1 = version_new(&a, 1);
    table *both[] = {a, b};
    version *v2 = version_new(both, 2);
    for (size_t i = 0; i < f->count; i++) {
        table_unref(f->tables[i]);
    }
    f->count = 0;
    version_unref(v1); /* a stays open for v2 */
    expect_get(v2, "a", SEQUENCE_MAX, true, 1, "a");
    expect_get(v2, "b", SEQUENCE_MAX, true, 2, "b");
    version_unref(v2);
    version_unref(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_search_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_newest_across_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_at_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_skips_tables_by_key_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_skips_tables_by_bloom_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_reports_read_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iterator_merges_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_keeps_tables_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iterator_keeps_version_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_versions_share_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
