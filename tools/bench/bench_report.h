/*
 * bench_report — timing and output of lsmkv-bench: the per-engine header, one
 * line per workload in db_bench's shape with latency percentiles appended, the
 * space line after writes, a progress indicator on a terminal, and the peak
 * RSS of the process.
 *
 * Every operation is timed with one clock read: an operation's latency is the
 * time since the previous one ended (or the workload started), so it includes
 * the loop's few nanoseconds of key generation exactly as micros/op does, and
 * the clock costs one vDSO call (about 25 ns) per operation.
 *
 * With several threads each has its own report, and bench_report_merge sums
 * them into one: operations and bytes add up, latencies go into one
 * histogram, and the time is from the first thread's start to the last
 * thread's last operation, so ops/sec is the threads' total throughput and
 * micros/op its inverse (not one operation's latency: see the percentiles).
 *
 * "MB" is 2^20 bytes, as in db_bench, so figures compare with its output.
 */
#ifndef LSMKV_TOOLS_BENCH_REPORT_H
#define LSMKV_TOOLS_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "bench_backend.h"
#include "bench_flags.h"
#include "bench_histogram.h"
#include "bench_result.h"

/* One workload being measured. */
typedef struct bench_report {
    const char *name;
    uint64_t start_ns;
    uint64_t last_ns;        /* when the previous operation ended */
    uint64_t end_ns;         /* set by bench_report_merge; 0: finish reads the clock */
    uint64_t ops;            /* operations finished */
    uint64_t bytes;          /* key + value bytes written or read back */
    uint64_t keys;           /* keys moved by multi-key requests; 0: one per operation */
    int64_t found;           /* point reads that found their key; -1 when not reads */
    uint64_t next_progress;  /* ops count of the next progress update */
    bool progress;           /* stderr is a terminal (and this is the first thread) */
    uint32_t progress_scale; /* threads sharing the workload: progress shows ops x this */
    char message[160];       /* appended to the line, e.g. "(5 of 10 found)" */
    bench_histogram latency; /* nanoseconds per operation */
} bench_report;

static inline uint64_t
bench_report_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Prints the header block for one engine's run in `dir` (a remote engine's
 * target is cfg->target), with the engine's `version` string.
 */
void bench_report_header(const bench_config *cfg, const bench_backend *backend, const char *version,
                         const char *dir);

/* Starts the clock for workload `name`. */
void bench_report_start(bench_report *r, const char *name);

/*
 * Adds the figures of `src`, another thread's report of the same workload,
 * to `dst`: counts, found reads, latencies, the earliest start and the
 * latest last operation (which finish then takes as the end).
 */
void bench_report_merge(bench_report *dst, const bench_report *src);

/* Updates the progress indicator; called by bench_report_op only. */
void bench_report_progress(bench_report *r);

/*
 * Counts one finished request that moved `bytes` bytes of keys and values
 * and `keys` keys (a batch, a multi-get, a scan page; 0 for a single-key
 * operation) and records its latency. Inline because it runs once per
 * operation inside the timed loops.
 */
static inline void
bench_report_request(bench_report *r, uint64_t bytes, uint64_t keys)
{
    uint64_t now = bench_report_now_ns();

    bench_histogram_add(&r->latency, now - r->last_ns);
    r->last_ns = now;
    r->ops++;
    r->bytes += bytes;
    r->keys += keys;
    if (r->progress && r->ops >= r->next_progress) {
        bench_report_progress(r);
    }
}

/*
 * Counts `ops` operations timed together, as one stretch of a scan: the
 * stretch's mean per operation is recorded as one latency sample. A full
 * scan steps in well under 100 ns, about what reading the clock costs, so
 * timing every step would mostly measure the clock (db_bench's readseq does
 * not read it per entry either).
 */
static inline void
bench_report_ops(bench_report *r, uint64_t ops, uint64_t bytes)
{
    uint64_t now = bench_report_now_ns();

    bench_histogram_add(&r->latency, (now - r->last_ns) / (ops > 0 ? ops : 1));
    r->last_ns = now;
    r->ops += ops;
    r->bytes += bytes;
    if (r->progress && r->ops >= r->next_progress) {
        bench_report_progress(r);
    }
}

/* Counts one finished single-key operation (see bench_report_request). */
static inline void
bench_report_op(bench_report *r, uint64_t bytes)
{
    bench_report_request(r, bytes, 0);
}

/*
 * Stops the clock, prints the workload's line on stdout,
 *   fillrandom   :       2.345 micros/op;  426439 ops/sec;   47.2 MB/s; p50 1.82 p99 9.10 ...
 * (with "; N keys/sec" after MB/s for multi-key requests),
 * and fills *out with its figures (the index, space and RSS fields are the
 * caller's: they are left -1 / 0).
 */
void bench_report_finish(bench_report *r, bench_result *out);

/*
 * Prints the space line after a write workload:
 *   disk: 23.4 MiB; live data: 11.1 MiB in 100000 keys; space amplification: 2.11
 * with "unknown" for what was not measured (-1).
 */
void bench_report_space(int64_t disk_bytes, int64_t live_keys, size_t value_size);

/* This process's peak RSS in KiB (0 if unknown). */
uint64_t bench_report_peak_rss_kib(void);

/* Prints "peak RSS: N MiB" for this process. */
void bench_report_peak_rss(void);

#endif /* LSMKV_TOOLS_BENCH_REPORT_H */
