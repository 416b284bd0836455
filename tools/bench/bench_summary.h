/*
 * bench_summary — the parent's view of every run: it collects the figures the
 * engine runs send back (bench_result.h) and, after the last run, prints one
 * table of medians, so one noisy run cannot decide a comparison.
 *
 * Per workload and engine the table shows the runs that reported, the median
 * micros/op and its spread ((max - min) / median), the median p99 and p99.9
 * latencies, for writes the median disk MiB and space amplification, the
 * median peak RSS so far, and for every engine after the first the throughput
 * ratio of the first engine against it, from the medians, with the range of
 * the ratios of the runs paired by repetition (which ran back to back):
 *   lsmkv/leveldb 1.23x [1.10-1.31]
 * means lsmkv did 1.23 times leveldb's operations per second; multi-key
 * workloads (batchput, multiget, scan) end their row with their median
 * keys/sec, as their operations are requests of many keys. A found count
 * that differs between runs or engines is flagged: they all read the same keys.
 *
 * When the list holds the echo workload (a bare nng round trip of a Put's
 * size at the same concurrency), a second table holds every other workload
 * against it: per run, the workload's ops/sec and p99 divided by echo's of
 * the same run (the mean of the nearest echo before and after it in the
 * list: "echo,fillrandom,echo,readrandom,echo" brackets each workload),
 * reported as the median of those ratios and their range, so a slow phase of
 * a shared machine that hits one run hits both sides of its ratio:
 *   fillrandom   rpc   41234  45678  0.90 [0.85-0.93]  35.2  30.1  1.17 [1.10-1.25]
 */
#ifndef LSMKV_TOOLS_BENCH_SUMMARY_H
#define LSMKV_TOOLS_BENCH_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bench_flags.h"

typedef struct bench_summary bench_summary;

/* An empty summary for cfg's engines x workloads x repetitions. */
bench_summary *bench_summary_new(const bench_config *cfg);

/* NULL is a no-op. */
void bench_summary_free(bench_summary *s);

/*
 * Records one line received from repetition `rep` (0-based) of engine number
 * `engine` (its position in cfg->engines). Returns false, recording nothing,
 * for a line that is not a result of this configuration.
 */
bool bench_summary_add_line(bench_summary *s, size_t rep, size_t engine, const char *line);

/*
 * Prints the medians table when there was more than one run or engine, and
 * the echo table when there is an echo to compare with (nothing when no run
 * reported anything).
 */
void bench_summary_print(const bench_summary *s, FILE *out);

#endif /* LSMKV_TOOLS_BENCH_SUMMARY_H */
