#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
test_make_temp_dir(const char *prefix)
{
    const char *base = getenv("LSMKV_TEST_TMPDIR");
    if (base == NULL || *base == '\0') {
        base = "/tmp";
    }
    mkdir(base, 0755);
    char *path = malloc(strlen(base) + strlen(prefix) + 16);
    assert_non_null(path);
    sprintf(path, "%s/%s-XXXXXX", base, prefix);
    if (mkdtemp(path) == NULL) {
        fail_msg("mkdtemp %s failed", path);
    }
    return path;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void
test_remove_dir(char *path)
{
    if (path == NULL) {
        return;
    }
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

const char *
test_path(const char *dir, const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s", dir, name);
    return buf;
}

uint64_t
test_seed(void)
{
    static bool printed;
    const char *env = getenv("LSMKV_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : UINT64_C(20261125);
    if (!printed) {
        fprintf(stderr, "test seed: %" PRIu64 " (set LSMKV_TEST_SEED to repeat)\n", seed);
        printed = true;
    }
    return seed;
}

void
test_rng_init(test_rng *rng, uint64_t seed)
{
    rng->state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint64_t
test_rng_next(test_rng *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t
test_rng_below(test_rng *rng, uint64_t bound)
{
    return bound ? test_rng_next(rng) % bound : 0;
}

void
test_rng_bytes(test_rng *rng, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)test_rng_next(rng);
    }
}

long long
test_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

void
test_flip_bit(const char *path, long long offset, int bit)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, offset), 1);
    byte ^= (uint8_t)(1u << bit);
    assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    close(fd);
}

int
test_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    size_t m = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len >= m && strcmp(e->d_name + len - m, suffix) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}
