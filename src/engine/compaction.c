#include "compaction.h"

#include "file.h"
#include "filename.h"
#include "internal_key.h"
#include "merge_iter.h"
#include "status.h"
#include "table_info.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The state of one compaction_write call. */
typedef struct compaction {
    const compaction_options *options;
    lsmkv_table_list *outputs;
    size_t first_output; /* outputs written by this call start here */
    sstable_builder *builder;
    uint64_t builder_number;
    buffer current_key; /* user key of the previous entry */
    buffer zeroed_key;  /* the entry's internal key at sequence 0 (zero_sequences) */
    bool has_current_key;
    uint64_t last_sequence_for_key; /* sequence of the previous version of current_key */
    size_t grandparent_index;       /* first grandparent not yet passed */
    uint64_t grandparent_overlap;   /* bytes of grandparents the current output spans */
    bool seen_key;
    compaction_stats stats;
} compaction;

/* The dropping rule described in compaction.h. */
static bool
compaction_should_drop(compaction *c, const parsed_internal_key *key)
{
    bool drop = false;
    if (c->last_sequence_for_key <= c->options->smallest_snapshot) {
        drop = true; /* shadowed by a newer version every reader sees */
    } else if (key->type == VALUE_TYPE_DELETION && c->options->drop_tombstones &&
               key->sequence <= c->options->smallest_snapshot &&
               (c->options->key_exists_below == NULL ||
                !c->options->key_exists_below(c->options->ctx, key->user_key))) {
        drop = true; /* nothing older can exist below, and every reader sees it */
    }
    c->last_sequence_for_key = key->sequence;
    return drop;
}

static int
compaction_open_output(compaction *c, lsmkv_error *err)
{
    const compaction_options *o = c->options;
    char path[FILENAME_PATH_MAX];
    c->builder_number = o->new_file_number(o->ctx);
    filename_table(path, o->dir, c->builder_number);
    return sstable_builder_open(path, &o->builder, &c->builder, err);
}

static int
compaction_finish_output(compaction *c, lsmkv_error *err)
{
    sstable_properties props;
    sstable_properties_init(&props);
    int rc = sstable_builder_finish(c->builder, &props, err);
    c->builder = NULL;
    if (rc == LSMKV_OK) {
        lsmkv_table_info info = {
            .id = c->builder_number,
            .level = c->options->output_level,
            .size_bytes = props.file_size,
            .entries = props.entries,
            .tombstones = props.tombstones,
            .max_sequence = props.max_sequence,
        };
        table_info_set_keys(&info, buffer_slice(&props.min_key), buffer_slice(&props.max_key));
        table_list_append(c->outputs, &info);
        table_info_fini(&info);
        c->stats.bytes_written += props.file_size;
    }
    sstable_properties_fini(&props);
    return rc;
}

/*
 * Moves past the grandparents that end before user_key. Returns whether it
 * passed one after the first key of this call: user_key is then the first key
 * after a grandparent's end, where a cut ends an output on its boundary.
 * *exceeded says whether the output spans too much of the level below once
 * user_key is in.
 */
static bool
compaction_pass_grandparents(compaction *c, slice user_key, bool *exceeded)
{
    const compaction_options *o = c->options;
    bool passed = false;
    while (c->grandparent_index < o->grandparent_count &&
           slice_compare(user_key, table_info_max_key(o->grandparents[c->grandparent_index])) > 0) {
        if (c->seen_key) {
            c->grandparent_overlap += o->grandparents[c->grandparent_index]->size_bytes;
            passed = true;
        }
        c->grandparent_index++;
    }
    c->seen_key = true;
    *exceeded =
        o->max_grandparent_overlap > 0 && c->grandparent_overlap > o->max_grandparent_overlap;
    if (*exceeded) {
        c->grandparent_overlap = 0;
    }
    return passed;
}

/*
 * Before a new user key: cut the current output if it is big enough. Once it
 * holds half its target it is also cut where the key starts past the end of
 * a grandparent: the output then spans whole tables of the level below, so
 * compacting it down later rewrites no table it merely touches at an edge.
 * Cut only by size, an output's range ended inside a grandparent about every
 * time, and each compaction into that level rewrote one or two tables of it
 * more than the keys needed (a 1M fillrandom + overwrite wrote 8% more).
 */
