/*
 * Arena: memory comes from malloc in 4 KiB blocks and is carved out by
 * bumping a pointer. A request larger than a quarter block gets a block of
 * its own, so the current block's tail is not thrown away for it and the
 * waste per block stays under a quarter block. Blocks form a list so the
 * arena can free them all at once.
 *
 * Only the allocating thread touches the pointer and the block list; the
 * usage counter is atomic because other threads (the memtable manager
 * deciding when to rotate) read it while the writer allocates.
 */
#include "arena.h"

#include "buffer.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define ARENA_BLOCK_SIZE 4096
#define ARENA_ALIGN      8

typedef struct arena_block {
    struct arena_block *next;
} arena_block;

/* The block header rounded up so that a block's data starts 8-aligned. */
#define ARENA_HEADER_SIZE ((sizeof(arena_block) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

struct arena {
    uint8_t *ptr;         /* next free byte of the current block */
    size_t remaining;     /* bytes left after ptr in the current block */
    arena_block *blocks;  /* every block, newest first */
    _Atomic size_t usage; /* bytes malloc'd, headers included */
};

arena *
arena_new(void)
{
    arena *a = xcalloc(1, sizeof(*a));
    atomic_init(&a->usage, 0);
    return a;
}

void
arena_free(arena *a)
{
    if (a == NULL) {
        return;
    }
    arena_block *b = a->blocks;
    while (b != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* Mallocs a block with `bytes` of data, links it in and returns its data. */
static uint8_t *
arena_new_block(arena *a, size_t bytes)
{
    size_t total = ARENA_HEADER_SIZE + bytes;
    arena_block *b = xmalloc(total);
    b->next = a->blocks;
    a->blocks = b;
    atomic_fetch_add_explicit(&a->usage, total, memory_order_relaxed);
    return (uint8_t *)b + ARENA_HEADER_SIZE;
}

void *
arena_alloc(arena *a, size_t bytes)
{
    if (bytes == 0) {
        bytes = 1; /* every call gets a distinct, dereferenceable pointer */
    }
    size_t pad = (size_t)(-(uintptr_t)a->ptr) & (ARENA_ALIGN - 1);
    if (a->remaining >= pad && a->remaining - pad >= bytes) {
        uint8_t *p = a->ptr + pad;
        a->ptr = p + bytes;
        a->remaining -= pad + bytes;
        return p;
    }
    if (bytes > ARENA_BLOCK_SIZE / 4) {
        /* Keep the current block: its tail still serves small requests. */
        return arena_new_block(a, bytes);
    }
    uint8_t *p = arena_new_block(a, ARENA_BLOCK_SIZE);
    a->ptr = p + bytes;
    a->remaining = ARENA_BLOCK_SIZE - bytes;
    return p;
}

size_t
arena_memory_usage(const arena *a)
{
    return atomic_load_explicit(&a->usage, memory_order_relaxed);
}
