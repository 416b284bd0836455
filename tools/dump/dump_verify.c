/*
 * lsmkv-dump verify DIR: checks a closed store directory end to end, the way
 * an open would use it, without changing anything in it.
 *
 *   - MANIFEST decodes (manifest_read runs the engine's own consistency
 *     checks: unique ids, levels, key ranges, file counter);
 *   - every table it names exists, opens, and every data block verifies
 *     (dump_table.h: checksums, entry order, properties against entries);
 *     the table's properties match the manifest's record of it and its
 *     sequences do not pass the manifest's last sequence;
 *   - levels >= 1 hold non-overlapping key ranges;
 *   - WAL segments numbered from log_number on read as recovery reads them:
 *     a torn tail of the newest is a warning (a crash leaves it and recovery
 *     cuts it off), a bad record in an older one is an error (recovery fails);
 *   - files the manifest does not account for are warnings (the next open
 *     deletes orphan tables and temporary files).
 * When the manifest itself is damaged, every table and segment present is
 * still checked on its own, so one report shows all the damage.
 */
#include "dump.h"
#include "dump_dir.h"
#include "dump_table.h"
#include "dump_wal.h"

#include "table_info.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct verifier {
    const char *dir;
    dump_out *out;
    dump_issues issues;
    dump_dir files;
    manifest_state manifest;
    bool have_manifest;
} verifier;

static void
compare_u64(verifier *v, const char *path, const char *what, uint64_t manifest, uint64_t table)
{
    if (manifest != table) {
        dump_issues_add(&v->issues, DUMP_ERROR,
                        "%s: the manifest records %s %" PRIu64 ", the table has %" PRIu64, path,
                        what, manifest, table);
    }
}

static void
compare_key(verifier *v, const char *path, const char *what, slice manifest, const buffer *table)
{
    if (!slice_equal(manifest, buffer_slice(table))) {
        char a[160], b[160];
        dump_issues_add(&v->issues, DUMP_ERROR,
                        "%s: the manifest records %s \"%s\", the table has \"%s\"", path, what,
                        dump_escape(manifest, 40, a, sizeof(a)),
                        dump_escape(buffer_slice(table), 40, b, sizeof(b)));
    }
}

/* The manifest's record of a table against the table's own properties. */
static void
compare_with_manifest(verifier *v, const lsmkv_table_info *info, const sstable_reader *r)
{
    const char *path = sstable_reader_path(r);
    const sstable_properties *p = sstable_reader_properties(r);
    compare_u64(v, path, "size", info->size_bytes, p->file_size);
    compare_u64(v, path, "entries", info->entries, p->entries);
    compare_u64(v, path, "tombstones", info->tombstones, p->tombstones);
    compare_u64(v, path, "max_sequence", info->max_sequence, p->max_sequence);
    compare_key(v, path, "min_key", table_info_min_key(info), &p->min_key);
    compare_key(v, path, "max_key", table_info_max_key(info), &p->max_key);
    if (p->max_sequence > v->manifest.last_sequence) {
        dump_issues_add(&v->issues, DUMP_ERROR,
                        "%s: holds sequence %" PRIu64
                        ", past the manifest's last sequence %" PRIu64,
                        path, p->max_sequence, v->manifest.last_sequence);
    }
}

/* Opens and scans one table; info is the manifest's record (NULL: none). */
static const char *
check_table_file(verifier *v, const char *path, const lsmkv_table_info *info, dump_table *t)
{
    sstable_reader *r;
    lsmkv_error err;
    int rc = sstable_reader_open(path, &r, &err);
    if (rc != LSMKV_OK) {
        dump_issues_add(&v->issues, DUMP_ERROR, "%s", err.message);
        return rc == LSMKV_CORRUPTION ? "damaged" : "unreadable";
    }
    size_t errors_before = v->issues.errors;
    dump_table_scan(r, NULL, NULL, t);
    dump_issues_take(&v->issues, &t->issues);
    if (info != NULL) {
        compare_with_manifest(v, info, r);
    }
    sstable_reader_free(r);
    return v->issues.errors == errors_before ? "ok" : "damaged";
}

/* One line per table: id, level (named tables), what the scan saw, status. */
static void
check_table(verifier *v, uint64_t id, const lsmkv_table_info *info)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, v->dir, id);
    dump_table t;
    dump_table_init(&t);
    const char *status;
    if (dump_dir_find_table(&v->files, id) == NULL) {
        dump_issues_add(&v->issues, DUMP_ERROR,
                        "%s/" FILENAME_MANIFEST " names %s, which is missing", v->dir, path);
        status = "missing";
    } else {
        status = check_table_file(v, path, info, &t);
    }
    dump_out_object(v->out, NULL);
    dump_out_u64(v->out, "id", id);
    if (info != NULL) {
        dump_out_u64(v->out, "level", info->level);
    }
    dump_out_str(v->out, "file", path);
    dump_out_u64(v->out, "blocks", t.block_count);
    dump_out_u64(v->out, "bad_blocks", t.bad_blocks);
    dump_out_u64(v->out, "entries", t.entries);
    dump_out_str(v->out, "status", status);
    dump_out_end(v->out);
    dump_table_fini(&t);
}

