#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "compression.h"
#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

static const int types[] = {COMPRESSION_LZ4, COMPRESSION_ZSTD};
static const size_t sizes[] = {0, 1, 4096, 1u << 20};

/* ---- helpers ------------------------------------------------------------------ */

/* Text-like bytes: a few words repeated with small variations. */
static void
compressible(buffer *out, size_t len, uint64_t seed)
{
    static const char *words[] = {"alpha ", "beta ", "gamma ", "delta ", "lsmkv ", "block "};
    test_rng rng;
    test_rng_init(&rng, seed);
    buffer_clear(out);
    while (out->len < len) {
        const char *w = words[test_rng_below(&rng, 6)];
        size_t n = strlen(w) < len - out->len ? strlen(w) : len - out->len;
        buffer_append(out, w, n);
    }
}

static void
random_bytes(buffer *out, size_t len, uint64_t seed)
{
    test_rng rng;
    test_rng_init(&rng, seed);
    buffer_clear(out);
    buffer_reserve(out, len);
    test_rng_bytes(&rng, out->data, len);
    out->len = len;
}

/* The stored form made by hand: varint raw length | the library's bytes. */
static void
encode_by_hand(int type, slice raw, uint64_t claimed_len, buffer *out)
{
    size_t bound = type == COMPRESSION_LZ4 ? (size_t)LZ4_compressBound((int)raw.len)
                                           : ZSTD_compressBound(raw.len);
    buffer_clear(out);
    buffer_reserve(out, VARINT64_MAX_BYTES + bound);
    out->len = encode_varint64(out->data, claimed_len);
    size_t n;
    if (type == COMPRESSION_LZ4) {
        int r = LZ4_compress_default((const char *)raw.data, (char *)out->data + out->len,
                                     (int)raw.len, (int)bound);
        assert_true(r > 0);
        n = (size_t)r;
    } else {
        n = ZSTD_compress(out->data + out->len, bound, raw.data, raw.len, 1);
        assert_false(ZSTD_isError(n));
    }
    out->len += n;
}

static void
expect_decodes_to(int type, slice compressed, slice raw)
{
    buffer out;
    buffer_init(&out);
    buffer_append(&out, "stale", 5); /* replaced, not appended to */
    assert_int_equal(compression_decompress(type, compressed, &out), LSMKV_OK);
    assert_int_equal(out.len, raw.len);
    if (raw.len > 0) {
        assert_memory_equal(out.data, raw.data, raw.len);
    }
    buffer_fini(&out);
}

static void
expect_corrupt(int type, slice compressed)
{
    buffer out;
    buffer_init(&out);
    assert_int_equal(compression_decompress(type, compressed, &out), LSMKV_CORRUPTION);
    buffer_fini(&out);
}

/* ---- round trips ---------------------------------------------------------------- */

