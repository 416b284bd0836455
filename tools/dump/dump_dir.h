/*
 * A store directory as lsmkv-dump manifest and verify see it: its files
 * classified with filename.h, its manifest read with manifest_read, and
 * which files the manifest accounts for. Nothing here writes to the
 * directory or takes its lock.
 */
#ifndef LSMKV_TOOLS_DUMP_DIR_H
#define LSMKV_TOOLS_DUMP_DIR_H

#include "dump_issues.h"
#include "filename.h"
#include "manifest.h"

typedef struct dump_dir_file {
    char *name;
    file_kind kind;
    uint64_t number; /* WAL segments and tables */
    uint64_t size;
    bool regular; /* a regular file (not a directory, socket, ...) */
} dump_dir_file;

typedef struct dump_dir {
    const char *path; /* borrowed */
    size_t count;
    dump_dir_file *files; /* sorted by name */
} dump_dir;

/* Lists dir. I/O codes if it cannot be listed. */
int dump_dir_list(const char *dir, dump_dir *out, lsmkv_error *err);
void dump_dir_fini(dump_dir *d);

/* The listed table file with this number, or NULL. */
const dump_dir_file *dump_dir_find_table(const dump_dir *d, uint64_t id);

/*
 * Whether another process has the store open: probes dir/LOCK with a shared,
 * non-blocking flock that is released at once (never creating the file). A
 * store opening at that very instant would see LSMKV_BUSY and may retry.
 */
bool dump_dir_lock_held(const char *dir);

/*
 * Reads dir/MANIFEST into *m. Returns DUMP_EXIT_CLEAN, or after adding an
 * error to issues: DUMP_EXIT_DAMAGED for an empty or damaged manifest, or a
 * missing one beside WAL segments or tables; DUMP_EXIT_USAGE when the
 * directory holds no store at all.
 */
int dump_dir_read_manifest(const dump_dir *d, manifest_state *m, dump_issues *issues);

/*
 * Why f is left over from an interrupted operation (a table the manifest does
 * not name, a temporary file, a file no store writes), or NULL if it belongs:
 * MANIFEST, LOCK, named tables and WAL segments. m NULL: no manifest read.
 */
const char *dump_dir_orphan_reason(const dump_dir_file *f, const manifest_state *m);

/* m's tables in search order: level by level, level 0 newest first, others by key. */
const lsmkv_table_info **dump_dir_sorted_tables(const manifest_state *m);

#endif
