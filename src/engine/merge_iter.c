/*
 * A binary min-heap of child indices ordered by each child's current key.
 * Invalid (exhausted) children are kept out of the heap; a child that stops
 * with an error stops the whole merge, so callers never mistake a damaged
 * table for a shorter one.
 */
#include "merge_iter.h"

#include "buffer.h"
#include "internal_key.h"

#include <stdint.h>
#include <stdlib.h>

#define NO_CHILD SIZE_MAX

typedef struct merge_iterator {
    iterator base;
    iterator **children;
    slice *keys; /* each valid child's current key, so comparing costs no call */
    size_t count;
    size_t *heap; /* child indices; heap[0] is the smallest current key */
    size_t heap_len;
    /* The smaller of heap[1] and heap[2], or NO_CHILD if not known: valid
     * while the heap below its top stays as it is. */
    size_t runner_up;
    lsmkv_error error;
} merge_iterator;

static bool
child_less(merge_iterator *m, size_t a, size_t b)
{
    int c = internal_key_compare(m->keys[a], m->keys[b]);
    return c < 0 || (c == 0 && a < b);
}

static void
heap_sift_down(merge_iterator *m, size_t i)
{
    m->runner_up = NO_CHILD;
    for (;;) {
        size_t smallest = i, l = 2 * i + 1, r = 2 * i + 2;
        if (l < m->heap_len && child_less(m, m->heap[l], m->heap[smallest])) {
            smallest = l;
        }
        if (r < m->heap_len && child_less(m, m->heap[r], m->heap[smallest])) {
            smallest = r;
        }
        if (smallest == i) {
            return;
        }
        size_t tmp = m->heap[i];
        m->heap[i] = m->heap[smallest];
        m->heap[smallest] = tmp;
        i = smallest;
    }
}

/* Records the first child error; returns true if the child is healthy. */
static bool
child_check(merge_iterator *m, size_t child)
{
    if (iterator_valid(m->children[child])) {
        m->keys[child] = iterator_key(m->children[child]);
        return true;
    }
    if (m->error.code == LSMKV_OK) {
        iterator_status(m->children[child], &m->error);
    }
    return false;
}

static void
heap_rebuild(merge_iterator *m)
{
    m->runner_up = NO_CHILD;
    m->heap_len = 0;
    for (size_t i = 0; i < m->count; i++) {
        if (child_check(m, i)) {
            m->heap[m->heap_len++] = i;
        }
    }
    for (size_t i = m->heap_len / 2; i-- > 0;) {
        heap_sift_down(m, i);
    }
}

static bool
merge_valid(iterator *it)
{
    merge_iterator *m = (merge_iterator *)it;
    return m->error.code == LSMKV_OK && m->heap_len > 0;
}

static void
merge_seek_to_first(iterator *it)
{
    merge_iterator *m = (merge_iterator *)it;
    for (size_t i = 0; i < m->count; i++) {
        iterator_seek_to_first(m->children[i]);
    }
    heap_rebuild(m);
}

static void
merge_seek(iterator *it, slice target)
{
    merge_iterator *m = (merge_iterator *)it;
    for (size_t i = 0; i < m->count; i++) {
        iterator_seek(m->children[i], target);
    }
    heap_rebuild(m);
}

/* Requires heap_len >= 2. */
static size_t
runner_up(merge_iterator *m)
{
    if (m->runner_up == NO_CHILD) {
        bool left = m->heap_len == 2 || child_less(m, m->heap[1], m->heap[2]);
        m->runner_up = left ? m->heap[1] : m->heap[2];
    }
    return m->runner_up;
}

static void
merge_next(iterator *it)
{
    merge_iterator *m = (merge_iterator *)it;
    size_t top = m->heap[0];
    iterator_next(m->children[top]);
    if (!child_check(m, top)) {
        m->heap[0] = m->heap[--m->heap_len];
    } else if (m->heap_len < 2 || child_less(m, top, runner_up(m))) {
        /* The child on top usually stays there for a run of entries: one
         * comparison with the smallest below it, whose place did not move,
         * says so without a sift. */
        return;
    }
    if (m->heap_len > 0) {
        heap_sift_down(m, 0);
    }
}

static slice
merge_key(iterator *it)
{
    merge_iterator *m = (merge_iterator *)it;
    return m->keys[m->heap[0]];
}

static slice
merge_value(iterator *it)
{
    merge_iterator *m = (merge_iterator *)it;
    return iterator_value(m->children[m->heap[0]]);
}

static int
merge_status(iterator *it, lsmkv_error *err)
{
    merge_iterator *m = (merge_iterator *)it;
    if (m->error.code != LSMKV_OK && err != NULL) {
        *err = m->error;
    }
    return m->error.code;
}

static void
merge_free(iterator *it)
{
    merge_iterator *m = (merge_iterator *)it;
    for (size_t i = 0; i < m->count; i++) {
        iterator_free(m->children[i]);
    }
    free(m->children);
    free(m->keys);
    free(m->heap);
    free(m);
}

static const iterator_ops merge_ops = {
    .valid = merge_valid,
    .seek_to_first = merge_seek_to_first,
    .seek = merge_seek,
    .next = merge_next,
    .key = merge_key,
    .value = merge_value,
    .status = merge_status,
    .free = merge_free,
};

iterator *
merge_iterator_new(iterator **children, size_t count)
{
    merge_iterator *m = xcalloc(1, sizeof(*m));
    m->base.ops = &merge_ops;
    m->children = xcalloc(count, sizeof(*m->children));
    m->heap = xcalloc(count, sizeof(*m->heap));
    m->keys = xcalloc(count, sizeof(*m->keys));
    for (size_t i = 0; i < count; i++) {
        m->children[i] = children[i];
    }
    m->count = count;
    return &m->base;
}
