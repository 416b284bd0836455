#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block.h"
#include "coding.h"
#include "internal_key.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "/dir/000012.sst"

/* Every test runs once per way of storing keys (block.h). */
static block_keys keys_under_test;

/* Internal key "key%06d" at sequence seq, into out. */
static void
numbered_key(buffer *out, int i, uint64_t seq)
{
    char user[32];
    int n = snprintf(user, sizeof(user), "key%06d", i);
    buffer_clear(out);
    internal_key_append(out, slice_make(user, (size_t)n), seq, VALUE_TYPE_VALUE);
}

static void
numbered_value(buffer *out, int i)
{
    buffer_clear(out);
    for (int j = 0; j < i % 37; j++) {
        uint8_t c = (uint8_t)(i + j);
        buffer_append(out, &c, 1);
    }
}

/* A block of n numbered keys; the caller frees it. */
static block *
build_numbered(int n, int restart_interval)
{
    block_builder bb;
    block_builder_init(&bb, restart_interval, keys_under_test);
    buffer key, value;
    buffer_init(&key);
    buffer_init(&value);
    for (int i = 0; i < n; i++) {
        numbered_key(&key, i, 100);
        numbered_value(&value, i);
        block_builder_add(&bb, buffer_slice(&key), buffer_slice(&value));
    }
    size_t estimate = block_builder_size_estimate(&bb);
    slice contents = block_builder_finish(&bb);
    assert_int_equal(estimate, contents.len);
    buffer copy;
    buffer_init(&copy);
    buffer_append_slice(&copy, contents);
    block *b;
    assert_int_equal(block_new(&copy, keys_under_test, FILE_NAME, 4096, &b, NULL), LSMKV_OK);
    assert_null(copy.data);
    buffer_fini(&copy);
    buffer_fini(&key);
    buffer_fini(&value);
    block_builder_fini(&bb);
    return b;
}

static void
check_entry(iterator *it, int i)
{
    buffer key, value;
    buffer_init(&key);
    buffer_init(&value);
    numbered_key(&key, i, 100);
    numbered_value(&value, i);
    assert_true(iterator_valid(it));
    assert_true(slice_equal(iterator_key(it), buffer_slice(&key)));
    assert_true(slice_equal(iterator_value(it), buffer_slice(&value)));
    buffer_fini(&key);
    buffer_fini(&value);
}

/* Iterates all n entries, then seeks to each key and to the gap after it. */
static void
check_numbered(int n, int restart_interval)
{
    block *b = build_numbered(n, restart_interval);
    iterator *it = block_iterator_new(b, true);
    iterator_seek_to_first(it);
    for (int i = 0; i < n; i++) {
        check_entry(it, i);
        iterator_next(it);
    }
    assert_false(iterator_valid(it));
    buffer target;
    buffer_init(&target);
    for (int i = 0; i < n; i++) {
        numbered_key(&target, i, 100);
        iterator_seek(it, buffer_slice(&target));
        check_entry(it, i);
        /* A newer sequence of the same user key sorts first: lands on it too. */
        numbered_key(&target, i, 200);
        iterator_seek(it, buffer_slice(&target));
        check_entry(it, i);
        /* An older sequence sorts after it: lands on the next key. */
        numbered_key(&target, i, 50);
        iterator_seek(it, buffer_slice(&target));
        if (i + 1 < n) {
            check_entry(it, i + 1);
        } else {
            assert_false(iterator_valid(it));
        }
    }
    buffer_clear(&target);
    internal_key_append(&target, slice_make("a", 1), 1, VALUE_TYPE_VALUE);
    iterator_seek(it, buffer_slice(&target));
    check_entry(it, 0);
    buffer_clear(&target);
    internal_key_append(&target, slice_make("z", 1), 1, VALUE_TYPE_VALUE);
    iterator_seek(it, buffer_slice(&target));
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    buffer_fini(&target);
    iterator_free(it);
}

static void
test_round_trip_many_keys(void **state)
{
    check_numbered(5000, BLOCK_RESTART_INTERVAL);
}

static void
test_restart_boundaries(void **state)
{
    /* Counts around multiples of the interval put the last key just before,
     * on and after a restart point. */
    for (int interval = 1; interval <= 5; interval++) {
        for (int n = 1; n <= 3 * interval + 2; n++) {
            check_numbered(n, interval);
        }
    }
}

static void
test_single_entry(void **state)
{
    check_numbered(1, BLOCK_RESTART_INTERVAL);
}

