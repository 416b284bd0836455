#include "read_view.h"

#include "buffer.h"
#include "merge_iter.h"
#include "user_iter.h"

#include <stdlib.h>

void
read_view_acquire(read_view *view, memtable_manager *mm, sstable_manager *sm,
                  const atomic_uint_fast64_t *last_sequence)
{
    memtable_manager_snapshot(mm, view->mems, &view->mem_count);
    view->tables = sstable_manager_current(sm);
    view->snapshot = atomic_load_explicit(last_sequence, memory_order_acquire);
}

void
read_view_release(read_view *view)
{
    version_unref(view->tables);
    for (size_t i = 0; i < view->mem_count; i++) {
        memtable_unref(view->mems[i]);
    }
    view->tables = NULL;
    view->mem_count = 0;
}

int
read_view_get(const read_view *view, slice user_key, lookup_result *result, lsmkv_error *err)
{
    for (size_t i = 0; i < view->mem_count; i++) {
        if (memtable_get(view->mems[i], user_key, view->snapshot, result)) {
            return LSMKV_OK;
        }
    }
    return version_get(view->tables, user_key, view->snapshot, result, err);
}

iterator *
read_view_iterator_new(const read_view *view)
{
    size_t capacity = view->mem_count + version_table_count(view->tables) + LSMKV_MAX_LEVELS;
    iterator **children = xcalloc(capacity, sizeof(*children));
    size_t n = 0;
    for (size_t i = 0; i < view->mem_count; i++) {
        children[n++] = memtable_iterator_new(view->mems[i]);
    }
    n += version_iterators(view->tables, children + n);
    iterator *it = user_iterator_new(merge_iterator_new(children, n), view->snapshot);
    free(children);
    return it;
}
