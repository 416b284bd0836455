#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ctest-labels: concurrency (run under ThreadSanitizer by tools/dev.sh) */

/*
 * The SSTable manager against a real directory: open and garbage collection,
 * flush installs, compaction (also racing a flush on another thread), manifest
 * write failures injected through file_set_fault_hook, and statistics.
 */

#include "file.h"
#include "filename.h"
#include "internal_key.h"
#include "memtable.h"
#include "sstable_manager.h"
#include "sstable_reader.h"
#include "table_info.h"
#include "test_support.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture --------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    sstable_manager_options options;
    sstable_manager *sm;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("sstable-manager");
    f->options = (sstable_manager_options){
        .dir = f->dir,
        .builder = {.block_bytes = 4096, .bloom_bits_per_key = 10},
        .target_file_bytes = 0,
        .create_if_missing = true,
        .error_if_exists = false,
        .log = NULL,
    };
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    file_set_fault_hook(NULL, NULL);
    sstable_manager_close(f->sm);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static void
open_sm(fixture *f)
{
    lsmkv_error err = {0};
    assert_null(f->sm);
    if (sstable_manager_open(&f->options, &f->sm, &err) != LSMKV_OK) {
        fail_msg("sstable_manager_open: %s", err.message);
    }
}

static void
reopen_sm(fixture *f)
{
    sstable_manager_close(f->sm);
    f->sm = NULL;
    open_sm(f);
}

/* Opening must fail with code, with in_message (if not NULL) in the message. */
static void
expect_open_fails(fixture *f, int code, const char *in_message)
{
    sstable_manager *sm = NULL;
    lsmkv_error err = {0};
    assert_int_equal(sstable_manager_open(&f->options, &sm, &err), code);
    assert_null(sm);
    assert_int_equal(err.code, code);
    if (in_message != NULL && strstr(err.message, in_message) == NULL) {
        fail_msg("expected \"%s\" in \"%s\"", in_message, err.message);
    }
}

/* One version to write: value NULL is a tombstone. */
typedef struct entry {
    const char *key;
    uint64_t seq;
    const char *value;
} entry;

static memtable *
make_memtable(const entry *entries, size_t n)
{
    memtable *m = memtable_new();
    for (size_t i = 0; i < n; i++) {
        const char *v = entries[i].value ? entries[i].value : "";
        memtable_add(m, entries[i].seq, entries[i].value ? VALUE_TYPE_VALUE : VALUE_TYPE_DELETION,
                     slice_make(entries[i].key, strlen(entries[i].key)), slice_make(v, strlen(v)));
    }
    return m;
}

static int
add_entries(sstable_manager *sm, const entry *entries, size_t n, uint64_t log_number,
            uint64_t last_sequence, lsmkv_table_list *written, lsmkv_error *err)
{
    memtable *m = make_memtable(entries, n);
    iterator *it = memtable_iterator_new(m);
    int rc = sstable_manager_add_sstable(sm, it, log_number, last_sequence, written, err);
    iterator_free(it);
    memtable_unref(m);
    return rc;
}

#define ENTRIES(...)                                                                               \
    (const entry[]){__VA_ARGS__}, sizeof((const entry[]){__VA_ARGS__}) / sizeof(entry)

/* Adds entries and returns the id of the one table written. */
static uint64_t
add_ok(fixture *f, const entry *entries, size_t n, uint64_t log_number)
{
    uint64_t max_seq = 0;
    for (size_t i = 0; i < n; i++) {
        max_seq = entries[i].seq > max_seq ? entries[i].seq : max_seq;
    }
    lsmkv_table_list written = {0};
    lsmkv_error err = {0};
    if (add_entries(f->sm, entries, n, log_number, max_seq, &written, &err) != LSMKV_OK) {
        fail_msg("add_sstable: %s", err.message);
    }
    assert_int_equal(written.count, 1);
    uint64_t id = written.tables[0].id;
    lsmkv_table_list_fini(&written);
    return id;
}

/* value NULL: expect a tombstone; found false: expect nothing. */
static void
expect_get(sstable_manager *sm, const char *key, bool found, const char *value)
{
    lookup_result r;
    lookup_result_init(&r);
    lsmkv_error err = {0};
    if (sstable_manager_get(sm, slice_make(key, strlen(key)), SEQUENCE_MAX, &r, &err) != LSMKV_OK) {
        fail_msg("get %s: %s", key, err.message);
    }
    if (r.found != found) {
        fail_msg("get %s: found %d, expected %d", key, r.found, found);
    }
    if (found && value == NULL) {
        assert_int_equal(r.type, VALUE_TYPE_DELETION);
    } else if (found) {
        assert_int_equal(r.type, VALUE_TYPE_VALUE);
        if (!slice_equal(buffer_slice(&r.value), slice_make(value, strlen(value)))) {
            fail_msg("get %s: \"%.*s\", expected \"%s\"", key, (int)r.value.len,
                     (const char *)r.value.data, value);
        }
    }
    lookup_result_fini(&r);
}

