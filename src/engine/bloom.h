/*
 * Bloom filter over the user keys of one SSTable, so a lookup skips a table
 * that cannot hold its key without reading any block. Cache-line blocked: the
 * key's hash picks one 64-byte line and every probe lands inside it, so a
 * check costs one cache miss.
 *
 * Layout: line[num_lines] (64 bytes each) | byte probes | fixed32 num_lines
 * Hashes come from hash64() (checksum.h) of the user key.
 */
#ifndef LSMKV_ENGINE_BLOOM_H
#define LSMKV_ENGINE_BLOOM_H

#include "buffer.h"

/* Appends a filter for n key hashes at bits_per_key (> 0) to out. */
void bloom_build(buffer *out, const uint64_t *hashes, size_t n, int bits_per_key);

/*
 * false: the key is certainly absent. true: it may be present. A malformed or
 * empty filter answers true (never hides data).
 */
bool bloom_may_contain(slice filter, uint64_t hash);

#endif
