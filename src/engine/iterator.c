#include "iterator.h"

#include "buffer.h"

#include <stdlib.h>

typedef struct empty_iterator {
    iterator base;
    lsmkv_error error;
} empty_iterator;

static bool
empty_valid(iterator *it)
{
    return false;
}

static void
empty_seek_to_first(iterator *it)
{
}

static void
empty_seek(iterator *it, slice target)
{
}

static void
empty_next(iterator *it)
{
}

static slice
empty_entry(iterator *it)
{
    return slice_make(NULL, 0);
}

static int
empty_status(iterator *it, lsmkv_error *err)
{
    empty_iterator *e = (empty_iterator *)it;
    if (e->error.code != LSMKV_OK && err != NULL) {
        *err = e->error;
    }
    return e->error.code;
}

static void
empty_free(iterator *it)
{
    free(it);
}

static const iterator_ops empty_ops = {
    .valid = empty_valid,
    .seek_to_first = empty_seek_to_first,
    .seek = empty_seek,
    .next = empty_next,
    .key = empty_entry,
    .value = empty_entry,
    .status = empty_status,
    .free = empty_free,
};

iterator *
iterator_new_empty(const lsmkv_error *error)
{
    empty_iterator *e = xcalloc(1, sizeof(*e));
    e->base.ops = &empty_ops;
    if (error != NULL) {
        e->error = *error;
    }
    return &e->base;
}
