/*
 * User iterator: turns the merged stream of internal entries (every version of
 * every key, newest first per key) into what a reader at one snapshot sees:
 * each user key once, with its newest value at or below the snapshot, and no
 * key whose newest visible version is a tombstone.
 */
#ifndef LSMKV_ENGINE_USER_ITER_H
#define LSMKV_ENGINE_USER_ITER_H

#include "iterator.h"

/*
 * Wraps `internal` (ownership passes). The result's key() is a user key and
 * seek() takes a user key: the first visible key >= target.
 */
iterator *user_iterator_new(iterator *internal, uint64_t snapshot);

/* Wraps a user iterator (ownership passes) as the public lsmkv_iterator. */
lsmkv_iterator *user_iterator_handle(iterator *it);

#endif