static bool
table_file_exists(const fixture *f, uint64_t id)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, id);
    return file_exists(path);
}

static void
write_file(const char *dir, const char *name, const char *contents)
{
    FILE *fp = fopen(test_path(dir, name), "w");
    assert_non_null(fp);
    fputs(contents, fp);
    fclose(fp);
}

static size_t
table_count(sstable_manager *sm)
{
    version *v = sstable_manager_current(sm);
    size_t n = version_table_count(v);
    version_unref(v);
    return n;
}

/* ---- open ------------------------------------------------------------------------------ */

static void
test_open_creates_empty_store(void **state)
{
    fixture *f = *state;
    open_sm(f);
    assert_true(file_exists(test_path(f->dir, "MANIFEST")));
    assert_int_equal(sstable_manager_log_number(f->sm), 0);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 0);
    assert_int_equal(table_count(f->sm), 0);
    expect_get(f->sm, "a", false, NULL);
    lsmkv_stats stats;
    memset(&stats, 0xff, sizeof(stats));
    sstable_manager_stats(f->sm, &stats);
    assert_int_equal(stats.sstables, 0);
    assert_int_equal(stats.sstable_bytes, 0);
    assert_int_equal(stats.compactions, 0);
    assert_int_equal(stats.flush_bytes_written, 0);
    iterator *it = sstable_manager_iterator_new(f->sm);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    iterator_free(it);
    reopen_sm(f); /* an empty store opens again */
    assert_int_equal(table_count(f->sm), 0);
}

static void
test_create_if_missing_false(void **state)
{
    fixture *f = *state;
    f->options.create_if_missing = false;
    expect_open_fails(f, LSMKV_INVALID_ARGUMENT, "create_if_missing");
    assert_false(file_exists(test_path(f->dir, "MANIFEST")));
    f->options.create_if_missing = true;
    open_sm(f);
    f->options.create_if_missing = false;
    reopen_sm(f); /* an existing store opens without create_if_missing */
}

static void
test_error_if_exists(void **state)
{
    fixture *f = *state;
    f->options.error_if_exists = true;
    open_sm(f); /* a new store is fine */
    uint64_t id = add_ok(f, ENTRIES({"a", 1, "1"}), 2);
    sstable_manager_close(f->sm);
    f->sm = NULL;
    expect_open_fails(f, LSMKV_INVALID_ARGUMENT, "already exists");
    assert_true(table_file_exists(f, id)); /* nothing was touched */
    f->options.error_if_exists = false;
    open_sm(f);
    expect_get(f->sm, "a", true, "1");
}

static void
test_open_deletes_orphans_keeps_named(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t named = add_ok(f, ENTRIES({"a", 1, "1"}), 2);
    sstable_manager_close(f->sm);
    f->sm = NULL;
    write_file(f->dir, "000090.sst", "half-written table");
    write_file(f->dir, "MANIFEST.tmp", "half-written manifest");
    write_file(f->dir, "000091.sst.tmp", "temp");
    write_file(f->dir, "000092.wal", "a log segment is recovery's business");
    write_file(f->dir, "notes.txt", "not ours");
    open_sm(f);
    assert_false(file_exists(test_path(f->dir, "000090.sst")));
    assert_false(file_exists(test_path(f->dir, "MANIFEST.tmp")));
    assert_false(file_exists(test_path(f->dir, "000091.sst.tmp")));
    assert_true(file_exists(test_path(f->dir, "000092.wal")));
    assert_true(file_exists(test_path(f->dir, "notes.txt")));
    assert_true(table_file_exists(f, named));
    expect_get(f->sm, "a", true, "1");
}

static void
test_missing_table_is_corruption(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t keep = add_ok(f, ENTRIES({"a", 1, "1"}), 2);
    uint64_t gone = add_ok(f, ENTRIES({"b", 2, "2"}), 3);
    sstable_manager_close(f->sm);
    f->sm = NULL;
    char path[FILENAME_PATH_MAX], name[64];
    filename_table(path, f->dir, gone);
    assert_int_equal(remove(path), 0);
    snprintf(name, sizeof(name), "%06llu.sst", (unsigned long long)gone);
    expect_open_fails(f, LSMKV_CORRUPTION, name);
    assert_true(table_file_exists(f, keep)); /* a failed open deletes nothing */
}

static void
test_damaged_table_is_corruption(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t id = add_ok(f, ENTRIES({"a", 1, "1"}), 2);
    sstable_manager_close(f->sm);
    f->sm = NULL;
    char path[FILENAME_PATH_MAX], name[64];
    filename_table(path, f->dir, id);
    test_flip_bit(path, test_file_size(path) - 1, 3); /* the footer's magic */
    snprintf(name, sizeof(name), "%06llu.sst", (unsigned long long)id);
    expect_open_fails(f, LSMKV_CORRUPTION, name);
}

