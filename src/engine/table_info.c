#include "table_info.h"

#include "buffer.h"

#include <stdlib.h>

void
table_info_set_keys(lsmkv_table_info *info, slice min_key, slice max_key)
{
    free(info->min_key);
    free(info->max_key);
    info->min_key = xmemdup(min_key.data, min_key.len);
    info->min_key_len = min_key.len;
    info->max_key = xmemdup(max_key.data, max_key.len);
    info->max_key_len = max_key.len;
}

void
table_info_copy(lsmkv_table_info *dst, const lsmkv_table_info *src)
{
    *dst = *src;
    dst->min_key = NULL;
    dst->max_key = NULL;
    table_info_set_keys(dst, table_info_min_key(src), table_info_max_key(src));
}

void
table_info_fini(lsmkv_table_info *info)
{
    if (info == NULL) {
        return;
    }
    free(info->min_key);
    free(info->max_key);
    info->min_key = NULL;
    info->max_key = NULL;
    info->min_key_len = 0;
    info->max_key_len = 0;
}

void
table_list_append(lsmkv_table_list *list, const lsmkv_table_info *info)
{
    list->tables = xrealloc(list->tables, (list->count + 1) * sizeof(*list->tables));
    table_info_copy(&list->tables[list->count], info);
    list->count++;
}

void
lsmkv_table_list_fini(lsmkv_table_list *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        table_info_fini(&list->tables[i]);
    }
    free(list->tables);
    list->tables = NULL;
    list->count = 0;
}

void
lsmkv_compaction_result_fini(lsmkv_compaction_result *result)
{
    if (result != NULL) {
        lsmkv_table_list_fini(&result->outputs);
    }
}
