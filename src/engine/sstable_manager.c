/*
 * The live SSTable set and its manifest. Design notes are in the header; the
 * crash-safety argument in short:
 *
 *   install (flush or compaction)        a crash here leaves
 *   1. write + fsync the new tables      old manifest; new files are orphans
 *   2. write MANIFEST.tmp, fsync          old manifest; orphans; a temp file
 *   3. rename over MANIFEST, fsync dir   new manifest naming complete files
 *   4. swap the in-memory version        (memory only)
 *   5. delete replaced tables            new manifest; replaced files orphans
 *
 * Orphans are deleted at the next open. If step 2 or 3 fails we cannot tell
 * whether the new manifest reached the disk, so the new files are not deleted
 * now: they are remembered and deleted after the next successful install,
 * which writes a manifest that does not name them.
 */
#include "sstable_manager.h"

#include "compaction.h"
#include "compaction_picker.h"
#include "compaction_scheduler.h"
#include "file.h"
#include "filename.h"
#include "manifest.h"
#include "status.h"
#include "table_info.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sstable_manager {
    char *dir;
    table_cache *tables;
    sstable_builder_options builder;
    compaction_picker_options picker;
    compaction_scheduler *scheduler; /* NULL without auto_compaction */
    const logger *log;
    atomic_uint_fast64_t next_file_number;
    atomic_bool stopping;

    pthread_mutex_t compaction_mutex; /* one compaction at a time; guards compact_pointer */
    buffer compact_pointer[LSMKV_MAX_LEVELS];
    pthread_mutex_t install_mutex; /* serialises manifest writes */
    uint64_t *garbage;             /* install_mutex: files to delete after the next install */
    size_t garbage_count;

    pthread_mutex_t mutex; /* guards everything below */
    version *current;
    uint64_t log_number;
    uint64_t last_sequence;
    uint64_t flush_bytes_written;
    uint64_t compactions;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    lsmkv_level_stats level_counters[LSMKV_MAX_LEVELS]; /* compaction fields only */
};

/* ---- open: manifest, tables, garbage --------------------------------------- */

/* A directory with data files but no manifest is damaged, not new. */
static int
check_no_data_files(const char *dir, lsmkv_error *err)
{
    /* Initialised: file_list_dir leaves them unset when listing fails. */
    char **names = NULL;
    size_t count = 0;
    int rc = file_list_dir(dir, &names, &count, err);
    for (size_t i = 0; rc == LSMKV_OK && i < count; i++) {
        uint64_t number;
        file_kind kind = filename_parse(names[i], &number);
        if (kind == FILE_KIND_TABLE || kind == FILE_KIND_WAL) {
            rc = status_set(err, LSMKV_CORRUPTION,
                            "%s/%s exists but %s/" FILENAME_MANIFEST
                            " is missing: refusing to start an empty store over existing data",
                            dir, names[i], dir);
        }
    }
    file_list_free(names, count);
    return rc;
}

static int
load_or_create_manifest(const sstable_manager_options *o, manifest_state *state, lsmkv_error *err)
{
    int rc = manifest_read(o->dir, state, err);
    if (rc == LSMKV_OK && o->error_if_exists) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "%s: a store already exists", o->dir);
    }
    if (rc != LSMKV_NOT_FOUND) {
        return rc;
    }
    rc = check_no_data_files(o->dir, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    if (!o->create_if_missing) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "%s: no store here (create_if_missing is off)", o->dir);
    }
    state->next_file_number = 1;
    rc = manifest_write(o->dir, state, err);
    if (rc == LSMKV_OK) {
        log_info(o->log, "created a new store in %s", o->dir);
    }
    return rc;
}

static int
open_tables(sstable_manager *sm, const manifest_state *state, lsmkv_error *err)
{
    table **tables = xcalloc(state->table_count + 1, sizeof(*tables));
    int rc = LSMKV_OK;
    size_t opened = 0;
    for (; opened < state->table_count; opened++) {
        rc = table_open(sm->tables, &state->tables[opened], &tables[opened], err);
        if (rc != LSMKV_OK) {
            /* A table the manifest names but the disk lacks is damage, not a
             * passing I/O error (the header's contract): say so. */
            char path[FILENAME_PATH_MAX];
            filename_table(path, sm->dir, state->tables[opened].id);
            if (!file_exists(path)) {
                rc = status_set(err, LSMKV_CORRUPTION,
                                "%s/" FILENAME_MANIFEST " names %s, which is missing", sm->dir,
                                path);
            }
            break;
        }
    }
    if (rc == LSMKV_OK) {
        sm->current = version_new(tables, opened);
    }
    for (size_t i = 0; i < opened; i++) {
        table_unref(tables[i]);
    }
    free(tables);
    return rc;
}

