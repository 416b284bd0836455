#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "test_support.h"
#include "write_batch.h"

#include <stdlib.h>
#include <string.h>

/* ---- a recorder of decoded ops ---------------------------------------------- */

typedef struct recorded_op {
    uint64_t sequence;
    value_type type;
    buffer key;
    buffer value;
} recorded_op;

typedef struct recorder {
    recorded_op *ops;
    size_t count;
    size_t cap;
} recorder;

static void
record_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    recorder *rec = ctx;
    if (rec->count == rec->cap) {
        rec->cap = rec->cap ? rec->cap * 2 : 16;
        rec->ops = xrealloc(rec->ops, rec->cap * sizeof(*rec->ops));
    }
    recorded_op *op = &rec->ops[rec->count++];
    op->sequence = sequence;
    op->type = type;
    buffer_init(&op->key);
    buffer_init(&op->value);
    buffer_append_slice(&op->key, key);
    buffer_append_slice(&op->value, value);
}

static void
recorder_free(recorder *rec)
{
    for (size_t i = 0; i < rec->count; i++) {
        buffer_fini(&rec->ops[i].key);
        buffer_fini(&rec->ops[i].value);
    }
    free(rec->ops);
    memset(rec, 0, sizeof(*rec));
}

static void
assert_op(const recorder *rec, size_t i, uint64_t sequence, value_type type, slice key, slice value)
{
    assert_true(i < rec->count);
    assert_int_equal(rec->ops[i].sequence, sequence);
    assert_int_equal(rec->ops[i].type, type);
    assert_true(slice_equal(buffer_slice(&rec->ops[i].key), key));
    assert_true(slice_equal(buffer_slice(&rec->ops[i].value), value));
}

/* Iterating must fail as corruption and apply nothing. */
static void
assert_corrupt(slice contents)
{
    recorder rec = {0};
    lsmkv_error err = {0};
    assert_int_equal(write_batch_iterate(contents, record_op, &rec, &err), LSMKV_CORRUPTION);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, "write batch"));
    assert_int_equal(rec.count, 0);
    recorder_free(&rec);
}

#define S(str) slice_make(str, sizeof(str) - 1)

/* A batch with every kind of op, used by the damage tests. */
static void
make_sample_batch(write_batch *b)
{
    write_batch_init(b);
    write_batch_set_sequence(b, 1000);
    write_batch_put(b, S("alpha"), S("one"));
    write_batch_delete(b, S("beta"));
    write_batch_put(b, S("g\0mma"), S(""));
    write_batch_put(b, S("delta"), S("a longer value \0 with a NUL"));
}

/* ---- tests ------------------------------------------------------------------ */

static void
test_empty_batch(void **state)
{
    (void)state;
    write_batch b;
    write_batch_init(&b);
    assert_int_equal(write_batch_count(&b), 0);
    assert_int_equal(write_batch_sequence(&b), 0);
    assert_int_equal(b.user_bytes, 0);
    assert_int_equal(write_batch_contents(&b).len, WRITE_BATCH_HEADER);

    recorder rec = {0};
    assert_int_equal(write_batch_iterate(write_batch_contents(&b), record_op, &rec, NULL),
                     LSMKV_OK);
    assert_int_equal(rec.count, 0);
    write_batch_fini(&b);
}

static void
test_header_encoding(void **state)
{
    (void)state;
    write_batch b;
    write_batch_init(&b);
    write_batch_set_sequence(&b, UINT64_C(0x0102030405060708));
    write_batch_delete(&b, S("k"));
    slice c = write_batch_contents(&b);
    const uint8_t expected[] = {8, 7, 6, 5, 4, 3, 2, 1, 1, 0, 0, 0, 0, 1, 'k'};
    assert_int_equal(c.len, sizeof(expected));
    assert_memory_equal(c.data, expected, sizeof(expected));
    assert_int_equal(write_batch_sequence(&b), UINT64_C(0x0102030405060708));

    write_batch_put(&b, S("ab"), S("xyz"));
    c = write_batch_contents(&b);
    const uint8_t put[] = {1, 2, 'a', 'b', 3, 'x', 'y', 'z'};
    assert_int_equal(c.len, sizeof(expected) + sizeof(put));
    assert_memory_equal(c.data + sizeof(expected), put, sizeof(put));
    assert_int_equal(decode_fixed32(c.data + 8), 2);

    uint64_t sequence = 0;
    uint32_t count = 0;
    assert_true(write_batch_decode_header(c, &sequence, &count));
    assert_int_equal(sequence, UINT64_C(0x0102030405060708));
    assert_int_equal(count, 2);
    /* Too short for a header: nothing is written. */
    assert_false(
        write_batch_decode_header(slice_make(c.data, WRITE_BATCH_HEADER - 1), &sequence, &count));
    assert_int_equal(count, 2);
    write_batch_fini(&b);
}