static void
test_damaged_manifest_is_corruption(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t id = add_ok(f, ENTRIES({"a", 1, "1"}), 2);
    sstable_manager_close(f->sm);
    f->sm = NULL;
    const char *manifest = test_path(f->dir, "MANIFEST");
    test_flip_bit(manifest, test_file_size(manifest) - 1, 0);
    expect_open_fails(f, LSMKV_CORRUPTION, "MANIFEST");
    assert_true(table_file_exists(f, id));
}

static void
test_data_files_without_manifest(void **state)
{
    fixture *f = *state;
    write_file(f->dir, "000003.sst", "data");
    write_file(f->dir, "000004.wal", "log");
    expect_open_fails(f, LSMKV_CORRUPTION, "MANIFEST");
    assert_true(file_exists(test_path(f->dir, "000003.sst")));
    assert_true(file_exists(test_path(f->dir, "000004.wal")));
    assert_false(file_exists(test_path(f->dir, "MANIFEST")));
}

static void
test_open_missing_directory(void **state)
{
    fixture *f = *state;
    char dir[FILENAME_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/absent", f->dir);
    f->options.dir = dir;
    /* Creating the directory is the store's job; the manager reports it gone. */
    expect_open_fails(f, LSMKV_IO_ERROR, "absent");
    assert_false(file_exists(dir));
    f->options.create_if_missing = false;
    expect_open_fails(f, LSMKV_IO_ERROR, "absent");
}

static void
test_wal_without_manifest(void **state)
{
    fixture *f = *state;
    write_file(f->dir, "000007.wal", "log");
    expect_open_fails(f, LSMKV_CORRUPTION, "000007.wal");
    assert_true(file_exists(test_path(f->dir, "000007.wal")));
    assert_false(file_exists(test_path(f->dir, "MANIFEST")));
}

/* ---- add_sstable --------------------------------------------------------------------- */

static void
test_add_sstable_installs_level0(void **state)
{
    fixture *f = *state;
    open_sm(f);
    lsmkv_table_list written = {0};
    lsmkv_error err = {0};
    assert_int_equal(
        add_entries(f->sm, ENTRIES({"a", 3, "a3"}, {"b", 1, "b1"}, {"b", 2, NULL}, {"c", 4, "c4"}),
                    7, 4, &written, &err),
        LSMKV_OK);
    assert_int_equal(written.count, 1);
    const lsmkv_table_info *info = &written.tables[0];
    assert_int_equal(info->level, 0);
    assert_int_equal(info->entries, 3); /* b1 is shadowed by the tombstone */
    assert_int_equal(info->tombstones, 1);
    assert_int_equal(info->max_sequence, 4);
    assert_true(slice_equal(table_info_min_key(info), slice_make("a", 1)));
    assert_true(slice_equal(table_info_max_key(info), slice_make("c", 1)));
    assert_true(table_file_exists(f, info->id));
    uint64_t id = info->id;
    lsmkv_table_list_fini(&written);

    assert_int_equal(sstable_manager_log_number(f->sm), 7);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 4);
    expect_get(f->sm, "a", true, "a3");
    expect_get(f->sm, "b", true, NULL);
    expect_get(f->sm, "d", false, NULL);

    reopen_sm(f);
    assert_int_equal(sstable_manager_log_number(f->sm), 7);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 4);
    assert_int_equal(table_count(f->sm), 1);
    expect_get(f->sm, "c", true, "c4");
    expect_get(f->sm, "b", true, NULL);
    assert_true(sstable_manager_new_file_number(f->sm) > id);
}

static void
test_add_sstable_without_written_list(void **state)
{
    fixture *f = *state;
    open_sm(f);
    assert_int_equal(add_entries(f->sm, ENTRIES({"a", 1, "1"}), 2, 1, NULL, NULL), LSMKV_OK);
    expect_get(f->sm, "a", true, "1");
}

static void
test_add_empty_records_wal_state_only(void **state)
{
    fixture *f = *state;
    open_sm(f);
    lsmkv_table_list written = {0};
    memtable *m = memtable_new();
    iterator *it = memtable_iterator_new(m);
    assert_int_equal(sstable_manager_add_sstable(f->sm, it, 12, 30, &written, NULL), LSMKV_OK);
    iterator_free(it);
    memtable_unref(m);
    assert_int_equal(written.count, 0);
    assert_int_equal(table_count(f->sm), 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
    assert_int_equal(sstable_manager_log_number(f->sm), 12);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 30);
    reopen_sm(f);
    assert_int_equal(sstable_manager_log_number(f->sm), 12);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 30);
}

static void
test_wal_state_never_goes_back(void **state)
{
    fixture *f = *state;
    open_sm(f);
    assert_int_equal(add_entries(f->sm, ENTRIES({"a", 9, "9"}), 20, 9, NULL, NULL), LSMKV_OK);
    /* A late install that claims less (a compaction passes 0) keeps the maximum. */
    assert_int_equal(add_entries(f->sm, ENTRIES({"b", 5, "5"}), 4, 5, NULL, NULL), LSMKV_OK);
    assert_int_equal(sstable_manager_log_number(f->sm), 20);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 9);
    reopen_sm(f);
    assert_int_equal(sstable_manager_log_number(f->sm), 20);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 9);
}

