/*
 * Index search: a dense array that finds a get's data block without a binary
 * search through the SSTable's index block itself.
 *
 * Each step of a binary search over a block reads a restart offset and then
 * an entry somewhere else in the block: two dependent cache misses, over
 * indexes that (all open tables together) do not stay in the CPU cache, and
 * the entry found is one more. This keeps, for each index entry, its block
 * handle and eight bytes of its user key: the ones after the prefix that
 * every key of the table shares, read big-endian and padded with zeros, so
 * that comparing two of them as integers orders their keys (equal integers
 * aside). The search runs over that array and reads whole keys from the block
 * only to order keys whose integers are equal.
 *
 * It applies to an index with one restart point per entry, as
 * sstable_builder writes it, so that entry i is restart point i.
 */
#ifndef LSMKV_ENGINE_INDEX_SEARCH_H
#define LSMKV_ENGINE_INDEX_SEARCH_H

#include "block.h"
#include "sstable_format.h"

typedef struct index_search index_search;

/* One index entry: the data block it names, and where it lies in the index. */
typedef struct index_search_entry {
    sstable_handle handle;
    uint32_t entry_offset; /* as block_cursor_entry_offset gives it */
} index_search_entry;

/*
 * Builds the array over index contents (borrowed; file and offset name the
 * block in messages). NULL if the index does not have one restart point per
 * entry, its keys do not strictly increase, or an entry or handle is
 * malformed: callers then seek the block with a cursor, which reports any
 * damage.
 */
index_search *index_search_new(slice contents, const char *file, uint64_t offset);
/* NULL is a no-op. */
void index_search_free(index_search *s);

/*
 * Finds the first entry whose key is >= target, as block_cursor_seek would:
 * false if target sorts after every entry. c is a cursor over the same
 * contents, used to read whole keys when eight bytes do not decide; check
 * block_cursor_status(c) for damage found there.
 */
bool index_search_find(const index_search *s, block_cursor *c, slice target,
                       index_search_entry *out);

#endif
