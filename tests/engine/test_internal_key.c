#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "internal_key.h"
#include "test_support.h"

#include <stdlib.h>
#include <string.h>

/* An internal key in its own exactly-sized heap block (ASan sees over-reads). */
typedef struct owned_key {
    uint8_t *data;
    size_t len;
} owned_key;

static owned_key
make_key(const void *user_key, size_t len, uint64_t sequence, value_type type)
{
    buffer b;
    buffer_init(&b);
    internal_key_append(&b, slice_make(user_key, len), sequence, type);
    owned_key k = {xmemdup(b.data, b.len), b.len};
    buffer_fini(&b);
    return k;
}

static slice
key_slice(owned_key k)
{
    return slice_make(k.data, k.len);
}

static int
compare(owned_key a, owned_key b)
{
    return internal_key_compare(key_slice(a), key_slice(b));
}

static void
test_append_layout(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_append(&b, "pre", 3); /* append keeps what was there */
    internal_key_append(&b, slice_make("key", 3), 0x123456, VALUE_TYPE_VALUE);
    assert_int_equal(b.len, 3 + 3 + INTERNAL_KEY_TRAILER);
    assert_memory_equal(b.data, "prekey", 6);
    assert_int_equal(decode_fixed64(b.data + 6), (UINT64_C(0x123456) << 8) | 1);
    buffer_fini(&b);
}

static void
test_append_parse_round_trip(void **state)
{
    const struct {
        const char *key;
        size_t len;
        uint64_t seq;
        value_type type;
    } cases[] = {
        {"", 0, 0, VALUE_TYPE_VALUE},
        {"", 0, SEQUENCE_MAX, VALUE_TYPE_DELETION},
        {"a", 1, 1, VALUE_TYPE_VALUE},
        {"a\0b", 3, 77, VALUE_TYPE_DELETION},
        {"\0\0\0\0\0\0\0\0\0", 9, SEQUENCE_MAX, VALUE_TYPE_VALUE},
        {"\xff\xff", 2, SEQUENCE_MAX - 1, VALUE_TYPE_VALUE},
        {"user-key", 8, UINT64_C(1) << 40, VALUE_TYPE_DELETION},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        owned_key k = make_key(cases[i].key, cases[i].len, cases[i].seq, cases[i].type);
        assert_int_equal(k.len, cases[i].len + INTERNAL_KEY_TRAILER);
        parsed_internal_key p;
        assert_true(internal_key_parse(key_slice(k), &p));
        assert_true(slice_equal(p.user_key, slice_make(cases[i].key, cases[i].len)));
        assert_int_equal(p.sequence, cases[i].seq);
        assert_int_equal(p.type, cases[i].type);
        assert_true(slice_equal(internal_key_user_key(key_slice(k)), p.user_key));
        free(k.data);
    }
}

static void
test_parse_rejects_short_keys(void **state)
{
    uint8_t bytes[INTERNAL_KEY_TRAILER] = {1, 0, 0, 0, 0, 0, 0, 0};
    parsed_internal_key p;
    memset(&p, 0x77, sizeof(p));
    for (size_t len = 0; len < INTERNAL_KEY_TRAILER; len++) {
        uint8_t *copy = xmemdup(bytes, len);
        assert_false(internal_key_parse(slice_make(copy, len), &p));
        free(copy);
    }
    assert_int_equal(p.sequence, 0x7777777777777777ull); /* untouched */
    /* Exactly the trailer: an empty user key. */
    assert_true(internal_key_parse(slice_make(bytes, sizeof(bytes)), &p));
    assert_int_equal(p.user_key.len, 0);
    assert_int_equal(p.type, VALUE_TYPE_VALUE);
    assert_int_equal(p.sequence, 0);
}

static void
test_parse_rejects_unknown_type(void **state)
{
    owned_key k = make_key("key", 3, 5, VALUE_TYPE_VALUE);
    uint8_t *type_byte = k.data + 3; /* low byte of the little-endian trailer */
    const unsigned bad[] = {2, 3, 0x7f, 0x80, 0xfe, 0xff};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        *type_byte = (uint8_t)bad[i];
        parsed_internal_key p;
        p.sequence = 999;
        assert_false(internal_key_parse(key_slice(k), &p));
        assert_int_equal(p.sequence, 999);
    }
    *type_byte = VALUE_TYPE_DELETION;
    parsed_internal_key p;
    assert_true(internal_key_parse(key_slice(k), &p));
    assert_int_equal(p.type, VALUE_TYPE_DELETION);
    assert_int_equal(p.sequence, 5);
    free(k.data);
}

