/*
 * lsmkv-dump manifest DIR: what the manifest says (counters, live tables per
 * level with their key ranges), set against what the directory holds: WAL
 * segments still to replay or already covered, tables it names that are
 * missing, and files it does not account for.
 */
#include "dump.h"
#include "dump_dir.h"

#include "table_info.h"

#include <inttypes.h>
#include <stdlib.h>

static void
write_table(dump_out *out, const dump_dir *d, const lsmkv_table_info *t, dump_issues *issues)
{
    char name[FILENAME_PATH_MAX];
    filename_table(name, ".", t->id);
    dump_out_object(out, NULL);
    dump_out_u64(out, "id", t->id);
    dump_out_str(out, "file", name + 2);
    dump_out_u64(out, "size", t->size_bytes);
    dump_out_u64(out, "entries", t->entries);
    dump_out_u64(out, "tombstones", t->tombstones);
    dump_out_u64(out, "max_sequence", t->max_sequence);
    dump_out_bytes(out, "min_key", table_info_min_key(t));
    dump_out_bytes(out, "max_key", table_info_max_key(t));
    if (dump_dir_find_table(d, t->id) == NULL) {
        dump_out_bool(out, "missing", true);
        dump_issues_add(issues, DUMP_ERROR,
                        "%s/" FILENAME_MANIFEST " names %s/%s, which is missing", d->path, d->path,
                        name + 2);
    }
    dump_out_end(out);
}

/* One level's totals, then its tables (sorted[from, to) all have this level). */
static void
write_level(dump_out *out, const dump_dir *d, const lsmkv_table_info **sorted, size_t from,
            size_t to, dump_issues *issues)
{
    uint64_t bytes = 0, entries = 0, tombstones = 0;
    for (size_t i = from; i < to; i++) {
        bytes += sorted[i]->size_bytes;
        entries += sorted[i]->entries;
        tombstones += sorted[i]->tombstones;
    }
    dump_out_object(out, NULL);
    dump_out_u64(out, "level", sorted[from]->level);
    dump_out_u64(out, "table_count", to - from);
    dump_out_u64(out, "bytes", bytes);
    dump_out_u64(out, "entries", entries);
    dump_out_u64(out, "tombstones", tombstones);
    dump_out_array(out, "tables");
    for (size_t i = from; i < to; i++) {
        write_table(out, d, sorted[i], issues);
    }
    dump_out_end(out);
    dump_out_end(out);
}

static void
write_levels(dump_out *out, const dump_dir *d, const manifest_state *m, dump_issues *issues)
{
    const lsmkv_table_info **sorted = dump_dir_sorted_tables(m);
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->table_count; i++) {
        bytes += m->tables[i].size_bytes;
    }
    dump_out_u64(out, "table_count", m->table_count);
    dump_out_u64(out, "table_bytes", bytes);
    dump_out_array(out, "levels");
    for (size_t from = 0, to; from < m->table_count; from = to) {
        for (to = from + 1; to < m->table_count && sorted[to]->level == sorted[from]->level; to++) {
        }
        write_level(out, d, sorted, from, to, issues);
    }
    dump_out_end(out);
    free(sorted);
}

static void
write_segments(dump_out *out, const dump_dir *d, const manifest_state *m)
{
    dump_out_array(out, "wal_segments");
    for (size_t i = 0; i < d->count; i++) {
        const dump_dir_file *f = &d->files[i];
        if (f->kind != FILE_KIND_WAL) {
            continue;
        }
        dump_out_object(out, NULL);
        dump_out_u64(out, "number", f->number);
        dump_out_str(out, "file", f->name);
        dump_out_u64(out, "size", f->size);
        dump_out_str(out, "status", f->number >= m->log_number ? "replay" : "obsolete");
        dump_out_end(out);
    }
    dump_out_end(out);
}

static void
write_orphans(dump_out *out, const dump_dir *d, const manifest_state *m, dump_issues *issues)
{
    dump_out_array(out, "orphans");
    for (size_t i = 0; i < d->count; i++) {
        const char *reason = dump_dir_orphan_reason(&d->files[i], m);
        if (reason == NULL) {
            continue;
        }
        dump_out_object(out, NULL);
        dump_out_str(out, "file", d->files[i].name);
        dump_out_u64(out, "size", d->files[i].size);
        dump_out_str(out, "reason", reason);
        dump_out_end(out);
        dump_issues_add(issues, DUMP_WARNING, "%s/%s: %s", d->path, d->files[i].name, reason);
    }
    dump_out_end(out);
}

int
dump_manifest_command(const dump_options *o)
{
    dump_out *out = dump_out_new(stdout, o->json, o->full ? 0 : DUMP_PREVIEW_BYTES);
    dump_out_str(out, "directory", o->path);
    dump_issues issues;
    dump_issues_init(&issues);
    if (dump_dir_lock_held(o->path)) {
        dump_issues_add(&issues, DUMP_WARNING,
                        "%s/" FILENAME_LOCK " is held: a process has the store open, so the "
                        "files may change while they are read",
                        o->path);
    }
    dump_dir d = {0};
    manifest_state m;
    manifest_state_init(&m);
    lsmkv_error err;
    int status = DUMP_EXIT_USAGE;
    if (dump_dir_list(o->path, &d, &err) != LSMKV_OK) {
        dump_issues_add(&issues, DUMP_ERROR, "%s", err.message);
    } else {
        status = dump_dir_read_manifest(&d, &m, &issues);
    }
    if (status == DUMP_EXIT_CLEAN) {
        char path[FILENAME_PATH_MAX];
        filename_join(path, o->path, FILENAME_MANIFEST);
        dump_out_str(out, "manifest", path);
        dump_out_u64(out, "next_file_number", m.next_file_number);
        dump_out_u64(out, "last_sequence", m.last_sequence);
        dump_out_u64(out, "log_number", m.log_number);
        write_levels(out, &d, &m, &issues);
        write_segments(out, &d, &m);
        write_orphans(out, &d, &m, &issues);
        status = issues.errors > 0 ? DUMP_EXIT_DAMAGED : DUMP_EXIT_CLEAN;
    }
    dump_issues_write(out, "issues", &issues);
    dump_out_str(out, "result",
                 status == DUMP_EXIT_CLEAN     ? "clean"
                 : status == DUMP_EXIT_DAMAGED ? "damaged"
                                               : "unreadable");
    dump_out_free(out);
    manifest_state_fini(&m);
    dump_dir_fini(&d);
    dump_issues_fini(&issues);
    return status;
}
