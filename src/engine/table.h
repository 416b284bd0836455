/*
 * Table: one live SSTable as the store holds it — its manifest metadata and an
 * open reader — shared by every version that lists it (reference counted).
 * The file is closed when the last reference goes; deleting the file is the
 * SSTable manager's job (Linux keeps an unlinked file readable while open).
 */
#ifndef LSMKV_ENGINE_TABLE_H
#define LSMKV_ENGINE_TABLE_H

#include "sstable_reader.h"
#include "lsmkv/lsmkv.h"

typedef struct table table;

/* Opens dir/<info->id>.sst; info is copied. The new table has one reference. */
int table_open(const char *dir, const lsmkv_table_info *info, table **out, lsmkv_error *err);
void table_ref(table *t);
/* NULL is a no-op. */
void table_unref(table *t);

const lsmkv_table_info *table_info(const table *t);
sstable_reader *table_reader(const table *t);

#endif
