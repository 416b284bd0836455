#include "table_info.h"

#include "buffer.h"

#include <stdlib.h>

void
table_info_set_keys(lsmkv_table_info *info, slice min_key, slice max_key)
{
    /* Copy first: the new keys may point into the old ones. */
    uint8_t *min_copy = xmemdup(min_key.data, min_key.len);
    uint8_t *max_copy = xmemdup(max_key.data, max_key.len);
    free(info->min_key);
    free(info->max_key);
    info->min_key = min_copy;
    info->min_key_len = min_key.len;
    info->max_key = max_copy;
    info->max_key_len = max_key.len;
}

void
table_info_copy(lsmkv_table_info *dst, const lsmkv_table_info *src)
{
    if (dst == src) {
        return;
    }
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
    lsmkv_table_info copy; /* info may live inside the list being grown */
    table_info_copy(&copy, info);
    list->tables = xrealloc(list->tables, (list->count + 1) * sizeof(*list->tables));
    list->tables[list->count] = copy;
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