static void
test_newer_level0_table_wins(void **state)
{
    fixture *f = *state;
    open_sm(f);
    add_ok(f, ENTRIES({"k", 1, "old"}, {"x", 2, "x"}), 2);
    add_ok(f, ENTRIES({"k", 3, "new"}), 3);
    add_ok(f, ENTRIES({"x", 4, NULL}), 4);
    expect_get(f->sm, "k", true, "new");
    expect_get(f->sm, "x", true, NULL);
    reopen_sm(f);
    expect_get(f->sm, "k", true, "new");
    expect_get(f->sm, "x", true, NULL);
}

static void
test_file_numbers(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t a = sstable_manager_new_file_number(f->sm);
    uint64_t b = sstable_manager_new_file_number(f->sm);
    assert_true(b > a);
    sstable_manager_reserve_file_number(f->sm, 100);
    assert_int_equal(sstable_manager_new_file_number(f->sm), 101);
    sstable_manager_reserve_file_number(f->sm, 50); /* below: no effect */
    assert_int_equal(sstable_manager_new_file_number(f->sm), 102);
    uint64_t id = add_ok(f, ENTRIES({"a", 1, "1"}), 1);
    assert_int_equal(id, 103);
    reopen_sm(f); /* the counter is in the manifest */
    assert_true(sstable_manager_new_file_number(f->sm) > 103);
}

static void
test_iterator_over_all_tables(void **state)
{
    fixture *f = *state;
    open_sm(f);
    add_ok(f, ENTRIES({"a", 1, "1"}, {"c", 2, "2"}), 1);
    add_ok(f, ENTRIES({"b", 3, "3"}, {"c", 4, NULL}), 2);
    iterator *it = sstable_manager_iterator_new(f->sm);
    const char *keys[] = {"a", "b", "c", "c"};
    uint64_t seqs[] = {1, 3, 4, 2};
    size_t n = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), n++) {
        parsed_internal_key k;
        assert_true(n < 4);
        assert_true(internal_key_parse(iterator_key(it), &k));
        assert_true(slice_equal(k.user_key, slice_make(keys[n], 1)));
        assert_int_equal(k.sequence, seqs[n]);
    }
    assert_int_equal(n, 4);
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    /* The iterator keeps its version: a compaction meanwhile does not disturb it. */
    assert_int_equal(sstable_manager_compact(f->sm, NULL, NULL), LSMKV_OK);
    n = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        n++;
    }
    assert_int_equal(n, 4);
    iterator_free(it);
}

/* ---- compaction -------------------------------------------------------------------------- */

static void
test_compact_with_no_tables(void **state)
{
    fixture *f = *state;
    open_sm(f);
    lsmkv_compaction_result result;
    memset(&result, 0xff, sizeof(result));
    assert_int_equal(sstable_manager_compact(f->sm, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, 0);
    assert_int_equal(result.input_bytes, 0);
    assert_int_equal(result.output_bytes, 0);
    assert_int_equal(result.dropped_entries, 0);
    assert_int_equal(result.outputs.count, 0);
    lsmkv_compaction_result_fini(&result);
    assert_int_equal(sstable_manager_compact(f->sm, NULL, NULL), LSMKV_OK);
}

/* Three overlapping level-0 tables with overwrites and deletes. */
static void
add_history(fixture *f, uint64_t ids[3])
{
    ids[0] = add_ok(f, ENTRIES({"a", 1, "a1"}, {"b", 2, "b2"}, {"c", 3, "c3"}, {"d", 4, "d4"}), 2);
    ids[1] = add_ok(f, ENTRIES({"a", 5, "a5"}, {"b", 6, NULL}, {"e", 7, "e7"}), 3);
    ids[2] = add_ok(f, ENTRIES({"c", 8, NULL}, {"e", 9, "e9"}, {"f", 10, NULL}), 4);
}

/*
 * A store written before table format 2 holds format 1 tables: they are read
 * as they are, and a compaction merges them with format 2 tables into format 2.
 */
static void
test_format1_tables_are_read_and_compacted(void **state)
{
    fixture *f = *state;
    f->options.builder.format_version = 1;
    open_sm(f);
    uint64_t ids[3];
    add_history(f, ids);
    f->options.builder.format_version = 0; /* what this version writes */
    reopen_sm(f);
    add_ok(f, ENTRIES({"a", 11, "a11"}, {"g", 12, "g12"}), 5);
    expect_get(f->sm, "a", true, "a11");
    expect_get(f->sm, "d", true, "d4");
    expect_get(f->sm, "e", true, "e9");
    lsmkv_compaction_result result = {0};
    assert_int_equal(sstable_manager_compact(f->sm, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, 4);
    assert_int_equal(result.outputs.count, 1);
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, result.outputs.tables[0].id);
    sstable_reader *r = NULL;
    assert_int_equal(sstable_reader_open(path, &r, NULL), LSMKV_OK);
    assert_int_equal(sstable_reader_footer(r)->version, SSTABLE_FORMAT_VERSION);
    sstable_reader_free(r);
    lsmkv_compaction_result_fini(&result);
    reopen_sm(f);
    expect_get(f->sm, "a", true, "a11");
    expect_get(f->sm, "d", true, "d4");
    expect_get(f->sm, "e", true, "e9");
    expect_get(f->sm, "g", true, "g12");
    expect_get(f->sm, "b", false, NULL);
}

static void
test_compact_merges_into_level1(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t ids[3];
    add_history(f, ids);
    lsmkv_stats before;
    sstable_manager_stats(f->sm, &before);

    lsmkv_compaction_result result = {0};
    assert_int_equal(sstable_manager_compact(f->sm, &result, NULL), LSMKV_OK);
    assert_int_equal(result.input_tables, 3);
    assert_int_equal(result.input_bytes, before.sstable_bytes);
    /* 10 entries in; a5, d4, e9 out: a1, e7 shadowed, b/c/f tombstones and what they hide. */
    assert_int_equal(result.dropped_entries, 7);
    assert_int_equal(result.outputs.count, 1);
    const lsmkv_table_info *out = &result.outputs.tables[0];
    assert_int_equal(out->level, 1);
    assert_int_equal(out->entries, 3);
    assert_int_equal(out->tombstones, 0);
    assert_int_equal(out->max_sequence, 0); /* a full compaction is the bottom */
    assert_int_equal(result.output_bytes, out->size_bytes);
    assert_true(slice_equal(table_info_min_key(out), slice_make("a", 1)));
    assert_true(slice_equal(table_info_max_key(out), slice_make("e", 1)));
    for (int i = 0; i < 3; i++) {
        assert_false(table_file_exists(f, ids[i]));
    }
    assert_true(table_file_exists(f, out->id));
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);

    expect_get(f->sm, "a", true, "a5");
    expect_get(f->sm, "d", true, "d4");
    expect_get(f->sm, "e", true, "e9");
    expect_get(f->sm, "b", false, NULL); /* tombstone and value both gone */
    expect_get(f->sm, "c", false, NULL);
    expect_get(f->sm, "f", false, NULL);
    /* The WAL state is untouched by compaction. */
    assert_int_equal(sstable_manager_log_number(f->sm), 4);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 10);
    lsmkv_compaction_result_fini(&result);

    reopen_sm(f);
    assert_int_equal(table_count(f->sm), 1);
    expect_get(f->sm, "a", true, "a5");
    expect_get(f->sm, "c", false, NULL);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 10);
}

