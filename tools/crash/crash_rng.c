#include "crash_rng.h"

#include <assert.h>

uint64_t
crash_rng_next(crash_rng *rng)
{
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void
crash_rng_init(crash_rng *rng, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    /* Mix each part in through the generator, so nearby tuples give unrelated streams. */
    rng->state = seed;
    uint64_t parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        rng->state = crash_rng_next(rng) ^ parts[i];
    }
}

uint64_t
crash_rng_below(crash_rng *rng, uint64_t n)
{
    assert(n > 0);
    return crash_rng_next(rng) % n; /* the bias is irrelevant here */
}
