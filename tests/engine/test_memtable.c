#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "memtable.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static slice
s(const char *str)
{
    return slice_make(str, strlen(str));
}

static void
expect_get(memtable *m, slice key, uint64_t snapshot, uint64_t seq, value_type type, slice value)
{
    lookup_result r;
    lookup_result_init(&r);
    buffer_set(&r.value, "stale", 5);
    assert_true(memtable_get(m, key, snapshot, &r));
    assert_true(r.found);
    assert_int_equal(r.sequence, seq);
    assert_int_equal(r.type, type);
    assert_true(slice_equal(buffer_slice(&r.value), value));
    lookup_result_fini(&r);
}

static void
expect_missing(memtable *m, slice key, uint64_t snapshot)
{
    lookup_result r;
    lookup_result_init(&r);
    r.found = true;
    assert_false(memtable_get(m, key, snapshot, &r));
    assert_false(r.found);
    lookup_result_fini(&r);
}

/* Asserts the iterator's entry is (user_key, seq, type) -> value. */
static void
expect_entry(iterator *it, slice user_key, uint64_t seq, value_type type, slice value)
{
    assert_true(iterator_valid(it));
    parsed_internal_key p;
    assert_true(internal_key_parse(iterator_key(it), &p));
    assert_true(slice_equal(p.user_key, user_key));
    assert_int_equal(p.sequence, seq);
    assert_int_equal(p.type, type);
    assert_true(slice_equal(iterator_value(it), value));
}

typedef struct expected {
    slice user_key;
    uint64_t seq;
    value_type type;
    slice value;
} expected;

/* A full scan yields exactly want[0..n). */
static void
expect_scan(memtable *m, const expected *want, size_t n)
{
    iterator *it = memtable_iterator_new(m);
    iterator_seek_to_first(it);
    for (size_t i = 0; i < n; i++) {
        expect_entry(it, want[i].user_key, want[i].seq, want[i].type, want[i].value);
        iterator_next(it);
    }
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
}

