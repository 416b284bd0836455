#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "file.h"
#include "sstable_reader.h"
#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*
 * The read-path options through the public API: compression, block cache,
 * max_open_files, mmap_reads, and their validation.
 */

/* ---- fixture and helpers --------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    lsmkv_options options;
    lsmkv *db;
} fixture;

static void
discard_log(void *ctx, lsmkv_log_level level, const char *line)
{
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("store_options");
    lsmkv_options_init(&f->options);
    f->options.sync = LSMKV_SYNC_NONE;
    f->options.log_fn = discard_log;
    /* Tables stay as flushed: the tests decide when to compact. */
    f->options.disable_auto_compaction = true;
    f->options.level0_slowdown_trigger = 1024;
    f->options.level0_stop_trigger = 1024;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
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
close_db(fixture *f)
{
    assert_int_equal(lsmkv_close(f->db), LSMKV_OK);
    f->db = NULL;
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
compact_db(lsmkv *db)
{
    lsmkv_error err = {0};
    if (lsmkv_compact(db, NULL, &err) != LSMKV_OK) {
        fail_msg("lsmkv_compact: %s", err.message);
    }
}

/* Key i: "k%06d" plus, for every 5th, a NUL byte. */
static size_t
key_of(char *buf, int i)
{
    int n = sprintf(buf, "k%06d", i);
    if (i % 5 == 0) {
        buf[n++] = '\0';
    }
    return (size_t)n;
}

/* Version `gen` of key i's value: compressible text, length varying with i
 * (empty for some). */
static size_t
value_of(char *buf, int i, int gen)
{
    size_t len = (size_t)((i * 31 + gen * 7) % 400);
    static const char words[] = "lsmkv value text repeats itself ";
    for (size_t j = 0; j < len; j++) {
        buf[j] = words[(j + (size_t)gen) % (sizeof(words) - 1)];
    }
    if (len >= 2) { /* generations differ in their first bytes too */
        buf[0] = 'g';
        buf[1] = (char)('0' + gen);
    }
    return len;
}

static void
put_kv(lsmkv *db, int i, int gen)
{
    char key[32], value[512];
    size_t kl = key_of(key, i), vl = value_of(value, i, gen);
    lsmkv_error err = {0};
    if (lsmkv_put(db, NULL, (uint8_t *)key, kl, (uint8_t *)value, vl, &err) != LSMKV_OK) {
        fail_msg("lsmkv_put: %s", err.message);
    }
}

static void
del_k(lsmkv *db, int i)
{
    char key[32];
    size_t kl = key_of(key, i);
    assert_int_equal(lsmkv_delete(db, NULL, (uint8_t *)key, kl, NULL), LSMKV_OK);
}

/* gen < 0: expect the key to be absent. */
static void
expect_kv(lsmkv *db, int i, int gen)
{
    char key[32], value[512];
    size_t kl = key_of(key, i);
    uint8_t *got = NULL;
    size_t got_len = 0;
    bool found = false;
    lsmkv_error err = {0};
    if (lsmkv_get(db, (uint8_t *)key, kl, &got, &got_len, &found, &err) != LSMKV_OK) {
        fail_msg("lsmkv_get of key %d: %s", i, err.message);
    }
    if (gen < 0) {
        assert_false(found);
        return;
    }
    if (!found) {
        fail_msg("key %d (generation %d) not found", i, gen);
    }
    size_t vl = value_of(value, i, gen);
    assert_int_equal(got_len, vl);
    if (vl > 0) {
        assert_memory_equal(got, value, vl);
    }
    lsmkv_free(got);
}

/* Every key against gens[] (gens[i] < 0: absent), by get and by iteration. */
static void
expect_all(lsmkv *db, const int *gens, int n)
{
    for (int i = 0; i < n; i++) {
        expect_kv(db, i, gens[i]);
    }
    lsmkv_iterator *it = NULL;
    assert_int_equal(lsmkv_iterator_new(db, &it, NULL), LSMKV_OK);
    lsmkv_iterator_seek_to_first(it);
    for (int i = 0; i < n; i++) {
        if (gens[i] < 0) {
            continue;
        }
        assert_true(lsmkv_iterator_valid(it));
        char key[32], value[512];
        size_t kl = key_of(key, i), vl = value_of(value, i, gens[i]);
        size_t got_kl, got_vl;
        const uint8_t *got_k = lsmkv_iterator_key(it, &got_kl);
        const uint8_t *got_v = lsmkv_iterator_value(it, &got_vl);
        assert_int_equal(got_kl, kl);
        assert_memory_equal(got_k, key, kl);
        assert_int_equal(got_vl, vl);
        if (vl > 0) {
            assert_memory_equal(got_v, value, vl);
        }
        lsmkv_iterator_next(it);
    }
    assert_false(lsmkv_iterator_valid(it));
    assert_int_equal(lsmkv_iterator_status(it, NULL), LSMKV_OK);
    lsmkv_iterator_free(it);
}

/* How many of the store's tables record each compression (index 0..2). */
static void
count_table_compressions(const fixture *f, int counts[3])
{
    char **names;
    size_t n;
    assert_int_equal(file_list_dir(f->dir, &names, &n, NULL), LSMKV_OK);
    counts[0] = counts[1] = counts[2] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len < 4 || strcmp(names[i] + len - 4, ".sst") != 0) {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
        sstable_reader *r = NULL;
        assert_int_equal(sstable_reader_open(path, &r, NULL), LSMKV_OK);
        uint64_t c = sstable_reader_properties(r)->compression;
        assert_true(c <= 2);
        counts[c]++;
        sstable_reader_free(r);
    }
    file_list_free(names, n);
}

