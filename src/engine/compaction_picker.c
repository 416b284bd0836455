#include "compaction_picker.h"

#include "table_info.h"

#include <stdlib.h>
#include <string.h>

/* A trivial move must not leave more than this many file sizes of overlap with
 * the level after next, or the next compaction of that table gets huge. */
#define MAX_GRANDPARENT_OVERLAP_FILES 10

uint64_t
compaction_picker_level_target(const compaction_picker_options *o, int level)
{
    if (level <= 0 || level >= LSMKV_MAX_LEVELS - 1) {
        return 0;
    }
    /* Saturates: the largest accepted options (1 TiB, ratio 1000) overflow by
     * level 4, and a wrapped target would make a deep level look overfull. */
    uint64_t target = o->level1_target_bytes;
    for (int l = 1; l < level; l++) {
        uint64_t ratio = (uint64_t)o->size_ratio;
        target = target > UINT64_MAX / ratio ? UINT64_MAX : target * ratio;
    }
    return target;
}

/*
 * Every level's tables have the same size, an eighth of level 1's target
 * (2 MiB by default), as LevelDB's and RocksDB's defaults do. Larger tables
 * deeper down would make each compaction from the level above rewrite a
 * whole large table for a small table's worth of new keys.
 */
uint64_t
compaction_picker_file_bytes(const compaction_picker_options *o, int level)
{
    (void)level;
    uint64_t bytes = o->level1_target_bytes / 8;
    if (bytes < (2u << 20)) {
        bytes = 2u << 20;
    }
    return bytes < o->max_file_bytes ? bytes : o->max_file_bytes;
}

/*
 * An upper level is held to no more than its share of the deepest level:
 * 1/size_ratio for the level right above it, 1/ratio^2 for the next, and
 * so on. Stale versions live only in the levels above the one holding a key's
 * newest merged version, so this keeps space amplification near 1 + 1/ratio
 * whatever the size of the data (RocksDB's "dynamic level bytes" have the same
 * aim). The level's own target stays the upper bound, and a floor of
 * level1_target_bytes / ratio keeps upper levels from shrinking to nothing.
 */
uint64_t
compaction_picker_current_target(const version *v, const compaction_picker_options *o, int level)
{
    uint64_t target = compaction_picker_level_target(o, level);
    int bottom = LSMKV_MAX_LEVELS - 1;
    while (bottom > 1 && version_level_count(v, bottom) == 0) {
        bottom--;
    }
    if (target == 0 || level >= bottom) {
        return target;
    }
    uint64_t share = version_level_bytes(v, bottom);
    for (int l = bottom; l > level; l--) {
        share /= (uint64_t)o->size_ratio;
    }
    uint64_t floor = o->level1_target_bytes / (uint64_t)o->size_ratio;
    share = share > floor ? share : floor;
    return share < target ? share : target;
}

double
compaction_picker_score(const version *v, const compaction_picker_options *o, int *level_out)
{
    double best = (double)version_level_count(v, 0) / (double)o->level0_trigger;
    *level_out = 0;
    for (int level = 1; level < LSMKV_MAX_LEVELS - 1; level++) {
        double score = (double)version_level_bytes(v, level) /
                       (double)compaction_picker_current_target(v, o, level);
        if (score > best) {
            best = score;
            *level_out = level;
        }
    }
    return best;
}

uint64_t
compaction_picker_pending_bytes(const version *v, const compaction_picker_options *o)
{
    uint64_t pending = 0;
    if (version_level_count(v, 0) >= (size_t)o->level0_trigger) {
        pending += version_level_bytes(v, 0);
    }
    for (int level = 1; level < LSMKV_MAX_LEVELS - 1; level++) {
        uint64_t bytes = version_level_bytes(v, level);
        uint64_t target = compaction_picker_current_target(v, o, level);
        pending += bytes > target ? bytes - target : 0;
    }
    return pending;
}

/* ---- building a plan --------------------------------------------------------- */

static void
plan_add(compaction_plan *plan, table *t)
{
    plan->inputs = xrealloc(plan->inputs, (plan->input_count + 1) * sizeof(*plan->inputs));
    plan->inputs[plan->input_count++] = t;
}

static bool
plan_contains(const compaction_plan *plan, const table *t)
{
    for (size_t i = 0; i < plan->input_count; i++) {
        if (plan->inputs[i] == t) {
            return true;
        }
    }
    return false;
}

/* The key range [*min, *max] covered by inputs [from, to). */
static void
plan_range(const compaction_plan *plan, size_t from, size_t to, slice *min, slice *max)
{
    for (size_t i = from; i < to; i++) {
        const lsmkv_table_info *info = table_info(plan->inputs[i]);
        if (i == from || slice_compare(table_info_min_key(info), *min) < 0) {
            *min = table_info_min_key(info);
        }
        if (i == from || slice_compare(table_info_max_key(info), *max) > 0) {
            *max = table_info_max_key(info);
        }
    }
}