static void
test_empty_memtable(void **state)
{
    memtable *m = memtable_new();
    expect_missing(m, s("a"), SEQUENCE_MAX);
    assert_int_equal(memtable_entries(m), 0);
    assert_int_equal(memtable_max_sequence(m), 0);
    iterator *it = memtable_iterator_new(m);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    buffer target;
    buffer_init(&target);
    internal_key_append(&target, s("a"), SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
    iterator_seek(it, buffer_slice(&target));
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    buffer_fini(&target);
    iterator_free(it);
    memtable_unref(m);
    memtable_unref(NULL);
}

static void
test_one_entry(void **state)
{
    memtable *m = memtable_new();
    memtable_add(m, 5, VALUE_TYPE_VALUE, s("key"), s("value"));
    expect_get(m, s("key"), 5, 5, VALUE_TYPE_VALUE, s("value"));
    expect_get(m, s("key"), SEQUENCE_MAX, 5, VALUE_TYPE_VALUE, s("value"));
    expect_get(m, s("key"), UINT64_MAX, 5, VALUE_TYPE_VALUE, s("value"));
    expect_missing(m, s("key"), 4);
    expect_missing(m, s("ke"), SEQUENCE_MAX);
    expect_missing(m, s("key0"), SEQUENCE_MAX);
    expect_missing(m, s("a"), SEQUENCE_MAX);
    expect_missing(m, s("z"), SEQUENCE_MAX);
    assert_int_equal(memtable_entries(m), 1);
    assert_int_equal(memtable_max_sequence(m), 5);

    expected want[] = {{s("key"), 5, VALUE_TYPE_VALUE, s("value")}};
    expect_scan(m, want, 1);
    memtable_unref(m);
}

static void
test_versions_by_snapshot(void **state)
{
    memtable *m = memtable_new();
    /* Added out of order on purpose: order comes from the key, not arrival. */
    memtable_add(m, 7, VALUE_TYPE_VALUE, s("k"), s("v7"));
    memtable_add(m, 1, VALUE_TYPE_VALUE, s("j"), s("j1"));
    memtable_add(m, 3, VALUE_TYPE_VALUE, s("k"), s("v3"));
    memtable_add(m, 20, VALUE_TYPE_VALUE, s("l"), s("l20"));
    memtable_add(m, 12, VALUE_TYPE_VALUE, s("k"), s("v12"));
    memtable_add(m, 15, VALUE_TYPE_DELETION, s("k"), s("ignored"));
    for (uint64_t snap = 0; snap < 3; snap++) {
        expect_missing(m, s("k"), snap);
    }
    for (uint64_t snap = 3; snap < 7; snap++) {
        expect_get(m, s("k"), snap, 3, VALUE_TYPE_VALUE, s("v3"));
    }
    for (uint64_t snap = 7; snap < 12; snap++) {
        expect_get(m, s("k"), snap, 7, VALUE_TYPE_VALUE, s("v7"));
    }
    for (uint64_t snap = 12; snap < 15; snap++) {
        expect_get(m, s("k"), snap, 12, VALUE_TYPE_VALUE, s("v12"));
    }
    /* A tombstone is an answer: found, type DELETION, empty value. */
    expect_get(m, s("k"), 15, 15, VALUE_TYPE_DELETION, s(""));
    expect_get(m, s("k"), SEQUENCE_MAX, 15, VALUE_TYPE_DELETION, s(""));
    expect_get(m, s("j"), SEQUENCE_MAX, 1, VALUE_TYPE_VALUE, s("j1"));
    expect_missing(m, s("l"), 19);
    assert_int_equal(memtable_max_sequence(m), 20);
    assert_int_equal(memtable_entries(m), 6);

    expected want[] = {
        {s("j"), 1, VALUE_TYPE_VALUE, s("j1")},   {s("k"), 15, VALUE_TYPE_DELETION, s("")},
        {s("k"), 12, VALUE_TYPE_VALUE, s("v12")}, {s("k"), 7, VALUE_TYPE_VALUE, s("v7")},
        {s("k"), 3, VALUE_TYPE_VALUE, s("v3")},   {s("l"), 20, VALUE_TYPE_VALUE, s("l20")},
    };
    expect_scan(m, want, 6);
    memtable_unref(m);
}

static void
test_binary_keys_and_empty_values(void **state)
{
    memtable *m = memtable_new();
    slice a = slice_make("a", 1);
    slice a0 = slice_make("a\0", 2);
    slice a0b = slice_make("a\0b", 3);
    slice zero = slice_make("\0", 1);
    slice bin_value = slice_make("x\0y\0", 4);
    memtable_add(m, 1, VALUE_TYPE_VALUE, a0b, bin_value);
    memtable_add(m, 2, VALUE_TYPE_VALUE, a, slice_make(NULL, 0));
    memtable_add(m, 3, VALUE_TYPE_VALUE, a0, s(""));
    memtable_add(m, 4, VALUE_TYPE_VALUE, zero, s("zero"));
    expect_get(m, a, SEQUENCE_MAX, 2, VALUE_TYPE_VALUE, s(""));
    expect_get(m, a0, SEQUENCE_MAX, 3, VALUE_TYPE_VALUE, s(""));
    expect_get(m, a0b, SEQUENCE_MAX, 1, VALUE_TYPE_VALUE, bin_value);
    expect_get(m, zero, SEQUENCE_MAX, 4, VALUE_TYPE_VALUE, s("zero"));
    expect_missing(m, slice_make("a\0\0", 3), SEQUENCE_MAX);
    expect_missing(m, slice_make("\0\0", 2), SEQUENCE_MAX);

    expected want[] = {
        {zero, 4, VALUE_TYPE_VALUE, s("zero")},
        {a, 2, VALUE_TYPE_VALUE, s("")},
        {a0, 3, VALUE_TYPE_VALUE, s("")},
        {a0b, 1, VALUE_TYPE_VALUE, bin_value},
    };
    expect_scan(m, want, 4);
    memtable_unref(m);
}

static void
test_huge_value(void **state)
{
    size_t len = 1 << 20;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, big, len);
    memtable *m = memtable_new();
    memtable_add(m, 1, VALUE_TYPE_VALUE, s("small"), s("v"));
    memtable_add(m, 2, VALUE_TYPE_VALUE, s("big"), slice_make(big, len));
    assert_true(memtable_approximate_bytes(m) >= len);
    expect_get(m, s("big"), SEQUENCE_MAX, 2, VALUE_TYPE_VALUE, slice_make(big, len));
    expect_get(m, s("small"), SEQUENCE_MAX, 1, VALUE_TYPE_VALUE, s("v"));
    iterator *it = memtable_iterator_new(m);
    iterator_seek_to_first(it);
    expect_entry(it, s("big"), 2, VALUE_TYPE_VALUE, slice_make(big, len));
    iterator_free(it);
    memtable_unref(m);
    free(big);
}

