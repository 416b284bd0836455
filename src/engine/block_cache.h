/*
 * Block cache: recently read SSTable blocks (their verified, uncompressed
 * contents), shared by every table of a store, within a byte budget. Keyed by
 * (file number, offset): file numbers are never reused, so an entry can never
 * be mistaken for another file's block; a deleted table's blocks simply age
 * out.
 *
 * Sixteen shards, each an LRU list and a hash table under its own mutex, so
 * concurrent readers rarely meet. A lookup or insert returns a pinned handle:
 * the contents stay valid until it is released, even if the entry is evicted
 * meanwhile. Pinned entries are never evicted, so the cache may run over its
 * budget while many blocks are in use at once.
 */
#ifndef LSMKV_ENGINE_BLOCK_CACHE_H
#define LSMKV_ENGINE_BLOCK_CACHE_H

#include "buffer.h"

typedef struct block_cache block_cache;
typedef struct block_cache_handle block_cache_handle;

/* A cache holding up to capacity bytes of block contents. */
block_cache *block_cache_new(size_t capacity);
/* Every handle must have been released. NULL is a no-op. */
void block_cache_free(block_cache *c);

/* The pinned entry for (file, offset), or NULL. */
block_cache_handle *block_cache_lookup(block_cache *c, uint64_t file, uint64_t offset);

/*
 * Adds contents for (file, offset) and returns it pinned. The buffer's memory
 * moves into the cache (*contents is left empty). If another thread inserted
 * the same block first, that entry is returned and contents are freed.
 */
block_cache_handle *block_cache_insert(block_cache *c, uint64_t file, uint64_t offset,
                                       buffer *contents);

slice block_cache_contents(const block_cache_handle *h);
void block_cache_release(block_cache *c, block_cache_handle *h);

typedef struct block_cache_stats {
    uint64_t capacity;
    uint64_t usage;
    uint64_t entries;
    uint64_t hits;
    uint64_t misses;
} block_cache_stats;

void block_cache_get_stats(block_cache *c, block_cache_stats *stats);

#endif