static void
test_compressible_round_trip(void **state)
{
    (void)state;
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    for (size_t t = 0; t < 2; t++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            compressible(&raw, sizes[s], test_seed() + s);
            bool pays = compression_compress(types[t], buffer_slice(&raw), &packed);
            if (sizes[s] <= 1) {
                /* Nothing to save on 0 or 1 bytes: store raw. */
                assert_false(pays);
                continue;
            }
            assert_true(pays);
            assert_true(packed.len < raw.len - raw.len / 8);
            expect_decodes_to(types[t], buffer_slice(&packed), buffer_slice(&raw));
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_random_data_does_not_pay(void **state)
{
    (void)state;
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    for (size_t t = 0; t < 2; t++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            random_bytes(&raw, sizes[s], test_seed() + 100 + s);
            assert_false(compression_compress(types[t], buffer_slice(&raw), &packed));
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_extreme_ratio_round_trip(void **state)
{
    (void)state;
    /* Runs of one byte compress as far as each library goes (LZ4 nearly
     * 255:1): decompress must accept every length the libraries produce. */
    const size_t lens[] = {20, 300, 65536, 1u << 20, 4u << 20};
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            buffer_clear(&raw);
            buffer_reserve(&raw, lens[i]);
            memset(raw.data, 'z', lens[i]);
            raw.len = lens[i];
            encode_by_hand(types[t], buffer_slice(&raw), raw.len, &packed);
            expect_decodes_to(types[t], buffer_slice(&packed), buffer_slice(&raw));
            if (lens[i] >= 300) {
                assert_true(compression_compress(types[t], buffer_slice(&raw), &packed));
                expect_decodes_to(types[t], buffer_slice(&packed), buffer_slice(&raw));
            }
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_half_random_still_pays(void **state)
{
    (void)state;
    /* Random first half, zeros after: about half the size, well under 7/8. */
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    random_bytes(&raw, 8192, test_seed());
    memset(raw.data + 4096, 0, 4096);
    for (size_t t = 0; t < 2; t++) {
        assert_true(compression_compress(types[t], buffer_slice(&raw), &packed));
        expect_decodes_to(types[t], buffer_slice(&packed), buffer_slice(&raw));
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_decompress_tiny_and_random_blocks(void **state)
{
    (void)state;
    /* The stored form of inputs that compress would decline still decodes
     * (0 and 1 bytes, random data of every size): decompress must not
     * depend on compress's policy. */
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    for (size_t t = 0; t < 2; t++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            random_bytes(&raw, sizes[s], test_seed() + 200 + s);
            encode_by_hand(types[t], buffer_slice(&raw), raw.len, &packed);
            expect_decodes_to(types[t], buffer_slice(&packed), buffer_slice(&raw));
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_output_buffer_is_replaced(void **state)
{
    (void)state;
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    compressible(&raw, 4096, 1);
    buffer_append(&packed, "old contents", 12);
    assert_true(compression_compress(COMPRESSION_ZSTD, buffer_slice(&raw), &packed));
    uint64_t raw_len;
    const uint8_t *p = get_varint64(packed.data, packed.data + packed.len, &raw_len);
    assert_non_null(p); /* starts with the varint raw length, not the old bytes */
    assert_int_equal(raw_len, 4096);
    expect_decodes_to(COMPRESSION_ZSTD, buffer_slice(&packed), buffer_slice(&raw));
    buffer_fini(&raw);
    buffer_fini(&packed);
}

/* ---- damaged input ----------------------------------------------------------------- */

static void
test_truncated_is_corruption(void **state)
{
    (void)state;
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    compressible(&raw, 4096, 7);
    for (size_t t = 0; t < 2; t++) {
        assert_true(compression_compress(types[t], buffer_slice(&raw), &packed));
        /* Every proper prefix, down to nothing (not even the varint). */
        for (size_t len = 0; len < packed.len; len++) {
            expect_corrupt(types[t], slice_make(packed.data, len));
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_flipped_bytes_never_crash(void **state)
{
    (void)state;
    /*
     * Neither LZ4 blocks nor our zstd frames carry a checksum of their own
     * (the SSTable block trailer's checksum catches damage before this), so a
     * flipped literal may decode to other bytes of the right length. What must
     * hold: the result is CORRUPTION or exactly raw_len bytes, never a read or
     * write out of bounds (ASan watches).
     */
    buffer raw, packed, out;
    buffer_init(&raw);
    buffer_init(&packed);
    buffer_init(&out);
    compressible(&raw, 4096, 9);
    for (size_t t = 0; t < 2; t++) {
        assert_true(compression_compress(types[t], buffer_slice(&raw), &packed));
        int corrupt = 0;
        for (size_t i = 0; i < packed.len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                packed.data[i] ^= (uint8_t)(1u << bit);
                int rc = compression_decompress(types[t], buffer_slice(&packed), &out);
                packed.data[i] ^= (uint8_t)(1u << bit);
                if (rc == LSMKV_OK) {
                    assert_int_equal(out.len, 4096);
                } else {
                    assert_int_equal(rc, LSMKV_CORRUPTION);
                    corrupt++;
                }
            }
        }
        assert_true(corrupt > 0);
        /* A damaged zstd magic number is always caught. */
        if (types[t] == COMPRESSION_ZSTD) {
            size_t varint_len = (size_t)varint_length(4096);
            packed.data[varint_len] ^= 0xff;
            expect_corrupt(types[t], buffer_slice(&packed));
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
    buffer_fini(&out);
}

static void
test_garbage_is_corruption_or_exact_length(void **state)
{
    (void)state;
    buffer garbage, out;
    buffer_init(&garbage);
    buffer_init(&out);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)test_rng_below(&rng, 300);
        random_bytes(&garbage, len, test_rng_next(&rng));
        if (len > 0) {
            garbage.data[0] &= 0x7f; /* a one-byte raw length: small allocations */
        }
        for (size_t t = 0; t < 2; t++) {
            int rc = compression_decompress(types[t], buffer_slice(&garbage), &out);
            if (rc == LSMKV_OK) {
                assert_int_equal(out.len, garbage.data[0]);
            } else {
                assert_int_equal(rc, LSMKV_CORRUPTION);
            }
        }
    }
    buffer_fini(&garbage);
    buffer_fini(&out);
}

static void
test_lying_raw_length_is_corruption(void **state)
{
    (void)state;
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    compressible(&raw, 4096, 11);
    for (size_t t = 0; t < 2; t++) {
        encode_by_hand(types[t], buffer_slice(&raw), 4096, &packed);
        expect_decodes_to(types[t], buffer_slice(&packed), buffer_slice(&raw));
        const uint64_t lies[] = {0, 1, 4095, 4097, 8192, 65536};
        for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
            encode_by_hand(types[t], buffer_slice(&raw), lies[i], &packed);
            expect_corrupt(types[t], buffer_slice(&packed));
        }
    }
    buffer_fini(&raw);
    buffer_fini(&packed);
}

/*
 * Sanitizers reserve terabytes of address space, so only a plain build can
 * cap it; there a decoder that trusted a huge raw length for an allocation
 * would abort the test instead of passing it by luck of overcommit.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAN_CAP_ADDRESS_SPACE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CAN_CAP_ADDRESS_SPACE 0
#endif
#endif
#ifndef CAN_CAP_ADDRESS_SPACE
#define CAN_CAP_ADDRESS_SPACE 1
#endif

/* Caps the address space at what is mapped now plus 512 MiB; returns the old limit. */
static struct rlimit
cap_address_space(void)
{
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
    if (CAN_CAP_ADDRESS_SPACE) {
        FILE *statm = fopen("/proc/self/statm", "r");
        unsigned long long pages = 0;
        if (statm != NULL && fscanf(statm, "%llu", &pages) == 1) {
            struct rlimit cap = old;
            cap.rlim_cur =
                (rlim_t)(pages * (unsigned long long)sysconf(_SC_PAGESIZE) + (512ull << 20));
            if (old.rlim_cur == RLIM_INFINITY || cap.rlim_cur < old.rlim_cur) {
                assert_int_equal(setrlimit(RLIMIT_AS, &cap), 0);
            }
        }
        if (statm != NULL) {
            fclose(statm);
        }
    }
    return old;
}

static void
test_huge_raw_length_is_corruption(void **state)
{
    (void)state;
    struct rlimit old_limit = cap_address_space();
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    compressible(&raw, 4096, 13);
    /* A few bytes of input claiming gigabytes (up to the largest varint):
     * rejected, without trusting the claim for an allocation. */
    const uint64_t huge[] = {(1ull << 30) + 5, (1ull << 31) - 1, 1ull << 31, (1ull << 31) + 1,
                             1ull << 32,       1ull << 40,       UINT64_MAX};
    for (size_t t = 0; t < 2; t++) {
        for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
            encode_by_hand(types[t], buffer_slice(&raw), huge[i], &packed);
            expect_corrupt(types[t], buffer_slice(&packed));
        }
        /* A varint that never ends. */
        uint8_t endless[16];
        memset(endless, 0xff, sizeof(endless));
        expect_corrupt(types[t], slice_make(endless, sizeof(endless)));
    }
    assert_int_equal(setrlimit(RLIMIT_AS, &old_limit), 0);
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_wrong_or_unknown_type_is_corruption(void **state)
{
    (void)state;
    buffer raw, packed;
    buffer_init(&raw);
    buffer_init(&packed);
    compressible(&raw, 4096, 15);
    assert_true(compression_compress(COMPRESSION_LZ4, buffer_slice(&raw), &packed));
    expect_corrupt(COMPRESSION_ZSTD, buffer_slice(&packed));
    expect_corrupt(COMPRESSION_NONE, buffer_slice(&packed));
    expect_corrupt(3, buffer_slice(&packed));
    expect_corrupt(-1, buffer_slice(&packed));
    assert_true(compression_compress(COMPRESSION_ZSTD, buffer_slice(&raw), &packed));
    expect_corrupt(COMPRESSION_LZ4, buffer_slice(&packed));
    expect_corrupt(255, buffer_slice(&packed));
    buffer_fini(&raw);
    buffer_fini(&packed);
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(compression_name(COMPRESSION_NONE), "none");
    assert_string_equal(compression_name(COMPRESSION_LZ4), "lz4");
    assert_string_equal(compression_name(COMPRESSION_ZSTD), "zstd");
    assert_string_equal(compression_name(3), "unknown");
    assert_string_equal(compression_name(-1), "unknown");
    assert_string_equal(compression_name(255), "unknown");
    /* The public enum and the on-disk numbers agree. */
    assert_int_equal(LSMKV_COMPRESSION_NONE, COMPRESSION_NONE);
    assert_int_equal(LSMKV_COMPRESSION_LZ4, COMPRESSION_LZ4);
    assert_int_equal(LSMKV_COMPRESSION_ZSTD, COMPRESSION_ZSTD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compressible_round_trip),
        cmocka_unit_test(test_random_data_does_not_pay),
        cmocka_unit_test(test_extreme_ratio_round_trip),
        cmocka_unit_test(test_half_random_still_pays),
        cmocka_unit_test(test_decompress_tiny_and_random_blocks),
        cmocka_unit_test(test_output_buffer_is_replaced),
        cmocka_unit_test(test_truncated_is_corruption),
        cmocka_unit_test(test_flipped_bytes_never_crash),
        cmocka_unit_test(test_garbage_is_corruption_or_exact_length),
        cmocka_unit_test(test_lying_raw_length_is_corruption),
        cmocka_unit_test(test_huge_raw_length_is_corruption),
        cmocka_unit_test(test_wrong_or_unknown_type_is_corruption),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
