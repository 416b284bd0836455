/*
 * xalloc — allocation that aborts when memory runs out, as the engine's
 * buffer.h does; the client links nothing of the engine, so it has its own.
 */
#ifndef LSMKV_CLIENT_XALLOC_H
#define LSMKV_CLIENT_XALLOC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "lsmkv-client: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

static inline void *
xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "lsmkv-client: out of memory allocating %zu x %zu bytes\n", count, size);
        abort();
    }
    return p;
}

/* A malloc'd copy of len bytes (never NULL, even for len 0). */
static inline uint8_t *
xmemdup(const void *src, size_t len)
{
    uint8_t *p = xmalloc(len);
    if (len > 0) {
        memcpy(p, src, len);
    }
    return p;
}

#endif
