/*
 * Checksums for every on-disk record, block and file: the low 32 bits of
 * xxHash's XXH3-64 (Debian's libxxhash), seeded so that a checksum of one kind
 * of data never validates another. Fast enough (tens of GB/s) to verify every
 * read.
 */
#ifndef LSMKV_ENGINE_CHECKSUM_H
#define LSMKV_ENGINE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

static inline uint32_t
checksum32(const void *data, size_t len, uint64_t seed)
{
    return (uint32_t)XXH3_64bits_withSeed(data, len, seed);
}

/* 64-bit hash for bloom filters. */
static inline uint64_t
hash64(const void *data, size_t len)
{
    return XXH3_64bits(data, len);
}

#endif