static void
test_compact_splits_into_disjoint_tables(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 8192;
    f->options.builder.block_bytes = 512;
    open_sm(f);
    char value[257];
    memset(value, 'v', 256);
    value[256] = '\0';
    uint64_t seq = 1;
    for (int t = 0; t < 4; t++) {
        memtable *m = memtable_new();
        for (int i = 0; i < 100; i++) {
            char key[16];
            snprintf(key, sizeof(key), "key%04d", (i + t * 50) % 150);
            memtable_add(m, seq++, VALUE_TYPE_VALUE, slice_make(key, strlen(key)),
                         slice_make(value, 256));
        }
        iterator *it = memtable_iterator_new(m);
        assert_int_equal(sstable_manager_add_sstable(f->sm, it, 0, seq - 1, NULL, NULL), LSMKV_OK);
        iterator_free(it);
        memtable_unref(m);
    }
    lsmkv_compaction_result result = {0};
    assert_int_equal(sstable_manager_compact(f->sm, &result, NULL), LSMKV_OK);
    assert_true(result.outputs.count >= 3);
    uint64_t entries = 0;
    for (size_t i = 0; i < result.outputs.count; i++) {
        const lsmkv_table_info *info = &result.outputs.tables[i];
        assert_int_equal(info->level, 1);
        if (i > 0) {
            assert_true(slice_compare(table_info_max_key(&result.outputs.tables[i - 1]),
                                      table_info_min_key(info)) < 0);
        }
        entries += info->entries;
    }
    assert_int_equal(result.dropped_entries, 400 - entries);
    lsmkv_stats stats;
    sstable_manager_stats(f->sm, &stats);
    assert_int_equal(stats.levels[0].tables, 0);
    assert_int_equal(stats.levels[1].tables, result.outputs.count);
    assert_int_equal(stats.compactions, 1);
    assert_int_equal(stats.compaction_bytes_read, result.input_bytes);
    assert_int_equal(stats.compaction_bytes_written, result.output_bytes);
    assert_int_equal(stats.sstable_bytes, result.output_bytes);
    /* Every key reads back from the one table whose range holds it. */
    for (int i = 0; i < 150; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key%04d", i);
        expect_get(f->sm, key, true, value);
    }
    assert_int_equal(entries, 150);
    lsmkv_compaction_result_fini(&result);
}

/* ---- compaction racing a flush --------------------------------------------------------- */

static _Thread_local bool in_compaction_thread;

/* Holds the compaction thread at its first table sync until released. */
typedef struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool armed, holding, released;
} gate;

