#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bloom.h"
#include "checksum.h"
#include "coding.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>

/* hash64 of the 8-byte encoding of i, as the table would hash a user key. */
static uint64_t
key_hash(uint64_t i)
{
    uint8_t bytes[8];
    encode_fixed64(bytes, i);
    return hash64(bytes, sizeof(bytes));
}

static uint64_t *
key_hashes(size_t n, uint64_t first)
{
    uint64_t *hashes = malloc(n * sizeof(*hashes));
    assert_non_null(hashes);
    for (size_t i = 0; i < n; i++) {
        hashes[i] = key_hash(first + i);
    }
    return hashes;
}

/* Fraction of n keys never added that the filter still lets through. */
static double
false_positive_rate(slice filter, size_t n)
{
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        hits += bloom_may_contain(filter, key_hash(UINT64_C(1) << 40 | i));
    }
    return (double)hits / (double)n;
}

static void
test_no_false_negatives(void **state)
{
    const size_t sizes[] = {1, 2, 10, 100, 1000, 100000};
    const int bits[] = {1, 2, 5, 10, 20, 64};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t b = 0; b < sizeof(bits) / sizeof(bits[0]); b++) {
            uint64_t *hashes = key_hashes(sizes[s], 0);
            buffer filter;
            buffer_init(&filter);
            bloom_build(&filter, hashes, sizes[s], bits[b]);
            for (size_t i = 0; i < sizes[s]; i++) {
                assert_true(bloom_may_contain(buffer_slice(&filter), hashes[i]));
            }
            buffer_fini(&filter);
            free(hashes);
        }
    }
}

static void
test_false_positive_rate_at_10_bits(void **state)
{
    const size_t n = 100000;
    uint64_t *hashes = key_hashes(n, 0);
    buffer filter;
    buffer_init(&filter);
    bloom_build(&filter, hashes, n, 10);
    /* 10 bits a key, rounded up to whole 64-byte lines, plus the trailer. */
    assert_true(filter.len <= n * 10 / 8 + 64 + 5);
    double rate = false_positive_rate(buffer_slice(&filter), n);
    fprintf(stderr, "bloom false positives at 10 bits/key: %.3f%%\n", rate * 100);
    assert_true(rate < 0.02);
    assert_true(rate > 0.0); /* a filter with no false positives is suspiciously big */
    buffer_fini(&filter);
    free(hashes);
}

static void
test_more_bits_fewer_false_positives(void **state)
{
    const size_t n = 20000;
    uint64_t *hashes = key_hashes(n, 0);
    double previous = 1.0;
    const int bits[] = {4, 8, 16};
    for (size_t b = 0; b < 3; b++) {
        buffer filter;
        buffer_init(&filter);
        bloom_build(&filter, hashes, n, bits[b]);
        double rate = false_positive_rate(buffer_slice(&filter), n);
        assert_true(rate < previous);
        previous = rate;
        buffer_fini(&filter);
    }
    assert_true(previous < 0.005);
    free(hashes);
}

static void
test_appends_to_existing_buffer(void **state)
{
    uint64_t *hashes = key_hashes(100, 0);
    buffer out;
    buffer_init(&out);
    buffer_append(&out, "prefix", 6);
    bloom_build(&out, hashes, 100, 10);
    slice filter = slice_make(out.data + 6, out.len - 6);
    for (size_t i = 0; i < 100; i++) {
        assert_true(bloom_may_contain(filter, hashes[i]));
    }
    assert_memory_equal(out.data, "prefix", 6);
    buffer_fini(&out);
    free(hashes);
}

static void
test_filter_of_no_keys_rejects_all(void **state)
{
    buffer filter;
    buffer_init(&filter);
    bloom_build(&filter, NULL, 0, 10);
    assert_true(filter.len > 0);
    for (uint64_t i = 0; i < 1000; i++) {
        assert_false(bloom_may_contain(buffer_slice(&filter), key_hash(i)));
    }
    buffer_fini(&filter);
}

static void
test_empty_or_malformed_filter_answers_true(void **state)
{
    assert_true(bloom_may_contain(slice_make(NULL, 0), 1));
    assert_true(bloom_may_contain(slice_make("abcd", 4), 1));

    buffer filter;
    buffer_init(&filter);
    bloom_build(&filter, NULL, 0, 10); /* rejects everything while intact */
    size_t len = filter.len;
    uint8_t *probes = filter.data + len - 5;
    *probes = 0; /* no probes */
    assert_true(bloom_may_contain(buffer_slice(&filter), 7));
    *probes = 31; /* more than any builder writes */
    assert_true(bloom_may_contain(buffer_slice(&filter), 7));
    *probes = 7;
    assert_false(bloom_may_contain(buffer_slice(&filter), 7));
    encode_fixed32(filter.data + len - 4, 2); /* line count disagrees with the size */
    assert_true(bloom_may_contain(buffer_slice(&filter), 7));
    encode_fixed32(filter.data + len - 4, 0);
    assert_true(bloom_may_contain(buffer_slice(&filter), 7));
    encode_fixed32(filter.data + len - 4, UINT32_MAX);
    assert_true(bloom_may_contain(buffer_slice(&filter), 7));
    encode_fixed32(filter.data + len - 4, 1);
    assert_true(bloom_may_contain(slice_make(filter.data, len - 1), 7)); /* truncated */
    buffer_fini(&filter);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_false_negatives),
        cmocka_unit_test(test_false_positive_rate_at_10_bits),
        cmocka_unit_test(test_more_bits_fewer_false_positives),
        cmocka_unit_test(test_appends_to_existing_buffer),
        cmocka_unit_test(test_filter_of_no_keys_rejects_all),
        cmocka_unit_test(test_empty_or_malformed_filter_answers_true),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
