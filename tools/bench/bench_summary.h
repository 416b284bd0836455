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
 * means lsmkv did 1.23 times leveldb's operations per second. A found count
 * that differs between runs or engines is flagged: they all read the same keys.
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

/* Prints the table (nothing when no run reported anything). */
void bench_summary_print(const bench_summary *s, FILE *out);

#endif /* LSMKV_TOOLS_BENCH_SUMMARY_H */