static int
gate_hook(void *ctx, file_op op, const char *path)
{
    gate *g = ctx;
    size_t len = strlen(path);
    if (!in_compaction_thread || op != FILE_OP_SYNC || len < 4 ||
        strcmp(path + len - 4, ".sst") != 0) {
        return 0;
    }
    pthread_mutex_lock(&g->mutex);
    if (g->armed) {
        g->armed = false;
        g->holding = true;
        pthread_cond_broadcast(&g->cond);
        while (!g->released) {
            pthread_cond_wait(&g->cond, &g->mutex);
        }
    }
    pthread_mutex_unlock(&g->mutex);
    return 0;
}

typedef struct compact_job {
    sstable_manager *sm;
    lsmkv_compaction_result result;
    lsmkv_error err;
    int rc;
} compact_job;

static void *
compact_thread(void *arg)
{
    compact_job *job = arg;
    in_compaction_thread = true;
    job->rc = sstable_manager_compact(job->sm, &job->result, &job->err);
    return NULL;
}

static void
test_compact_keeps_concurrent_flush(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t ids[3];
    add_history(f, ids);
    gate g = {.armed = true};
    pthread_mutex_init(&g.mutex, NULL);
    pthread_cond_init(&g.cond, NULL);
    file_set_fault_hook(gate_hook, &g);

    compact_job job = {.sm = f->sm};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, compact_thread, &job), 0);
    pthread_mutex_lock(&g.mutex);
    while (!g.holding) {
        pthread_cond_wait(&g.cond, &g.mutex);
    }
    pthread_mutex_unlock(&g.mutex);

    /* The compaction has written its output but not installed it: flush now. */
    uint64_t flushed = add_ok(f, ENTRIES({"a", 11, "a11"}, {"d", 12, NULL}, {"g", 13, "g13"}), 5);
    expect_get(f->sm, "a", true, "a11");
    expect_get(f->sm, "c", true, NULL); /* the inputs are still live */

    pthread_mutex_lock(&g.mutex);
    g.released = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.mutex);
    assert_int_equal(pthread_join(thread, NULL), 0);
    file_set_fault_hook(NULL, NULL);
    if (job.rc != LSMKV_OK) {
        fail_msg("compact: %s", job.err.message);
    }
    assert_int_equal(job.result.input_tables, 3);
    assert_int_equal(job.result.outputs.count, 1);

    /* The flushed table survived the install and still wins for its keys. */
    assert_true(table_file_exists(f, flushed));
    for (int i = 0; i < 3; i++) {
        assert_false(table_file_exists(f, ids[i]));
    }
    lsmkv_stats stats;
    sstable_manager_stats(f->sm, &stats);
    assert_int_equal(stats.levels[0].tables, 1);
    assert_int_equal(stats.levels[1].tables, 1);
    expect_get(f->sm, "a", true, "a11");
    expect_get(f->sm, "d", true, NULL);
    expect_get(f->sm, "g", true, "g13");
    expect_get(f->sm, "e", true, "e9");
    expect_get(f->sm, "c", false, NULL);
    assert_int_equal(sstable_manager_log_number(f->sm), 5);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 13);
    lsmkv_compaction_result_fini(&job.result);

    reopen_sm(f);
    expect_get(f->sm, "a", true, "a11");
    expect_get(f->sm, "d", true, NULL);
    assert_int_equal(sstable_manager_log_number(f->sm), 5);
    /* A second compaction folds the flush in. */
    assert_int_equal(sstable_manager_compact(f->sm, NULL, NULL), LSMKV_OK);
    expect_get(f->sm, "a", true, "a11");
    expect_get(f->sm, "d", false, NULL);
    assert_int_equal(table_count(f->sm), 1);
    pthread_mutex_destroy(&g.mutex);
    pthread_cond_destroy(&g.cond);
}

/* ---- manifest write failures -------------------------------------------------------------- */

typedef struct fault {
    file_op op;
    const char *name; /* the file's name (last path component) */
    int error;
    int hits;
} fault;

static int
fault_hook(void *ctx, file_op op, const char *path)
{
    fault *ft = ctx;
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    if (op == ft->op && strcmp(name, ft->name) == 0) {
        ft->hits++;
        return ft->error;
    }
    return 0;
}

/* A flush whose manifest write fails per ft: error, nothing changes, no input lost. */
static void
check_add_with_failing_manifest(fixture *f, fault *ft, int expected_code)
{
    open_sm(f);
    uint64_t first = add_ok(f, ENTRIES({"a", 1, "a1"}, {"b", 2, "b2"}), 3);
    file_set_fault_hook(fault_hook, ft);
    lsmkv_table_list written = {0};
    lsmkv_error err = {0};
    int rc = add_entries(f->sm, ENTRIES({"a", 3, "a3"}, {"c", 4, "c4"}), 9, 4, &written, &err);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(rc, expected_code);
    assert_int_equal(err.code, expected_code);
    assert_non_null(strstr(err.message, "MANIFEST"));
    assert_true(ft->hits > 0);
    assert_int_equal(written.count, 0);
    /* In memory: the previous table set and WAL state. */
    assert_int_equal(table_count(f->sm), 1);
    assert_int_equal(sstable_manager_log_number(f->sm), 3);
    assert_int_equal(sstable_manager_last_sequence(f->sm), 2);
    expect_get(f->sm, "a", true, "a1");
    expect_get(f->sm, "c", false, NULL);
    assert_true(table_file_exists(f, first));
    assert_false(file_exists(test_path(f->dir, "MANIFEST.tmp")));
    /* On disk too. */
    reopen_sm(f);
    assert_int_equal(table_count(f->sm), 1);
    assert_int_equal(sstable_manager_log_number(f->sm), 3);
    expect_get(f->sm, "a", true, "a1");
    expect_get(f->sm, "c", false, NULL);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1); /* the unnamed output went */
}