static bool
manifest_names_table(const manifest_state *state, uint64_t number)
{
    for (size_t i = 0; i < state->table_count; i++) {
        if (state->tables[i].id == number) {
            return true;
        }
    }
    return false;
}

/* Deletes orphan tables and temp files left by an interrupted operation. */
static void
delete_garbage(sstable_manager *sm, const manifest_state *state)
{
    char **names;
    size_t count;
    if (file_list_dir(sm->dir, &names, &count, NULL) != LSMKV_OK) {
        return;
    }
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < count; i++) {
        uint64_t number;
        file_kind kind = filename_parse(names[i], &number);
        bool orphan = kind == FILE_KIND_TEMP ||
                      (kind == FILE_KIND_TABLE && !manifest_names_table(state, number));
        if (orphan) {
            filename_join(path, sm->dir, names[i]);
            log_info(sm->log, "removing %s, left over from an interrupted operation", path);
            file_remove(path, NULL);
        }
    }
    file_list_free(names, count);
}

static int start_compaction_scheduler(sstable_manager *sm, const sstable_manager_options *o,
                                      lsmkv_error *err);

static sstable_manager *
sstable_manager_alloc(const sstable_manager_options *o)
{
    sstable_manager *sm = xcalloc(1, sizeof(*sm));
    sm->dir = xstrdup(o->dir);
    sm->tables = table_cache_new(o->dir, o->blocks,
                                 o->max_open_files > 0 ? o->max_open_files : 1000, o->mmap_reads);
    sm->builder = o->builder;
    sm->picker = (compaction_picker_options){
        .level0_trigger = o->level0_compaction_trigger > 0 ? o->level0_compaction_trigger : 4,
        .level1_target_bytes = o->level1_target_bytes > 0 ? o->level1_target_bytes : 16u << 20,
        .size_ratio = o->level_size_ratio > 1 ? o->level_size_ratio : 10,
        .max_file_bytes = o->target_file_bytes,
    };
    sm->log = o->log;
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        buffer_init(&sm->compact_pointer[level]);
    }
    pthread_mutex_init(&sm->compaction_mutex, NULL);
    pthread_mutex_init(&sm->install_mutex, NULL);
    pthread_mutex_init(&sm->mutex, NULL);
    return sm;
}

int
sstable_manager_open(const sstable_manager_options *options, sstable_manager **out,
                     lsmkv_error *err)
{
    manifest_state state;
    manifest_state_init(&state);
    int rc = load_or_create_manifest(options, &state, err);
    if (rc != LSMKV_OK) {
        manifest_state_fini(&state);
        return rc;
    }
    sstable_manager *sm = sstable_manager_alloc(options);
    atomic_init(&sm->next_file_number, state.next_file_number);
    sm->log_number = state.log_number;
    sm->last_sequence = state.last_sequence;
    rc = open_tables(sm, &state, err);
    if (rc == LSMKV_OK) {
        delete_garbage(sm, &state);
        rc = start_compaction_scheduler(sm, options, err);
    }
    if (rc == LSMKV_OK) {
        *out = sm;
    } else {
        sstable_manager_close(sm);
    }
    manifest_state_fini(&state);
    return rc;
}

void
sstable_manager_close(sstable_manager *sm)
{
    if (sm == NULL) {
        return;
    }
    atomic_store(&sm->stopping, true); /* abandons a compaction under way */
    compaction_scheduler_stop(sm->scheduler);
    version_unref(sm->current); /* the last references: every table closes */
    table_cache_free(sm->tables);
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        buffer_fini(&sm->compact_pointer[level]);
    }
    pthread_mutex_destroy(&sm->compaction_mutex);
    pthread_mutex_destroy(&sm->install_mutex);
    pthread_mutex_destroy(&sm->mutex);
    free(sm->garbage);
    free(sm->dir);
    free(sm);
}

