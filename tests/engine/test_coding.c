#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "test_support.h"

#include <stdlib.h>
#include <string.h>

/*
 * Decoders are run on a heap copy of exactly the bytes they may read, so
 * AddressSanitizer reports any read past limit.
 */
static uint8_t *
exact_copy(const uint8_t *src, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len) {
        memcpy(p, src, len);
    }
    return p;
}

/* Decodes [bytes, bytes+len) as varint64 from an exact heap copy. */
static const uint8_t *
decode64(const uint8_t *bytes, size_t len, uint64_t *out, size_t *consumed)
{
    uint8_t *p = exact_copy(bytes, len);
    const uint8_t *end = get_varint64(p, p + len, out);
    *consumed = end ? (size_t)(end - p) : 0;
    free(p);
    return end;
}

static const uint64_t interesting[] = {
    0,
    1,
    127,
    128,
    255,
    256,
    16383,
    16384,
    (UINT64_C(1) << 21) - 1,
    UINT64_C(1) << 21,
    UINT32_MAX - 1,
    UINT32_MAX,
    (uint64_t)UINT32_MAX + 1,
    (UINT64_C(1) << 56) - 1,
    UINT64_C(1) << 56,
    (UINT64_C(1) << 63) - 1,
    UINT64_C(1) << 63,
    UINT64_MAX - 1,
    UINT64_MAX,
};
#define INTERESTING_COUNT (sizeof(interesting) / sizeof(interesting[0]))

static void
test_fixed32_round_trip_and_layout(void **state)
{
    const uint32_t values[] = {0,          1,         0xff,           0x100,
                               0x12345678, INT32_MAX, UINT32_MAX - 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t *p = malloc(4);
        assert_non_null(p);
        encode_fixed32(p, values[i]);
        assert_int_equal(decode_fixed32(p), values[i]);
        free(p);
    }
    uint8_t b[4];
    encode_fixed32(b, 0x12345678);
    const uint8_t little_endian[] = {0x78, 0x56, 0x34, 0x12};
    assert_memory_equal(b, little_endian, 4);
}

static void
test_fixed64_round_trip_and_layout(void **state)
{
    for (size_t i = 0; i < INTERESTING_COUNT; i++) {
        uint8_t *p = malloc(8);
        assert_non_null(p);
        encode_fixed64(p, interesting[i]);
        assert_int_equal(decode_fixed64(p), interesting[i]);
        free(p);
    }
    uint8_t b[8];
    encode_fixed64(b, UINT64_C(0x0102030405060708));
    const uint8_t little_endian[] = {8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(b, little_endian, 8);
}

static void
test_put_fixed_appends(void **state)
{
    buffer b;
    buffer_init(&b);
    buffer_append(&b, "x", 1);
    put_fixed32(&b, 0xdeadbeef);
    put_fixed64(&b, UINT64_MAX - 5);
    assert_int_equal(b.len, 1 + 4 + 8);
    assert_int_equal(b.data[0], 'x');
    assert_int_equal(decode_fixed32(b.data + 1), 0xdeadbeef);
    assert_int_equal(decode_fixed64(b.data + 5), UINT64_MAX - 5);
    buffer_fini(&b);
}

static void
test_varint_round_trip(void **state)
{
    for (size_t i = 0; i < INTERESTING_COUNT; i++) {
        uint64_t v = interesting[i];
        uint8_t enc[VARINT64_MAX_BYTES];
        size_t n = encode_varint64(enc, v);
        assert_int_equal(n, varint_length(v));
        assert_in_range(n, 1, VARINT64_MAX_BYTES);
        uint64_t got = ~v;
        size_t consumed;
        assert_non_null(decode64(enc, n, &got, &consumed));
        assert_int_equal(consumed, n);
        assert_int_equal(got, v);
    }
}

static void
test_varint_lengths(void **state)
{
    assert_int_equal(varint_length(0), 1);
    assert_int_equal(varint_length(127), 1);
    assert_int_equal(varint_length(128), 2);
    assert_int_equal(varint_length(16383), 2);
    assert_int_equal(varint_length(16384), 3);
    assert_int_equal(varint_length(UINT32_MAX), 5);
    assert_int_equal(varint_length((UINT64_C(1) << 63) - 1), 9);
    assert_int_equal(varint_length(UINT64_C(1) << 63), 10);
    assert_int_equal(varint_length(UINT64_MAX), 10);
    /* Every 7-bit boundary. */
    for (unsigned bits = 1; bits < 64; bits++) {
        uint64_t v = UINT64_C(1) << bits;
        assert_int_equal(varint_length(v - 1), (bits + 6) / 7);
        assert_int_equal(varint_length(v), bits / 7 + 1);
    }
}

static void
test_varint_known_encodings(void **state)
{
    uint8_t enc[VARINT64_MAX_BYTES];
    assert_int_equal(encode_varint64(enc, 0), 1);
    assert_int_equal(enc[0], 0);
    assert_int_equal(encode_varint64(enc, 300), 2);
    assert_int_equal(enc[0], 0xac);
    assert_int_equal(enc[1], 0x02);
    assert_int_equal(encode_varint64(enc, UINT64_MAX), 10);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(enc[i], 0xff);
    }
    assert_int_equal(enc[9], 0x01);
}

