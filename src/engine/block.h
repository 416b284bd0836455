/*
 * Block: a sorted run of key → value entries with shared-prefix compression,
 * the unit of SSTable I/O (data blocks and the index block).
 *
 * Layout:
 *   entry* | fixed32 restart_offset[num_restarts] | fixed32 num_restarts
 * Every `restart_interval`-th entry is a restart point: it shares no prefix
 * with the entry before it and its offset is listed, so a seek binary-searches
 * the restart points and then scans at most restart_interval entries.
 *
 * Keys are internal keys (internal_key.h), compared with internal_key_compare.
 * A block stores them one of two ways (block_keys, chosen by the table's
 * format version, sstable_format.h):
 *   BLOCK_KEYS_WHOLE: entry = varint32 shared | varint32 unshared
 *       | varint32 value_len | key bytes after the shared prefix [unshared]
 *       | value [value_len]
 *     the internal key as it is, user key and 8-byte trailer together;
 *   BLOCK_KEYS_SPLIT: entry = varint32 shared | varint32 unshared
 *       | varint32 value_len | user-key bytes after the shared prefix [unshared]
 *       | varint64 tag | value [value_len]
 *     shared and unshared count user-key bytes only, and the trailer
 *     (sequence << 8 | type) follows as a varint: 1 byte for the sequence 0
 *     that bottom-level compactions give a key's only version, at most 8 for
 *     any real sequence, instead of the 8 bytes WHOLE always spends after the
 *     point where two user keys differ.
 * Either way a cursor hands out whole internal keys.
 */
#ifndef LSMKV_ENGINE_BLOCK_H
#define LSMKV_ENGINE_BLOCK_H

#include "buffer.h"
#include "iterator.h"
#include "lsmkv/lsmkv.h"

#define BLOCK_RESTART_INTERVAL 16

typedef enum block_keys {
    BLOCK_KEYS_WHOLE, /* format 1 data blocks, and every index block */
    BLOCK_KEYS_SPLIT, /* format 2 data blocks */
} block_keys;

/* ---- builder (embedded) ------------------------------------------------------ */

typedef struct block_builder {
    buffer data;
    buffer restarts; /* fixed32 offsets */
    buffer last_key;
    int restart_interval;
    block_keys keys;
    int since_restart;
    uint32_t entries;
    bool finished;
} block_builder;

void block_builder_init(block_builder *b, int restart_interval, block_keys keys);
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
 * if it does not fit. file and offset name the block in messages
 * ("/dir/000012.sst: malformed entry at byte 17 of block at offset 4096");
 * file is borrowed and must outlive the block.
 */
int block_new(buffer *contents, block_keys keys, const char *file, uint64_t offset, block **out,
              lsmkv_error *err);
void block_free(block *b);
size_t block_size(const block *b);
/* Entries and restart array, valid as long as the block. */
slice block_contents(const block *b);

/*
 * An iterator over the block's entries. owns_block: the iterator frees the
 * block when it is freed. A malformed entry makes the iterator invalid with
 * LSMKV_CORRUPTION.
 */
iterator *block_iterator_new(block *b, bool owns_block);

/* ---- cursor ----------------------------------------------------------------- */

/*
 * A position in block contents that can live on the caller's stack, so that a
 * point lookup (sstable_reader_get) seeks without allocating: keys up to
 * BLOCK_CURSOR_INLINE_KEY bytes are rebuilt inside the cursor. The block
 * iterator is a thin wrapper around one. Fields are private to block.c.
 */
#define BLOCK_CURSOR_INLINE_KEY 128

typedef struct block_cursor {
    const uint8_t *data;
    uint32_t limit; /* end of the entries = start of the restart array */
    uint32_t num_restarts;
    uint32_t current; /* offset of the current entry; limit when not valid */
    uint32_t next;    /* offset of the entry after it */
    block_keys keys;
    uint8_t *key; /* key_inline or heap */
    size_t key_len;
    size_t key_cap;
    slice value;
    const char *file; /* for messages; borrowed */
    uint64_t offset;
    const char *problem; /* why the cursor stopped, or NULL */
    uint32_t problem_at;
    uint8_t key_inline[BLOCK_CURSOR_INLINE_KEY];
} block_cursor;

/*
 * Positions nowhere (not valid). contents must outlive the cursor. Returns
 * LSMKV_CORRUPTION if the restart array does not fit; either way the cursor
 * must be finished with block_cursor_fini.
 */
int block_cursor_init(block_cursor *c, slice contents, block_keys keys, const char *file,
                      uint64_t offset, lsmkv_error *err);
void block_cursor_fini(block_cursor *c);
void block_cursor_seek_to_first(block_cursor *c);
/* Positions at the first entry whose key is >= target. */
void block_cursor_seek(block_cursor *c, slice target);
/*
 * Positions at restart point i (< block_cursor_restart_count), whose entry
 * stores its key whole; not valid, with a problem, if that entry is malformed.
 */
void block_cursor_seek_to_restart(block_cursor *c, uint32_t i);
/* Requires valid. */
void block_cursor_next(block_cursor *c);
/* LSMKV_OK, or LSMKV_CORRUPTION (message in err) if a malformed entry stopped it. */
int block_cursor_status(const block_cursor *c, lsmkv_error *err);

static inline bool
block_cursor_valid(const block_cursor *c)
{
    return c->current < c->limit;
}
static inline uint32_t
block_cursor_restart_count(const block_cursor *c)
{
    return c->num_restarts;
}
/* Valid until the cursor moves. */
static inline slice
block_cursor_key(const block_cursor *c)
{
    return slice_make(c->key, c->key_len);
}
static inline slice
block_cursor_value(const block_cursor *c)
{
    return c->value;
}
/* Where the current entry starts in the block: one number per entry, below
 * the block's size. Requires valid. */
static inline uint32_t
block_cursor_entry_offset(const block_cursor *c)
{
    return c->current;
}

#endif