/* ---- simple queries ---------------------------------------------------------- */

uint64_t
sstable_manager_log_number(sstable_manager *sm)
{
    pthread_mutex_lock(&sm->mutex);
    uint64_t n = sm->log_number;
    pthread_mutex_unlock(&sm->mutex);
    return n;
}

uint64_t
sstable_manager_last_sequence(sstable_manager *sm)
{
    pthread_mutex_lock(&sm->mutex);
    uint64_t n = sm->last_sequence;
    pthread_mutex_unlock(&sm->mutex);
    return n;
}

uint64_t
sstable_manager_new_file_number(sstable_manager *sm)
{
    return atomic_fetch_add(&sm->next_file_number, 1);
}

void
sstable_manager_reserve_file_number(sstable_manager *sm, uint64_t number)
{
    uint_fast64_t current = atomic_load(&sm->next_file_number);
    while (current <= number &&
           !atomic_compare_exchange_weak(&sm->next_file_number, &current, number + 1)) {
    }
}

static uint64_t
new_file_number_callback(void *ctx)
{
    return sstable_manager_new_file_number(ctx);
}

version *
sstable_manager_current(sstable_manager *sm)
{
    pthread_mutex_lock(&sm->mutex);
    version *v = sm->current;
    version_ref(v);
    pthread_mutex_unlock(&sm->mutex);
    return v;
}

int
sstable_manager_get(sstable_manager *sm, slice user_key, uint64_t snapshot, lookup_result *result,
                    lsmkv_error *err)
{
    version *v = sstable_manager_current(sm);
    int rc = version_get(v, user_key, snapshot, result, err);
    version_unref(v);
    return rc;
}

iterator *
sstable_manager_iterator_new(sstable_manager *sm)
{
    version *v = sstable_manager_current(sm);
    iterator *it = version_iterator_new(v);
    version_unref(v);
    return it;
}

/* ---- install: one manifest write per change of the table set --------------- */

static bool
tables_contain(table *const *tables, size_t count, const table *t)
{
    for (size_t i = 0; i < count; i++) {
        if (tables[i] == t) {
            return true;
        }
    }
    return false;
}

/* cur's tables minus `removed`, plus `added`. */
static size_t
collect_tables(version *cur, table *const *removed, size_t removed_count, table **added,
               size_t added_count, table ***out)
{
    size_t n = 0, cap = version_table_count(cur) + added_count + 1;
    table **tables = xcalloc(cap, sizeof(*tables));
    for (size_t i = 0; i < version_table_count(cur); i++) {
        if (!tables_contain(removed, removed_count, version_table(cur, i))) {
            tables[n++] = version_table(cur, i);
        }
    }
    for (size_t i = 0; i < added_count; i++) {
        tables[n++] = added[i];
    }
    *out = tables;
    return n;
}

static int
write_manifest(sstable_manager *sm, table **tables, size_t count, uint64_t log_number,
               uint64_t last_sequence, lsmkv_error *err)
{
    manifest_state state = {
        .next_file_number = atomic_load(&sm->next_file_number),
        .last_sequence = last_sequence,
        .log_number = log_number,
        .table_count = count,
        .tables = xcalloc(count + 1, sizeof(lsmkv_table_info)),
    };
    for (size_t i = 0; i < count; i++) {
        state.tables[i] = *table_info(tables[i]); /* borrowed keys: not finalised */
    }
    int rc = manifest_write(sm->dir, &state, err);
    free(state.tables);
    return rc;
}

static void
remember_garbage(sstable_manager *sm, const lsmkv_table_list *outputs)
{
    sm->garbage =
        xrealloc(sm->garbage, (sm->garbage_count + outputs->count + 1) * sizeof(*sm->garbage));
    for (size_t i = 0; i < outputs->count; i++) {
        sm->garbage[sm->garbage_count++] = outputs->tables[i].id;
    }
}

static void
delete_remembered_garbage(sstable_manager *sm)
{
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < sm->garbage_count; i++) {
        filename_table(path, sm->dir, sm->garbage[i]);
        file_remove(path, NULL);
    }
    sm->garbage_count = 0;
}