static void
test_put_varint_sequence_decodes_back(void **state)
{
    buffer b;
    buffer_init(&b);
    for (size_t i = 0; i < INTERESTING_COUNT; i++) {
        put_varint64(&b, interesting[i]);
    }
    uint8_t *p = exact_copy(b.data, b.len);
    const uint8_t *cur = p, *limit = p + b.len;
    for (size_t i = 0; i < INTERESTING_COUNT; i++) {
        uint64_t v;
        cur = get_varint64(cur, limit, &v);
        assert_non_null(cur);
        assert_int_equal(v, interesting[i]);
    }
    assert_ptr_equal(cur, limit);
    free(p);
    buffer_fini(&b);
}

static void
test_varint_rejects_truncated_input(void **state)
{
    for (size_t i = 0; i < INTERESTING_COUNT; i++) {
        uint8_t enc[VARINT64_MAX_BYTES];
        size_t n = encode_varint64(enc, interesting[i]);
        /* Every proper prefix, including the empty one, is truncated. */
        for (size_t cut = 0; cut < n; cut++) {
            uint64_t got = 42;
            size_t consumed;
            assert_null(decode64(enc, cut, &got, &consumed));
            assert_int_equal(got, 42); /* out untouched on failure */
        }
    }
}

static void
test_varint_empty_range(void **state)
{
    uint8_t byte = 0;
    uint64_t v = 7;
    assert_null(get_varint64(&byte, &byte, &v));
    assert_int_equal(v, 7);
}

static void
test_varint_rejects_overlong(void **state)
{
    uint64_t got = 99;
    size_t consumed;

    /* 11 bytes: ten continuation bytes then a terminator. */
    uint8_t eleven[11];
    memset(eleven, 0x80, 10);
    eleven[10] = 0x00;
    assert_null(decode64(eleven, sizeof(eleven), &got, &consumed));

    /* Ten continuation bytes and nothing else: truncated and overlong. */
    assert_null(decode64(eleven, 10, &got, &consumed));

    /* 10th byte carrying more than the one bit left of 64. */
    uint8_t ten[10];
    memset(ten, 0xff, 9);
    for (unsigned last = 2; last < 0x80; last++) {
        ten[9] = (uint8_t)last;
        assert_null(decode64(ten, sizeof(ten), &got, &consumed));
    }
    /* 10th byte with its continuation bit set. */
    ten[9] = 0x81;
    assert_null(decode64(ten, sizeof(ten), &got, &consumed));
    ten[9] = 0x80;
    assert_null(decode64(ten, sizeof(ten), &got, &consumed));
    assert_int_equal(got, 99);

    /* 10th byte exactly 1 is UINT64_MAX; exactly 0 is a (padded) 2^63 - 1. */
    ten[9] = 0x01;
    assert_non_null(decode64(ten, sizeof(ten), &got, &consumed));
    assert_int_equal(got, UINT64_MAX);
    assert_int_equal(consumed, 10);
    ten[9] = 0x00;
    assert_non_null(decode64(ten, sizeof(ten), &got, &consumed));
    assert_int_equal(got, (UINT64_C(1) << 63) - 1);
}

static void
test_varint_stops_at_terminator(void **state)
{
    /* Bytes after the terminator are not consumed. */
    const uint8_t bytes[] = {0x96, 0x01, 0xff, 0xff};
    uint64_t v;
    size_t consumed;
    assert_non_null(decode64(bytes, sizeof(bytes), &v, &consumed));
    assert_int_equal(v, 150);
    assert_int_equal(consumed, 2);
}

static void
test_varint_random_garbage_is_bounded(void **state)
{
    /* Whatever the bytes, decoding must stay within limit (ASan checks) and
     * report a consumed length of at most 10. */
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (int round = 0; round < 20000; round++) {
        uint8_t bytes[12];
        size_t len = (size_t)test_rng_below(&rng, sizeof(bytes) + 1);
        test_rng_bytes(&rng, bytes, len);
        if (test_rng_below(&rng, 2)) {
            for (size_t i = 0; i < len; i++) {
                bytes[i] |= 0x80; /* mostly continuation bytes */
            }
            if (len > 0 && test_rng_below(&rng, 2)) {
                bytes[len - 1] &= 0x7f;
            }
        }
        uint64_t v;
        size_t consumed;
        if (decode64(bytes, len, &v, &consumed) != NULL) {
            assert_in_range(consumed, 1, VARINT64_MAX_BYTES);
            /* A decoded value re-encodes to at most as many bytes. */
            assert_true(varint_length(v) <= consumed);
        }
    }
}