static void
test_empty_block(void **state)
{
    block_builder bb;
    block_builder_init(&bb, BLOCK_RESTART_INTERVAL, keys_under_test);
    assert_true(block_builder_empty(&bb));
    slice contents = block_builder_finish(&bb);
    buffer copy;
    buffer_init(&copy);
    buffer_append_slice(&copy, contents);
    block *b;
    assert_int_equal(block_new(&copy, keys_under_test, FILE_NAME, 0, &b, NULL), LSMKV_OK);
    iterator *it = block_iterator_new(b, true);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    buffer target;
    buffer_init(&target);
    internal_key_append(&target, slice_make("a", 1), 1, VALUE_TYPE_VALUE);
    iterator_seek(it, buffer_slice(&target));
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    buffer_fini(&target);
    block_builder_fini(&bb);
}

static void
test_reset_reuses_builder(void **state)
{
    block_builder bb;
    block_builder_init(&bb, 2, keys_under_test);
    buffer key;
    buffer_init(&key);
    for (int round = 0; round < 3; round++) {
        numbered_key(&key, 9 - round, 1);
        block_builder_add(&bb, buffer_slice(&key), slice_make("v", 1));
        block_cursor c;
        assert_int_equal(
            block_cursor_init(&c, block_builder_finish(&bb), keys_under_test, FILE_NAME, 0, NULL),
            LSMKV_OK);
        block_cursor_seek_to_first(&c);
        assert_true(slice_equal(block_cursor_key(&c), buffer_slice(&key)));
        block_cursor_next(&c);
        assert_false(block_cursor_valid(&c)); /* nothing left from earlier rounds */
        block_cursor_fini(&c);
        block_builder_reset(&bb);
        assert_true(block_builder_empty(&bb));
    }
    buffer_fini(&key);
    block_builder_fini(&bb);
}

/* Keys longer than the cursor's inline key buffer, sharing long prefixes. */
static void
test_long_keys(void **state)
{
    block_builder bb;
    block_builder_init(&bb, 4, keys_under_test);
    buffer key;
    buffer_init(&key);
    uint8_t user[3000];
    memset(user, 'x', sizeof(user));
    for (int i = 0; i < 40; i++) {
        user[2990] = (uint8_t)i; /* keys differ only near their end */
        buffer_clear(&key);
        internal_key_append(&key, slice_make(user, 100 + 70 * (size_t)i), 7, VALUE_TYPE_VALUE);
        block_builder_add(&bb, buffer_slice(&key), slice_make(&i, sizeof(i)));
    }
    slice contents = block_builder_finish(&bb);
    block_cursor c;
    assert_int_equal(block_cursor_init(&c, contents, keys_under_test, FILE_NAME, 0, NULL),
                     LSMKV_OK);
    for (int i = 39; i >= 0; i--) {
        user[2990] = (uint8_t)i;
        buffer_clear(&key);
        internal_key_append(&key, slice_make(user, 100 + 70 * (size_t)i), 7, VALUE_TYPE_VALUE);
        block_cursor_seek(&c, buffer_slice(&key));
        assert_true(block_cursor_valid(&c));
        assert_true(slice_equal(block_cursor_key(&c), buffer_slice(&key)));
        assert_memory_equal(block_cursor_value(&c).data, &i, sizeof(i));
    }
    block_cursor_seek_to_first(&c);
    int count = 0;
    for (; block_cursor_valid(&c); block_cursor_next(&c)) {
        count++;
    }
    assert_int_equal(count, 40);
    assert_int_equal(block_cursor_status(&c, NULL), LSMKV_OK);
    block_cursor_fini(&c);
    buffer_fini(&key);
    block_builder_fini(&bb);
}

static void
test_bad_restart_array_rejected(void **state)
{
    uint8_t bytes[16] = {0};
    lsmkv_error err = {0};
    block *b;
    buffer contents;
    buffer_init(&contents);
    buffer_set(&contents, bytes, 3); /* shorter than the restart count */
    assert_int_equal(block_new(&contents, keys_under_test, FILE_NAME, 4096, &b, &err),
                     LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, FILE_NAME));
    assert_non_null(strstr(err.message, "offset 4096"));
    assert_int_equal(contents.len, 3); /* not taken on failure */
    encode_fixed32(bytes + 12, 4);     /* 4 restarts do not fit in 12 bytes */
    buffer_set(&contents, bytes, sizeof(bytes));
    assert_int_equal(block_new(&contents, keys_under_test, FILE_NAME, 0, &b, NULL),
                     LSMKV_CORRUPTION);
    encode_fixed32(bytes + 12, 0); /* entries but no restart point */
    buffer_set(&contents, bytes, sizeof(bytes));
    assert_int_equal(block_new(&contents, keys_under_test, FILE_NAME, 0, &b, NULL),
                     LSMKV_CORRUPTION);
    buffer_set(&contents, bytes + 12, 4); /* no entries, no restarts: empty */
    assert_int_equal(block_new(&contents, keys_under_test, FILE_NAME, 0, &b, NULL), LSMKV_OK);
    assert_null(contents.data);
    block_free(b);
    buffer_fini(&contents);
}