static void
test_round_trip(void **state)
{
    (void)state;
    write_batch b;
    make_sample_batch(&b);
    assert_int_equal(write_batch_count(&b), 4);
    assert_int_equal(b.user_bytes, 5 + 3 + 4 + 5 + 0 + 5 + 27);

    recorder rec = {0};
    assert_int_equal(write_batch_iterate(write_batch_contents(&b), record_op, &rec, NULL),
                     LSMKV_OK);
    assert_int_equal(rec.count, 4);
    assert_op(&rec, 0, 1000, VALUE_TYPE_VALUE, S("alpha"), S("one"));
    assert_op(&rec, 1, 1001, VALUE_TYPE_DELETION, S("beta"), S(""));
    assert_op(&rec, 2, 1002, VALUE_TYPE_VALUE, S("g\0mma"), S(""));
    assert_op(&rec, 3, 1003, VALUE_TYPE_VALUE, S("delta"), S("a longer value \0 with a NUL"));
    recorder_free(&rec);
    write_batch_fini(&b);
}

static void
test_clear_resets(void **state)
{
    (void)state;
    write_batch b;
    make_sample_batch(&b);
    write_batch_clear(&b);
    assert_int_equal(write_batch_count(&b), 0);
    assert_int_equal(b.user_bytes, 0);
    assert_int_equal(write_batch_sequence(&b), 0);
    assert_int_equal(write_batch_contents(&b).len, WRITE_BATCH_HEADER);

    write_batch_set_sequence(&b, 7);
    write_batch_put(&b, S("k"), S("v"));
    recorder rec = {0};
    assert_int_equal(write_batch_iterate(write_batch_contents(&b), record_op, &rec, NULL),
                     LSMKV_OK);
    assert_int_equal(rec.count, 1);
    assert_op(&rec, 0, 7, VALUE_TYPE_VALUE, S("k"), S("v"));
    recorder_free(&rec);
    write_batch_fini(&b);
}

static void
test_many_random_ops(void **state)
{
    (void)state;
    enum { OPS = 5000 };
    test_rng rng;
    test_rng_init(&rng, test_seed());
    write_batch b;
    write_batch_init(&b);
    write_batch_set_sequence(&b, 1);
    uint8_t key[300], value[1000];
    uint64_t user_bytes = 0;
    for (int i = 0; i < OPS; i++) {
        size_t klen = 1 + test_rng_below(&rng, sizeof(key));
        test_rng_bytes(&rng, key, klen);
        if (test_rng_below(&rng, 4) == 0) {
            write_batch_delete(&b, slice_make(key, klen));
            user_bytes += klen;
        } else {
            size_t vlen = test_rng_below(&rng, sizeof(value));
            test_rng_bytes(&rng, value, vlen);
            write_batch_put(&b, slice_make(key, klen), slice_make(value, vlen));
            user_bytes += klen + vlen;
        }
    }
    assert_int_equal(write_batch_count(&b), OPS);
    assert_int_equal(b.user_bytes, user_bytes);

    recorder rec = {0};
    assert_int_equal(write_batch_iterate(write_batch_contents(&b), record_op, &rec, NULL),
                     LSMKV_OK);
    assert_int_equal(rec.count, OPS);
    /* Replay the generator to check every op. */
    test_rng_init(&rng, test_seed());
    for (size_t i = 0; i < OPS; i++) {
        size_t klen = 1 + test_rng_below(&rng, sizeof(key));
        test_rng_bytes(&rng, key, klen);
        if (test_rng_below(&rng, 4) == 0) {
            assert_op(&rec, i, 1 + i, VALUE_TYPE_DELETION, slice_make(key, klen), S(""));
        } else {
            size_t vlen = test_rng_below(&rng, sizeof(value));
            test_rng_bytes(&rng, value, vlen);
            assert_op(&rec, i, 1 + i, VALUE_TYPE_VALUE, slice_make(key, klen),
                      slice_make(value, vlen));
        }
    }
    recorder_free(&rec);
    write_batch_fini(&b);
}

static void
test_truncated_at_every_length_is_corruption(void **state)
{
    (void)state;
    write_batch b;
    make_sample_batch(&b);
    slice c = write_batch_contents(&b);
    for (size_t len = 0; len < c.len; len++) {
        /* A private copy, so ASan catches any read past len. */
        uint8_t *copy = xmemdup(c.data, len);
        assert_corrupt(slice_make(copy, len));
        free(copy);
    }
    write_batch_fini(&b);
}