/* ---- tests ------------------------------------------------------------------------- */

#define KEYS 1500

static void
test_mixed_compression_tables(void **state)
{
    fixture *f = *state;
    static int gens[KEYS];
    for (int i = 0; i < KEYS; i++) {
        gens[i] = -1;
    }
    /* lz4, then zstd, then none: each writes some keys, overwrites and
     * deletes others, and flushes one table. */
    const lsmkv_compression order[] = {LSMKV_COMPRESSION_LZ4, LSMKV_COMPRESSION_ZSTD,
                                       LSMKV_COMPRESSION_NONE};
    for (int round = 0; round < 3; round++) {
        f->options.compression = order[round];
        open_db(f);
        for (int i = round * 300; i < KEYS; i += 1 + round) {
            put_kv(f->db, i, round + 1);
            gens[i] = round + 1;
        }
        for (int i = round; i < KEYS; i += 17) {
            del_k(f->db, i);
            gens[i] = -1;
        }
        flush_db(f->db);
        expect_all(f->db, gens, KEYS);
        close_db(f);
    }
    int counts[3];
    count_table_compressions(f, counts);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 1);
    /* Readable together, through either read path, before and after a
     * compaction rewrites them all with the current setting. */
    for (int mmap = 0; mmap < 2; mmap++) {
        f->options.mmap_reads = mmap;
        f->options.compression = LSMKV_COMPRESSION_NONE;
        open_db(f);
        expect_all(f->db, gens, KEYS);
        close_db(f);
    }
    f->options.compression = LSMKV_COMPRESSION_ZSTD;
    open_db(f);
    compact_db(f->db);
    expect_all(f->db, gens, KEYS);
    close_db(f);
    count_table_compressions(f, counts);
    assert_int_equal(counts[0] + counts[1], 0);
    assert_true(counts[2] >= 1);
    open_db(f);
    expect_all(f->db, gens, KEYS);
}

static void
test_compression_makes_smaller_tables(void **state)
{
    fixture *f = *state;
    uint64_t bytes[3];
    for (int c = 0; c < 3; c++) {
        f->options.compression = (lsmkv_compression)c;
        open_db(f);
        for (int i = 0; i < KEYS; i++) {
            put_kv(f->db, i, 1);
        }
        flush_db(f->db);
        bytes[c] = get_stats(f->db).sstable_bytes;
        close_db(f);
        char **names;
        size_t n;
        /* Start the next round from an empty store. */
        assert_int_equal(file_list_dir(f->dir, &names, &n, NULL), LSMKV_OK);
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
            assert_int_equal(file_remove(path, NULL), LSMKV_OK);
        }
        file_list_free(names, n);
    }
    assert_true(bytes[1] < bytes[0] / 2);
    assert_true(bytes[2] < bytes[0] / 2);
}

static void
test_open_tables_bounded(void **state)
{
    fixture *f = *state;
    f->options.max_open_files = 16; /* the minimum */
    open_db(f);
    const int tables = 40;
    static int gens[KEYS];
    for (int i = 0; i < KEYS; i++) {
        gens[i] = -1;
    }
    for (int t = 0; t < tables; t++) {
        /* Overlapping key ranges: every get may look into many tables. */
        for (int i = t; i < KEYS; i += tables / 2) {
            put_kv(f->db, i, t % 9);
            gens[i] = t % 9;
        }
        flush_db(f->db);
        assert_true(get_stats(f->db).open_tables <= 16);
    }
    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.sstables, (uint64_t)tables);
    assert_true(s.open_tables <= 16);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < KEYS; i++) {
            expect_kv(f->db, i, gens[i]);
        }
        assert_true(get_stats(f->db).open_tables <= 16);
    }
    /* A scan pins every level-0 table while it lives ... */
    expect_all(f->db, gens, KEYS);
    /* ... and afterwards the bound holds again. */
    assert_true(get_stats(f->db).open_tables <= 16);
    close_db(f);
    open_db(f);
    assert_true(get_stats(f->db).open_tables <= 16);
    expect_all(f->db, gens, KEYS);
    assert_true(get_stats(f->db).open_tables <= 16);
}