/* The oldest level-0 table and, transitively, every level-0 table overlapping. */
static void
pick_level0(const version *v, compaction_plan *plan)
{
    size_t count = version_level_count(v, 0);
    plan_add(plan, version_level_table(v, 0, count - 1)); /* search order: newest first */
    bool grew = true;
    while (grew) {
        grew = false;
        slice min, max;
        plan_range(plan, 0, plan->input_count, &min, &max);
        table **overlap = NULL;
        size_t n = 0;
        version_overlapping(v, 0, min, max, &overlap, &n);
        for (size_t i = 0; i < n; i++) {
            if (!plan_contains(plan, overlap[i])) {
                plan_add(plan, overlap[i]);
                grew = true;
            }
        }
        free(overlap);
    }
}

/* The first table of level reaching past the compact pointer, wrapping around. */
static void
pick_round_robin(const version *v, int level, const buffer *pointer, compaction_plan *plan)
{
    size_t count = version_level_count(v, level);
    table *chosen = version_level_table(v, level, 0);
    for (size_t i = 0; pointer->len > 0 && i < count; i++) {
        table *t = version_level_table(v, level, i);
        if (slice_compare(table_info_max_key(table_info(t)), buffer_slice(pointer)) > 0) {
            chosen = t;
            break;
        }
    }
    plan_add(plan, chosen);
}

static uint64_t
tables_bytes(table **tables, size_t count)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        bytes += table_info(tables[i])->size_bytes;
    }
    return bytes;
}

/* Adds the output level's overlapping tables and finds the grandparents. */
static void
plan_complete(const version *v, const compaction_picker_options *o, compaction_plan *plan)
{
    slice min, max;
    plan->level_inputs = plan->input_count;
    plan_range(plan, 0, plan->input_count, &min, &max);
    version_overlapping(v, plan->output_level, min, max, &plan->inputs, &plan->input_count);
    plan_range(plan, 0, plan->input_count, &min, &max);
    if (plan->output_level + 1 < LSMKV_MAX_LEVELS) {
        version_overlapping(v, plan->output_level + 1, min, max, &plan->grandparents,
                            &plan->grandparent_count);
    }
    plan->bottom = plan->grandparent_count == 0;
    for (int level = plan->output_level + 2; plan->bottom && level < LSMKV_MAX_LEVELS; level++) {
        table **deeper = NULL;
        size_t n = 0;
        version_overlapping(v, level, min, max, &deeper, &n);
        plan->bottom = n == 0;
        free(deeper);
    }
    plan->trivial_move =
        plan->input_count == 1 &&
        tables_bytes(plan->grandparents, plan->grandparent_count) <=
            MAX_GRANDPARENT_OVERLAP_FILES * compaction_picker_file_bytes(o, plan->output_level);
}

static void
plan_init(compaction_plan *plan, version *v, int level, int output_level)
{
    memset(plan, 0, sizeof(*plan));
    version_ref(v);
    plan->base = v;
    plan->level = level;
    plan->output_level = output_level;
}

bool
compaction_picker_pick(version *v, const compaction_picker_options *o, buffer *compact_pointer,
                       compaction_plan *plan)
{
    int level;
    if (compaction_picker_score(v, o, &level) < 1.0) {
        return false;
    }
    plan_init(plan, v, level, level + 1);
    if (level == 0) {
        pick_level0(v, plan);
    } else {
        pick_round_robin(v, level, &compact_pointer[level], plan);
        slice max = table_info_max_key(table_info(plan->inputs[0]));
        buffer_set(&compact_pointer[level], max.data, max.len);
    }
    plan_complete(v, o, plan);
    return true;
}

bool
compaction_picker_plan_full(version *v, const compaction_picker_options *o, compaction_plan *plan)
{
    size_t count = version_table_count(v);
    if (count == 0) {
        return false;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        total += table_info(version_table(v, i))->size_bytes;
    }
    int output = 1;
    while (output < LSMKV_MAX_LEVELS - 1 && compaction_picker_level_target(o, output) < total) {
        output++;
    }
    plan_init(plan, v, output, output);
    for (size_t i = 0; i < count; i++) {
        plan_add(plan, version_table(v, i));
    }
    plan->level_inputs = count;
    plan->full = true;
    plan->bottom = true; /* nothing is left out, so nothing lies below */
    return true;
}

void
compaction_plan_fini(compaction_plan *plan)
{
    version_unref(plan->base);
    free(plan->inputs);
    free(plan->grandparents);
    memset(plan, 0, sizeof(*plan));
}
