/* ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block_cache.h"
#include "checksum.h"
#include "compression.h"
#include "file.h"
#include "filename.h"
#include "internal_key.h"
#include "sstable_builder.h"
#include "table.h"
#include "test_support.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The table cache: a bounded number of open files, LRU closing of tables no
 * read uses, reopening on use, iterators pinning their table.
 */

#define MAX_TABLES   16
#define KEYS_PER_TBL 200

/* ---- helpers ------------------------------------------------------------------ */

typedef struct fixture {
    char *dir;
    block_cache *blocks;
    table_cache *cache;
    table *tables[MAX_TABLES];
    size_t count;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("table");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < f->count; i++) {
        table_unref(f->tables[i]);
    }
    table_cache_free(f->cache);
    block_cache_free(f->blocks);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static slice
key_of(char *buf, size_t n, int i)
{
    return slice_make(buf, (size_t)sprintf(buf, "t%02zu-key%05d", n, i));
}

static void
value_of(buffer *out, size_t n, int i)
{
    buffer_clear(out);
    for (int j = 0; j < 20 + i % 50; j++) {
        uint8_t c = (uint8_t)('a' + (n * 7 + (size_t)i + (size_t)j) % 26);
        buffer_append(out, &c, 1);
    }
}

/* Table number n of the fixture: file id n + 1, KEYS_PER_TBL keys. */
static void
build_file(const fixture *f, size_t n, int compression)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, n + 1);
    sstable_builder_options options = {
        .block_bytes = 512, .bloom_bits_per_key = 10, .compression = compression};
    sstable_builder *b = NULL;
    assert_int_equal(sstable_builder_open(path, &options, &b, NULL), LSMKV_OK);
    buffer ikey, value;
    buffer_init(&ikey);
    buffer_init(&value);
    char buf[32];
    for (int i = 0; i < KEYS_PER_TBL; i++) {
        buffer_clear(&ikey);
        internal_key_append(&ikey, key_of(buf, n, i), (uint64_t)i + 1, VALUE_TYPE_VALUE);
        value_of(&value, n, i);
        assert_int_equal(sstable_builder_add(b, buffer_slice(&ikey), buffer_slice(&value), NULL),
                         LSMKV_OK);
    }
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_OK);
    buffer_fini(&ikey);
    buffer_fini(&value);
}

static void
remove_file(const fixture *f, size_t n)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, n + 1);
    assert_int_equal(file_remove(path, NULL), LSMKV_OK);
}

/* Builds n tables and opens them in a cache of max_open files. */
static void
make_tables(fixture *f, size_t n, size_t max_open, bool cache_blocks, bool mmap)
{
    assert_true(n <= MAX_TABLES);
    f->blocks = cache_blocks ? block_cache_new(1u << 20) : NULL;
    f->cache = table_cache_new(f->dir, f->blocks, max_open, mmap);
    for (size_t i = 0; i < n; i++) {
        build_file(f, i, i % 3 == 1 ? COMPRESSION_LZ4 : COMPRESSION_NONE);
        lsmkv_table_info info = {.id = i + 1, .level = 0};
        lsmkv_error err = {0};
        if (table_open(f->cache, &info, &f->tables[i], &err) != LSMKV_OK) {
            fail_msg("table_open %zu: %s", i, err.message);
        }
        f->count++;
        assert_int_equal(table_info(f->tables[i])->id, i + 1);
        assert_true(table_cache_open_count(f->cache) <= max_open);
    }
}

static int
get_key(table *t, size_t n, int i, lookup_result *res, lsmkv_error *err)
{
    char buf[32];
    slice k = key_of(buf, n, i);
    return table_get(t, k, hash64(k.data, k.len), SEQUENCE_MAX, res, err);
}

/* Key i of table `table` reads back as written. */
static void
expect_key(fixture *f, size_t n, int i)
{
    lookup_result res;
    lookup_result_init(&res);
    lsmkv_error err = {0};
    if (get_key(f->tables[n], n, i, &res, &err) != LSMKV_OK) {
        fail_msg("get from table %zu: %s", n, err.message);
    }
    assert_true(res.found);
    buffer value;
    buffer_init(&value);
    value_of(&value, n, i);
    assert_true(slice_equal(buffer_slice(&res.value), buffer_slice(&value)));
    buffer_fini(&value);
    lookup_result_fini(&res);
}

