/*
 * Table: one live SSTable as the store holds it — its manifest metadata and,
 * while it is open, a reader — shared by every version that lists it
 * (reference counted). Deleting the file is the SSTable manager's job (Linux
 * keeps an unlinked file readable while it is open).
 *
 * The table cache bounds how many tables keep their file (and their index
 * and bloom filter) open: past max_open, the least recently used table that
 * no read is using is closed, and reopened on its next use. Every reader of a
 * cache shares one block cache (block_cache.h).
 *
 * Locks: each table's mutex guards its reader and pin count (a reader is
 * opened under it: only reads of that one table wait, as they would for its
 * file anyway). The cache's mutex guards the list of open tables. Order:
 * cache mutex → table mutex.
 */
#ifndef LSMKV_ENGINE_TABLE_H
#define LSMKV_ENGINE_TABLE_H

#include "block_cache.h"
#include "internal_key.h"
#include "iterator.h"
#include "lsmkv/lsmkv.h"

typedef struct table_cache table_cache;
typedef struct table table;

/* ---- the cache ---------------------------------------------------------------- */

/*
 * Tables of dir; blocks may be NULL (no block cache); max_open >= 1; mmap:
 * read data blocks from memory maps (sstable_reader_map).
 */
table_cache *table_cache_new(const char *dir, block_cache *blocks, size_t max_open, bool mmap);
/* Every table must be gone. NULL is a no-op. */
void table_cache_free(table_cache *c);
/* Tables whose file is open now. */
size_t table_cache_open_count(table_cache *c);

/* ---- one table ------------------------------------------------------------------ */

/*
 * Opens dir/<info->id>.sst (now, so a missing or damaged file is reported
 * here); info is copied. The new table has one reference.
 */
int table_open(table_cache *c, const lsmkv_table_info *info, table **out, lsmkv_error *err);
void table_ref(table *t);
/* NULL is a no-op. */
void table_unref(table *t);

const lsmkv_table_info *table_info(const table *t);

/* sstable_reader_get on the table's reader (reopening it if it was closed). */
int table_get(table *t, slice user_key, uint64_t user_key_hash, uint64_t snapshot,
              lookup_result *result, lsmkv_error *err);

/*
 * An iterator over the table; the table stays open while it lives. for_scan:
 * a one-pass scan whose blocks are not added to the block cache. If the file
 * cannot be reopened, the iterator is empty and reports the error.
 */
iterator *table_iterator_new(table *t, bool for_scan);

#endif
