/*
 * Helpers for lsmkv_table_info (public header): the metadata of one SSTable
 * that the manifest records and flush/compaction report. The engine uses the
 * public struct itself so there is one description of a table, not two.
 */
#ifndef LSMKV_ENGINE_TABLE_INFO_H
#define LSMKV_ENGINE_TABLE_INFO_H

#include "slice.h"
#include "lsmkv/lsmkv.h"

/* Replaces info's key range with copies of min_key and max_key. */
void table_info_set_keys(lsmkv_table_info *info, slice min_key, slice max_key);

/* Deep copy: dst receives its own keys. dst is overwritten, not freed first. */
void table_info_copy(lsmkv_table_info *dst, const lsmkv_table_info *src);

/* Frees the keys; the struct itself is the caller's. NULL is a no-op. */
void table_info_fini(lsmkv_table_info *info);

static inline slice
table_info_min_key(const lsmkv_table_info *info)
{
    return slice_make(info->min_key, info->min_key_len);
}

static inline slice
table_info_max_key(const lsmkv_table_info *info)
{
    return slice_make(info->max_key, info->max_key_len);
}

/* Appends a deep copy of info to list. */
void table_list_append(lsmkv_table_list *list, const lsmkv_table_info *info);

#endif
