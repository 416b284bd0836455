/*
 * bench_workloads — the db_bench-style workloads (fillseq, fillrandom,
 * overwrite, readrandom, readmissing, readseq, deleterandom, fillsync) run
 * against one back end, with the header and per-workload report lines.
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
 * line per workload and the process's peak RSS on stdout. Returns 0, or exits
 * the process with 1 when the database fails (see bench_backend.h).
 */
int bench_workloads_run(const bench_config *cfg, const bench_backend *backend);

#endif /* LSMKV_TOOLS_BENCH_WORKLOADS_H */
