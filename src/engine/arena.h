/*
 * Arena: a bump allocator for one memtable. Memory is handed out in large
 * blocks and freed all at once with the arena, which suits a skiplist that
 * only grows and dies whole. One thread allocates; any thread may read the
 * usage figure.
 */
#ifndef LSMKV_ENGINE_ARENA_H
#define LSMKV_ENGINE_ARENA_H

#include <stddef.h>

typedef struct arena arena;

arena *arena_new(void);
/* Frees every block. NULL is a no-op. */
void arena_free(arena *a);

/* Returns bytes aligned to 8 (pointer alignment). Caller serialises calls. */
void *arena_alloc(arena *a, size_t bytes);

/* Bytes reserved from the system so far; safe from any thread. */
size_t arena_memory_usage(const arena *a);

#endif
