/*
 * Compaction: turns one sorted stream of entries (a memtable, or the merge of
 * several tables) into new SSTable files, keeping only the versions that can
 * still be read. Flush and compaction both write tables through here.
 *
 * For each user key the newest version is kept. An older version is dropped
 * once a newer one exists at or below smallest_snapshot (no reader can ask
 * for anything older). A tombstone is dropped too when drop_tombstones is set
 * and no older data for its key can exist below the output (key_exists_below
 * says so; NULL means the inputs are all there is). Output files are cut at
 * target_file_bytes, at the end of a table of the level below the output (a
 * grandparent) once they hold half of that, or where they would overlap more
 * than max_grandparent_overlap bytes of that level (so that compacting them
 * later stays cheap), but never inside one user key, so outputs never
 * overlap.
 *
 * With zero_sequences (the output is the bottom: nothing older lies below it
 * for any key of the inputs) a kept value is written with sequence 0, as
 * RocksDB does at its bottom level: it is then the only version of its key
 * at or below the output, older than any version above, and every reader
 * that can see the new tables already sees it (a read view takes the tables
 * before the sequence, read_view.h), so the number is dead weight, and 0
 * takes one byte instead of up to eight in a data block (block.h).
 *
 * The files are fsynced but not yet part of the store: installing them in
 * the manifest is the SSTable manager's job. On error, every file this call
 * wrote is removed.
 */
#ifndef LSMKV_ENGINE_COMPACTION_H
#define LSMKV_ENGINE_COMPACTION_H

#include "compaction_picker.h"
#include "iterator.h"
#include "sstable_builder.h"
#include "lsmkv/lsmkv.h"

typedef struct compaction_options {
    const char *dir;
    sstable_builder_options builder;
    uint64_t target_file_bytes; /* 0: a single output file */
    uint64_t smallest_snapshot;
    bool drop_tombstones;
    bool zero_sequences;   /* see above; requires smallest_snapshot == SEQUENCE_MAX */
    uint32_t output_level; /* recorded in each output's info */
    /* Tables of the level below the output, sorted by key (may be none). */
    const lsmkv_table_info *const *grandparents;
    size_t grandparent_count;
    uint64_t max_grandparent_overlap;
    /* Hands out a fresh file number for each output. */
    uint64_t (*new_file_number)(void *ctx);
    /* May data for user_key exist below the output level? NULL: no. */
    bool (*key_exists_below)(void *ctx, slice user_key);
    /* Polled now and then: true abandons the work with LSMKV_CLOSED. May be NULL. */
    bool (*cancelled)(void *ctx);
    void *ctx;
    /* Only user keys in (after, upto] are read; NULL: no bound on that side.
     * Lets one plan run as independent key ranges on several threads. */
    const slice *after;
    const slice *upto;
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

/* What compaction_run_plan needs besides the plan. */
typedef struct compaction_run_options {
    const char *dir;
    sstable_builder_options builder;
    const compaction_picker_options *picker;
    /* Both may be called from two threads at once (a plan run in halves). */
    uint64_t (*new_file_number)(void *ctx);
    bool (*cancelled)(void *ctx); /* may be NULL */
    void *ctx;
    /* Plans with at least this many input bytes run as two halves at once
     * (see compaction_run_plan); 0: never. */
    uint64_t split_min_bytes;
} compaction_run_options;

/*
 * Merges a plan's inputs (not a trivial move) into new files for its output
 * level, sized for that level and cut against its grandparents; tombstones
 * are dropped where the plan's base version has nothing below the output.
 * A plan with options->split_min_bytes of input or more is split at a user
 * key into two halves of about equal input, merged at the same time on this
 * thread and one more (an output file ends at the split key): otherwise one
 * core merges while writers wait for level 0 to drain and the other idles.
 */
int compaction_run_plan(const compaction_plan *plan, const compaction_run_options *options,
                        lsmkv_table_list *outputs, compaction_stats *stats, lsmkv_error *err);

#endif
