/*
 * Reading a whole SSTable block by block, the way lsmkv-dump sst and verify
 * need it: every data block named by the index is read and its checksum
 * verified even after another block failed, every entry is checked to follow
 * the one before in internal-key order, and what the entries add up to is
 * compared with the table's properties block.
 */
#ifndef LSMKV_TOOLS_DUMP_TABLE_H
#define LSMKV_TOOLS_DUMP_TABLE_H

#include "dump_issues.h"
#include "internal_key.h"
#include "sstable_reader.h"

typedef struct dump_block {
    sstable_handle handle;
    int compression;  /* trailer byte; -1 when the block did not read */
    buffer last_key;  /* the index's key for the block: an internal key */
    uint64_t entries; /* read from it */
    bool ok;          /* read, verified, and every entry well formed */
} dump_block;

typedef struct dump_table {
    /* Counted over the entries of the blocks that read. */
    uint64_t entries;
    uint64_t tombstones;
    uint64_t distinct_keys;
    uint64_t min_sequence;
    uint64_t max_sequence;
    buffer min_key; /* user keys */
    buffer max_key;
    uint64_t data_bytes; /* stored data blocks and trailers, per the index */
    size_t block_count;
    dump_block *blocks;
    size_t bad_blocks;
    bool complete;      /* false when the entry callback stopped the scan */
    dump_issues issues; /* every problem found, as errors */
} dump_table;

/* Called for each entry of each block that reads, in file order; false stops. */
typedef bool (*dump_entry_fn)(void *ctx, const parsed_internal_key *key, slice value);

void dump_table_init(dump_table *t);
void dump_table_fini(dump_table *t);

/*
 * Scans every data block of r into t (which must be freshly initialized):
 * the index, each block's checksum and entries, their order, the layout of
 * the blocks in the file, and the properties block against the entries.
 * fn (may be NULL) sees the entries as they are read.
 */
void dump_table_scan(sstable_reader *r, dump_entry_fn fn, void *ctx, dump_table *t);

#endif
