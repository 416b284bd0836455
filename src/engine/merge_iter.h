/*
 * Merge iterator: one sorted stream from several sorted iterators (k-way
 * merge over a binary heap). Used by flush, compaction and full-store
 * iteration. Every version of every key is passed through; deciding which
 * versions to keep is the caller's job (compaction.c).
 */
#ifndef LSMKV_ENGINE_MERGE_ITER_H
#define LSMKV_ENGINE_MERGE_ITER_H

#include "iterator.h"

/*
 * Takes ownership of the children (and frees them with itself) but not of the
 * array. Entries with equal internal keys come from the lower-index child
 * first. The merge stops at the first child error, which status() reports.
 */
iterator *merge_iterator_new(iterator **children, size_t count);

#endif