static void
test_add_manifest_rename_failure(void **state)
{
    fault ft = {FILE_OP_RENAME, "MANIFEST", EIO, 0};
    check_add_with_failing_manifest(*state, &ft, LSMKV_IO_ERROR);
}

static void
test_add_manifest_sync_failure(void **state)
{
    fault ft = {FILE_OP_SYNC, "MANIFEST.tmp", ENOSPC, 0};
    check_add_with_failing_manifest(*state, &ft, LSMKV_NO_SPACE);
}

static void
test_add_manifest_open_failure(void **state)
{
    fault ft = {FILE_OP_OPEN, "MANIFEST.tmp", EACCES, 0};
    check_add_with_failing_manifest(*state, &ft, LSMKV_IO_ERROR);
}

static void
test_failed_install_files_removed_after_next_install(void **state)
{
    fixture *f = *state;
    open_sm(f);
    add_ok(f, ENTRIES({"a", 1, "a1"}), 2);
    fault ft = {FILE_OP_RENAME, "MANIFEST", EIO, 0};
    file_set_fault_hook(fault_hook, &ft);
    uint64_t failed_id = sstable_manager_new_file_number(f->sm) + 1;
    assert_int_equal(add_entries(f->sm, ENTRIES({"b", 2, "b2"}), 3, 2, NULL, NULL), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    /* We cannot know whether the manifest reached the disk: the file stays for now. */
    assert_true(table_file_exists(f, failed_id));
    uint64_t next = add_ok(f, ENTRIES({"b", 3, "b3"}), 4);
    assert_false(table_file_exists(f, failed_id));
    assert_true(table_file_exists(f, next));
    assert_int_equal(test_count_files(f->dir, ".sst"), 2);
    expect_get(f->sm, "b", true, "b3");
    reopen_sm(f);
    assert_int_equal(table_count(f->sm), 2);
}

static void
test_add_table_write_failure(void **state)
{
    fixture *f = *state;
    open_sm(f);
    add_ok(f, ENTRIES({"a", 1, "a1"}), 2);
    uint64_t doomed = sstable_manager_new_file_number(f->sm) + 1;
    char name[64];
    snprintf(name, sizeof(name), "%06llu.sst", (unsigned long long)doomed);
    fault ft = {FILE_OP_SYNC, name, EIO, 0};
    file_set_fault_hook(fault_hook, &ft);
    lsmkv_error err = {0};
    assert_int_equal(add_entries(f->sm, ENTRIES({"b", 2, "b2"}), 3, 2, NULL, &err), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(ft.hits, 1);
    assert_non_null(strstr(err.message, name));
    assert_false(table_file_exists(f, doomed));
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    assert_int_equal(sstable_manager_log_number(f->sm), 2);
    expect_get(f->sm, "b", false, NULL);
}

static void
check_compact_with_failing_manifest(fixture *f, fault *ft, int expected_code)
{
    open_sm(f);
    uint64_t ids[3];
    add_history(f, ids);
    file_set_fault_hook(fault_hook, ft);
    lsmkv_compaction_result result;
    memset(&result, 0, sizeof(result));
    result.input_tables = 77; /* untouched on failure */
    lsmkv_error err = {0};
    assert_int_equal(sstable_manager_compact(f->sm, &result, &err), expected_code);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(result.input_tables, 77);
    assert_non_null(strstr(err.message, "MANIFEST"));
    for (int i = 0; i < 3; i++) {
        assert_true(table_file_exists(f, ids[i])); /* no input deleted */
    }
    assert_int_equal(table_count(f->sm), 3);
    lsmkv_stats stats;
    sstable_manager_stats(f->sm, &stats);
    assert_int_equal(stats.levels[0].tables, 3);
    assert_int_equal(stats.levels[1].tables, 0);
    assert_int_equal(stats.compactions, 0);
    expect_get(f->sm, "c", true, NULL);
    expect_get(f->sm, "e", true, "e9");

    reopen_sm(f);
    assert_int_equal(table_count(f->sm), 3);
    assert_int_equal(test_count_files(f->dir, ".sst"), 3); /* the output was an orphan */
    expect_get(f->sm, "c", true, NULL);
    expect_get(f->sm, "a", true, "a5");
    /* And without the fault the compaction goes through. */
    lsmkv_compaction_result ok = {0};
    assert_int_equal(sstable_manager_compact(f->sm, &ok, NULL), LSMKV_OK);
    assert_int_equal(ok.input_tables, 3);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    lsmkv_compaction_result_fini(&ok);
}

static void
test_compact_manifest_rename_failure(void **state)
{
    fault ft = {FILE_OP_RENAME, "MANIFEST", EIO, 0};
    check_compact_with_failing_manifest(*state, &ft, LSMKV_IO_ERROR);
}

static void
test_compact_manifest_sync_failure(void **state)
{
    fault ft = {FILE_OP_SYNC, "MANIFEST.tmp", ENOSPC, 0};
    check_compact_with_failing_manifest(*state, &ft, LSMKV_NO_SPACE);
}

static void
test_failed_compaction_outputs_removed_after_next_install(void **state)
{
    fixture *f = *state;
    open_sm(f);
    uint64_t ids[3];
    add_history(f, ids);
    uint64_t output = sstable_manager_new_file_number(f->sm) + 1;
    fault ft = {FILE_OP_RENAME, "MANIFEST", EIO, 0};
    file_set_fault_hook(fault_hook, &ft);
    assert_int_equal(sstable_manager_compact(f->sm, NULL, NULL), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    assert_true(table_file_exists(f, output));
    add_ok(f, ENTRIES({"z", 20, "z"}), 5);
    assert_false(table_file_exists(f, output));
    for (int i = 0; i < 3; i++) {
        assert_true(table_file_exists(f, ids[i]));
    }
    assert_int_equal(table_count(f->sm), 4);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static void
test_stats_per_level(void **state)
{
    fixture *f = *state;
    open_sm(f);
    lsmkv_table_list written = {0};
    assert_int_equal(
        add_entries(f->sm, ENTRIES({"a", 1, "1"}, {"b", 2, "2"}), 1, 2, &written, NULL), LSMKV_OK);
    assert_int_equal(add_entries(f->sm, ENTRIES({"c", 3, "3"}), 2, 3, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 2);
    uint64_t bytes = written.tables[0].size_bytes + written.tables[1].size_bytes;
    lsmkv_stats stats;
    memset(&stats, 0, sizeof(stats));
    sstable_manager_stats(f->sm, &stats);
    assert_int_equal(stats.sstables, 2);
    assert_int_equal(stats.sstable_bytes, bytes);
    assert_int_equal(stats.levels[0].tables, 2);
    assert_int_equal(stats.levels[0].bytes, bytes);
    assert_int_equal(stats.flush_bytes_written, bytes);
    for (int i = 1; i < LSMKV_MAX_LEVELS; i++) {
        assert_int_equal(stats.levels[i].tables, 0);
        assert_int_equal(stats.levels[i].bytes, 0);
    }
    lsmkv_table_list_fini(&written);

    lsmkv_compaction_result result = {0};
    assert_int_equal(sstable_manager_compact(f->sm, &result, NULL), LSMKV_OK);
    sstable_manager_stats(f->sm, &stats);
    assert_int_equal(stats.sstables, 1);
    assert_int_equal(stats.levels[0].tables, 0);
    assert_int_equal(stats.levels[0].bytes, 0);
    assert_int_equal(stats.levels[1].tables, 1);
    assert_int_equal(stats.levels[1].bytes, result.output_bytes);
    assert_int_equal(stats.compactions, 1);
    assert_int_equal(stats.compaction_bytes_read, bytes);
    assert_int_equal(stats.compaction_bytes_written, result.output_bytes);
    assert_int_equal(stats.flush_bytes_written, bytes);
    lsmkv_compaction_result_fini(&result);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_empty_store),
        T(test_create_if_missing_false),
        T(test_error_if_exists),
        T(test_open_deletes_orphans_keeps_named),
        T(test_missing_table_is_corruption),
        T(test_damaged_table_is_corruption),
        T(test_damaged_manifest_is_corruption),
        T(test_data_files_without_manifest),
        T(test_wal_without_manifest),
        T(test_open_missing_directory),
        T(test_add_sstable_installs_level0),
        T(test_add_sstable_without_written_list),
        T(test_add_empty_records_wal_state_only),
        T(test_wal_state_never_goes_back),
        T(test_newer_level0_table_wins),
        T(test_file_numbers),
        T(test_iterator_over_all_tables),
        T(test_compact_with_no_tables),
        T(test_format1_tables_are_read_and_compacted),
        T(test_compact_merges_into_level1),
        T(test_compact_splits_into_disjoint_tables),
        T(test_compact_keeps_concurrent_flush),
        T(test_add_manifest_rename_failure),
        T(test_add_manifest_sync_failure),
        T(test_add_manifest_open_failure),
        T(test_failed_install_files_removed_after_next_install),
        T(test_add_table_write_failure),
        T(test_compact_manifest_rename_failure),
        T(test_compact_manifest_sync_failure),
        T(test_failed_compaction_outputs_removed_after_next_install),
        T(test_stats_per_level),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