static void
check_tables(verifier *v)
{
    dump_out_array(v->out, "tables");
    if (v->have_manifest) {
        const lsmkv_table_info **sorted = dump_dir_sorted_tables(&v->manifest);
        for (size_t i = 0; i < v->manifest.table_count; i++) {
            check_table(v, sorted[i]->id, sorted[i]);
        }
        free(sorted);
    } else {
        for (size_t i = 0; i < v->files.count; i++) {
            if (v->files.files[i].kind == FILE_KIND_TABLE && v->files.files[i].regular) {
                check_table(v, v->files.files[i].number, NULL);
            }
        }
    }
    dump_out_end(v->out);
}

/* Levels >= 1: sorted by smallest key, each table must end before the next begins. */
static void
check_levels(verifier *v)
{
    const lsmkv_table_info **sorted = dump_dir_sorted_tables(&v->manifest);
    for (size_t i = 1; i < v->manifest.table_count; i++) {
        const lsmkv_table_info *a = sorted[i - 1], *b = sorted[i];
        if (a->level == 0 || a->level != b->level ||
            slice_compare(table_info_max_key(a), table_info_min_key(b)) < 0) {
            continue;
        }
        char a_max[160], b_min[160];
        dump_issues_add(&v->issues, DUMP_ERROR,
                        "level %" PRIu32 ": table %" PRIu64
                        " (up to \"%s\") overlaps table %" PRIu64 " (from \"%s\")",
                        a->level, a->id,
                        dump_escape(table_info_max_key(a), 40, a_max, sizeof(a_max)), b->id,
                        dump_escape(table_info_min_key(b), 40, b_min, sizeof(b_min)));
    }
    free(sorted);
}

/* A segment's tail that does not read: what recovery would do about it. */
static const char *
judge_tail(verifier *v, const dump_wal *w, bool newest)
{
    uint64_t bytes = w->file_size - w->valid_bytes;
    if (newest) {
        dump_issues_add(&v->issues, DUMP_WARNING,
                        "%s; the %" PRIu64 " bytes from offset %" PRIu64
                        " on are a torn tail of the newest segment, which recovery cuts off",
                        w->tail_reason, bytes, w->valid_bytes);
        return "torn-tail";
    }
    if (w->header_torn) {
        dump_issues_add(&v->issues, DUMP_WARNING, "%s (an older segment torn at creation)",
                        w->tail_reason);
        return "torn-tail";
    }
    dump_issues_add(&v->issues, DUMP_ERROR,
                    "%s; %" PRIu64 " bytes follow in a segment that is not the newest, so "
                    "recovery fails here",
                    w->tail_reason, bytes);
    return "damaged";
}

static void
check_segment(verifier *v, uint64_t number, bool newest)
{
    char path[FILENAME_PATH_MAX];
    filename_wal(path, v->dir, number);
    dump_wal w;
    dump_wal_init(&w);
    lsmkv_error err;
    const char *status = "ok";
    int rc = dump_wal_scan(path, NULL, NULL, &w, &err);
    if (rc != LSMKV_OK) {
        dump_issues_add(&v->issues, DUMP_ERROR, "%s", err.message);
        status = rc == LSMKV_CORRUPTION ? "damaged" : "unreadable";
    } else {
        status = w.issues.errors > 0 ? "damaged" : status;
        dump_issues_take(&v->issues, &w.issues);
        const char *tail = w.torn ? judge_tail(v, &w, newest) : "ok";
        if (w.reserved_bytes > 0 && !newest) {
            /* Segments are sealed (the reserve cut off) before the next begins. */
            dump_issues_add(&v->issues, DUMP_ERROR,
                            "%s: zeros from offset %" PRIu64 " to the end of a segment that is "
                            "not the newest, so recovery fails here",
                            path, w.valid_bytes);
            tail = "damaged";
        }
        status = strcmp(status, "ok") == 0 ? tail : status;
    }
    dump_out_object(v->out, NULL);
    dump_out_u64(v->out, "number", number);
    dump_out_str(v->out, "file", path);
    dump_out_u64(v->out, "records", w.records);
    dump_out_u64(v->out, "ops", w.ops);
    if (w.ops > 0) {
        dump_out_u64(v->out, "min_sequence", w.min_sequence);
        dump_out_u64(v->out, "max_sequence", w.max_sequence);
    }
    dump_out_str(v->out, "status", status);
    dump_out_end(v->out);
    dump_wal_fini(&w);
}

