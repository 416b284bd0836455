/*
 * Compaction picker: decides what to compact next, LevelDB-style leveled
 * compaction.
 *
 * Level 0 holds flushed memtables, which may overlap; it is due when it holds
 * level0_trigger tables. Each deeper level n holds non-overlapping tables and
 * has a size target: level1_target_bytes for level 1, size_ratio times more
 * for each level below; the last level has no target. A level above the
 * deepest one is also held to its share of that level's size (see
 * compaction_picker_current_target), which bounds space amplification. The neediest level
 * (highest count/trigger or bytes/target, at least 1) is compacted into the
 * next one:
 *   - level 0: the oldest table and every level-0 table overlapping it (a
 *     newer table may never stay above an older one holding the same key),
 *     plus the level-1 tables their keys overlap;
 *   - level n >= 1: one table, taken round-robin by key (a compact pointer
 *     per level, so every key range gets its turn), plus the overlapping
 *     tables of level n + 1.
 * A single input table with nothing to merge with below is moved down without
 * rewriting (a "trivial move"), as long as it would not overlap too much of
 * the level after next.
 */
#ifndef LSMKV_ENGINE_COMPACTION_PICKER_H
#define LSMKV_ENGINE_COMPACTION_PICKER_H

#include "buffer.h"
#include "version.h"

typedef struct compaction_picker_options {
    int level0_trigger;
    uint64_t level1_target_bytes;
    int size_ratio;
    uint64_t max_file_bytes; /* sstable_target_bytes */
} compaction_picker_options;

/* What one compaction reads and where it writes. */
typedef struct compaction_plan {
    version *base; /* referenced: keeps the inputs alive */
    int level;     /* input level (the output level for a full compaction) */
    int output_level;
    table **inputs; /* [0, level_inputs) from level, the rest from output_level */
    size_t input_count;
    size_t level_inputs;
    table **grandparents; /* output_level + 1 tables overlapping the inputs */
    size_t grandparent_count;
    bool trivial_move; /* one table, moved to output_level as it is */
    bool full;         /* every table of base takes part */
    bool bottom;       /* no table below output_level overlaps the inputs */
} compaction_plan;

/* Level n's size target; 0 for level 0 and the last level (no target). */
uint64_t compaction_picker_level_target(const compaction_picker_options *o, int level);

/*
 * The target level n is held to in v: its own target, lowered for a level
 * above the deepest non-empty one to that level's size / ratio^distance (but
 * not below level1_target_bytes / ratio), so stale versions in upper levels
 * stay a small fraction of the data.
 */
uint64_t compaction_picker_current_target(const version *v, const compaction_picker_options *o,
                                          int level);

/* The size output files of a compaction into `level` aim at: the same at every level. */
uint64_t compaction_picker_file_bytes(const compaction_picker_options *o, int level);

/* The neediest level's score (>= 1: a compaction is due); *level receives it. */
double compaction_picker_score(const version *v, const compaction_picker_options *o, int *level);

/* Bytes above their level's target, level 0 counted whole once it is due. */
uint64_t compaction_picker_pending_bytes(const version *v, const compaction_picker_options *o);

/*
 * Plans the next compaction of v, if one is due (returns false otherwise).
 * compact_pointer[LSMKV_MAX_LEVELS] holds, per level, the largest key of that
 * level's last compaction; the picker advances it.
 */
bool compaction_picker_pick(version *v, const compaction_picker_options *o, buffer *compact_pointer,
                            compaction_plan *plan);

/*
 * Plans a full compaction of every table of v into one level: the first
 * level >= 1 whose target holds all the data (the last level if none).
 * Returns false if v has no tables.
 */
bool compaction_picker_plan_full(version *v, const compaction_picker_options *o,
                                 compaction_plan *plan);

void compaction_plan_fini(compaction_plan *plan);

#endif