static void
test_malformed_entry_reports_corruption(void **state)
{
    /* One entry claiming 200 key bytes in a 10-byte block. */
    uint8_t bytes[18] = {0, 200, 1, 'k'};
    encode_fixed32(bytes + 10, 0);
    encode_fixed32(bytes + 14, 1);
    buffer contents;
    buffer_init(&contents);
    buffer_set(&contents, bytes, sizeof(bytes));
    block *b;
    assert_int_equal(block_new(&contents, keys_under_test, FILE_NAME, 8192, &b, NULL), LSMKV_OK);
    iterator *it = block_iterator_new(b, true);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    lsmkv_error err = {0};
    assert_int_equal(iterator_status(it, &err), LSMKV_CORRUPTION);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, FILE_NAME));
    assert_non_null(strstr(err.message, "offset 8192"));
    iterator_free(it);
    buffer_fini(&contents);
}

/* Walks and seeks a possibly damaged block; it may be wrong, never unsafe. */
static void
exercise_damaged(buffer *contents, test_rng *rng)
{
    block *b;
    if (block_new(contents, keys_under_test, FILE_NAME, 0, &b, NULL) != LSMKV_OK) {
        return;
    }
    iterator *it = block_iterator_new(b, true);
    int steps = 0;
    for (iterator_seek_to_first(it); iterator_valid(it) && steps < 10000; iterator_next(it)) {
        assert_true(iterator_key(it).len >= INTERNAL_KEY_TRAILER);
        steps++;
    }
    buffer target;
    buffer_init(&target);
    for (int i = 0; i < 20; i++) {
        numbered_key(&target, (int)test_rng_below(rng, 300), test_rng_below(rng, 200));
        iterator_seek(it, buffer_slice(&target));
        if (iterator_valid(it)) {
            iterator_next(it);
        }
    }
    int rc = iterator_status(it, NULL);
    assert_true(rc == LSMKV_OK || rc == LSMKV_CORRUPTION);
    buffer_fini(&target);
    iterator_free(it);
}

static void
test_damaged_contents_never_crash(void **state)
{
    block *good = build_numbered(200, 8);
    slice original = block_contents(good);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    buffer copy;
    buffer_init(&copy);
    for (int round = 0; round < 3000; round++) {
        buffer_set(&copy, original.data, original.len);
        if (round % 3 == 0) {
            copy.len = (size_t)test_rng_below(&rng, original.len + 1);
        }
        int flips = 1 + (int)test_rng_below(&rng, 4);
        for (int f = 0; f < flips && copy.len > 0; f++) {
            copy.data[test_rng_below(&rng, copy.len)] ^= (uint8_t)(1 + test_rng_below(&rng, 255));
        }
        exercise_damaged(&copy, &rng);
    }
    buffer_fini(&copy);
    block_free(good);
}

/* n keys "key%06d" at sequence seq, finished with keys; returns the size. */
static size_t
built_size(int n, uint64_t seq, block_keys keys)
{
    block_builder bb;
    block_builder_init(&bb, BLOCK_RESTART_INTERVAL, keys);
    buffer key;
    buffer_init(&key);
    for (int i = 0; i < n; i++) {
        numbered_key(&key, i, seq);
        block_builder_add(&bb, buffer_slice(&key), slice_make("v", 1));
    }
    size_t size = block_builder_finish(&bb).len;
    buffer_fini(&key);
    block_builder_fini(&bb);
    return size;
}

/* SPLIT spends the varint's bytes on the trailer, WHOLE always eight. */
static void
test_split_trailer_is_a_varint(void **state)
{
    (void)state;
    /* Sequence 0 of a value: tag 1, one byte instead of eight. */
    assert_int_equal(built_size(100, 0, BLOCK_KEYS_WHOLE) - built_size(100, 0, BLOCK_KEYS_SPLIT),
                     7 * 100);
    /* Sequence 1000: tag 256001, three varint bytes. */
    assert_int_equal(
        built_size(100, 1000, BLOCK_KEYS_WHOLE) - built_size(100, 1000, BLOCK_KEYS_SPLIT), 5 * 100);
}

/*
 * Several versions of each user key, a restart point at every entry, so that
 * seeks compare restart keys whose user keys are equal by their trailers.
 */
