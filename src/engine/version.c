#include "version.h"

#include "buffer.h"
#include "checksum.h"
#include "merge_iter.h"
#include "table_info.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct version {
    atomic_int refs;
    size_t count;
    table **tables; /* search order */
    /* tables[level_begin[l], level_begin[l + 1]) are level l */
    size_t level_begin[LSMKV_MAX_LEVELS + 1];
};

/* Level 0 newest first; deeper levels by level, then by smallest key. */
static int
search_order(const void *pa, const void *pb)
{
    const lsmkv_table_info *a = table_info(*(table *const *)pa);
    const lsmkv_table_info *b = table_info(*(table *const *)pb);
    if (a->level != b->level) {
        return a->level < b->level ? -1 : 1;
    }
    if (a->level == 0) {
        if (a->max_sequence != b->max_sequence) {
            return a->max_sequence > b->max_sequence ? -1 : 1;
        }
        return a->id > b->id ? -1 : (a->id < b->id);
    }
    return slice_compare(table_info_min_key(a), table_info_min_key(b));
}

version *
version_new(table *const *tables, size_t count)
{
    version *v = xcalloc(1, sizeof(*v));
    atomic_init(&v->refs, 1);
    v->count = count;
    v->tables = xcalloc(count, sizeof(*v->tables));
    for (size_t i = 0; i < count; i++) {
        table_ref(tables[i]);
        v->tables[i] = tables[i];
    }
    qsort(v->tables, count, sizeof(*v->tables), search_order);
    size_t i = 0;
    for (int level = 0; level <= LSMKV_MAX_LEVELS; level++) {
        v->level_begin[level] = i;
        while (i < count && table_info(v->tables[i])->level == (uint32_t)level) {
            i++;
        }
    }
    return v;
}

