/*
 * Block: a sorted run of key → value entries with shared-prefix compression,
 * the unit of SSTable I/O (data blocks and the index block).
 *
 * Layout:
 *   entry* | fixed32 restart_offset[num_restarts] | fixed32 num_restarts
 *   entry = varint32 shared | varint32 unshared | varint32 value_len
 *           | key bytes after the shared prefix [unshared] | value [value_len]
 * Every `restart_interval`-th entry is a restart point: it stores its key
 * whole (shared = 0) and its offset is listed, so a seek binary-searches the
 * restart points and then scans at most restart_interval entries.
 *
 * Keys are internal keys compared with internal_key_compare.
 */
#ifndef LSMKV_ENGINE_BLOCK_H
#define LSMKV_ENGINE_BLOCK_H

#include "buffer.h"
#include "iterator.h"
#include "lsmkv/lsmkv.h"

#define BLOCK_RESTART_INTERVAL 16

/* ---- builder (embedded) ------------------------------------------------------ */

typedef struct block_builder {
    buffer data;
    buffer restarts; /* fixed32 offsets */
    buffer last_key;
    int restart_interval;
    int since_restart;
    uint32_t entries;
    bool finished;
} block_builder;

void block_builder_init(block_builder *b, int restart_interval);
void block_builder_fini(block_builder *b);
/* Empties the builder for the next block. */
void block_builder_reset(block_builder *b);
/* key must sort after every key added since the last reset. */
void block_builder_add(block_builder *b, slice key, slice value);
/* Appends the restart array; the contents stay valid until reset. */
slice block_builder_finish(block_builder *b);
/* Size the block would have if finished now. */
size_t block_builder_size_estimate(const block_builder *b);
static inline bool
block_builder_empty(const block_builder *b)
{
    return b->entries == 0;
}

/* ---- reader ----------------------------------------------------------------- */

typedef struct block block;

/*
 * Takes the contents (ownership of *contents moves to the block on success
 * only; *contents is left empty) and checks the restart array: LSMKV_CORRUPTION
 * if it does not fit. `what` names the block in messages (e.g. "000012.sst
 * block at 4096").
 */
int block_new(buffer *contents, const char *what, block **out, lsmkv_error *err);
void block_free(block *b);
size_t block_size(const block *b);

/*
 * An iterator over the block's entries. owns_block: the iterator frees the
 * block when it is freed. A malformed entry makes the iterator invalid with
 * LSMKV_CORRUPTION.
 */
iterator *block_iterator_new(block *b, bool owns_block);

#endif