static int
compaction_maybe_cut(compaction *c, bool new_user_key, slice user_key, lsmkv_error *err)
{
    if (!new_user_key) {
        return LSMKV_OK;
    }
    bool exceeded;
    bool boundary = compaction_pass_grandparents(c, user_key, &exceeded);
    uint64_t target = c->options->target_file_bytes;
    uint64_t size = c->builder != NULL ? sstable_builder_estimated_size(c->builder) : 0;
    bool cut = exceeded || (target > 0 && (size >= target || (boundary && size >= target / 2)));
    return cut && c->builder != NULL ? compaction_finish_output(c, err) : LSMKV_OK;
}

static int
compaction_add(compaction *c, slice internal_key, slice value, lsmkv_error *err)
{
    parsed_internal_key key;
    if (!internal_key_parse(internal_key, &key)) {
        return status_set(err, LSMKV_CORRUPTION, "compaction input has a malformed key");
    }
    c->stats.entries_in++;
    bool new_user_key =
        !c->has_current_key || !slice_equal(key.user_key, buffer_slice(&c->current_key));
    if (new_user_key) {
        buffer_set(&c->current_key, key.user_key.data, key.user_key.len);
        c->has_current_key = true;
        c->last_sequence_for_key = SEQUENCE_MAX + 1;
    }
    if (compaction_should_drop(c, &key)) {
        return LSMKV_OK;
    }
    int rc = compaction_maybe_cut(c, new_user_key, key.user_key, err);
    if (rc == LSMKV_OK && c->builder == NULL) {
        rc = compaction_open_output(c, err);
    }
    if (rc == LSMKV_OK && c->options->zero_sequences && key.type == VALUE_TYPE_VALUE) {
        buffer_clear(&c->zeroed_key);
        internal_key_append(&c->zeroed_key, key.user_key, 0, key.type);
        internal_key = buffer_slice(&c->zeroed_key);
    }
    if (rc == LSMKV_OK) {
        rc = sstable_builder_add(c->builder, internal_key, value, err);
    }
    c->stats.entries_out += (rc == LSMKV_OK);
    return rc;
}

/* Removes every file this call produced (finished or not). */
static void
compaction_cleanup(compaction *c)
{
    sstable_builder_abandon(c->builder);
    c->builder = NULL;
    char path[FILENAME_PATH_MAX];
    while (c->outputs->count > c->first_output) {
        lsmkv_table_info *info = &c->outputs->tables[--c->outputs->count];
        filename_table(path, c->options->dir, info->id);
        file_remove(path, NULL);
        table_info_fini(info);
    }
}

