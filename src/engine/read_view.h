/*
 * Read view: what one read sees — references to the memtables (newest first)
 * and to the current table version, and the snapshot sequence. Gets,
 * multi-gets and iterators all read through a view, so they all see one
 * consistent point in time and hold references, not locks, during I/O.
 *
 * The order of acquisition is what makes a view consistent: the memtables
 * are referenced first, the table version next, and the published sequence is
 * read last. Then every write at or below the snapshot is in a memtable or a
 * table the view holds (a memtable leaves the manager only after its table is
 * installed), and any version that a flush or compaction dropped was shadowed
 * by a newer one already in a table, hence published and visible. Reading the
 * sequence first would let a flush or compaction that runs in between replace
 * the version the snapshot should see with one it cannot see.
 */
#ifndef LSMKV_ENGINE_READ_VIEW_H
#define LSMKV_ENGINE_READ_VIEW_H

#include "iterator.h"
#include "memtable_manager.h"
#include "sstable_manager.h"

#include <stdatomic.h>

typedef struct read_view {
    memtable *mems[MEMTABLE_MANAGER_MAX_IMMUTABLES + 1]; /* newest first */
    size_t mem_count;
    version *tables;
    uint64_t snapshot;
} read_view;

/* Takes the references and then reads *last_sequence (the published sequence). */
void read_view_acquire(read_view *view, memtable_manager *mm, sstable_manager *sm,
                       const atomic_uint_fast64_t *last_sequence);
void read_view_release(read_view *view);

/*
 * The newest version of user_key at the view's snapshot (result->found false
 * if none; a tombstone is found with its type). LSMKV_CORRUPTION and I/O
 * codes come from the tables.
 */
int read_view_get(const read_view *view, slice user_key, lookup_result *result, lsmkv_error *err);

/*
 * An iterator over user keys as the view sees them (user_iter.h): one flat
 * merge of each memtable, each level-0 table and each deeper level. It holds
 * its own references, so the view may be released at once.
 */
iterator *read_view_iterator_new(const read_view *view);

#endif