/* Swaps in the new table set; returns the old version for the caller to release. */
static version *
swap_version(sstable_manager *sm, table **tables, size_t count, uint64_t log_number,
             uint64_t last_sequence)
{
    version *next = version_new(tables, count);
    pthread_mutex_lock(&sm->mutex);
    version *old = sm->current;
    sm->current = next;
    sm->log_number = log_number;
    sm->last_sequence = last_sequence;
    pthread_mutex_unlock(&sm->mutex);
    compaction_scheduler_notify(sm->scheduler); /* a compaction may be due, a stall over */
    return old;
}

/*
 * Replaces `removed` with `added` in the table set and records the WAL state,
 * in one manifest write (see the top of this file). `outputs` are the files
 * behind `added`: if the write fails they are remembered as garbage.
 */
static int
install(sstable_manager *sm, table *const *removed, size_t removed_count, table **added,
        const lsmkv_table_list *outputs, bool outputs_are_new, uint64_t log_number,
        uint64_t last_sequence, lsmkv_error *err)
{
    pthread_mutex_lock(&sm->install_mutex);
    version *cur = sstable_manager_current(sm);
    pthread_mutex_lock(&sm->mutex);
    log_number = log_number > sm->log_number ? log_number : sm->log_number;
    last_sequence = last_sequence > sm->last_sequence ? last_sequence : sm->last_sequence;
    pthread_mutex_unlock(&sm->mutex);

    table **tables;
    size_t count = collect_tables(cur, removed, removed_count, added, outputs->count, &tables);
    int rc = write_manifest(sm, tables, count, log_number, last_sequence, err);
    if (rc == LSMKV_OK) {
        version_unref(swap_version(sm, tables, count, log_number, last_sequence));
        delete_remembered_garbage(sm);
    } else if (outputs_are_new) {
        remember_garbage(sm, outputs);
    }
    free(tables);
    version_unref(cur);
    pthread_mutex_unlock(&sm->install_mutex);
    return rc;
}

static void
remove_table_files(sstable_manager *sm, const lsmkv_table_list *list)
{
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < list->count; i++) {
        filename_table(path, sm->dir, list->tables[i].id);
        file_remove(path, NULL);
    }
}

/*
 * Opens the tables `outputs` describes, installs them in place of `removed`,
 * and releases the opening references. New files that could not be opened
 * are removed; a moved table's file (outputs_are_new false) is never removed.
 */
static int
open_and_install(sstable_manager *sm, table *const *removed, size_t removed_count,
                 const lsmkv_table_list *outputs, bool outputs_are_new, uint64_t log_number,
                 uint64_t last_sequence, lsmkv_error *err)
{
    table **added = xcalloc(outputs->count + 1, sizeof(*added));
    size_t opened = 0;
    int rc = LSMKV_OK;
    while (rc == LSMKV_OK && opened < outputs->count) {
        rc = table_open(sm->tables, &outputs->tables[opened], &added[opened], err);
        opened += rc == LSMKV_OK;
    }
    if (rc == LSMKV_OK) {
        rc = install(sm, removed, removed_count, added, outputs, outputs_are_new, log_number,
                     last_sequence, err);
    } else if (outputs_are_new) {
        remove_table_files(sm, outputs);
    }
    for (size_t i = 0; i < opened; i++) {
        table_unref(added[i]);
    }
    free(added);
    return rc;
}

/* ---- flush ------------------------------------------------------------------- */

int
sstable_manager_add_sstable(sstable_manager *sm, iterator *entries, uint64_t log_number,
                            uint64_t last_sequence, lsmkv_table_list *written, lsmkv_error *err)
{
    compaction_options options = {
        .dir = sm->dir,
        .builder = sm->builder,
        .target_file_bytes = 0, /* a memtable becomes one table */
        .smallest_snapshot = SEQUENCE_MAX,
        .drop_tombstones = false, /* older data lives in other tables */
        .output_level = 0,
        .new_file_number = new_file_number_callback,
        .ctx = sm,
    };
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    int rc = compaction_write(entries, &options, &outputs, &stats, err);
    if (rc == LSMKV_OK) {
        rc = open_and_install(sm, NULL, 0, &outputs, true, log_number, last_sequence, err);
    }
    if (rc == LSMKV_OK) {
        pthread_mutex_lock(&sm->mutex);
        sm->flush_bytes_written += stats.bytes_written;
        pthread_mutex_unlock(&sm->mutex);
        for (size_t i = 0; written != NULL && i < outputs.count; i++) {
            table_list_append(written, &outputs.tables[i]);
        }
    }
    lsmkv_table_list_fini(&outputs);
    return rc;
}

