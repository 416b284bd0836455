/* ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block_cache.h"
#include "test_support.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * The cache has sixteen shards of capacity/16 bytes each, picked by a hash of
 * (file, offset). The tests do not depend on that hash: where they need blocks
 * that share a shard they find them by probing (see same_shard_offsets).
 */
#define SHARDS 16

/* ---- helpers ------------------------------------------------------------------ */

/* Contents of `len` bytes derived from (file, offset), so a lookup can be
 * checked against the block it claims to be. */
static void
fill_contents(buffer *b, uint64_t file, uint64_t offset, size_t len)
{
    buffer_init(b);
    buffer_reserve(b, len);
    for (size_t i = 0; i < len; i++) {
        b->data[i] = (uint8_t)(file * 131 + offset * 7 + i);
    }
    b->len = len;
}

static void
expect_contents(const block_cache_handle *h, uint64_t file, uint64_t offset, size_t len)
{
    slice s = block_cache_contents(h);
    assert_int_equal(s.len, len);
    for (size_t i = 0; i < len; i++) {
        if (s.data[i] != (uint8_t)(file * 131 + offset * 7 + i)) {
            fail_msg("block (%llu, %llu) byte %zu is wrong", (unsigned long long)file,
                     (unsigned long long)offset, i);
        }
    }
}

/* Inserts a block of len bytes and releases it at once. */
static void
insert_released(block_cache *c, uint64_t file, uint64_t offset, size_t len)
{
    buffer b;
    fill_contents(&b, file, offset, len);
    block_cache_handle *h = block_cache_insert(c, file, offset, &b);
    assert_non_null(h);
    assert_null(b.data); /* the memory moved into the cache */
    assert_int_equal(b.len, 0);
    block_cache_release(c, h);
}

/* Whether (file, offset) is cached; does not keep it pinned. */
static bool
contains(block_cache *c, uint64_t file, uint64_t offset)
{
    block_cache_handle *h = block_cache_lookup(c, file, offset);
    if (h != NULL) {
        block_cache_release(c, h);
    }
    return h != NULL;
}

static block_cache_stats
stats_of(block_cache *c)
{
    block_cache_stats s;
    block_cache_get_stats(c, &s);
    return s;
}

/*
 * Finds n offsets of file 1 whose blocks share one shard, without knowing the
 * hash: in a cache whose shards hold one block each, inserting a second block
 * evicts the first exactly when both live in the same shard.
 */
static void
same_shard_offsets(uint64_t *out, size_t n)
{
    out[0] = 0;
    size_t found = 1;
    for (uint64_t offset = 1; found < n; offset++) {
        assert_true(offset < 100000);
        block_cache *probe = block_cache_new(SHARDS * 10);
        insert_released(probe, 1, 0, 10);
        insert_released(probe, 1, offset, 10);
        if (!contains(probe, 1, 0)) {
            out[found++] = offset;
        }
        block_cache_free(probe);
    }
}

/* ---- basic operations ----------------------------------------------------------- */

static void
test_insert_lookup_release(void **state)
{
    (void)state;
    block_cache *c = block_cache_new(1 << 20);
    assert_null(block_cache_lookup(c, 7, 0));

    buffer b;
    fill_contents(&b, 7, 4096, 300);
    block_cache_handle *h = block_cache_insert(c, 7, 4096, &b);
    assert_non_null(h);
    assert_null(b.data);
    expect_contents(h, 7, 4096, 300);

    block_cache_handle *again = block_cache_lookup(c, 7, 4096);
    assert_ptr_equal(again, h);
    expect_contents(again, 7, 4096, 300);
    block_cache_release(c, again);
    block_cache_release(c, h);

    /* Same offset of another file, same file at another offset: other blocks. */
    assert_null(block_cache_lookup(c, 8, 4096));
    assert_null(block_cache_lookup(c, 7, 4095));
    block_cache_handle *later = block_cache_lookup(c, 7, 4096);
    assert_non_null(later);
    expect_contents(later, 7, 4096, 300);
    block_cache_release(c, later);

    block_cache_stats s = stats_of(c);
    assert_int_equal(s.capacity, 1 << 20);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.usage, 300);
    block_cache_free(c);
    block_cache_free(NULL);
}

static void
test_empty_contents(void **state)
{
    (void)state;
    block_cache *c = block_cache_new(1000);
    buffer b;
    buffer_init(&b);
    block_cache_handle *h = block_cache_insert(c, 1, 1, &b);
    assert_non_null(h);
    assert_int_equal(block_cache_contents(h).len, 0);
    block_cache_release(c, h);
    assert_int_equal(stats_of(c).usage, 0);
    block_cache_free(c);
}

