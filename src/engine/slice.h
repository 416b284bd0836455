/* A borrowed byte range: keys and values are slices, never C strings. */
#ifndef LSMKV_ENGINE_SLICE_H
#define LSMKV_ENGINE_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct slice {
    const uint8_t *data;
    size_t len;
} slice;

static inline slice
slice_make(const void *data, size_t len)
{
    slice s = {(const uint8_t *)data, len};
    return s;
}

/* Bytewise order; a proper prefix sorts first. */
static inline int
slice_compare(slice a, slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.data, b.data, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static inline bool
slice_equal(slice a, slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

#endif