static void
test_varint32_bounds(void **state)
{
    uint8_t enc[VARINT64_MAX_BYTES];
    uint32_t v32 = 5;

    size_t n = encode_varint64(enc, UINT32_MAX);
    uint8_t *p = exact_copy(enc, n);
    assert_ptr_equal(get_varint32(p, p + n, &v32), p + n);
    assert_int_equal(v32, UINT32_MAX);
    free(p);

    const uint64_t too_big[] = {(uint64_t)UINT32_MAX + 1, UINT64_C(1) << 40, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        n = encode_varint64(enc, too_big[i]);
        p = exact_copy(enc, n);
        v32 = 5;
        assert_null(get_varint32(p, p + n, &v32));
        assert_int_equal(v32, 5);
        free(p);
    }

    n = encode_varint64(enc, 0);
    p = exact_copy(enc, n);
    assert_non_null(get_varint32(p, p + n, &v32));
    assert_int_equal(v32, 0);
    free(p);

    /* Truncated. */
    n = encode_varint64(enc, 1u << 20);
    p = exact_copy(enc, n - 1);
    assert_null(get_varint32(p, p + n - 1, &v32));
    free(p);
}

static void
test_length_prefixed_round_trip(void **state)
{
    buffer b;
    buffer_init(&b);
    const uint8_t binary[] = {0, 'k', 0, 0xff};
    uint8_t *big = malloc(300);
    assert_non_null(big);
    memset(big, 'v', 300);
    put_length_prefixed(&b, slice_make(NULL, 0));
    put_length_prefixed(&b, slice_make(binary, sizeof(binary)));
    put_length_prefixed(&b, slice_make(big, 300));
    assert_int_equal(b.len, 1 + 1 + 4 + 2 + 300);

    uint8_t *p = exact_copy(b.data, b.len);
    const uint8_t *cur = p, *limit = p + b.len;
    slice s = slice_make(NULL, 0);
    cur = get_length_prefixed(cur, limit, &s);
    assert_non_null(cur);
    assert_int_equal(s.len, 0);
    cur = get_length_prefixed(cur, limit, &s);
    assert_non_null(cur);
    assert_true(slice_equal(s, slice_make(binary, sizeof(binary))));
    cur = get_length_prefixed(cur, limit, &s);
    assert_non_null(cur);
    assert_true(slice_equal(s, slice_make(big, 300)));
    assert_ptr_equal(s.data + s.len, limit);
    assert_ptr_equal(cur, limit);
    free(p);
    free(big);
    buffer_fini(&b);
}

static void
test_length_prefixed_rejects_overrun(void **state)
{
    buffer b;
    buffer_init(&b);
    put_length_prefixed(&b, slice_make("hello", 5));
    /* Every truncation: inside the length or inside the bytes. */
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *p = exact_copy(b.data, cut);
        slice s = slice_make("untouched", 9);
        assert_null(get_length_prefixed(p, p + cut, &s));
        assert_int_equal(s.len, 9);
        free(p);
    }

    /* A length near UINT64_MAX must not wrap the bounds check. */
    buffer_clear(&b);
    put_varint64(&b, UINT64_MAX);
    buffer_append(&b, "abc", 3);
    uint8_t *p = exact_copy(b.data, b.len);
    slice s = slice_make(NULL, 0);
    assert_null(get_length_prefixed(p, p + b.len, &s));
    free(p);

    buffer_clear(&b);
    put_varint64(&b, UINT64_MAX - 8);
    buffer_append(&b, "abc", 3);
    p = exact_copy(b.data, b.len);
    assert_null(get_length_prefixed(p, p + b.len, &s));
    free(p);

    /* A malformed length is rejected too. */
    const uint8_t bad[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'};
    p = exact_copy(bad, sizeof(bad));
    assert_null(get_length_prefixed(p, p + sizeof(bad), &s));
    free(p);
    buffer_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed32_round_trip_and_layout),
        cmocka_unit_test(test_fixed64_round_trip_and_layout),
        cmocka_unit_test(test_put_fixed_appends),
        cmocka_unit_test(test_varint_round_trip),
        cmocka_unit_test(test_varint_lengths),
        cmocka_unit_test(test_varint_known_encodings),
        cmocka_unit_test(test_put_varint_sequence_decodes_back),
        cmocka_unit_test(test_varint_rejects_truncated_input),
        cmocka_unit_test(test_varint_empty_range),
        cmocka_unit_test(test_varint_rejects_overlong),
        cmocka_unit_test(test_varint_stops_at_terminator),
        cmocka_unit_test(test_varint_random_garbage_is_bounded),
        cmocka_unit_test(test_varint32_bounds),
        cmocka_unit_test(test_length_prefixed_round_trip),
        cmocka_unit_test(test_length_prefixed_rejects_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