/* A get from table that must fail because its file is gone (not a crash). */
static void
expect_get_fails(fixture *f, size_t n)
{
    lookup_result res;
    lookup_result_init(&res);
    lsmkv_error err = {0};
    int rc = get_key(f->tables[n], n, 0, &res, &err);
    assert_true(rc == LSMKV_IO_ERROR || rc == LSMKV_CORRUPTION);
    assert_int_equal(err.code, rc);
    lookup_result_fini(&res);
}

/* Iterates table `table` from the first key and checks every entry. */
static void
expect_iterates(iterator *it, size_t n)
{
    char buf[32];
    buffer value;
    buffer_init(&value);
    int i = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), i++) {
        assert_true(slice_equal(internal_key_user_key(iterator_key(it)), key_of(buf, n, i)));
        value_of(&value, n, i);
        assert_true(slice_equal(iterator_value(it), buffer_slice(&value)));
    }
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    assert_int_equal(i, KEYS_PER_TBL);
    buffer_fini(&value);
}

/* ---- bounding open files ----------------------------------------------------------- */

static void
test_open_count_stays_bounded(void **state)
{
    fixture *f = *state;
    make_tables(f, 6, 2, false, false);
    assert_int_equal(table_cache_open_count(f->cache), 2);
    /* Round after round over every table: each reopens as needed. */
    for (int round = 0; round < 3; round++) {
        for (size_t t = 0; t < 6; t++) {
            for (int i = 0; i < KEYS_PER_TBL; i += 37) {
                expect_key(f, t, i);
                assert_true(table_cache_open_count(f->cache) <= 2);
            }
        }
    }
    /* Missing keys too (through the bloom filter or not). */
    lookup_result res;
    lookup_result_init(&res);
    assert_int_equal(get_key(f->tables[0], 0, KEYS_PER_TBL, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    lookup_result_fini(&res);
}

static void
test_every_read_path_through_the_cache(void **state)
{
    /* pread or mmap, with or without a block cache: the same answers. */
    for (int variant = 0; variant < 4; variant++) {
        fixture *f = *state;
        make_tables(f, 5, 2, variant & 1, variant & 2);
        for (size_t t = 0; t < 5; t++) {
            for (int i = 0; i < KEYS_PER_TBL; i += 13) {
                expect_key(f, t, i);
            }
            iterator *it = table_iterator_new(f->tables[t], t % 2 == 0);
            expect_iterates(it, t);
            iterator_free(it);
        }
        assert_true(table_cache_open_count(f->cache) <= 2);
        teardown(state);
        setup(state);
    }
}

static void
test_least_recently_used_is_closed(void **state)
{
    fixture *f = *state;
    make_tables(f, 2, 2, false, false); /* tables 0 and 1 open */
    expect_key(f, 0, 1);                /* 0 is now the more recently used */
    /* Gone from disk, but readable while open. */
    remove_file(f, 0);
    remove_file(f, 1);
    build_file(f, 2, COMPRESSION_NONE);
    lsmkv_table_info info = {.id = 3};
    assert_int_equal(table_open(f->cache, &info, &f->tables[2], NULL), LSMKV_OK);
    f->count++;
    assert_int_equal(table_cache_open_count(f->cache), 2);
    /* 1 was closed, not 0. */
    expect_key(f, 0, 2);
    expect_get_fails(f, 1);
    expect_key(f, 2, 3);
}

static void
test_max_open_one(void **state)
{
    fixture *f = *state;
    make_tables(f, 3, 1, true, false);
    for (int round = 0; round < 3; round++) {
        for (size_t t = 0; t < 3; t++) {
            expect_key(f, t, round * 50);
            assert_int_equal(table_cache_open_count(f->cache), 1);
        }
    }
}

static void
test_reopened_table_hits_block_cache(void **state)
{
    fixture *f = *state;
    make_tables(f, 3, 1, true, false);
    expect_key(f, 0, 5); /* reopens table 0 and caches the block */
    block_cache_stats before;
    block_cache_get_stats(f->blocks, &before);
    expect_key(f, 1, 5); /* closes 0 */
    expect_key(f, 0, 5); /* reopens 0: same file number, same cached block */
    block_cache_stats after;
    block_cache_get_stats(f->blocks, &after);
    assert_int_equal(after.hits, before.hits + 1);
    assert_int_equal(after.misses, before.misses + 1); /* table 1's block */
}

/* ---- pinning ------------------------------------------------------------------------ */

static void
test_iterator_pins_its_table(void **state)
{
    fixture *f = *state;
    make_tables(f, 6, 2, false, false);
    iterator *it = table_iterator_new(f->tables[0], false);
    /* Its file disappears: only the open reader can still serve it. */
    remove_file(f, 0);
    for (size_t t = 1; t < 6; t++) {
        expect_key(f, t, 7);
        /* Table 0 and the one just used. */
        assert_int_equal(table_cache_open_count(f->cache), 2);
    }
    expect_iterates(it, 0);
    /* A get shares the pinned reader. */
    expect_key(f, 0, 9);
    iterator_free(it);
    /* Unpinned: the next opens close it, and then it cannot come back. */
    for (size_t t = 1; t < 6; t++) {
        expect_key(f, t, 8);
    }
    assert_true(table_cache_open_count(f->cache) <= 2);
    expect_get_fails(f, 0);
    it = table_iterator_new(f->tables[0], true);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    int rc = iterator_status(it, NULL);
    assert_true(rc == LSMKV_IO_ERROR || rc == LSMKV_CORRUPTION);
    iterator_free(it);
}

static void
test_iterator_keeps_table_after_unref(void **state)
{
    fixture *f = *state;
    make_tables(f, 3, 2, false, false);
    iterator *it = table_iterator_new(f->tables[2], false);
    /* The last outside reference goes; the iterator's keeps the table. */
    table_unref(f->tables[2]);
    f->tables[2] = NULL;
    expect_iterates(it, 2);
    iterator_free(it); /* frees the table (ASan checks both ways) */
    assert_true(table_cache_open_count(f->cache) <= 1);
}

static void
test_pins_released_bring_count_back(void **state)
{
    fixture *f = *state;
    make_tables(f, 6, 2, false, false);
    /* Six iterators pin six tables: the cache has to run over its bound. */
    iterator *its[6];
    for (size_t t = 0; t < 6; t++) {
        its[t] = table_iterator_new(f->tables[t], false);
    }
    assert_int_equal(table_cache_open_count(f->cache), 6);
    for (size_t t = 0; t < 6; t++) {
        expect_iterates(its[t], t);
        iterator_free(its[t]);
    }
    /* Nothing is pinned any more: back within the bound. */
    assert_true(table_cache_open_count(f->cache) <= 2);
    for (size_t t = 0; t < 6; t++) {
        expect_key(f, t, 11);
        assert_true(table_cache_open_count(f->cache) <= 2);
    }
}

/* ---- deleted files and references ------------------------------------------------------- */

static void
test_deleted_file_after_close(void **state)
{
    fixture *f = *state;
    make_tables(f, 6, 2, true, true);
    /* Tables 4 and 5 are open; 0 is closed. */
    remove_file(f, 0);
    remove_file(f, 5); /* open: keeps working */
    expect_get_fails(f, 0);
    expect_get_fails(f, 0); /* and again: the failed reopen left nothing behind */
    expect_key(f, 5, 3);
    expect_key(f, 4, 3);
    iterator *it = table_iterator_new(f->tables[0], false);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    assert_int_not_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    /* Every other table still reads. */
    for (size_t t = 1; t < 5; t++) {
        expect_key(f, t, 100);
    }
}

static void
test_open_missing_file_fails(void **state)
{
    fixture *f = *state;
    f->cache = table_cache_new(f->dir, NULL, 4, false);
    lsmkv_table_info info = {.id = 99};
    table *t = NULL;
    lsmkv_error err = {0};
    assert_int_equal(table_open(f->cache, &info, &t, &err), LSMKV_IO_ERROR);
    assert_null(t);
    assert_int_equal(table_cache_open_count(f->cache), 0);
}

static void
test_last_unref_forgets_table(void **state)
{
    fixture *f = *state;
    make_tables(f, 3, 4, false, false);
    assert_int_equal(table_cache_open_count(f->cache), 3);
    table_ref(f->tables[1]);
    table_unref(f->tables[1]); /* not the last */
    assert_int_equal(table_cache_open_count(f->cache), 3);
    expect_key(f, 1, 4);
    table_unref(f->tables[1]);
    f->tables[1] = NULL;
    assert_int_equal(table_cache_open_count(f->cache), 2);
    expect_key(f, 0, 4);
    expect_key(f, 2, 4);
    table_unref(NULL);
    /* A closed table's last unref (it is not in the open list). */
    teardown(state);
    setup(state);
    f = *state;
    make_tables(f, 3, 1, false, false);
    assert_int_equal(table_cache_open_count(f->cache), 1);
    table_unref(f->tables[0]); /* closed */
    f->tables[0] = NULL;
    assert_int_equal(table_cache_open_count(f->cache), 1);
    table_unref(f->tables[2]); /* open */
    f->tables[2] = NULL;
    assert_int_equal(table_cache_open_count(f->cache), 0);
    expect_key(f, 1, 1);
    assert_int_equal(table_cache_open_count(f->cache), 1);
}

/* ---- threads ------------------------------------------------------------------------------- */

#define THREADS     4
#define THREAD_OPS  1500
#define MANY_TABLES 12

typedef struct worker {
    fixture *f;
    uint64_t seed;
    int bad;
} worker;

static void *
worker_main(void *arg)
{
    worker *w = arg;
    test_rng rng;
    test_rng_init(&rng, w->seed);
    lookup_result res;
    lookup_result_init(&res);
    buffer value;
    buffer_init(&value);
    for (int op = 0; op < THREAD_OPS; op++) {
        size_t t = (size_t)test_rng_below(&rng, MANY_TABLES);
        int i = (int)test_rng_below(&rng, KEYS_PER_TBL);
        if (op % 50 == 0) {
            /* Now and then an iterator, a few steps from a seek. */
            iterator *it = table_iterator_new(w->f->tables[t], op % 100 == 0);
            iterator_seek_to_first(it);
            for (int step = 0; step < 10 && iterator_valid(it); step++) {
                iterator_next(it);
            }
            w->bad += !iterator_valid(it) || iterator_status(it, NULL) != LSMKV_OK;
            iterator_free(it);
            continue;
        }
        int rc = get_key(w->f->tables[t], t, i, &res, NULL);
        value_of(&value, t, i);
        w->bad += rc != LSMKV_OK || !res.found ||
                  !slice_equal(buffer_slice(&res.value), buffer_slice(&value));
    }
    buffer_fini(&value);
    lookup_result_fini(&res);
    return NULL;
}

static void
run_workers(fixture *f)
{
    worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.f = f, .seed = test_seed() + (uint64_t)i * 104729};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].bad, 0);
    }
}

