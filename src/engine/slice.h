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

/*
 * Keys are short (tens of bytes) and compared on every step of a seek, merge
 * or scan, where a call to memcmp costs more than the comparison. So the
 * common part is compared eight bytes at a time in registers (a word read as
 * big-endian orders as its bytes do), and the last few bytes one by one.
 */
static inline uint64_t
slice_word_(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* How many leading bytes a and b have in common. */
static inline size_t
slice_shared_prefix(slice a, slice b)
{
    size_t n = a.len < b.len ? a.len : b.len, i = 0;
    while (i < n && a.data[i] == b.data[i]) {
        i++;
    }
    return i;
}

/* Bytewise order (bytes unsigned); a proper prefix sorts first. */
static inline int
slice_compare(slice a, slice b)
{
    size_t n = a.len < b.len ? a.len : b.len, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = slice_word_(a.data + i), y = slice_word_(b.data + i);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    for (; i < n; i++) {
        if (a.data[i] != b.data[i]) {
            return a.data[i] < b.data[i] ? -1 : 1;
        }
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static inline bool
slice_equal(slice a, slice b)
{
    return a.len == b.len && slice_compare(a, b) == 0;
}

#endif
