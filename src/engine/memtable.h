/*
 * Memtable: the sorted in-memory table that takes writes before they reach an
 * SSTable. A skiplist over an arena, ordered by internal key (internal_key.h),
 * holding every version written (puts and tombstones) with its sequence.
 *
 * Concurrency: one writer at a time (the store's write leader), any number of
 * readers at once without locks: a new node is fully built before it is linked
 * in with release stores, and readers follow links with acquire loads.
 * Lifetime is reference counted: whoever reads a memtable holds a reference.
 */
#ifndef LSMKV_ENGINE_MEMTABLE_H
#define LSMKV_ENGINE_MEMTABLE_H

#include "internal_key.h"
#include "iterator.h"

typedef struct memtable memtable;

/* A new empty memtable with one reference. */
memtable *memtable_new(void);
void memtable_ref(memtable *m);
/* Drops a reference; the last one frees the memtable. NULL is a no-op. */
void memtable_unref(memtable *m);

/*
 * Adds one version. Caller serialises adds; (user_key, sequence) must be new,
 * sequence <= SEQUENCE_MAX and user_key shorter than 4 GiB (the store's key
 * limit is far below). value is ignored for VALUE_TYPE_DELETION.
 */
void memtable_add(memtable *m, uint64_t sequence, value_type type, slice user_key, slice value);

/*
 * Looks up the newest version of user_key with sequence <= snapshot. Returns
 * true and fills *result (value copied, type and sequence set) if one exists;
 * otherwise returns false and leaves result->found false.
 */
bool memtable_get(memtable *m, slice user_key, uint64_t snapshot, lookup_result *result);

/* Approximate memory held (arena usage): the rotation trigger. Any thread. */
size_t memtable_approximate_bytes(const memtable *m);
/* Number of versions added. Any thread. */
uint64_t memtable_entries(const memtable *m);
/* Highest sequence added (0 if empty). Any thread. */
uint64_t memtable_max_sequence(const memtable *m);

/*
 * An iterator over every version in internal-key order. It holds a reference
 * on m until freed; entries added after creation may or may not be seen.
 */
iterator *memtable_iterator_new(memtable *m);

#endif
