/*
 * bench_workloads — the db_bench-style workloads (fillseq, fillrandom,
 * overwrite, readrandom, readmissing, readseq, deleterandom, fillsync,
 * compact, stats) run against one back end, with the header, the report and
 * space lines, and the figures sent to the parent process.
 */
#ifndef LSMKV_TOOLS_BENCH_WORKLOADS_H
#define LSMKV_TOOLS_BENCH_WORKLOADS_H

#include "bench_backend.h"
#include "bench_flags.h"

/* The canonical (static) name of workload `name`, or NULL if there is none. */
const char *bench_workloads_find(const char *name);

/* Space-separated names of every workload, for the usage text. */
const char *bench_workloads_names(void);

/*
 * Runs cfg's workloads in order against `backend` in <cfg->db>/<name>, which
 * is deleted first (and again before each fill*), printing the header, one
 * line per workload (a space line after each write, the engine's statistics
 * with cfg->stats) and the process's peak RSS on stdout. Each workload's
 * figures, then an end record, go to `result_fd` (-1: nowhere) in
 * bench_result.h's format. Returns 0, or exits the process with 1 when the
 * database fails (see bench_backend.h).
 *
 * The peak RSS includes the runner's own memory, the same for every engine:
 * a 1 MiB value pool and the live-key set (num / 8 bytes).
 */
int bench_workloads_run(const bench_config *cfg, const bench_backend *backend, int result_fd);

#endif /* LSMKV_TOOLS_BENCH_WORKLOADS_H */
