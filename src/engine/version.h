/*
 * Version: an immutable snapshot of the live table set, reference counted.
 * The SSTable manager swaps in a new version on every flush or compaction;
 * a reader takes a reference to the current one and reads without any lock,
 * so disk I/O never happens under a lock and a table stays open as long as
 * some reader's version lists it.
 *
 * Search order is newest data first: level 0 (flushed memtables, which may
 * overlap) by descending max sequence, then levels 1.. in order, each sorted
 * by key range and non-overlapping, so at most one table per level can hold
 * a given key.
 */
#ifndef LSMKV_ENGINE_VERSION_H
#define LSMKV_ENGINE_VERSION_H

#include "internal_key.h"
#include "iterator.h"
#include "table.h"

typedef struct version version;

/* A version of `count` tables (any order; each gets a reference). One reference. */
version *version_new(table *const *tables, size_t count);
void version_ref(version *v);
/* NULL is a no-op. */
void version_unref(version *v);

size_t version_table_count(const version *v);
/* The i-th table in search order. */
table *version_table(const version *v, size_t i);

/* Tables in one level, in search order (level 0 newest first, others by key). */
size_t version_level_count(const version *v, int level);
table *version_level_table(const version *v, int level, size_t i);
uint64_t version_level_bytes(const version *v, int level);

/*
 * Tables of `level` whose key range intersects [min_key, max_key], appended to
 * *out (grown with xrealloc) and counted in *count.
 */
void version_overlapping(const version *v, int level, slice min_key, slice max_key, table ***out,
                         size_t *count);

/* Whether some table in a level deeper than `level` may hold user_key (by key range). */
bool version_key_exists_below(const version *v, int level, slice user_key);

/*
 * The newest version of user_key with sequence <= snapshot, skipping tables by
 * key range and bloom filter. result->found false if no table holds it.
 */
int version_get(version *v, slice user_key, uint64_t snapshot, lookup_result *result,
                lsmkv_error *err);

/*
 * Every entry of every table merged in internal-key order; the iterator keeps
 * what it reads alive (v itself may be released).
 */
iterator *version_iterator_new(version *v);

/*
 * The sorted streams a merge over v needs, appended to out: one per level-0
 * table and one per non-empty deeper level. out must hold
 * version_table_count(v) + LSMKV_MAX_LEVELS entries; returns how many.
 */
size_t version_iterators(version *v, iterator **out);

/* Tables and bytes per level. */
void version_level_stats(const version *v, lsmkv_level_stats levels[LSMKV_MAX_LEVELS]);

#endif