static void
test_many_distinct_keys(void **state)
{
    (void)state;
    /* Enough entries that every shard's hash table has to grow several times;
     * the budget is large enough to keep them all. */
    block_cache *c = block_cache_new(64u << 20);
    for (uint64_t i = 0; i < 5000; i++) {
        insert_released(c, i % 7, i * 4096, 16);
    }
    block_cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 5000);
    assert_int_equal(s.usage, 5000 * 16);
    for (uint64_t i = 0; i < 5000; i++) {
        block_cache_handle *h = block_cache_lookup(c, i % 7, i * 4096);
        assert_non_null(h);
        expect_contents(h, i % 7, i * 4096, 16);
        block_cache_release(c, h);
    }
    assert_int_equal(stats_of(c).hits, 5000);
    block_cache_free(c);
}

static void
test_duplicate_insert_returns_existing(void **state)
{
    (void)state;
    block_cache *c = block_cache_new(1 << 20);
    buffer first, second;
    fill_contents(&first, 3, 100, 200);
    fill_contents(&second, 9, 9, 500); /* different bytes and size */
    block_cache_handle *h1 = block_cache_insert(c, 3, 100, &first);
    block_cache_handle *h2 = block_cache_insert(c, 3, 100, &second);
    assert_ptr_equal(h1, h2);
    assert_null(second.data); /* freed (ASan's leak check would see it otherwise) */
    assert_int_equal(second.len, 0);
    expect_contents(h2, 3, 100, 200);
    block_cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.usage, 200);
    /* Two pins: the entry lives on after the first release. */
    block_cache_release(c, h1);
    expect_contents(h2, 3, 100, 200);
    block_cache_release(c, h2);
    assert_true(contains(c, 3, 100));
    block_cache_free(c);
}

static void
test_hit_and_miss_counters(void **state)
{
    (void)state;
    block_cache *c = block_cache_new(1 << 20);
    block_cache_stats s = stats_of(c);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.misses, 0);
    assert_false(contains(c, 1, 0));
    assert_false(contains(c, 1, 1));
    insert_released(c, 1, 0, 10);
    insert_released(c, 2, 0, 10);
    for (int i = 0; i < 3; i++) {
        assert_true(contains(c, 1, 0));
    }
    assert_true(contains(c, 2, 0));
    s = stats_of(c);
    assert_int_equal(s.hits, 4);
    assert_int_equal(s.misses, 2); /* inserts count as neither */
    assert_int_equal(s.entries, 2);
    block_cache_free(c);
}

/* ---- eviction --------------------------------------------------------------------- */

static void
test_usage_stays_within_capacity(void **state)
{
    (void)state;
    const size_t capacity = SHARDS * 1000;
    block_cache *c = block_cache_new(capacity);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (uint64_t i = 0; i < 3000; i++) {
        insert_released(c, 1 + i % 5, i, 1 + (size_t)test_rng_below(&rng, 300));
        block_cache_stats s = stats_of(c);
        if (s.usage > capacity) {
            fail_msg("usage %llu over capacity %zu after %llu inserts", (unsigned long long)s.usage,
                     capacity, (unsigned long long)i + 1);
        }
    }
    block_cache_stats s = stats_of(c);
    assert_true(s.entries < 3000);
    assert_true(s.usage > capacity / 2); /* evicts what it must, not everything */
    block_cache_free(c);
}

static void
test_evicts_oldest_first(void **state)
{
    (void)state;
    /* Every shard holds 8 blocks of 100 bytes. */
    block_cache *c = block_cache_new(SHARDS * 800);
    for (uint64_t i = 0; i < 1000; i++) {
        insert_released(c, 1, i, 100);
    }
    /* The 8 newest blocks are the newest of whichever shards they are in. */
    for (uint64_t i = 992; i < 1000; i++) {
        assert_true(contains(c, 1, i));
    }
    /* The oldest are gone (each shard saw far more than 8 newer blocks). */
    for (uint64_t i = 0; i < 16; i++) {
        assert_false(contains(c, 1, i));
    }
    block_cache_stats s = stats_of(c);
    assert_true(s.usage <= SHARDS * 800);
    assert_int_equal(s.usage, s.entries * 100);
    block_cache_free(c);
}

