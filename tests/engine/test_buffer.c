#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buffer.h"
#include "test_support.h"

#include <stdlib.h>
#include <string.h>

static void
test_init_is_empty(void **state)
{
    buffer b;
    memset(&b, 0xab, sizeof(b));
    buffer_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    slice s = buffer_slice(&b);
    assert_int_equal(s.len, 0);
    buffer_fini(&b);
    buffer_fini(&b); /* fini leaves an empty buffer, so a second fini is harmless */
    assert_null(b.data);
}

static void
test_append_grows_and_keeps_contents(void **state)
{
    buffer b;
    buffer_init(&b);
    uint8_t expect[10000];
    for (size_t i = 0; i < sizeof(expect); i++) {
        expect[i] = (uint8_t)(i * 7 + 3);
    }
    /* Appends of every size from 1 up, so growth happens at many fill levels. */
    size_t off = 0;
    for (size_t n = 1; off + n <= sizeof(expect); n++) {
        buffer_append(&b, expect + off, n);
        off += n;
        assert_int_equal(b.len, off);
        assert_true(b.cap >= b.len);
    }
    assert_memory_equal(b.data, expect, off);
    buffer_fini(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void
test_append_binary_with_nul_bytes(void **state)
{
    buffer b;
    buffer_init(&b);
    const uint8_t bytes[] = {0, 1, 0, 0xff, 0};
    buffer_append(&b, bytes, sizeof(bytes));
    buffer_append_slice(&b, slice_make(bytes, 2));
    assert_int_equal(b.len, 7);
    const uint8_t want[] = {0, 1, 0, 0xff, 0, 0, 1};
    assert_memory_equal(b.data, want, sizeof(want));
    assert_true(slice_equal(buffer_slice(&b), slice_make(want, sizeof(want))));
    buffer_fini(&b);
}

static void
test_zero_length_append_changes_nothing(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_append(&b, NULL, 0);
    buffer_append_slice(&b, slice_make(NULL, 0));
    assert_int_equal(b.len, 0);
    buffer_append(&b, "abc", 3);
    size_t cap = b.cap;
    uint8_t *data = b.data;
    buffer_append(&b, NULL, 0);
    buffer_append(&b, "zzz", 0);
    assert_int_equal(b.len, 3);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    assert_memory_equal(b.data, "abc", 3);
    buffer_fini(&b);
}

static void
test_reserve_makes_room_without_changing_len(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_append(&b, "hello", 5);
    buffer_reserve(&b, 100000);
    assert_int_equal(b.len, 5);
    assert_true(b.cap >= 100005);
    assert_memory_equal(b.data, "hello", 5);
    /* The reserved space is usable without another reallocation. */
    uint8_t *data = b.data;
    memset(b.data + b.len, 'x', 100000);
    uint8_t *big = malloc(100000);
    assert_non_null(big);
    memset(big, 'y', 100000);
    buffer_append(&b, big, 100000);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.len, 100005);
    assert_int_equal(b.data[100004], 'y');
    free(big);

    /* Reserving what is already there does not reallocate. */
    size_t cap = b.cap;
    buffer_reserve(&b, 0);
    buffer_reserve(&b, b.cap - b.len);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    buffer_fini(&b);
}

static void
test_reserve_on_empty_buffer(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_reserve(&b, 1);
    assert_non_null(b.data);
    assert_true(b.cap >= 1);
    assert_int_equal(b.len, 0);
    buffer_fini(&b);

    buffer_init(&b);
    buffer_reserve(&b, 0);
    assert_int_equal(b.len, 0);
    buffer_fini(&b);
}

static void
test_set_replaces_contents(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_set(&b, "first value", 11);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "first value", 11);
    buffer_set(&b, "2nd", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "2nd", 3);
    buffer_set(&b, NULL, 0);
    assert_int_equal(b.len, 0);
    uint8_t big[5000];
    memset(big, 0x11, sizeof(big));
    buffer_set(&b, big, sizeof(big));
    assert_int_equal(b.len, sizeof(big));
    assert_memory_equal(b.data, big, sizeof(big));
    buffer_fini(&b);
}

static void
test_clear_keeps_memory(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_append(&b, "abcdef", 6);
    uint8_t *data = b.data;
    size_t cap = b.cap;
    buffer_clear(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_ptr_equal(b.data, data);
    buffer_append(&b, "xy", 2);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "xy", 2);
    buffer_fini(&b);
}

static void
test_random_appends_match_model(void **state)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    buffer b;
    buffer_init(&b);
    size_t model_cap = 1 << 20;
    uint8_t *model = malloc(model_cap);
    assert_non_null(model);
    size_t model_len = 0;
    uint8_t chunk[3000];
    for (int round = 0; round < 500; round++) {
        size_t n = (size_t)test_rng_below(&rng, sizeof(chunk));
        test_rng_bytes(&rng, chunk, n);
        if (test_rng_below(&rng, 20) == 0) {
            buffer_clear(&b);
            model_len = 0;
        }
        if (model_len + n > model_cap) {
            break;
        }
        buffer_append(&b, chunk, n);
        memcpy(model + model_len, chunk, n);
        model_len += n;
        assert_int_equal(b.len, model_len);
    }
    if (model_len > 0) {
        assert_memory_equal(b.data, model, model_len);
    }
    free(model);
    buffer_fini(&b);
}

static void
test_xmemdup_copies(void **state)
{
    const uint8_t src[] = {'a', 0, 'b', 0xff};
    uint8_t *copy = xmemdup(src, sizeof(src));
    assert_non_null(copy);
    assert_ptr_not_equal(copy, src);
    assert_memory_equal(copy, src, sizeof(src));
    free(copy);

    /* Zero bytes still gives a pointer the caller can free. */
    uint8_t *empty = xmemdup(NULL, 0);
    assert_non_null(empty);
    free(empty);
}

static void
test_xalloc_zero_sizes(void **state)
{
    void *p = xmalloc(0);
    assert_non_null(p);
    p = xrealloc(p, 0);
    assert_non_null(p);
    p = xrealloc(p, 100);
    memset(p, 1, 100);
    free(p);
    uint8_t *z = xcalloc(10, 10);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(z[i], 0);
    }
    free(z);
    free(xcalloc(0, 8));
    free(xcalloc(8, 0));
}

/* Appending a buffer's own bytes: buffer_reserve reallocates before the memcpy. */
static void
test_buffer_self_append(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_append(&b, "0123456789", 10);
    while (b.len < 1000) {
        buffer_append(&b, b.data, b.len);
    }
    assert_memory_equal(b.data, "0123456789", 10);
    buffer_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_self_append),
        cmocka_unit_test(test_init_is_empty),
        cmocka_unit_test(test_append_grows_and_keeps_contents),
        cmocka_unit_test(test_append_binary_with_nul_bytes),
        cmocka_unit_test(test_zero_length_append_changes_nothing),
        cmocka_unit_test(test_reserve_makes_room_without_changing_len),
        cmocka_unit_test(test_reserve_on_empty_buffer),
        cmocka_unit_test(test_set_replaces_contents),
        cmocka_unit_test(test_clear_keeps_memory),
        cmocka_unit_test(test_random_appends_match_model),
        cmocka_unit_test(test_xmemdup_copies),
        cmocka_unit_test(test_xalloc_zero_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