void
version_ref(version *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void
version_unref(version *v)
{
    if (v == NULL || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < v->count; i++) {
        table_unref(v->tables[i]);
    }
    free(v->tables);
    free(v);
}

size_t
version_table_count(const version *v)
{
    return v->count;
}

table *
version_table(const version *v, size_t i)
{
    return v->tables[i];
}

static bool
key_in_range(const table *t, slice user_key)
{
    const lsmkv_table_info *info = table_info(t);
    return slice_compare(user_key, table_info_min_key(info)) >= 0 &&
           slice_compare(user_key, table_info_max_key(info)) <= 0;
}

/* Looks in one table if its range allows; true when the search is over. */
static bool
table_lookup(table *t, slice user_key, uint64_t hash, uint64_t snapshot, lookup_result *result,
             int *rc, lsmkv_error *err)
{
    if (!key_in_range(t, user_key)) {
        return false;
    }
    *rc = table_get(t, user_key, hash, snapshot, result, err);
    return *rc != LSMKV_OK || result->found;
}

/* The only table of a level >= 1 (sorted, non-overlapping) whose range may hold key. */
static table *
level_find(const version *v, int level, slice user_key)
{
    size_t lo = v->level_begin[level], end = v->level_begin[level + 1], hi = end;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (slice_compare(table_info_max_key(table_info(v->tables[mid])), user_key) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < end && key_in_range(v->tables[lo], user_key) ? v->tables[lo] : NULL;
}

int
version_get(version *v, slice user_key, uint64_t snapshot, lookup_result *result,
            lsmkv_error *err)
{
    lookup_result_reset(result);
    uint64_t hash = hash64(user_key.data, user_key.len);
    int rc = LSMKV_OK;
    for (size_t i = 0; i < v->level_begin[1]; i++) {
        if (table_lookup(v->tables[i], user_key, hash, snapshot, result, &rc, err)) {
            return rc;
        }
    }
    for (int level = 1; level < LSMKV_MAX_LEVELS; level++) {
        table *t = level_find(v, level, user_key);
        if (t != NULL && table_lookup(t, user_key, hash, snapshot, result, &rc, err)) {
            return rc;
        }
    }
    return LSMKV_OK;
}

size_t
version_level_count(const version *v, int level)
{
    return v->level_begin[level + 1] - v->level_begin[level];
}

table *
version_level_table(const version *v, int level, size_t i)
{
    return v->tables[v->level_begin[level] + i];
}

uint64_t
version_level_bytes(const version *v, int level)
{
    uint64_t bytes = 0;
    for (size_t i = v->level_begin[level]; i < v->level_begin[level + 1]; i++) {
        bytes += table_info(v->tables[i])->size_bytes;
    }
    return bytes;
}

void
version_overlapping(const version *v, int level, slice min_key, slice max_key, table ***out,
                    size_t *count)
{
    for (size_t i = v->level_begin[level]; i < v->level_begin[level + 1]; i++) {
        const lsmkv_table_info *info = table_info(v->tables[i]);
        if (slice_compare(table_info_max_key(info), min_key) < 0 ||
            slice_compare(table_info_min_key(info), max_key) > 0) {
            continue;
        }
        *out = xrealloc(*out, (*count + 1) * sizeof(**out));
        (*out)[(*count)++] = v->tables[i];
    }
}

bool
version_key_exists_below(const version *v, int level, slice user_key)
{
    for (int deeper = level + 1; deeper < LSMKV_MAX_LEVELS; deeper++) {
        if (level_find(v, deeper, user_key) != NULL) {
            return true;
        }
    }
    return false;
}

/* Keeps the version (and so its tables) alive while the merge runs. */
typedef struct version_iterator {
    iterator base;
    iterator *merge;
    version *v;
} version_iterator;

#define VERSION_ITERATOR_FORWARD(name, ret, call)                                                  \
    static ret version_iterator_##name(iterator *it)                                               \
    {                                                                                              \
        return call(((version_iterator *)it)->merge);                                              \
    }
VERSION_ITERATOR_FORWARD(valid, bool, iterator_valid)
VERSION_ITERATOR_FORWARD(seek_to_first, void, iterator_seek_to_first)
VERSION_ITERATOR_FORWARD(next, void, iterator_next)
VERSION_ITERATOR_FORWARD(key, slice, iterator_key)
VERSION_ITERATOR_FORWARD(value, slice, iterator_value)

static void
version_iterator_seek(iterator *it, slice target)
{
    iterator_seek(((version_iterator *)it)->merge, target);
}

static int
version_iterator_status(iterator *it, lsmkv_error *err)
{
    return iterator_status(((version_iterator *)it)->merge, err);
}

static void
version_iterator_free(iterator *it)
{
    version_iterator *vi = (version_iterator *)it;
    iterator_free(vi->merge);
    version_unref(vi->v);
    free(vi);
}

static const iterator_ops version_iterator_ops = {
    .valid = version_iterator_valid,
    .seek_to_first = version_iterator_seek_to_first,
    .seek = version_iterator_seek,
    .next = version_iterator_next,
    .key = version_iterator_key,
    .value = version_iterator_value,
    .status = version_iterator_status,
    .free = version_iterator_free,
};

iterator *
version_iterator_new(version *v)
{
    iterator **children = xcalloc(v->count ? v->count : 1, sizeof(*children));
    for (size_t i = 0; i < v->count; i++) {
        children[i] = table_iterator_new(v->tables[i], false);
    }
    version_iterator *vi = xcalloc(1, sizeof(*vi));
    vi->base.ops = &version_iterator_ops;
    vi->merge = merge_iterator_new(children, v->count);
    free(children);
    version_ref(v);
    vi->v = v;
    return &vi->base;
}

void
version_level_stats(const version *v, lsmkv_level_stats levels[LSMKV_MAX_LEVELS])
{
    memset(levels, 0, sizeof(lsmkv_level_stats) * LSMKV_MAX_LEVELS);
    for (size_t i = 0; i < v->count; i++) {
        const lsmkv_table_info *info = table_info(v->tables[i]);
        levels[info->level].tables++;
        levels[info->level].bytes += info->size_bytes;
    }
}
