#include "table.h"

#include "buffer.h"
#include "filename.h"
#include "status.h"
#include "table_info.h"

#include <stdatomic.h>
#include <stdlib.h>

struct table {
    atomic_int refs;
    lsmkv_table_info info;
    sstable_reader *reader;
};

int
table_open(const char *dir, const lsmkv_table_info *info, table **out, lsmkv_error *err)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, dir, info->id);
    sstable_reader *reader;
    int rc = sstable_reader_open(path, &reader, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    table *t = xcalloc(1, sizeof(*t));
    atomic_init(&t->refs, 1);
    table_info_copy(&t->info, info);
    t->reader = reader;
    *out = t;
    return LSMKV_OK;
}

void
table_ref(table *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void
table_unref(table *t)
{
    if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    sstable_reader_free(t->reader);
    table_info_fini(&t->info);
    free(t);
}

const lsmkv_table_info *
table_info(const table *t)
{
    return &t->info;
}

sstable_reader *
table_reader(const table *t)
{
    return t->reader;
}