static void
test_compare_user_key_ascending(void **state)
{
    /* Bytewise, a proper prefix first, NUL bytes are ordinary bytes, 0xff last;
     * sequences chosen so that ordering by sequence would give the opposite answer. */
    owned_key keys[] = {
        make_key("", 0, 1, VALUE_TYPE_VALUE),      make_key("\0", 1, 2, VALUE_TYPE_VALUE),
        make_key("\0\0", 2, 3, VALUE_TYPE_VALUE),  make_key("\0\x01", 2, 4, VALUE_TYPE_VALUE),
        make_key("a", 1, 5, VALUE_TYPE_VALUE),     make_key("a\0", 2, 6, VALUE_TYPE_VALUE),
        make_key("a\0b", 3, 7, VALUE_TYPE_VALUE),  make_key("ab", 2, 8, VALUE_TYPE_VALUE),
        make_key("b", 1, 9, VALUE_TYPE_VALUE),     make_key("\x7f", 1, 10, VALUE_TYPE_VALUE),
        make_key("\x80", 1, 11, VALUE_TYPE_VALUE), /* unsigned bytes */
        make_key("\xff", 1, 12, VALUE_TYPE_VALUE), make_key("\xff\xff", 2, 13, VALUE_TYPE_VALUE),
    };
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int c = compare(keys[i], keys[j]);
            if (i < j) {
                assert_true(c < 0);
            } else if (i > j) {
                assert_true(c > 0);
            } else {
                assert_int_equal(c, 0);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(keys[i].data);
    }
}

static void
test_compare_sequence_descending(void **state)
{
    /* Same user key: newest first; for equal sequences a value before a deletion. */
    owned_key keys[] = {
        make_key("k\0", 2, SEQUENCE_MAX, VALUE_TYPE_VALUE),
        make_key("k\0", 2, SEQUENCE_MAX, VALUE_TYPE_DELETION),
        make_key("k\0", 2, UINT64_C(1) << 48, VALUE_TYPE_DELETION),
        make_key("k\0", 2, 256, VALUE_TYPE_VALUE),
        make_key("k\0", 2, 255, VALUE_TYPE_VALUE),
        make_key("k\0", 2, 2, VALUE_TYPE_DELETION),
        make_key("k\0", 2, 1, VALUE_TYPE_VALUE),
        make_key("k\0", 2, 0, VALUE_TYPE_VALUE),
        make_key("k\0", 2, 0, VALUE_TYPE_DELETION),
        /* A longer user key sorts after every version of its prefix. */
        make_key("k\0\0", 3, SEQUENCE_MAX, VALUE_TYPE_VALUE),
    };
    size_t n = sizeof(keys) / sizeof(keys[0]);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(compare(keys[i], keys[i + 1]) < 0);
        assert_true(compare(keys[i + 1], keys[i]) > 0);
        assert_int_equal(compare(keys[i], keys[i]), 0);
    }
    assert_true(compare(keys[0], keys[n - 1]) < 0);
    for (size_t i = 0; i < n; i++) {
        free(keys[i].data);
    }
}

static void
test_compare_equal_keys(void **state)
{
    owned_key a = make_key("same", 4, 42, VALUE_TYPE_VALUE);
    owned_key b = make_key("same", 4, 42, VALUE_TYPE_VALUE);
    assert_int_equal(compare(a, b), 0);
    free(a.data);
    free(b.data);
    owned_key e1 = make_key("", 0, 7, VALUE_TYPE_DELETION);
    owned_key e2 = make_key("", 0, 7, VALUE_TYPE_DELETION);
    assert_int_equal(compare(e1, e2), 0);
    free(e1.data);
    free(e2.data);
}

/* Index of the first key >= target in a sorted array (what a seek does). */
static size_t
lower_bound(owned_key *keys, size_t n, owned_key target)
{
    size_t i = 0;
    while (i < n && compare(keys[i], target) < 0) {
        i++;
    }
    return i;
}

