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
    sstable_builder_options builder;
    uint64_t target_file_bytes;
    const logger *log;
    atomic_uint_fast64_t next_file_number;

    pthread_mutex_t compaction_mutex; /* one compaction at a time */
    pthread_mutex_t install_mutex;    /* serialises manifest writes */
    uint64_t *garbage;                /* install_mutex: files to delete after the next install */
    size_t garbage_count;

    pthread_mutex_t mutex; /* guards everything below */
    version *current;
    uint64_t log_number;
    uint64_t last_sequence;
    uint64_t flush_bytes_written;
    uint64_t compactions;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
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
        rc = table_open(sm->dir, &state->tables[opened], &tables[opened], err);
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

static sstable_manager *
sstable_manager_alloc(const sstable_manager_options *o)
{
    sstable_manager *sm = xcalloc(1, sizeof(*sm));
    sm->dir = xstrdup(o->dir);
    sm->builder = o->builder;
    sm->target_file_bytes = o->target_file_bytes;
    sm->log = o->log;
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
    version_unref(sm->current);
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
version_contains(const version *v, const table *t)
{
    for (size_t i = 0; v != NULL && i < version_table_count(v); i++) {
        if (version_table(v, i) == t) {
            return true;
        }
    }
    return false;
}

/* cur's tables minus those in `removed`, plus `added`. */
static size_t
collect_tables(version *cur, const version *removed, table **added, size_t added_count,
               table ***out)
{
    size_t n = 0, cap = version_table_count(cur) + added_count + 1;
    table **tables = xcalloc(cap, sizeof(*tables));
    for (size_t i = 0; i < version_table_count(cur); i++) {
        if (!version_contains(removed, version_table(cur, i))) {
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
    return old;
}

/*
 * Replaces the tables of `removed` (may be NULL) with `added` and records the
 * WAL state, in one manifest write (see the top of this file).
 */
static int
install(sstable_manager *sm, const version *removed, table **added, const lsmkv_table_list *outputs,
        uint64_t log_number, uint64_t last_sequence, lsmkv_error *err)
{
    pthread_mutex_lock(&sm->install_mutex);
    version *cur = sstable_manager_current(sm);
    pthread_mutex_lock(&sm->mutex);
    log_number = log_number > sm->log_number ? log_number : sm->log_number;
    last_sequence = last_sequence > sm->last_sequence ? last_sequence : sm->last_sequence;
    pthread_mutex_unlock(&sm->mutex);

    table **tables;
    size_t count = collect_tables(cur, removed, added, outputs->count, &tables);
    int rc = write_manifest(sm, tables, count, log_number, last_sequence, err);
    if (rc == LSMKV_OK) {
        version_unref(swap_version(sm, tables, count, log_number, last_sequence));
        delete_remembered_garbage(sm);
    } else {
        remember_garbage(sm, outputs);
    }
    free(tables);
    version_unref(cur);
    pthread_mutex_unlock(&sm->install_mutex);
    return rc;
}

/* Opens the output tables, installs them, and releases the opening references. */
static int
open_and_install(sstable_manager *sm, const version *removed, const lsmkv_table_list *outputs,
                 uint64_t log_number, uint64_t last_sequence, lsmkv_error *err)
{
    table **added = xcalloc(outputs->count + 1, sizeof(*added));
    size_t opened = 0;
    int rc = LSMKV_OK;
    for (; opened < outputs->count && rc == LSMKV_OK; opened++) {
        rc = table_open(sm->dir, &outputs->tables[opened], &added[opened], err);
    }
    if (rc == LSMKV_OK) {
        rc = install(sm, removed, added, outputs, log_number, last_sequence, err);
    } else {
        opened--; /* the failed open produced no table */
        char path[FILENAME_PATH_MAX];
        for (size_t i = 0; i < outputs->count; i++) {
            filename_table(path, sm->dir, outputs->tables[i].id);
            file_remove(path, NULL);
        }
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
        .target_file_bytes = 0,
        .smallest_snapshot = SEQUENCE_MAX,
        .drop_tombstones = false,
        .output_level = 0,
        .new_file_number = new_file_number_callback,
        .ctx = sm,
    };
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    int rc = compaction_write(entries, &options, &outputs, &stats, err);
    if (rc == LSMKV_OK) {
        rc = open_and_install(sm, NULL, &outputs, log_number, last_sequence, err);
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

static void
delete_tables(sstable_manager *sm, const version *v)
{
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < version_table_count(v); i++) {
        filename_table(path, sm->dir, table_info(version_table(v, i))->id);
        file_remove(path, NULL);
    }
}

static uint64_t
version_bytes(const version *v)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < version_table_count(v); i++) {
        bytes += table_info(version_table(v, i))->size_bytes;
    }
    return bytes;
}

static int
compact_version(sstable_manager *sm, version *inputs, lsmkv_compaction_result *result,
                lsmkv_error *err)
{
    compaction_options options = {
        .dir = sm->dir,
        .builder = sm->builder,
        .target_file_bytes = sm->target_file_bytes,
        .smallest_snapshot = SEQUENCE_MAX,
        .drop_tombstones = true, /* every table takes part: nothing older exists */
        .output_level = 1,
        .new_file_number = new_file_number_callback,
        .ctx = sm,
    };
    iterator *it = version_iterator_new(inputs);
    compaction_stats stats;
    int rc = compaction_write(it, &options, &result->outputs, &stats, err);
    iterator_free(it);
    if (rc == LSMKV_OK) {
        rc = open_and_install(sm, inputs, &result->outputs, 0, 0, err);
    }
    if (rc != LSMKV_OK) {
        return rc;
    }
    delete_tables(sm, inputs);
    result->input_tables = (uint32_t)version_table_count(inputs);
    result->input_bytes = version_bytes(inputs);
    result->output_bytes = stats.bytes_written;
    result->dropped_entries = stats.entries_in - stats.entries_out;
    pthread_mutex_lock(&sm->mutex);
    sm->compactions++;
    sm->compaction_bytes_read += result->input_bytes;
    sm->compaction_bytes_written += stats.bytes_written;
    pthread_mutex_unlock(&sm->mutex);
    return LSMKV_OK;
}

int
sstable_manager_compact(sstable_manager *sm, lsmkv_compaction_result *result, lsmkv_error *err)
{
    lsmkv_compaction_result local = {0};
    pthread_mutex_lock(&sm->compaction_mutex);
    version *inputs = sstable_manager_current(sm);
    int rc = LSMKV_OK;
    if (version_table_count(inputs) > 0) {
        rc = compact_version(sm, inputs, &local, err);
    }
    if (rc == LSMKV_OK) {
        log_info(sm->log,
                 "compaction: %" PRIu32 " tables (%" PRIu64 " bytes) -> %zu tables (%" PRIu64
                 " bytes), %" PRIu64 " entries dropped",
                 local.input_tables, local.input_bytes, local.outputs.count, local.output_bytes,
                 local.dropped_entries);
    }
    version_unref(inputs);
    pthread_mutex_unlock(&sm->compaction_mutex);
    if (rc == LSMKV_OK && result != NULL) {
        *result = local;
    } else {
        lsmkv_compaction_result_fini(&local);
    }
    return rc;
}

/* ---- statistics -------------------------------------------------------------- */

void
sstable_manager_stats(sstable_manager *sm, lsmkv_stats *stats)
{
    version *v = sstable_manager_current(sm);
    version_level_stats(v, stats->levels);
    stats->sstables = version_table_count(v);
    stats->sstable_bytes = version_bytes(v);
    version_unref(v);
    pthread_mutex_lock(&sm->mutex);
    stats->flush_bytes_written = sm->flush_bytes_written;
    stats->compactions = sm->compactions;
    stats->compaction_bytes_read = sm->compaction_bytes_read;
    stats->compaction_bytes_written = sm->compaction_bytes_written;
    pthread_mutex_unlock(&sm->mutex);
}
