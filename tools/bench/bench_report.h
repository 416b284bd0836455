/*
 * bench_report — timing and output of lsmkv-bench: the per-engine header, one
 * line per workload in db_bench's shape, a progress indicator on a terminal,
 * and the peak RSS of the process.
 *
 * "MB" is 2^20 bytes, as in db_bench, so figures compare with its output.
 */
#ifndef LSMKV_TOOLS_BENCH_REPORT_H
#define LSMKV_TOOLS_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_backend.h"
#include "bench_flags.h"

/* One workload being measured. */
typedef struct bench_report {
    const char *name;
    uint64_t start_ns;
    uint64_t ops;           /* operations finished */
    uint64_t bytes;         /* key + value bytes written or read back */
    uint64_t next_progress; /* ops count of the next progress update */
    bool progress;          /* stderr is a terminal */
    char message[160];      /* appended to the line, e.g. "(5 of 10 found)" */
} bench_report;

/* Prints the header block for one engine's run in `dir`. */
void bench_report_header(const bench_config *cfg, const bench_backend *backend, const char *dir);

/* Starts the clock for workload `name`. */
void bench_report_start(bench_report *r, const char *name);

/* Updates the progress indicator; called by bench_report_op only. */
void bench_report_progress(bench_report *r);

/*
 * Counts one finished operation that moved `bytes` bytes of keys and values.
 * Inline because it runs once per operation inside the timed loops.
 */
static inline void
bench_report_op(bench_report *r, uint64_t bytes)
{
    r->ops++;
    r->bytes += bytes;
    if (r->progress && r->ops >= r->next_progress) {
        bench_report_progress(r);
    }
}

/* Stops the clock and prints the workload's line on stdout. */
void bench_report_finish(bench_report *r);

/* Prints "peak RSS: N MiB" for this process. */
void bench_report_peak_rss(void);

#endif /* LSMKV_TOOLS_BENCH_REPORT_H */
