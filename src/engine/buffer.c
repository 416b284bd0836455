#include "buffer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void
out_of_memory(size_t size)
{
    fprintf(stderr, "lsmkv: out of memory allocating %zu bytes\n", size);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL) {
        out_of_memory(size);
    }
    return p;
}

void *
xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        out_of_memory(count * size);
    }
    return p;
}

void *
xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL) {
        out_of_memory(size);
    }
    return p;
}

uint8_t *
xmemdup(const void *data, size_t len)
{
    uint8_t *p = xmalloc(len);
    if (len) {
        memcpy(p, data, len);
    }
    return p;
}

void
buffer_init(buffer *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
buffer_fini(buffer *b)
{
    free(b->data);
    buffer_init(b);
}

void
buffer_reserve(buffer *b, size_t extra)
{
    if (b->cap - b->len >= extra) {
        return;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        out_of_memory(extra); /* no allocation could hold it */
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void
buffer_append(buffer *b, const void *data, size_t len)
{
    if (len == 0) {
        return;
    }
    /* Appending part of itself: the source moves if the buffer grows, so
     * remember it as an offset (and compare addresses as integers). */
    uintptr_t at = (uintptr_t)data, base = (uintptr_t)b->data;
    bool inside = b->data != NULL && at >= base && at < base + b->cap;
    size_t offset = inside ? (size_t)(at - base) : 0;
    buffer_reserve(b, len);
    const uint8_t *src = inside ? b->data + offset : data;
    memmove(b->data + b->len, src, len);
    b->len += len;
}

void
buffer_set(buffer *b, const void *data, size_t len)
{
    if (len > 0 && b->data != NULL && (const uint8_t *)data >= b->data &&
        (const uint8_t *)data < b->data + b->cap) {
        memmove(b->data, data, len); /* a part of itself */
        b->len = len;
        return;
    }
    b->len = 0;
    buffer_append(b, data, len);
}

char *
xstrdup(const char *s)
{
    return (char *)xmemdup(s, strlen(s) + 1);
}