static void
test_wrong_count_is_corruption(void **state)
{
    (void)state;
    write_batch b;
    make_sample_batch(&b);
    uint32_t counts[] = {0, 3, 5, UINT32_MAX};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        encode_fixed32(b.rep.data + 8, counts[i]);
        assert_corrupt(write_batch_contents(&b));
    }
    write_batch_fini(&b);
}

static void
test_bad_op_type_is_corruption(void **state)
{
    (void)state;
    /* The third op (a put) starts where a batch of the first two ends. */
    write_batch probe;
    write_batch_init(&probe);
    write_batch_put(&probe, S("alpha"), S("one"));
    write_batch_delete(&probe, S("beta"));
    size_t third = write_batch_contents(&probe).len;
    write_batch_fini(&probe);

    write_batch b;
    make_sample_batch(&b);
    assert_int_equal(b.rep.data[third], VALUE_TYPE_VALUE);
    const uint8_t types[] = {2, 0x80, 0xff};
    for (size_t i = 0; i < sizeof(types); i++) {
        b.rep.data[third] = types[i];
        assert_corrupt(write_batch_contents(&b));
    }
    /* A put turned into a delete misreads its value as the next op. */
    b.rep.data[third] = VALUE_TYPE_DELETION;
    assert_corrupt(write_batch_contents(&b));
    write_batch_fini(&b);
}

static void
test_trailing_bytes_are_corruption(void **state)
{
    (void)state;
    write_batch b;
    make_sample_batch(&b);
    buffer_append(&b.rep, "\x01", 1);
    assert_corrupt(write_batch_contents(&b));
    write_batch_fini(&b);

    write_batch_init(&b);
    buffer_append(&b.rep, "\0\0\0", 3); /* an empty batch with garbage */
    assert_corrupt(write_batch_contents(&b));
    write_batch_fini(&b);
}

static void
test_bad_lengths_are_corruption(void **state)
{
    (void)state;
    buffer c;
    buffer_init(&c);
    uint8_t header[WRITE_BATCH_HEADER] = {0};
    encode_fixed32(header + 8, 1);

    /* A key length varint that never ends within 10 bytes. */
    buffer_set(&c, header, sizeof(header));
    buffer_append(&c, "\x01", 1);
    for (int i = 0; i < 11; i++) {
        buffer_append(&c, "\x80", 1);
    }
    buffer_append(&c, "\x01kv", 3);
    assert_corrupt(buffer_slice(&c));

    /* A key length far past the end (would wrap a pointer if added blindly). */
    buffer_set(&c, header, sizeof(header));
    buffer_append(&c, "\x00", 1);
    put_varint64(&c, UINT64_MAX);
    buffer_append(&c, "key", 3);
    assert_corrupt(buffer_slice(&c));

    /* A value length one past the end. */
    buffer_set(&c, header, sizeof(header));
    buffer_append(&c, "\x01\x01k\x04val", 7);
    assert_corrupt(buffer_slice(&c));
    buffer_fini(&c);
}

static void
test_sequence_past_maximum_is_corruption(void **state)
{
    (void)state;
    write_batch b;
    write_batch_init(&b);
    write_batch_put(&b, S("a"), S("1"));
    write_batch_put(&b, S("b"), S("2"));
    write_batch_set_sequence(&b, SEQUENCE_MAX - 1);
    recorder rec = {0};
    assert_int_equal(write_batch_iterate(write_batch_contents(&b), record_op, &rec, NULL),
                     LSMKV_OK);
    assert_int_equal(rec.count, 2);
    assert_int_equal(rec.ops[1].sequence, SEQUENCE_MAX);
    recorder_free(&rec);

    write_batch_set_sequence(&b, SEQUENCE_MAX);
    assert_corrupt(write_batch_contents(&b));
    write_batch_set_sequence(&b, UINT64_MAX);
    assert_corrupt(write_batch_contents(&b));
    write_batch_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_header_encoding),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_clear_resets),
        cmocka_unit_test(test_many_random_ops),
        cmocka_unit_test(test_truncated_at_every_length_is_corruption),
        cmocka_unit_test(test_wrong_count_is_corruption),
        cmocka_unit_test(test_bad_op_type_is_corruption),
        cmocka_unit_test(test_trailing_bytes_are_corruption),
        cmocka_unit_test(test_bad_lengths_are_corruption),
        cmocka_unit_test(test_sequence_past_maximum_is_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
