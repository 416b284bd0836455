/*
 * bench_keyset — see bench_keyset.h.
 */
#include "bench_keyset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
word_count(uint64_t size)
{
    return (size_t)((size + 63) / 64);
}

void
bench_keyset_init(bench_keyset *s, uint64_t size)
{
    memset(s, 0, sizeof(*s));
    if (size == 0 || size > BENCH_KEYSET_MAX_KEYS) {
        return;
    }
    /* calloc's pages stay untouched (and out of the RSS) until keys land there. */
    s->bits = calloc(word_count(size), sizeof(uint64_t));
    if (s->bits == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for the live-key set of %llu keys\n",
                (unsigned long long)size);
        exit(1);
    }
    s->size = size;
}

void
bench_keyset_fini(bench_keyset *s)
{
    free(s->bits);
    memset(s, 0, sizeof(*s));
}

void
bench_keyset_clear(bench_keyset *s)
{
    if (s->bits != NULL && s->live > 0) {
        memset(s->bits, 0, word_count(s->size) * sizeof(uint64_t));
    }
    s->live = 0;
}