static void
test_exact_lru_order_within_a_shard(void **state)
{
    (void)state;
    uint64_t off[6];
    same_shard_offsets(off, 6);
    /* That shard holds three blocks of 100 bytes. */
    block_cache *c = block_cache_new(SHARDS * 300);
    /* LRU order is given oldest first after each step. */
    insert_released(c, 1, off[0], 100);
    insert_released(c, 1, off[1], 100);
    insert_released(c, 1, off[2], 100);  /* [0 1 2] */
    assert_true(contains(c, 1, off[0])); /* [1 2 0] */
    insert_released(c, 1, off[3], 100);  /* evicts 1: [2 0 3] */
    assert_false(contains(c, 1, off[1]));
    assert_true(contains(c, 1, off[2])); /* [0 3 2] */
    insert_released(c, 1, off[4], 100);  /* evicts 0: [3 2 4] */
    assert_false(contains(c, 1, off[0]));
    assert_true(contains(c, 1, off[3])); /* [2 4 3] */
    insert_released(c, 1, off[5], 100);  /* evicts 2: [4 3 5] */
    assert_false(contains(c, 1, off[2]));
    assert_true(contains(c, 1, off[4]));
    assert_true(contains(c, 1, off[3]));
    assert_true(contains(c, 1, off[5]));
    assert_int_equal(stats_of(c).entries, 3);
    block_cache_free(c);
}

static void
test_recently_used_survive(void **state)
{
    (void)state;
    /* Every shard holds 8 blocks; four hot blocks take at most 4 of any one
     * shard, so while they are looked up after every insert, only cold
     * blocks are ever the least recently used. */
    block_cache *c = block_cache_new(SHARDS * 800);
    for (uint64_t hot = 0; hot < 4; hot++) {
        insert_released(c, 2, hot, 100);
    }
    for (uint64_t i = 0; i < 2000; i++) {
        insert_released(c, 1, i, 100);
        for (uint64_t hot = 0; hot < 4; hot++) {
            if (!contains(c, 2, hot)) {
                fail_msg("hot block %llu evicted after %llu cold inserts", (unsigned long long)hot,
                         (unsigned long long)i + 1);
            }
        }
    }
    assert_false(contains(c, 1, 0)); /* the cold ones did age out */
    assert_true(stats_of(c).usage <= SHARDS * 800);
    block_cache_free(c);
}

/* ---- pinning ---------------------------------------------------------------------- */

static void
test_pinned_entry_never_evicted(void **state)
{
    (void)state;
    const size_t capacity = SHARDS * 1000;
    block_cache *c = block_cache_new(capacity);
    buffer b;
    fill_contents(&b, 5, 5, 900);
    block_cache_handle *pinned = block_cache_insert(c, 5, 5, &b);
    /* Far more than the budget, much of it in the pinned block's shard. */
    for (uint64_t i = 0; i < 2000; i++) {
        insert_released(c, 6, i, 500);
    }
    expect_contents(pinned, 5, 5, 900); /* still valid: ASan would catch a free */
    block_cache_handle *h = block_cache_lookup(c, 5, 5);
    assert_ptr_equal(h, pinned);
    block_cache_release(c, h);
    block_cache_release(c, pinned);
    assert_true(stats_of(c).usage <= capacity);
    block_cache_free(c);
}

static void
test_pinned_run_over_budget_then_shrink(void **state)
{
    (void)state;
    uint64_t off[5];
    same_shard_offsets(off, 5);
    /* That shard's budget is 200 bytes; pin five blocks of 100 in it. */
    block_cache *c = block_cache_new(SHARDS * 200);
    block_cache_handle *h[5];
    for (int i = 0; i < 5; i++) {
        buffer b;
        fill_contents(&b, 1, off[i], 100);
        h[i] = block_cache_insert(c, 1, off[i], &b);
    }
    block_cache_stats s = stats_of(c);
    assert_int_equal(s.entries, 5);
    assert_int_equal(s.usage, 500); /* over budget: everything is pinned */
    for (int i = 0; i < 5; i++) {
        expect_contents(h[i], 1, off[i], 100);
    }
    /* Releasing lets the shard shrink back to its budget at once. */
    for (int i = 0; i < 5; i++) {
        block_cache_release(c, h[i]);
    }
    s = stats_of(c);
    assert_true(s.usage <= 200);
    assert_int_equal(s.entries, 2);
    /* Each release evicted the oldest unpinned block: the two newest stay. */
    assert_true(contains(c, 1, off[3]));
    assert_true(contains(c, 1, off[4]));
    block_cache_free(c);
}

