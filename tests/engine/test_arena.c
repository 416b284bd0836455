#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "test_support.h"

#include <string.h>

static void
test_new_arena_uses_nothing(void **state)
{
    arena *a = arena_new();
    assert_int_equal(arena_memory_usage(a), 0);
    arena_free(a);
    arena_free(NULL);
}

static void
test_alloc_is_aligned_and_distinct(void **state)
{
    arena *a = arena_new();
    test_rng rng;
    test_rng_init(&rng, test_seed());
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)test_rng_below(&rng, 200);
        uint8_t *p = arena_alloc(a, len);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
        /* The whole range must be writable (ASan checks the bounds). */
        memset(p, 0xab, len);
        if (prev != NULL) {
            assert_true(p >= prev + prev_len || p + len <= prev);
            assert_true(prev != p);
        }
        prev = p;
        prev_len = len;
    }
    arena_free(a);
}

static void
test_zero_byte_allocs_are_distinct(void **state)
{
    arena *a = arena_new();
    void *p = arena_alloc(a, 0);
    void *q = arena_alloc(a, 0);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    arena_free(a);
}

static void
test_usage_grows_by_blocks(void **state)
{
    arena *a = arena_new();
    arena_alloc(a, 16);
    size_t one_block = arena_memory_usage(a);
    assert_true(one_block >= 4096);
    assert_true(one_block < 4096 + 64);
    /* Small allocations fill the block before another is taken. */
    for (int i = 0; i < 100; i++) {
        arena_alloc(a, 16);
    }
    assert_int_equal(arena_memory_usage(a), one_block);
    size_t before = one_block;
    size_t total = 16 * 101;
    while (total < 100 * 4096) {
        arena_alloc(a, 100);
        total += 100;
        size_t now = arena_memory_usage(a);
        assert_true(now >= before);
        before = now;
    }
    assert_true(arena_memory_usage(a) >= total);
    /* Waste stays below a quarter block per block. */
    assert_true(arena_memory_usage(a) < total + total / 3 + 4096);
    arena_free(a);
}

static void
test_large_alloc_gets_own_block(void **state)
{
    arena *a = arena_new();
    uint8_t *small = arena_alloc(a, 8);
    size_t base = arena_memory_usage(a);
    size_t big_len = 1 << 20;
    uint8_t *big = arena_alloc(a, big_len);
    assert_int_equal((uintptr_t)big % 8, 0);
    memset(big, 0x5a, big_len);
    size_t after_big = arena_memory_usage(a);
    assert_true(after_big >= base + big_len);
    assert_true(after_big < base + big_len + 64);
    /* The current block still serves small requests: no new usage. */
    uint8_t *small2 = arena_alloc(a, 8);
    assert_ptr_equal(small2, small + 8);
    assert_int_equal(arena_memory_usage(a), after_big);
    arena_free(a);

    /* Start a fresh block: allocate until usage jumps by one block. */
    a = arena_new();
    arena_alloc(a, 16);
    size_t used = arena_memory_usage(a);
    while (arena_memory_usage(a) == used) {
        arena_alloc(a, 16);
    }
    used = arena_memory_usage(a);
    for (int i = 0; i < 3; i++) {
        arena_alloc(a, 1024); /* 16 + 3 * 1024 used, 1008 left */
    }
    assert_int_equal(arena_memory_usage(a), used);
    /* Just over a quarter block that does not fit: a block of its own. */
    arena_alloc(a, 1025);
    size_t own = arena_memory_usage(a);
    assert_true(own >= used + 1025 && own < used + 1025 + 64);
    arena_alloc(a, 1000); /* still fits the old block's tail */
    assert_int_equal(arena_memory_usage(a), own);
    arena_alloc(a, 1024); /* does not fit; small enough for a new shared block */
    assert_true(arena_memory_usage(a) >= own + 4096);
    arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_arena_uses_nothing),
        cmocka_unit_test(test_alloc_is_aligned_and_distinct),
        cmocka_unit_test(test_zero_byte_allocs_are_distinct),
        cmocka_unit_test(test_usage_grows_by_blocks),
        cmocka_unit_test(test_large_alloc_gets_own_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
