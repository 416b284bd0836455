/*
 * A growable byte buffer owned by whoever holds it (embedded: _init/_fini).
 * Allocation failure aborts the process with a message: like LevelDB and
 * RocksDB, the engine does not try to run on after malloc fails.
 */
#ifndef LSMKV_ENGINE_BUFFER_H
#define LSMKV_ENGINE_BUFFER_H

#include "slice.h"

typedef struct buffer {
    uint8_t *data;
    size_t len;
    size_t cap;
} buffer;

void buffer_init(buffer *b);
void buffer_fini(buffer *b);

/* Makes room for at least `extra` more bytes past len. */
void buffer_reserve(buffer *b, size_t extra);
void buffer_append(buffer *b, const void *data, size_t len);
static inline void
buffer_append_slice(buffer *b, slice s)
{
    buffer_append(b, s.data, s.len);
}
void buffer_set(buffer *b, const void *data, size_t len);
static inline void
buffer_clear(buffer *b)
{
    b->len = 0;
}
static inline slice
buffer_slice(const buffer *b)
{
    return slice_make(b->data, b->len);
}

/* malloc/realloc that abort with a message on failure. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
uint8_t *xmemdup(const void *data, size_t len);
char *xstrdup(const char *s);

#endif