static void
test_zero_capacity(void **state)
{
    (void)state;
    block_cache *c = block_cache_new(0);
    buffer b;
    fill_contents(&b, 1, 2, 64);
    block_cache_handle *h = block_cache_insert(c, 1, 2, &b);
    assert_non_null(h);
    expect_contents(h, 1, 2, 64); /* usable while pinned */
    block_cache_stats s = stats_of(c);
    assert_int_equal(s.capacity, 0);
    assert_int_equal(s.usage, 64);
    block_cache_release(c, h);
    s = stats_of(c);
    assert_int_equal(s.usage, 0);
    assert_int_equal(s.entries, 0);
    assert_false(contains(c, 1, 2));
    for (uint64_t i = 0; i < 100; i++) {
        insert_released(c, 1, i, 10);
    }
    assert_int_equal(stats_of(c).entries, 0);
    block_cache_free(c);
}

static void
test_free_with_entries_left(void **state)
{
    (void)state;
    /* Freeing a cache that still holds (unpinned) entries frees them all. */
    block_cache *c = block_cache_new(1 << 20);
    for (uint64_t i = 0; i < 100; i++) {
        insert_released(c, i, i, 1000);
    }
    block_cache_free(c);
}

/* ---- threads ------------------------------------------------------------------------ */

#define THREADS      4
#define THREAD_OPS   20000
#define THREAD_KEYS  600
#define THREAD_BLOCK 64

typedef struct worker {
    block_cache *cache;
    uint64_t seed;
    uint64_t lookups;
    int bad; /* contents that did not match their key */
} worker;

static void *
worker_main(void *arg)
{
    worker *w = arg;
    test_rng rng;
    test_rng_init(&rng, w->seed);
    block_cache_handle *held = NULL;
    uint64_t held_offset = 0;
    for (int i = 0; i < THREAD_OPS; i++) {
        uint64_t offset = test_rng_below(&rng, THREAD_KEYS);
        size_t len = THREAD_BLOCK + (size_t)(offset % 5);
        w->lookups++;
        block_cache_handle *h = block_cache_lookup(w->cache, 1, offset);
        if (h == NULL) {
            buffer b;
            fill_contents(&b, 1, offset, len);
            h = block_cache_insert(w->cache, 1, offset, &b);
        }
        slice s = block_cache_contents(h);
        w->bad += s.len != len || s.data[len - 1] != (uint8_t)(131 + offset * 7 + len - 1);
        /* Keep one block pinned across later operations now and then. */
        if (held == NULL && i % 7 == 0) {
            held = h;
            held_offset = offset;
        } else {
            block_cache_release(w->cache, h);
        }
        if (held != NULL && i % 7 == 6) {
            w->bad += block_cache_contents(held).data[0] != (uint8_t)(131 + held_offset * 7);
            block_cache_release(w->cache, held);
            held = NULL;
        }
    }
    if (held != NULL) {
        block_cache_release(w->cache, held);
    }
    return NULL;
}

static void
test_concurrent_insert_and_lookup(void **state)
{
    (void)state;
    /* Room for about a third of the keys: lookups hit, miss and evict. */
    const size_t capacity = THREAD_KEYS * THREAD_BLOCK / 3;
    block_cache *c = block_cache_new(capacity);
    worker workers[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.cache = c, .seed = test_seed() + (uint64_t)i * 7919};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    uint64_t lookups = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].bad, 0);
        lookups += workers[i].lookups;
    }
    block_cache_stats s = stats_of(c);
    assert_int_equal(s.hits + s.misses, lookups);
    assert_true(s.hits > 0);
    assert_true(s.misses > 0);
    assert_true(s.usage <= capacity);
    block_cache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_lookup_release),
        cmocka_unit_test(test_empty_contents),
        cmocka_unit_test(test_many_distinct_keys),
        cmocka_unit_test(test_duplicate_insert_returns_existing),
        cmocka_unit_test(test_hit_and_miss_counters),
        cmocka_unit_test(test_usage_stays_within_capacity),
        cmocka_unit_test(test_evicts_oldest_first),
        cmocka_unit_test(test_exact_lru_order_within_a_shard),
        cmocka_unit_test(test_recently_used_survive),
        cmocka_unit_test(test_pinned_entry_never_evicted),
        cmocka_unit_test(test_pinned_run_over_budget_then_shrink),
        cmocka_unit_test(test_zero_capacity),
        cmocka_unit_test(test_free_with_entries_left),
        cmocka_unit_test(test_concurrent_insert_and_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
