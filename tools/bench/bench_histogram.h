/*
 * bench_histogram — a log-linear latency histogram: every operation of a
 * workload lands in one bucket, so percentiles cost 16 KiB and one increment
 * per operation instead of a stored sample each.
 *
 * Buckets: values below 64 ns are exact; above, each power of two is split
 * into 32 equal buckets, so a bucket is at most 1/32 (3.1%) of its values
 * wide and a reported percentile (the bucket's midpoint, clamped to the
 * exact min and max) is within about 1.6% of the true one. 1920 buckets
 * cover every uint64_t nanosecond count.
 */
#ifndef LSMKV_TOOLS_BENCH_HISTOGRAM_H
#define LSMKV_TOOLS_BENCH_HISTOGRAM_H

#include <stdint.h>

#define BENCH_HISTOGRAM_SUB_BITS 5 /* 2^5 buckets per power of two */
#define BENCH_HISTOGRAM_BUCKETS  ((64 - BENCH_HISTOGRAM_SUB_BITS + 1) << BENCH_HISTOGRAM_SUB_BITS)

typedef struct bench_histogram {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[BENCH_HISTOGRAM_BUCKETS];
} bench_histogram;

/* Empties the histogram. */
void bench_histogram_init(bench_histogram *h);

/* The bucket of value `v`; exposed only for bench_histogram_add. */
static inline unsigned
bench_histogram_bucket(uint64_t v)
{
    const unsigned sub = 1u << BENCH_HISTOGRAM_SUB_BITS;

    if (v < 2 * sub) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - BENCH_HISTOGRAM_SUB_BITS;

    /* (v >> shift) is in [sub, 2 * sub): the top bits below the leading one. */
    return shift * sub + (unsigned)(v >> shift);
}

/* Records one value. Inline: it runs once per operation in the timed loops. */
static inline void
bench_histogram_add(bench_histogram *h, uint64_t v)
{
    h->buckets[bench_histogram_bucket(v)]++;
    if (h->count == 0 || v < h->min) {
        h->min = v;
    }
    if (v > h->max) {
        h->max = v;
    }
    h->count++;
}

/* Adds every value of `src` to `dst` (the threads of one workload). */
void bench_histogram_merge(bench_histogram *dst, const bench_histogram *src);

/*
 * The value at quantile q (0 < q <= 1): the midpoint of the bucket holding
 * the ceil(q * count)-th smallest value, clamped to [min, max]. 0 when empty.
 */
uint64_t bench_histogram_quantile(const bench_histogram *h, double q);

#endif /* LSMKV_TOOLS_BENCH_HISTOGRAM_H */
