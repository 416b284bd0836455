#include "dump_dir.h"

#include "dump.h"
#include "file.h"
#include "table_info.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int
compare_names(const void *a, const void *b)
{
    return strcmp(((const dump_dir_file *)a)->name, ((const dump_dir_file *)b)->name);
}

int
dump_dir_list(const char *dir, dump_dir *out, lsmkv_error *err)
{
    char **names = NULL;
    size_t count = 0;
    int rc = file_list_dir(dir, &names, &count, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    out->path = dir;
    out->count = count;
    out->files = xcalloc(count + 1, sizeof(*out->files));
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < count; i++) {
        dump_dir_file *f = &out->files[i];
        f->name = xstrdup(names[i]);
        f->kind = filename_parse(names[i], &f->number);
        filename_join(path, dir, names[i]);
        struct stat st;
        if (lstat(path, &st) == 0) {
            f->regular = S_ISREG(st.st_mode);
            f->size = (uint64_t)st.st_size;
        }
    }
    file_list_free(names, count);
    qsort(out->files, out->count, sizeof(*out->files), compare_names);
    return LSMKV_OK;
}

void
dump_dir_fini(dump_dir *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->files[i].name);
    }
    free(d->files);
    memset(d, 0, sizeof(*d));
}

const dump_dir_file *
dump_dir_find_table(const dump_dir *d, uint64_t id)
{
    char name[FILENAME_PATH_MAX];
    filename_table(name, ".", id);
    dump_dir_file key = {.name = name + 2}; /* past "./" */
    return bsearch(&key, d->files, d->count, sizeof(*d->files), compare_names);
}

bool
dump_dir_lock_held(const char *dir)
{
    char path[FILENAME_PATH_MAX];
    filename_join(path, dir, FILENAME_LOCK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false; /* no LOCK file: nobody has it open */
    }
    bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (!held) {
        flock(fd, LOCK_UN);
    }
    close(fd);
    return held;
}

static bool
has_data_files(const dump_dir *d)
{
    for (size_t i = 0; i < d->count; i++) {
        if (d->files[i].kind == FILE_KIND_TABLE || d->files[i].kind == FILE_KIND_WAL) {
            return true;
        }
    }
    return false;
}

int
dump_dir_read_manifest(const dump_dir *d, manifest_state *m, dump_issues *issues)
{
    lsmkv_error err;
    int rc = manifest_read(d->path, m, &err);
    if (rc == LSMKV_OK) {
        return DUMP_EXIT_CLEAN;
    }
    if (rc == LSMKV_NOT_FOUND && has_data_files(d)) {
        dump_issues_add(issues, DUMP_ERROR,
                        "%s/" FILENAME_MANIFEST
                        " is missing but the directory holds WAL segments or tables",
                        d->path);
        return DUMP_EXIT_DAMAGED;
    }
    if (rc == LSMKV_NOT_FOUND) {
        dump_issues_add(issues, DUMP_ERROR, "%s: not a store (no " FILENAME_MANIFEST ")", d->path);
        return DUMP_EXIT_USAGE;
    }
    dump_issues_add(issues, DUMP_ERROR, "%s", err.message);
    return rc == LSMKV_CORRUPTION ? DUMP_EXIT_DAMAGED : DUMP_EXIT_USAGE;
}

static bool
names_table(const manifest_state *m, uint64_t id)
{
    for (size_t i = 0; i < m->table_count; i++) {
        if (m->tables[i].id == id) {
            return true;
        }
    }
    return false;
}

const char *
dump_dir_orphan_reason(const dump_dir_file *f, const manifest_state *m)
{
    if (!f->regular) {
        return "not a regular file";
    }
    switch (f->kind) {
    case FILE_KIND_MANIFEST:
    case FILE_KIND_LOCK:
    case FILE_KIND_WAL:
        return NULL;
    case FILE_KIND_TABLE:
        return m == NULL || names_table(m, f->number)
                   ? NULL
                   : "a table the manifest does not name (deleted at the next open)";
    case FILE_KIND_TEMP:
        return "a temporary file of an interrupted write (deleted at the next open)";
    default:
        return "not a file a store writes";
    }
}

static int
compare_tables(const void *a, const void *b)
{
    const lsmkv_table_info *x = *(const lsmkv_table_info *const *)a;
    const lsmkv_table_info *y = *(const lsmkv_table_info *const *)b;
    if (x->level != y->level) {
        return x->level < y->level ? -1 : 1;
    }
    if (x->level == 0 && x->max_sequence != y->max_sequence) {
        return x->max_sequence > y->max_sequence ? -1 : 1;
    }
    int c = x->level == 0 ? 0 : slice_compare(table_info_min_key(x), table_info_min_key(y));
    if (c != 0) {
        return c;
    }
    return x->id < y->id ? -1 : (x->id > y->id);
}

const lsmkv_table_info **
dump_dir_sorted_tables(const manifest_state *m)
{
    const lsmkv_table_info **sorted = xcalloc(m->table_count + 1, sizeof(*sorted));
    for (size_t i = 0; i < m->table_count; i++) {
        sorted[i] = &m->tables[i];
    }
    qsort(sorted, m->table_count, sizeof(*sorted), compare_tables);
    return sorted;
}