/* ---- compaction -------------------------------------------------------------- */

static bool
compaction_cancelled(void *ctx)
{
    return atomic_load(&((sstable_manager *)ctx)->stopping);
}

static uint64_t
tables_bytes(table *const *tables, size_t count)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        bytes += table_info(tables[i])->size_bytes;
    }
    return bytes;
}

/* The plan's outputs: new files, or for a trivial move the input, one level down. */
static int
plan_outputs(sstable_manager *sm, const compaction_plan *plan, lsmkv_table_list *outputs,
             compaction_stats *stats, lsmkv_error *err)
{
    if (plan->trivial_move) {
        table_list_append(outputs, table_info(plan->inputs[0]));
        outputs->tables[0].level = (uint32_t)plan->output_level;
        return LSMKV_OK;
    }
    compaction_run_options options = {
        .dir = sm->dir,
        .builder = sm->builder,
        .picker = &sm->picker,
        .new_file_number = new_file_number_callback,
        .cancelled = compaction_cancelled,
        .ctx = sm,
        /* Halves of at least one output file each. */
        .split_min_bytes = 2 * compaction_picker_file_bytes(&sm->picker, plan->output_level),
    };
    return compaction_run_plan(plan, &options, outputs, stats, err);
}

static void
count_compaction(sstable_manager *sm, const compaction_plan *plan, uint64_t input_bytes,
                 uint64_t output_bytes)
{
    lsmkv_level_stats *level = &sm->level_counters[plan->output_level];
    pthread_mutex_lock(&sm->mutex);
    level->compactions++;
    sm->compactions++; /* a trivial move counts too, as in LevelDB */
    if (plan->trivial_move) {
        level->bytes_moved += input_bytes;
    } else {
        level->bytes_read += input_bytes;
        level->bytes_written += output_bytes;
        sm->compaction_bytes_read += input_bytes;
        sm->compaction_bytes_written += output_bytes;
    }
    pthread_mutex_unlock(&sm->mutex);
}

/*
 * Runs one plan: outputs first, one manifest install, inputs deleted last.
 * result (may be NULL) receives what was done. Caller holds compaction_mutex.
 */
static int
execute_plan(sstable_manager *sm, const compaction_plan *plan, lsmkv_compaction_result *result,
             lsmkv_error *err)
{
    lsmkv_table_list outputs = {0};
    compaction_stats stats = {0};
    int rc = plan_outputs(sm, plan, &outputs, &stats, err);
    if (rc == LSMKV_OK) {
        rc = open_and_install(sm, plan->inputs, plan->input_count, &outputs, !plan->trivial_move, 0,
                              0, err);
    }
    if (rc != LSMKV_OK) {
        lsmkv_table_list_fini(&outputs);
        return rc;
    }
    uint64_t input_bytes = tables_bytes(plan->inputs, plan->input_count);
    if (!plan->trivial_move) {
        char path[FILENAME_PATH_MAX];
        for (size_t i = 0; i < plan->input_count; i++) {
            filename_table(path, sm->dir, table_info(plan->inputs[i])->id);
            file_remove(path, NULL); /* readers holding an old version keep it open */
        }
    }
    count_compaction(sm, plan, input_bytes, stats.bytes_written);
    log_info(sm->log,
             "compaction L%d->L%d: %zu tables (%" PRIu64 " bytes) -> %zu tables (%" PRIu64
             " bytes)%s",
             plan->full ? -1 : plan->level, plan->output_level, plan->input_count, input_bytes,
             outputs.count, plan->trivial_move ? input_bytes : stats.bytes_written,
             plan->trivial_move ? ", moved" : "");
    if (result != NULL) {
        result->input_tables = (uint32_t)plan->input_count;
        result->input_bytes = input_bytes;
        result->output_bytes = stats.bytes_written;
        result->dropped_entries = stats.entries_in - stats.entries_out;
        result->outputs = outputs;
    } else {
        lsmkv_table_list_fini(&outputs);
    }
    return LSMKV_OK;
}