static void
seek_to(iterator *it, buffer *target, const char *key, uint64_t seq)
{
    buffer_clear(target);
    internal_key_append(target, s(key), seq, VALUE_TYPE_FOR_SEEK);
    iterator_seek(it, buffer_slice(target));
}

static void
test_seek(void **state)
{
    memtable *m = memtable_new();
    memtable_add(m, 10, VALUE_TYPE_VALUE, s("b"), s("b10"));
    memtable_add(m, 5, VALUE_TYPE_VALUE, s("b"), s("b5"));
    memtable_add(m, 7, VALUE_TYPE_VALUE, s("d"), s("d7"));
    iterator *it = memtable_iterator_new(m);
    buffer t;
    buffer_init(&t);
    seek_to(it, &t, "a", SEQUENCE_MAX); /* before everything */
    expect_entry(it, s("b"), 10, VALUE_TYPE_VALUE, s("b10"));
    seek_to(it, &t, "b", SEQUENCE_MAX);
    expect_entry(it, s("b"), 10, VALUE_TYPE_VALUE, s("b10"));
    seek_to(it, &t, "b", 10); /* exact key: inclusive */
    expect_entry(it, s("b"), 10, VALUE_TYPE_VALUE, s("b10"));
    seek_to(it, &t, "b", 9); /* newest version visible at snapshot 9 */
    expect_entry(it, s("b"), 5, VALUE_TYPE_VALUE, s("b5"));
    seek_to(it, &t, "b", 4); /* older than every version of b */
    expect_entry(it, s("d"), 7, VALUE_TYPE_VALUE, s("d7"));
    seek_to(it, &t, "c", SEQUENCE_MAX); /* between keys */
    expect_entry(it, s("d"), 7, VALUE_TYPE_VALUE, s("d7"));
    seek_to(it, &t, "d", 6);
    assert_false(iterator_valid(it));
    seek_to(it, &t, "e", SEQUENCE_MAX); /* past the end */
    assert_false(iterator_valid(it));
    iterator_seek_to_first(it); /* usable again after running off the end */
    expect_entry(it, s("b"), 10, VALUE_TYPE_VALUE, s("b10"));
    buffer_fini(&t);
    iterator_free(it);
    memtable_unref(m);
}

static void
test_iterator_keeps_memtable_alive(void **state)
{
    memtable *m = memtable_new();
    memtable_add(m, 1, VALUE_TYPE_VALUE, s("a"), s("1"));
    memtable_ref(m);
    iterator *it = memtable_iterator_new(m);
    memtable_unref(m);
    memtable_unref(m); /* the iterator now holds the last reference */
    iterator_seek_to_first(it);
    /* ASan reports a use after free here if the iterator held no reference. */
    expect_entry(it, s("a"), 1, VALUE_TYPE_VALUE, s("1"));
    iterator_free(it); /* frees the memtable; ASan's leak check sees it */
}

static void
test_approximate_bytes_grow(void **state)
{
    memtable *m = memtable_new();
    size_t empty = memtable_approximate_bytes(m);
    assert_true(empty > 0);
    char key[32];
    uint8_t value[100];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key%06d", i);
        memtable_add(m, (uint64_t)i + 1, VALUE_TYPE_VALUE, s(key), slice_make(value, 100));
    }
    size_t full = memtable_approximate_bytes(m);
    assert_true(full >= empty + 1000 * (9 + 8 + 100));
    assert_true(full < empty + 1000 * 300);
    assert_int_equal(memtable_entries(m), 1000);
    assert_int_equal(memtable_max_sequence(m), 1000);
    memtable_unref(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_memtable),
        cmocka_unit_test(test_one_entry),
        cmocka_unit_test(test_versions_by_snapshot),
        cmocka_unit_test(test_binary_keys_and_empty_values),
        cmocka_unit_test(test_huge_value),
        cmocka_unit_test(test_seek),
        cmocka_unit_test(test_iterator_keeps_memtable_alive),
        cmocka_unit_test(test_approximate_bytes_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