/* Reads key 0..99 twice; returns the cache's hit count growth over the second pass. */
static uint64_t
second_pass_hits(fixture *f, int gen)
{
    for (int i = 0; i < 100; i++) {
        expect_kv(f->db, i, gen);
    }
    uint64_t hits = get_stats(f->db).block_cache_hits;
    for (int i = 0; i < 100; i++) {
        expect_kv(f->db, i, gen);
    }
    return get_stats(f->db).block_cache_hits - hits;
}

static void
test_block_cache_stats_move(void **state)
{
    fixture *f = *state;
    f->options.block_cache_bytes = 1u << 20;
    f->options.mmap_reads = false;
    open_db(f);
    lsmkv_stats s = get_stats(f->db);
    assert_int_equal(s.block_cache_capacity, 1u << 20);
    assert_int_equal(s.block_cache_usage, 0);
    assert_int_equal(s.block_cache_hits + s.block_cache_misses, 0);
    for (int i = 0; i < KEYS; i++) {
        put_kv(f->db, i, 1);
    }
    flush_db(f->db);
    /* The memtable is empty now: reads go to the table, through the cache. */
    expect_kv(f->db, 0, 1);
    s = get_stats(f->db);
    assert_true(s.block_cache_misses >= 1);
    assert_true(s.block_cache_usage > 0);
    assert_true(second_pass_hits(f, 1) >= 100);
    s = get_stats(f->db);
    assert_true(s.block_cache_usage <= s.block_cache_capacity);
    close_db(f);

    /* Mapped compressed blocks are cached (decompressed) too... */
    f->options.mmap_reads = true;
    f->options.compression = LSMKV_COMPRESSION_LZ4;
    open_db(f);
    for (int i = 0; i < KEYS; i++) {
        put_kv(f->db, i, 2);
    }
    flush_db(f->db);
    assert_true(second_pass_hits(f, 2) >= 100);
    close_db(f);

    /* ... while mapped uncompressed blocks are read in place. */
    f->options.compression = LSMKV_COMPRESSION_NONE;
    open_db(f);
    for (int i = 0; i < KEYS; i++) {
        put_kv(f->db, i, 3);
    }
    flush_db(f->db);
    compact_db(f->db); /* one uncompressed table */
    assert_int_equal(second_pass_hits(f, 3), 0);
    close_db(f);

    /* No cache at all: zeros, and reads still work. */
    f->options.block_cache_bytes = 0;
    f->options.mmap_reads = false;
    open_db(f);
    assert_int_equal(second_pass_hits(f, 3), 0);
    s = get_stats(f->db);
    assert_int_equal(s.block_cache_capacity, 0);
    assert_int_equal(s.block_cache_usage, 0);
    assert_int_equal(s.block_cache_misses, 0);
}

static void
test_mmap_reads_off_gives_identical_results(void **state)
{
    fixture *f = *state;
    static int gens[KEYS];
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (int i = 0; i < KEYS; i++) {
        gens[i] = -1;
    }
    f->options.compression = LSMKV_COMPRESSION_LZ4; /* some blocks of each kind */
    open_db(f);
    for (int round = 0; round < 6; round++) {
        for (int j = 0; j < 500; j++) {
            int i = (int)test_rng_below(&rng, KEYS);
            if (test_rng_below(&rng, 5) == 0) {
                del_k(f->db, i);
                gens[i] = -1;
            } else {
                put_kv(f->db, i, round);
                gens[i] = round;
            }
        }
        flush_db(f->db);
        if (round == 3) {
            compact_db(f->db);
        }
    }
    /* Some writes stay in the memtable. */
    for (int i = 0; i < KEYS; i += 101) {
        put_kv(f->db, i, 7);
        gens[i] = 7;
    }
    expect_all(f->db, gens, KEYS);
    for (int mode = 0; mode < 4; mode++) {
        close_db(f);
        f->options.mmap_reads = mode % 2 == 1;
        f->options.block_cache_bytes = mode < 2 ? 0 : 4u << 20;
        open_db(f);
        expect_all(f->db, gens, KEYS);
        expect_all(f->db, gens, KEYS);
    }
}

