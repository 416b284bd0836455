/*
 * Byte encodings shared by every on-disk format: little-endian fixed-width
 * integers and LEB128 varints. Decoders take the bytes left and never read
 * past them; they return NULL (or false) on truncated or malformed input.
 */
#ifndef LSMKV_ENGINE_CODING_H
#define LSMKV_ENGINE_CODING_H

#include "buffer.h"

#define VARINT64_MAX_BYTES 10

static inline void
encode_fixed32(uint8_t *dst, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        dst[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline void
encode_fixed64(uint8_t *dst, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        dst[i] = (uint8_t)(v >> (8 * i));
    }
}

/*
 * Written as one expression of the bytes in order, which compilers turn into
 * a single load (GCC does not for the loop form): these run for every key
 * compared (internal key trailers) and every restart point probed.
 */
static inline uint32_t
decode_fixed32(const uint8_t *src)
{
    return (uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 |
           (uint32_t)src[3] << 24;
}

static inline uint64_t
decode_fixed64(const uint8_t *src)
{
    return (uint64_t)src[0] | (uint64_t)src[1] << 8 | (uint64_t)src[2] << 16 |
           (uint64_t)src[3] << 24 | (uint64_t)src[4] << 32 | (uint64_t)src[5] << 40 |
           (uint64_t)src[6] << 48 | (uint64_t)src[7] << 56;
}

static inline void
put_fixed32(buffer *b, uint32_t v)
{
    uint8_t tmp[4];
    encode_fixed32(tmp, v);
    buffer_append(b, tmp, 4);
}

static inline void
put_fixed64(buffer *b, uint64_t v)
{
    uint8_t tmp[8];
    encode_fixed64(tmp, v);
    buffer_append(b, tmp, 8);
}

/* Writes v as a varint at dst; returns the number of bytes (1..10). */
static inline size_t
encode_varint64(uint8_t *dst, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

static inline size_t
varint_length(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline void
put_varint64(buffer *b, uint64_t v)
{
    uint8_t tmp[VARINT64_MAX_BYTES];
    buffer_append(b, tmp, encode_varint64(tmp, v));
}

/* Appends varint(len) then the bytes. */
static inline void
put_length_prefixed(buffer *b, slice s)
{
    put_varint64(b, s.len);
    buffer_append(b, s.data, s.len);
}

/*
 * Decodes a varint from [p, limit). Returns the byte after it, or NULL if the
 * input ends first or the value does not fit 64 bits.
 */
static inline const uint8_t *
get_varint64(const uint8_t *p, const uint8_t *limit, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift <= 63 && p < limit; shift += 7) {
        uint64_t byte = *p++;
        if (shift == 63 && byte > 1) {
            return NULL;
        }
        v |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return p;
        }
    }
    return NULL;
}

/* As get_varint64, but the value must fit 32 bits. */
static inline const uint8_t *
get_varint32(const uint8_t *p, const uint8_t *limit, uint32_t *out)
{
    uint64_t v;
    p = get_varint64(p, limit, &v);
    if (p == NULL || v > UINT32_MAX) {
        return NULL;
    }
    *out = (uint32_t)v;
    return p;
}

/* Decodes varint(len) + bytes; NULL if they run past limit. */
static inline const uint8_t *
get_length_prefixed(const uint8_t *p, const uint8_t *limit, slice *out)
{
    uint64_t len;
    p = get_varint64(p, limit, &len);
    if (p == NULL || len > (uint64_t)(limit - p)) {
        return NULL;
    }
    *out = slice_make(p, (size_t)len);
    return p + len;
}

#endif