static int
compare_numbers(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

/* Segments from log_number on, oldest first, as recovery replays them. */
static void
check_segments(verifier *v)
{
    uint64_t log_number = v->have_manifest ? v->manifest.log_number : 0;
    uint64_t *numbers = xcalloc(v->files.count + 1, sizeof(*numbers));
    size_t n = 0;
    for (size_t i = 0; i < v->files.count; i++) {
        const dump_dir_file *f = &v->files.files[i];
        if (f->kind != FILE_KIND_WAL || !f->regular) {
            continue;
        }
        if (f->number >= log_number) {
            numbers[n++] = f->number;
        } else {
            dump_issues_add(&v->issues, DUMP_WARNING,
                            "%s/%s: WAL segment below the manifest's log number %" PRIu64
                            ", already covered by tables (deleted at the next open)",
                            v->dir, f->name, log_number);
        }
    }
    qsort(numbers, n, sizeof(*numbers), compare_numbers);
    dump_out_array(v->out, "wal_segments");
    for (size_t i = 0; i < n; i++) {
        check_segment(v, numbers[i], i + 1 == n);
    }
    dump_out_end(v->out);
    free(numbers);
}

static void
check_orphans(verifier *v)
{
    for (size_t i = 0; i < v->files.count; i++) {
        const dump_dir_file *f = &v->files.files[i];
        const char *reason = dump_dir_orphan_reason(f, v->have_manifest ? &v->manifest : NULL);
        if (reason != NULL) {
            dump_issues_add(&v->issues, DUMP_WARNING, "%s/%s: %s", v->dir, f->name, reason);
        }
    }
}

static void
write_manifest(verifier *v)
{
    char path[FILENAME_PATH_MAX];
    filename_join(path, v->dir, FILENAME_MANIFEST);
    dump_out_object(v->out, "manifest");
    dump_out_str(v->out, "file", path);
    dump_out_u64(v->out, "next_file_number", v->manifest.next_file_number);
    dump_out_u64(v->out, "last_sequence", v->manifest.last_sequence);
    dump_out_u64(v->out, "log_number", v->manifest.log_number);
    dump_out_u64(v->out, "table_count", v->manifest.table_count);
    dump_out_end(v->out);
}

/* Everything but the verdict; returns DUMP_EXIT_USAGE when there is no store to check. */
static int
run_checks(verifier *v)
{
    if (dump_dir_lock_held(v->dir)) {
        dump_issues_add(&v->issues, DUMP_WARNING,
                        "%s/" FILENAME_LOCK " is held: a process has the store open, so files "
                        "may change while they are checked (verify a closed store)",
                        v->dir);
    }
    lsmkv_error err;
    if (dump_dir_list(v->dir, &v->files, &err) != LSMKV_OK) {
        dump_issues_add(&v->issues, DUMP_ERROR, "%s", err.message);
        return DUMP_EXIT_USAGE;
    }
    int status = dump_dir_read_manifest(&v->files, &v->manifest, &v->issues);
    if (status == DUMP_EXIT_USAGE) {
        return status;
    }
    v->have_manifest = status == DUMP_EXIT_CLEAN;
    if (v->have_manifest) {
        write_manifest(v);
    }
    check_tables(v);
    if (v->have_manifest) {
        check_levels(v);
    }
    check_segments(v);
    check_orphans(v);
    return v->issues.errors > 0 ? DUMP_EXIT_DAMAGED : DUMP_EXIT_CLEAN;
}

int
dump_verify_command(const dump_options *o)
{
    verifier v = {.dir = o->path};
    dump_issues_init(&v.issues);
    manifest_state_init(&v.manifest);
    v.out = dump_out_new(stdout, o->json, o->full ? 0 : DUMP_PREVIEW_BYTES);
    dump_out_str(v.out, "directory", o->path);
    int status = run_checks(&v);
    dump_issues_write(v.out, "issues", &v.issues);
    dump_out_u64(v.out, "errors", v.issues.errors);
    dump_out_u64(v.out, "warnings", v.issues.warnings);
    dump_out_str(v.out, "result",
                 status == DUMP_EXIT_CLEAN     ? "clean"
                 : status == DUMP_EXIT_DAMAGED ? "damaged"
                                               : "unreadable");
    dump_out_free(v.out);
    manifest_state_fini(&v.manifest);
    dump_dir_fini(&v.files);
    dump_issues_fini(&v.issues);
    return status;
}
