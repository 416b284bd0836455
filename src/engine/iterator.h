/*
 * The iterator every sorted source implements: memtables, table blocks,
 * SSTables, and the merge of several of them. A small ops table, in the manner
 * of LevelDB's Iterator.
 *
 * Entries come in internal-key order (internal_key.h). key() and value() stay
 * valid until the iterator moves or is freed. An iterator that hits an error
 * (a checksum mismatch, an I/O error) becomes invalid, and status() then
 * returns the error: callers check status() once iteration ends.
 */
#ifndef LSMKV_ENGINE_ITERATOR_H
#define LSMKV_ENGINE_ITERATOR_H

#include "lsmkv/lsmkv.h"
#include "slice.h"

typedef struct iterator iterator;

typedef struct iterator_ops {
    bool (*valid)(iterator *it);
    void (*seek_to_first)(iterator *it);
    /* Positions at the first entry whose internal key is >= target. */
    void (*seek)(iterator *it, slice target);
    void (*next)(iterator *it);   /* requires valid() */
    slice (*key)(iterator *it);   /* internal key; requires valid() */
    slice (*value)(iterator *it); /* requires valid() */
    /* LSMKV_OK, or the error that stopped the iterator (copied into err). */
    int (*status)(iterator *it, lsmkv_error *err);
    void (*free)(iterator *it);
} iterator_ops;

/*
 * Implementations embed this as their first member and allocate it zeroed.
 * cleanup, if set (iterator_on_free), runs after the iterator is freed: a
 * way to keep what it reads alive without wrapping it in another layer.
 */
struct iterator {
    const iterator_ops *ops;
    void (*cleanup)(void *arg);
    void *cleanup_arg;
};

static inline bool
iterator_valid(iterator *it)
{
    return it->ops->valid(it);
}
static inline void
iterator_seek_to_first(iterator *it)
{
    it->ops->seek_to_first(it);
}
static inline void
iterator_seek(iterator *it, slice target)
{
    it->ops->seek(it, target);
}
static inline void
iterator_next(iterator *it)
{
    it->ops->next(it);
}
static inline slice
iterator_key(iterator *it)
{
    return it->ops->key(it);
}
static inline slice
iterator_value(iterator *it)
{
    return it->ops->value(it);
}
static inline int
iterator_status(iterator *it, lsmkv_error *err)
{
    return it->ops->status(it, err);
}
/* NULL is a no-op. */
static inline void
iterator_free(iterator *it)
{
    if (it != NULL) {
        void (*cleanup)(void *) = it->cleanup;
        void *arg = it->cleanup_arg;
        it->ops->free(it);
        if (cleanup != NULL) {
            cleanup(arg);
        }
    }
}

/* Runs fn(arg) when it is freed (one hook per iterator). */
static inline void
iterator_on_free(iterator *it, void (*fn)(void *arg), void *arg)
{
    it->cleanup = fn;
    it->cleanup_arg = arg;
}

/* An iterator with no entries that reports `error` (copied; NULL for OK). */
iterator *iterator_new_empty(const lsmkv_error *error);

#endif
