/*
 * bench_histogram — see bench_histogram.h.
 */
#include "bench_histogram.h"

#include <string.h>

void
bench_histogram_init(bench_histogram *h)
{
    memset(h, 0, sizeof(*h));
}

void
bench_histogram_merge(bench_histogram *dst, const bench_histogram *src)
{
    if (src->count == 0) {
        return;
    }
    if (dst->count == 0 || src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
    dst->count += src->count;
    for (unsigned b = 0; b < BENCH_HISTOGRAM_BUCKETS; b++) {
        dst->buckets[b] += src->buckets[b];
    }
}

/* The smallest value of bucket b and the bucket's width: the inverse of
 * bench_histogram_bucket. */
static void
bucket_range(unsigned b, uint64_t *low, uint64_t *width)
{
    const unsigned sub = 1u << BENCH_HISTOGRAM_SUB_BITS;

    if (b < 2 * sub) {
        *low = b;
        *width = 1;
        return;
    }
    unsigned shift = b / sub - 1;

    *low = (uint64_t)(b - shift * sub) << shift;
    *width = (uint64_t)1 << shift;
}

uint64_t
bench_histogram_quantile(const bench_histogram *h, double q)
{
    double exact = q * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    uint64_t seen = 0;

    if (h->count == 0) {
        return 0;
    }
    rank += (double)rank < exact; /* ceil without libm */
    rank = rank < 1 ? 1 : rank > h->count ? h->count : rank;
    for (unsigned b = 0; b < BENCH_HISTOGRAM_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            uint64_t low;
            uint64_t width;
            uint64_t mid;

            bucket_range(b, &low, &width);
            mid = low + (width - 1) / 2;
            return mid < h->min ? h->min : mid > h->max ? h->max : mid;
        }
    }
    return h->max; /* unreachable: the buckets add up to count */
}