/* Positions input on its first entry whose user key is after *after (all: NULL). */
static void
compaction_seek_start(iterator *input, const slice *after)
{
    if (after == NULL) {
        iterator_seek_to_first(input);
        return;
    }
    buffer target;
    buffer_init(&target);
    internal_key_append(&target, *after, SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
    iterator_seek(input, buffer_slice(&target));
    buffer_fini(&target);
    while (iterator_valid(input) &&
           slice_equal(internal_key_user_key(iterator_key(input)), *after)) {
        iterator_next(input);
    }
}

static bool
compaction_past_end(iterator *input, const slice *upto)
{
    return upto != NULL && slice_compare(internal_key_user_key(iterator_key(input)), *upto) > 0;
}

int
compaction_write(iterator *input, const compaction_options *options, lsmkv_table_list *outputs,
                 compaction_stats *stats, lsmkv_error *err)
{
    compaction c = {.options = options, .outputs = outputs, .first_output = outputs->count};
    assert(!options->zero_sequences || options->smallest_snapshot == SEQUENCE_MAX);
    buffer_init(&c.current_key);
    buffer_init(&c.zeroed_key);
    int rc = LSMKV_OK;
    for (compaction_seek_start(input, options->after);
         rc == LSMKV_OK && iterator_valid(input) && !compaction_past_end(input, options->upto);
         iterator_next(input)) {
        rc = compaction_add(&c, iterator_key(input), iterator_value(input), err);
        if (rc == LSMKV_OK && options->cancelled != NULL && c.stats.entries_in % 1024 == 0 &&
            options->cancelled(options->ctx)) {
            rc = status_set(err, LSMKV_CLOSED, "compaction abandoned: the store is closing");
        }
    }
    if (rc == LSMKV_OK) {
        rc = iterator_status(input, err);
    }
    if (rc == LSMKV_OK && c.builder != NULL) {
        rc = compaction_finish_output(&c, err);
    }
    if (rc != LSMKV_OK) {
        compaction_cleanup(&c);
    }
    buffer_fini(&c.current_key);
    buffer_fini(&c.zeroed_key);
    if (stats != NULL) {
        *stats = c.stats;
    }
    return rc;
}

/* ---- running a picked plan ------------------------------------------------------ */

typedef struct plan_context {
    const compaction_plan *plan;
    const compaction_run_options *options;
} plan_context;

static uint64_t
plan_new_file_number(void *ctx)
{
    const plan_context *p = ctx;
    return p->options->new_file_number(p->options->ctx);
}

static bool
plan_cancelled(void *ctx)
{
    const plan_context *p = ctx;
    return p->options->cancelled != NULL && p->options->cancelled(p->options->ctx);
}

static bool
plan_key_exists_below(void *ctx, slice user_key)
{
    const plan_context *p = ctx;
    return version_key_exists_below(p->plan->base, p->plan->output_level, user_key);
}

/* Input bytes of the plan's tables that lie at or below user key k, estimated:
 * a table that straddles k counts half. */
static uint64_t
bytes_upto(const compaction_plan *plan, slice k)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < plan->input_count; i++) {
        const lsmkv_table_info *t = table_info(plan->inputs[i]);
        if (slice_compare(table_info_max_key(t), k) <= 0) {
            bytes += t->size_bytes;
        } else if (slice_compare(table_info_min_key(t), k) <= 0) {
            bytes += t->size_bytes / 2;
        }
    }
    return bytes;
}

/*
 * The input tables' largest key that splits the plan's input nearest to two
 * equal halves (the first half takes user keys <= it), copied into split;
 * false if no table boundary splits it.
 */
static bool
choose_split_key(const compaction_plan *plan, uint64_t total, buffer *split)
{
    slice last = slice_make(NULL, 0);
    for (size_t i = 0; i < plan->input_count; i++) {
        slice max = table_info_max_key(table_info(plan->inputs[i]));
        if (last.data == NULL || slice_compare(max, last) > 0) {
            last = max;
        }
    }
    uint64_t best_distance = UINT64_MAX;
    for (size_t i = 0; i < plan->input_count; i++) {
        slice k = table_info_max_key(table_info(plan->inputs[i]));
        if (slice_compare(k, last) == 0) {
            continue; /* nothing would be left for the second half */
        }
        uint64_t below = bytes_upto(plan, k);
        uint64_t distance = below > total / 2 ? below - total / 2 : total / 2 - below;
        if (distance < best_distance) {
            best_distance = distance;
            buffer_set(split, k.data, k.len);
        }
    }
    return best_distance != UINT64_MAX;
}

/* One key range of a plan, merged by compaction_write (on its own thread). */
typedef struct plan_part {
    const compaction_plan *plan;
    compaction_options options;
    lsmkv_table_list outputs;
    compaction_stats stats;
    int rc;
    lsmkv_error err;
} plan_part;

static void *
plan_part_run(void *arg)
{
    plan_part *part = arg;
    const compaction_plan *plan = part->plan;
    iterator **children = xcalloc(plan->input_count + 1, sizeof(*children));
    for (size_t i = 0; i < plan->input_count; i++) {
        children[i] = table_iterator_new(plan->inputs[i], true);
    }
    iterator *merged = merge_iterator_new(children, plan->input_count);
    part->rc = compaction_write(merged, &part->options, &part->outputs, &part->stats, &part->err);
    iterator_free(merged);
    free(children);
    return NULL;
}

/* Removes the files of a part whose sibling failed. */
static void
plan_part_discard(plan_part *part)
{
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < part->outputs.count; i++) {
        filename_table(path, part->options.dir, part->outputs.tables[i].id);
        file_remove(path, NULL);
    }
}

