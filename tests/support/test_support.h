/*
 * Shared helpers for lsmkv's cmocka tests: temporary directories, a seeded
 * random generator (so a failing run can be repeated), and small file tools.
 * Include after cmocka's own prerequisites:
 *   #include <stdarg.h> <stddef.h> <stdint.h> <setjmp.h> <cmocka.h>
 */
#ifndef LSMKV_TESTS_TEST_SUPPORT_H
#define LSMKV_TESTS_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * An assert for threads other than the test's own (fake servers, peers,
 * callers), where cmocka's asserts must not run: prints the failed condition
 * and aborts the test program.
 */
#define TEST_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/*
 * Creates a fresh empty directory under $LSMKV_TEST_TMPDIR (or /tmp) and
 * returns its malloc'd path. Fails the test if it cannot.
 */
char *test_make_temp_dir(const char *prefix);

/* Removes path and everything below it, then frees path. NULL is a no-op. */
void test_remove_dir(char *path);

/* Path of dir/name in a static buffer (overwritten by the next call). */
const char *test_path(const char *dir, const char *name);

/* xorshift64* generator; seed from test_seed(). */
typedef struct test_rng {
    uint64_t state;
} test_rng;

/*
 * The seed for this run: $LSMKV_TEST_SEED if set, else a fixed default. Printed
 * once so a failure can be replayed.
 */
uint64_t test_seed(void);
void test_rng_init(test_rng *rng, uint64_t seed);
uint64_t test_rng_next(test_rng *rng);
/* Uniform in [0, bound). */
uint64_t test_rng_below(test_rng *rng, uint64_t bound);
void test_rng_bytes(test_rng *rng, uint8_t *out, size_t len);

/* Size of a file, or -1. */
long long test_file_size(const char *path);
/* Flips one bit of the byte at offset in path. */
void test_flip_bit(const char *path, long long offset, int bit);
/* Number of entries in dir whose name ends with suffix. */
int test_count_files(const char *dir, const char *suffix);

#endif