static void
test_versions_of_a_key(void **state)
{
    (void)state;
    static const uint64_t seqs[] = {SEQUENCE_MAX, 70000, 300, 1, 0};
    enum { KEYS = 20, VERSIONS = sizeof(seqs) / sizeof(seqs[0]) };
    block_builder bb;
    buffer key;
    buffer_init(&key);
    for (int interval = 1; interval <= 3; interval++) {
        block_builder_init(&bb, interval, keys_under_test);
        for (int i = 0; i < KEYS; i++) {
            for (int v = 0; v < VERSIONS; v++) {
                numbered_key(&key, i, seqs[v]);
                block_builder_add(&bb, buffer_slice(&key), slice_make(&v, sizeof(v)));
            }
        }
        block_cursor c;
        assert_int_equal(
            block_cursor_init(&c, block_builder_finish(&bb), keys_under_test, FILE_NAME, 0, NULL),
            LSMKV_OK);
        for (int i = 0; i < KEYS; i++) {
            for (int v = 0; v < VERSIONS; v++) {
                numbered_key(&key, i, seqs[v]);
                block_cursor_seek(&c, buffer_slice(&key));
                assert_true(block_cursor_valid(&c));
                assert_true(slice_equal(block_cursor_key(&c), buffer_slice(&key)));
                assert_memory_equal(block_cursor_value(&c).data, &v, sizeof(v));
            }
            /* Between two versions: lands on the older one. */
            numbered_key(&key, i, 299);
            block_cursor_seek(&c, buffer_slice(&key));
            numbered_key(&key, i, 1);
            assert_true(slice_equal(block_cursor_key(&c), buffer_slice(&key)));
        }
        block_cursor_seek_to_first(&c);
        int count = 0;
        for (; block_cursor_valid(&c); block_cursor_next(&c)) {
            parsed_internal_key k;
            assert_true(internal_key_parse(block_cursor_key(&c), &k));
            assert_int_equal(k.sequence, seqs[count % VERSIONS]);
            count++;
        }
        assert_int_equal(count, KEYS * VERSIONS);
        block_cursor_fini(&c);
        block_builder_fini(&bb);
    }
    buffer_fini(&key);
}

/* A SPLIT entry whose tag runs past the entries, or never ends. */
static void
test_split_bad_tag_reports_corruption(void **state)
{
    (void)state;
    /* shared 0, unshared 1, value 0, key 'k', then a tag cut short. */
    uint8_t cut[13] = {0, 1, 0, 'k', 0x80};
    encode_fixed32(cut + 5, 0);
    encode_fixed32(cut + 9, 1);
    /* ... and a tag of eleven continuation bytes, longer than any varint64. */
    uint8_t endless[25] = {0, 1, 0, 'k'};
    memset(endless + 4, 0xff, 13);
    encode_fixed32(endless + 17, 0);
    encode_fixed32(endless + 21, 1);
    struct {
        const uint8_t *bytes;
        size_t len;
    } cases[] = {{cut, sizeof(cut)}, {endless, sizeof(endless)}};
    for (size_t i = 0; i < 2; i++) {
        block_cursor c;
        slice contents = slice_make(cases[i].bytes, cases[i].len);
        assert_int_equal(block_cursor_init(&c, contents, BLOCK_KEYS_SPLIT, FILE_NAME, 0, NULL),
                         LSMKV_OK);
        block_cursor_seek_to_first(&c);
        assert_false(block_cursor_valid(&c));
        lsmkv_error err = {0};
        assert_int_equal(block_cursor_status(&c, &err), LSMKV_CORRUPTION);
        assert_non_null(strstr(err.message, "malformed entry"));
        block_cursor_fini(&c);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_many_keys),
        cmocka_unit_test(test_restart_boundaries),
        cmocka_unit_test(test_single_entry),
        cmocka_unit_test(test_empty_block),
        cmocka_unit_test(test_reset_reuses_builder),
        cmocka_unit_test(test_long_keys),
        cmocka_unit_test(test_bad_restart_array_rejected),
        cmocka_unit_test(test_malformed_entry_reports_corruption),
        cmocka_unit_test(test_damaged_contents_never_crash),
        cmocka_unit_test(test_versions_of_a_key),
    };
    const struct CMUnitTest split_only[] = {
        cmocka_unit_test(test_split_trailer_is_a_varint),
        cmocka_unit_test(test_split_bad_tag_reports_corruption),
    };
    keys_under_test = BLOCK_KEYS_WHOLE;
    int failed = cmocka_run_group_tests_name("whole keys", tests, NULL, NULL);
    keys_under_test = BLOCK_KEYS_SPLIT;
    failed += cmocka_run_group_tests_name("split keys", tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("split keys only", split_only, NULL, NULL);
}