int
sstable_manager_compact(sstable_manager *sm, lsmkv_compaction_result *result, lsmkv_error *err)
{
    lsmkv_compaction_result local = {0};
    pthread_mutex_lock(&sm->compaction_mutex);
    version *v = sstable_manager_current(sm);
    compaction_plan plan;
    int rc = LSMKV_OK;
    if (compaction_picker_plan_full(v, &sm->picker, &plan)) {
        rc = execute_plan(sm, &plan, &local, err);
        compaction_plan_fini(&plan);
    }
    version_unref(v);
    pthread_mutex_unlock(&sm->compaction_mutex);
    if (rc == LSMKV_OK && result != NULL) {
        *result = local;
    } else {
        lsmkv_compaction_result_fini(&local);
    }
    return rc;
}

/* One background compaction if one is due; *did_work says whether it ran. */
static int
compact_once(sstable_manager *sm, bool *did_work, lsmkv_error *err)
{
    pthread_mutex_lock(&sm->compaction_mutex);
    version *v = sstable_manager_current(sm);
    compaction_plan plan;
    int rc = LSMKV_OK;
    *did_work = compaction_picker_pick(v, &sm->picker, sm->compact_pointer, &plan);
    if (*did_work) {
        rc = execute_plan(sm, &plan, NULL, err);
        compaction_plan_fini(&plan);
    }
    version_unref(v);
    pthread_mutex_unlock(&sm->compaction_mutex);
    return rc;
}

static int
compact_once_callback(void *ctx, bool *did_work, lsmkv_error *err)
{
    return compact_once(ctx, did_work, err);
}

static bool
compaction_due_callback(void *ctx)
{
    sstable_manager *sm = ctx;
    version *v = sstable_manager_current(sm);
    int level;
    bool due = compaction_picker_score(v, &sm->picker, &level) >= 1.0;
    version_unref(v);
    return due;
}

static size_t
level0_tables_callback(void *ctx)
{
    version *v = sstable_manager_current(ctx);
    size_t n = version_level_count(v, 0);
    version_unref(v);
    return n;
}

static int
start_compaction_scheduler(sstable_manager *sm, const sstable_manager_options *o, lsmkv_error *err)
{
    if (!o->auto_compaction) {
        return LSMKV_OK;
    }
    compaction_scheduler_options so = {
        .compact_once = compact_once_callback,
        .compaction_due = compaction_due_callback,
        .level0_tables = level0_tables_callback,
        .ctx = sm,
        .level0_slowdown_trigger = o->level0_slowdown_trigger,
        .level0_stop_trigger = o->level0_stop_trigger,
        .log = o->log,
    };
    return compaction_scheduler_start(&so, &sm->scheduler, err);
}

int
sstable_manager_throttle(sstable_manager *sm, const struct timespec *deadline, lsmkv_error *err)
{
    return compaction_scheduler_throttle(sm->scheduler, deadline, err);
}

bool
sstable_manager_would_throttle(sstable_manager *sm)
{
    return compaction_scheduler_would_throttle(sm->scheduler);
}

/* ---- statistics -------------------------------------------------------------- */

void
sstable_manager_stats(sstable_manager *sm, lsmkv_stats *stats)
{
    version *v = sstable_manager_current(sm);
    stats->sstables = version_table_count(v);
    stats->sstable_bytes = 0;
    stats->pending_compaction_bytes = compaction_picker_pending_bytes(v, &sm->picker);
    pthread_mutex_lock(&sm->mutex);
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        lsmkv_level_stats *out = &stats->levels[level];
        *out = sm->level_counters[level];
        out->tables = version_level_count(v, level);
        out->bytes = version_level_bytes(v, level);
        out->target_bytes = compaction_picker_current_target(v, &sm->picker, level);
        stats->sstable_bytes += out->bytes;
    }
    stats->open_tables = table_cache_open_count(sm->tables);
    stats->flush_bytes_written = sm->flush_bytes_written;
    stats->compactions = sm->compactions;
    stats->compaction_bytes_read = sm->compaction_bytes_read;
    stats->compaction_bytes_written = sm->compaction_bytes_written;
    pthread_mutex_unlock(&sm->mutex);
    compaction_scheduler_stats(sm->scheduler, stats);
    version_unref(v);
}