static void
test_corrupt_block_in_both_read_modes(void **state)
{
    fixture *f = *state;
    open_db(f);
    for (int i = 0; i < KEYS; i++) {
        put_kv(f->db, i, 1);
    }
    flush_db(f->db);
    close_db(f);
    char **names;
    size_t n;
    assert_int_equal(file_list_dir(f->dir, &names, &n, NULL), LSMKV_OK);
    char path[4096] = "";
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len > 4 && strcmp(names[i] + len - 4, ".sst") == 0) {
            snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
        }
    }
    file_list_free(names, n);
    assert_true(path[0] != '\0');
    test_flip_bit(path, 20, 2); /* in the first data block: key 0's */
    for (int mmap = 0; mmap < 2; mmap++) {
        f->options.mmap_reads = mmap;
        open_db(f);
        char key[32];
        size_t kl = key_of(key, 0);
        uint8_t *got = NULL;
        size_t got_len;
        bool found;
        lsmkv_error err = {0};
        for (int again = 0; again < 2; again++) {
            assert_int_equal(lsmkv_get(f->db, (uint8_t *)key, kl, &got, &got_len, &found, &err),
                             LSMKV_CORRUPTION);
            assert_non_null(strstr(err.message, ".sst"));
        }
        assert_true(get_stats(f->db).corruptions >= 2);
        expect_kv(f->db, KEYS - 1, 1); /* another block */
        lsmkv_iterator *it = NULL;
        assert_int_equal(lsmkv_iterator_new(f->db, &it, NULL), LSMKV_OK);
        lsmkv_iterator_seek_to_first(it);
        assert_false(lsmkv_iterator_valid(it));
        assert_int_equal(lsmkv_iterator_status(it, NULL), LSMKV_CORRUPTION);
        lsmkv_iterator_free(it);
        close_db(f);
    }
}

static void
expect_bad_option(fixture *f, const lsmkv_options *o, const char *name)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/never-created", f->dir);
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_open(dir, o, &db, &err), LSMKV_INVALID_ARGUMENT);
    assert_null(db);
    if (strstr(err.message, name) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", name, err.message);
    }
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
}

static void
test_new_options_validation(void **state)
{
    fixture *f = *state;
    lsmkv_options o;
    lsmkv_options_init(&o);
    assert_int_equal(o.compression, LSMKV_COMPRESSION_NONE);
    assert_int_equal(o.block_cache_bytes, 8u << 20);
    assert_int_equal(o.max_open_files, 1000);
    assert_true(o.mmap_reads);
#define BAD(field, value, name)                                                                    \
    do {                                                                                           \
        lsmkv_options_init(&o);                                                                    \
        o.field = value;                                                                           \
        expect_bad_option(f, &o, name);                                                            \
    } while (0)
    BAD(compression, (lsmkv_compression)3, "compression");
    BAD(compression, (lsmkv_compression)-1, "compression");
    BAD(max_open_files, 15, "max_open_files");
    BAD(max_open_files, 0, "max_open_files");
    BAD(max_open_files, -1, "max_open_files");
    BAD(max_open_files, (1 << 20) + 1, "max_open_files");
    BAD(block_cache_bytes, (size_t)(1ull << 40) + 1, "block_cache_bytes");
#undef BAD
    /* The boundaries are fine. */
    const struct {
        lsmkv_compression compression;
        int max_open_files;
        size_t block_cache_bytes;
        bool mmap;
    } good[] = {
        {LSMKV_COMPRESSION_ZSTD, 16, 0, false},
        {LSMKV_COMPRESSION_LZ4, 1 << 20, (size_t)1 << 40, true},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        f->options.compression = good[i].compression;
        f->options.max_open_files = good[i].max_open_files;
        f->options.block_cache_bytes = good[i].block_cache_bytes;
        f->options.mmap_reads = good[i].mmap;
        open_db(f);
        put_kv(f->db, 1, 1);
        flush_db(f->db);
        expect_kv(f->db, 1, 1);
        assert_int_equal(get_stats(f->db).block_cache_capacity, good[i].block_cache_bytes);
        close_db(f);
    }
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_mixed_compression_tables),
        T(test_compression_makes_smaller_tables),
        T(test_open_tables_bounded),
        T(test_block_cache_stats_move),
        T(test_mmap_reads_off_gives_identical_results),
        T(test_corrupt_block_in_both_read_modes),
        T(test_new_options_validation),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