static void
test_concurrent_gets_tiny_cache(void **state)
{
    fixture *f = *state;
    make_tables(f, MANY_TABLES, 2, true, false);
    run_workers(f);
    /* Nothing pinned now: a few more opens and the bound holds again. */
    for (size_t t = 0; t < MANY_TABLES; t++) {
        expect_key(f, t, 0);
    }
    assert_true(table_cache_open_count(f->cache) <= 2);
}

static void
test_concurrent_gets_mmap_max_open_one(void **state)
{
    fixture *f = *state;
    make_tables(f, MANY_TABLES, 1, true, true);
    run_workers(f);
    expect_key(f, 0, 0);
    assert_true(table_cache_open_count(f->cache) <= 1);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_count_stays_bounded),          T(test_every_read_path_through_the_cache),
        T(test_least_recently_used_is_closed),     T(test_max_open_one),
        T(test_reopened_table_hits_block_cache),   T(test_iterator_pins_its_table),
        T(test_iterator_keeps_table_after_unref),  T(test_pins_released_bring_count_back),
        T(test_deleted_file_after_close),          T(test_open_missing_file_fails),
        T(test_last_unref_forgets_table),          T(test_concurrent_gets_tiny_cache),
        T(test_concurrent_gets_mmap_max_open_one),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
