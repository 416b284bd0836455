#include "version.h"

#include "buffer.h"
#include "checksum.h"
#include "merge_iter.h"
#include "status.h"
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
version_get(version *v, slice user_key, uint64_t snapshot, lookup_result *result, lsmkv_error *err)
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

/*
 * A level >= 1 as one sorted stream: its tables are non-overlapping and in
 * key order, so they are read one after the other, each opened only when the
 * stream reaches it. One child per level keeps the merge small.
 */
typedef struct level_iterator {
    iterator base;
    version *v; /* referenced: the level's tables stay listed */
    int level;
    size_t index;      /* of the current table within the level */
    iterator *current; /* NULL past the last table */
    /* current's validity and key, kept after every move: the merge above
     * asks for both after each step, and this saves it a call through. */
    bool valid;
    slice key;
    lsmkv_error error;
} level_iterator;

static void
level_open_table(level_iterator *li, size_t index)
{
    iterator_free(li->current);
    li->current = NULL;
    li->index = index;
    if (index < version_level_count(li->v, li->level)) {
        li->current = table_iterator_new(version_level_table(li->v, li->level, index), false);
    }
}

/* Moves on to later tables while the current one has nothing left. */
static void
level_skip_exhausted(level_iterator *li)
{
    li->valid = false;
    while (li->current != NULL && !iterator_valid(li->current)) {
        if (iterator_status(li->current, &li->error) != LSMKV_OK) {
            return;
        }
        level_open_table(li, li->index + 1);
        if (li->current != NULL) {
            iterator_seek_to_first(li->current);
        }
    }
    li->valid = li->error.code == LSMKV_OK && li->current != NULL;
    if (li->valid) {
        li->key = iterator_key(li->current);
    }
}

static bool
level_valid(iterator *it)
{
    return ((level_iterator *)it)->valid;
}

static void
level_seek_to_first(iterator *it)
{
    level_iterator *li = (level_iterator *)it;
    level_open_table(li, 0);
    if (li->current != NULL) {
        iterator_seek_to_first(li->current);
    }
    level_skip_exhausted(li);
}

static void
level_seek(iterator *it, slice target)
{
    level_iterator *li = (level_iterator *)it;
    slice user_key = internal_key_user_key(target);
    size_t lo = 0, hi = version_level_count(li->v, li->level);
    while (lo < hi) { /* the first table whose largest key is >= the target's */
        size_t mid = lo + (hi - lo) / 2;
        table *t = version_level_table(li->v, li->level, mid);
        if (slice_compare(table_info_max_key(table_info(t)), user_key) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    level_open_table(li, lo);
    if (li->current != NULL) {
        iterator_seek(li->current, target);
    }
    level_skip_exhausted(li);
}

static void
level_next(iterator *it)
{
    level_iterator *li = (level_iterator *)it;
    iterator_next(li->current);
    level_skip_exhausted(li);
}

static slice
level_key(iterator *it)
{
    return ((level_iterator *)it)->key;
}

static slice
level_value(iterator *it)
{
    return iterator_value(((level_iterator *)it)->current);
}

static int
level_status(iterator *it, lsmkv_error *err)
{
    level_iterator *li = (level_iterator *)it;
    return li->error.code == LSMKV_OK ? LSMKV_OK : status_copy(err, &li->error);
}

static void
level_free(iterator *it)
{
    level_iterator *li = (level_iterator *)it;
    iterator_free(li->current);
    version_unref(li->v);
    free(li);
}

static const iterator_ops level_iterator_ops = {
    .valid = level_valid,
    .seek_to_first = level_seek_to_first,
    .seek = level_seek,
    .next = level_next,
    .key = level_key,
    .value = level_value,
    .status = level_status,
    .free = level_free,
};

static iterator *
level_iterator_new(version *v, int level)
{
    level_iterator *li = xcalloc(1, sizeof(*li));
    li->base.ops = &level_iterator_ops;
    version_ref(v);
    li->v = v;
    li->level = level;
    li->index = SIZE_MAX;
    return &li->base;
}

size_t
version_iterators(version *v, iterator **out)
{
    size_t n = 0;
    for (size_t i = 0; i < version_level_count(v, 0); i++) {
        out[n++] = table_iterator_new(version_level_table(v, 0, i), false);
    }
    for (int level = 1; level < LSMKV_MAX_LEVELS; level++) {
        if (version_level_count(v, level) > 0) {
            out[n++] = level_iterator_new(v, level);
        }
    }
    return n;
}

iterator *
version_iterator_new(version *v)
{
    iterator **children = xcalloc(v->count + LSMKV_MAX_LEVELS, sizeof(*children));
    size_t n = version_iterators(v, children);
    iterator *merged = merge_iterator_new(children, n);
    free(children);
    return merged;
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
