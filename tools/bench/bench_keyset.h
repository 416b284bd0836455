/*
 * bench_keyset — which key numbers are live in the database under test, so
 * space amplification can be computed the same way for every engine: the
 * workloads set a key's bit when they write it and clear it when they delete
 * it, and the live data is (live keys) x (key + value bytes).
 *
 * One bit per key number in [0, num): 5M keys take 625 KiB. Beyond
 * BENCH_KEYSET_MAX_KEYS the set is not kept (bench_keyset_tracked() is false)
 * rather than letting a bitmap dominate the engine's peak RSS.
 */
#ifndef LSMKV_TOOLS_BENCH_KEYSET_H
#define LSMKV_TOOLS_BENCH_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2^30 keys: a 128 MiB bitmap, the most worth carrying in a benchmark child. */
#define BENCH_KEYSET_MAX_KEYS ((uint64_t)1 << 30)

typedef struct bench_keyset {
    uint64_t *bits; /* NULL when not tracked */
    uint64_t size;  /* key numbers are in [0, size) */
    uint64_t live;  /* bits set */
} bench_keyset;

/* Sets up an empty set of key numbers below `size`, or an untracked one. */
void bench_keyset_init(bench_keyset *s, uint64_t size);

/* Frees the bitmap. */
void bench_keyset_fini(bench_keyset *s);

/* Empties the set: the database was deleted. */
void bench_keyset_clear(bench_keyset *s);

/* Whether the set is kept (size <= BENCH_KEYSET_MAX_KEYS). */
static inline bool
bench_keyset_tracked(const bench_keyset *s)
{
    return s->bits != NULL;
}

/* Marks key number n written (inline: once per write in the timed loops). */
static inline void
bench_keyset_add(bench_keyset *s, uint64_t n)
{
    if (s->bits != NULL && n < s->size) {
        uint64_t mask = (uint64_t)1 << (n % 64);

        s->live += (s->bits[n / 64] & mask) == 0;
        s->bits[n / 64] |= mask;
    }
}

/* Marks key number n deleted. */
static inline void
bench_keyset_remove(bench_keyset *s, uint64_t n)
{
    if (s->bits != NULL && n < s->size) {
        uint64_t mask = (uint64_t)1 << (n % 64);

        s->live -= (s->bits[n / 64] & mask) != 0;
        s->bits[n / 64] &= ~mask;
    }
}

#endif /* LSMKV_TOOLS_BENCH_KEYSET_H */
