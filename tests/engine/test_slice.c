#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "slice.h"
#include "test_support.h"

#include <string.h>

/* The order slice_compare must give: memcmp over the common part, then length. */
static int
reference_compare(slice a, slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.data, b.data, n) : 0;
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static int
sign(int v)
{
    return (v > 0) - (v < 0);
}

static void
expect_order(slice a, slice b)
{
    int want = reference_compare(a, b);
    assert_int_equal(sign(slice_compare(a, b)), want);
    assert_int_equal(sign(slice_compare(b, a)), -want);
    assert_int_equal(slice_equal(a, b), want == 0);
}

static void
test_empty_and_prefixes(void **state)
{
    (void)state;
    static const uint8_t bytes[] = "abcdefghijklmnopqrstuvwxyz";
    expect_order(slice_make(NULL, 0), slice_make(NULL, 0));
    for (size_t n = 0; n <= 26; n++) {
        for (size_t m = 0; m <= 26; m++) {
            expect_order(slice_make(bytes, n), slice_make(bytes, m));
        }
    }
}

/* One differing byte at every position, in and after the eight-byte words,
 * with bytes on both sides of 0x80 (unsigned order) and NULs. */
static void
test_first_difference_decides(void **state)
{
    (void)state;
    uint8_t a[40], b[40];
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    for (size_t len = 1; len <= sizeof(a); len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t i = 0; i < sizeof(values); i++) {
                for (size_t j = 0; j < sizeof(values); j++) {
                    memset(a, 0x55, len);
                    memset(b, 0x55, len);
                    a[at] = values[i];
                    b[at] = values[j];
                    if (at + 1 < len) { /* a later difference must not matter */
                        a[len - 1] = 0x00;
                        b[len - 1] = 0xff;
                    }
                    expect_order(slice_make(a, len), slice_make(b, len));
                    expect_order(slice_make(a, len), slice_make(b, at + 1));
                }
            }
        }
    }
}

static void
test_random_keys(void **state)
{
    (void)state;
    test_rng rng;
    test_rng_init(&rng, test_seed());
    uint8_t a[48], b[48];
    for (int round = 0; round < 100000; round++) {
        size_t la = (size_t)test_rng_below(&rng, sizeof(a) + 1);
        size_t lb = (size_t)test_rng_below(&rng, sizeof(b) + 1);
        test_rng_bytes(&rng, a, la);
        /* Mostly shared prefixes, as sorted keys have. */
        size_t shared = (size_t)test_rng_below(&rng, (la < lb ? la : lb) + 1);
        memcpy(b, a, shared);
        test_rng_bytes(&rng, b + shared, lb - shared);
        for (size_t i = 0; i < lb; i++) {
            b[i] &= (uint8_t)(round % 3 == 0 ? 0x81 : 0xff); /* small alphabets collide */
            if (i < la) {
                a[i] &= (uint8_t)(round % 3 == 0 ? 0x81 : 0xff);
            }
        }
        expect_order(slice_make(a, la), slice_make(b, lb));
    }
}

static void
test_shared_prefix(void **state)
{
    assert_int_equal(slice_shared_prefix(slice_make("", 0), slice_make("abc", 3)), 0);
    assert_int_equal(slice_shared_prefix(slice_make("abc", 3), slice_make("abd", 3)), 2);
    assert_int_equal(slice_shared_prefix(slice_make("abc", 3), slice_make("abcdef", 6)), 3);
    assert_int_equal(slice_shared_prefix(slice_make("abc", 3), slice_make("abc", 3)), 3);
    assert_int_equal(slice_shared_prefix(slice_make("\xff", 1), slice_make("\x00", 1)), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_prefixes),
        cmocka_unit_test(test_first_difference_decides),
        cmocka_unit_test(test_random_keys),
        cmocka_unit_test(test_shared_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