/* Runs the parts (in key order) at once, the first on this thread. */
static void
plan_parts_run(plan_part *parts, size_t count)
{
    pthread_t threads[2];
    bool started[2] = {false, false};
    assert(count <= 2);
    for (size_t i = 1; i < count; i++) {
        /* Without a thread (resources short) the part runs here, after the first. */
        started[i] = pthread_create(&threads[i], NULL, plan_part_run, &parts[i]) == 0;
    }
    plan_part_run(&parts[0]);
    for (size_t i = 1; i < count; i++) {
        if (started[i]) {
            pthread_join(threads[i], NULL);
        } else {
            plan_part_run(&parts[i]);
        }
    }
}

/* Appends the parts' outputs in key order, or on any failure removes them all. */
static int
plan_parts_collect(plan_part *parts, size_t count, lsmkv_table_list *outputs,
                   compaction_stats *stats, lsmkv_error *err)
{
    int rc = LSMKV_OK;
    for (size_t i = 0; i < count && rc == LSMKV_OK; i++) {
        rc = parts[i].rc;
        if (rc != LSMKV_OK) {
            status_copy(err, &parts[i].err);
        }
    }
    compaction_stats sum = {0, 0, 0};
    for (size_t i = 0; i < count; i++) {
        if (rc != LSMKV_OK) {
            plan_part_discard(&parts[i]); /* a failed part removed its own already */
        } else {
            for (size_t j = 0; j < parts[i].outputs.count; j++) {
                table_list_append(outputs, &parts[i].outputs.tables[j]);
            }
        }
        sum.entries_in += parts[i].stats.entries_in;
        sum.entries_out += parts[i].stats.entries_out;
        sum.bytes_written += parts[i].stats.bytes_written;
        lsmkv_table_list_fini(&parts[i].outputs);
    }
    if (stats != NULL) {
        *stats = sum;
    }
    return rc;
}

int
compaction_run_plan(const compaction_plan *plan, const compaction_run_options *options,
                    lsmkv_table_list *outputs, compaction_stats *stats, lsmkv_error *err)
{
    plan_context ctx = {plan, options};
    const lsmkv_table_info **grandparents =
        xcalloc(plan->grandparent_count + 1, sizeof(*grandparents));
    for (size_t i = 0; i < plan->grandparent_count; i++) {
        grandparents[i] = table_info(plan->grandparents[i]);
    }
    uint64_t file_bytes = compaction_picker_file_bytes(options->picker, plan->output_level);
    compaction_options o = {
        .dir = options->dir,
        .builder = options->builder,
        .target_file_bytes = file_bytes,
        .smallest_snapshot = SEQUENCE_MAX,
        .drop_tombstones = true,
        .zero_sequences = plan->bottom,
        .output_level = (uint32_t)plan->output_level,
        .grandparents = grandparents,
        .grandparent_count = plan->grandparent_count,
        .max_grandparent_overlap = 10 * file_bytes,
        .new_file_number = plan_new_file_number,
        /* A full compaction has every table as input: nothing lies below. */
        .key_exists_below = plan->full ? NULL : plan_key_exists_below,
        .cancelled = plan_cancelled,
        .ctx = &ctx,
    };
    plan_part parts[2];
    memset(parts, 0, sizeof(parts));
    size_t count = 1;
    buffer split;
    buffer_init(&split);
    uint64_t total = 0;
    for (size_t i = 0; i < plan->input_count; i++) {
        total += table_info(plan->inputs[i])->size_bytes;
    }
    slice split_key = slice_make(NULL, 0);
    if (options->split_min_bytes > 0 && total >= options->split_min_bytes &&
        choose_split_key(plan, total, &split)) {
        split_key = buffer_slice(&split);
        count = 2;
    }
    for (size_t i = 0; i < count; i++) {
        parts[i].plan = plan;
        parts[i].options = o;
        parts[i].options.after = i == 1 ? &split_key : NULL;
        parts[i].options.upto = i == 0 && count == 2 ? &split_key : NULL;
    }
    plan_parts_run(parts, count);
    int rc = plan_parts_collect(parts, count, outputs, stats, err);
    buffer_fini(&split);
    free(grandparents);
    return rc;
}