static void
test_seek_key_lands_on_newest_visible_version(void **state)
{
    /* Versions of "m" at sequences 30, 20, 20 (deletion), 10, surrounded by other keys. */
    owned_key sorted[] = {
        make_key("l", 1, 100, VALUE_TYPE_VALUE), make_key("m", 1, 30, VALUE_TYPE_VALUE),
        make_key("m", 1, 20, VALUE_TYPE_VALUE),  make_key("m", 1, 20, VALUE_TYPE_DELETION),
        make_key("m", 1, 10, VALUE_TYPE_VALUE),  make_key("n", 1, 1, VALUE_TYPE_VALUE),
    };
    size_t n = sizeof(sorted) / sizeof(sorted[0]);
    const struct {
        uint64_t snapshot;
        size_t expect;
    } cases[] = {
        {SEQUENCE_MAX, 1}, {31, 1}, {30, 1}, {29, 2}, {21, 2}, {20, 2},
        {19, 4},           {11, 4}, {10, 4}, {9, 5},  {0, 5},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        owned_key seek = make_key("m", 1, cases[i].snapshot, VALUE_TYPE_FOR_SEEK);
        size_t at = lower_bound(sorted, n, seek);
        assert_int_equal(at, cases[i].expect);
        /* The seek key lands before every version with sequence <= snapshot. */
        for (size_t j = 1; j <= 4; j++) {
            parsed_internal_key p;
            assert_true(internal_key_parse(key_slice(sorted[j]), &p));
            if (p.sequence <= cases[i].snapshot) {
                assert_true(compare(seek, sorted[j]) <= 0);
            } else {
                assert_true(compare(seek, sorted[j]) > 0);
            }
        }
        free(seek.data);
    }
    for (size_t i = 0; i < n; i++) {
        free(sorted[i].data);
    }
}

static int
qsort_compare(const void *a, const void *b)
{
    return compare(*(const owned_key *)a, *(const owned_key *)b);
}

static void
test_random_keys_sort_consistently(void **state)
{
    /* Sorting by internal_key_compare groups by user key ascending and then
     * orders each group by sequence descending. */
    test_rng rng;
    test_rng_init(&rng, test_seed());
    enum { N = 500 };
    owned_key *keys = xcalloc(N, sizeof(*keys));
    for (size_t i = 0; i < N; i++) {
        uint8_t user[4];
        size_t len = (size_t)test_rng_below(&rng, 4);
        for (size_t j = 0; j < len; j++) {
            user[j] = (uint8_t)test_rng_below(&rng, 3); /* many NULs and collisions */
        }
        keys[i] =
            make_key(user, len, test_rng_below(&rng, 50), (value_type)test_rng_below(&rng, 2));
    }
    qsort(keys, N, sizeof(*keys), qsort_compare);
    for (size_t i = 0; i + 1 < N; i++) {
        parsed_internal_key a, b;
        assert_true(internal_key_parse(key_slice(keys[i]), &a));
        assert_true(internal_key_parse(key_slice(keys[i + 1]), &b));
        int c = slice_compare(a.user_key, b.user_key);
        assert_true(c <= 0);
        if (c == 0) {
            assert_true(a.sequence >= b.sequence);
            if (a.sequence == b.sequence) {
                assert_true(a.type >= b.type);
            }
        }
    }
    for (size_t i = 0; i < N; i++) {
        free(keys[i].data);
    }
    free(keys);
}

static void
test_lookup_result_lifecycle(void **state)
{
    lookup_result r;
    memset(&r, 0x3c, sizeof(r));
    lookup_result_init(&r);
    assert_false(r.found);
    assert_int_equal(r.sequence, 0);
    assert_int_equal(r.value.len, 0);

    r.found = true;
    r.type = VALUE_TYPE_VALUE;
    r.sequence = 99;
    buffer_set(&r.value, "some value", 10);
    uint8_t *data = r.value.data;
    size_t cap = r.value.cap;

    lookup_result_reset(&r);
    assert_false(r.found);
    assert_int_equal(r.type, VALUE_TYPE_DELETION);
    assert_int_equal(r.sequence, 0);
    assert_int_equal(r.value.len, 0);
    assert_ptr_equal(r.value.data, data); /* memory kept for the next lookup */
    assert_int_equal(r.value.cap, cap);

    buffer_set(&r.value, "x", 1);
    lookup_result_fini(&r);
    assert_null(r.value.data);
    assert_int_equal(r.value.len, 0);

    /* fini right after init. */
    lookup_result_init(&r);
    lookup_result_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_layout),
        cmocka_unit_test(test_append_parse_round_trip),
        cmocka_unit_test(test_parse_rejects_short_keys),
        cmocka_unit_test(test_parse_rejects_unknown_type),
        cmocka_unit_test(test_compare_user_key_ascending),
        cmocka_unit_test(test_compare_sequence_descending),
        cmocka_unit_test(test_compare_equal_keys),
        cmocka_unit_test(test_seek_key_lands_on_newest_visible_version),
        cmocka_unit_test(test_random_keys_sort_consistently),
        cmocka_unit_test(test_lookup_result_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
