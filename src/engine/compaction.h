/*
 * Compaction: turns one sorted stream of entries (a memtable, or the merge of
 * several tables) into new SSTable files, keeping only the versions that can
 * still be read. Flush and compaction both write tables through here.
 *
 * For each user key the newest version is kept. An older version is dropped
 * once a newer one exists at or below smallest_snapshot (no reader can ask
 * for anything older). A tombstone is dropped too when drop_tombstones says
 * no older data can exist below the output (every table takes part). Output
 * files are split at target_file_bytes, but never inside one user key, so
 * outputs never overlap.
 *
 * The files are fsynced but not yet part of the store: installing them in
 * the manifest is the SSTable manager's job. On error, every file this call
 * wrote is removed.
 */
#ifndef LSMKV_ENGINE_COMPACTION_H
#define LSMKV_ENGINE_COMPACTION_H

#include "iterator.h"
#include "sstable_builder.h"
#include "lsmkv/lsmkv.h"

typedef struct compaction_options {
    const char *dir;
    sstable_builder_options builder;
    uint64_t target_file_bytes; /* 0: a single output file */
    uint64_t smallest_snapshot;
    bool drop_tombstones;
    uint32_t output_level; /* recorded in each output's info */
    /* Hands out a fresh file number for each output. */
    uint64_t (*new_file_number)(void *ctx);
    void *ctx;
} compaction_options;

typedef struct compaction_stats {
    uint64_t entries_in;
    uint64_t entries_out;
    uint64_t bytes_written;
} compaction_stats;

/*
 * Reads input from its first entry to its end and appends one info per file
 * written to *outputs (nothing when every entry was dropped). stats may be NULL.
 */
int compaction_write(iterator *input, const compaction_options *options, lsmkv_table_list *outputs,
                     compaction_stats *stats, lsmkv_error *err);

#endif
