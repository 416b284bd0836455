/*
 * A small seeded random generator (splitmix64) for lsmkv-crash: the same seed
 * gives the same kill points, writes and values, run after run.
 */
#ifndef LSMKV_TOOLS_CRASH_RNG_H
#define LSMKV_TOOLS_CRASH_RNG_H

#include <stdint.h>

typedef struct crash_rng {
    uint64_t state;
} crash_rng;

/* A generator for one purpose: the same (seed, a, b, c) gives the same stream. */
void crash_rng_init(crash_rng *rng, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

uint64_t crash_rng_next(crash_rng *rng);

/* Uniform in [0, n); n > 0. */
uint64_t crash_rng_below(crash_rng *rng, uint64_t n);

#endif
