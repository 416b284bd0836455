/*
 * bench_workloads — the db_bench-style workloads (fillseq, fillrandom,
 * overwrite, readrandom, readmissing, readseq, deleterandom, fillsync,
 * compact, stats, and echo: round trips to a bare nng echo server) run
 * against one back end, on one or --threads threads, with the header, the
 * report and space lines, and the figures sent to the parent process.
 */
#ifndef LSMKV_TOOLS_BENCH_WORKLOADS_H
#define LSMKV_TOOLS_BENCH_WORKLOADS_H

#include "bench_backend.h"
#include "bench_flags.h"

/* The canonical (static) name of workload `name`, or NULL if there is none. */
const char *bench_workloads_find(const char *name);

/*
 * NULL when `backend` can run workload `name`, else why not (it lacks the
 * requests the workload needs: batches, multi-gets, range scans).
 */
const char *bench_workloads_unsupported(const char *name, const struct bench_backend *backend);

/* Space-separated names of every workload, for the usage text. */
const char *bench_workloads_names(void);

/*
 * Runs cfg's workloads in order against `backend` in <cfg->db>/<name>, which
 * is deleted first (and again before each fill*; a remote back end's server
 * is used as it is), printing the header, one line per workload (a space
 * line after each local write, the engine's statistics with cfg->stats) and
 * the process's peak RSS on stdout. Each workload's
 * figures, then an end record, go to `result_fd` (-1: nowhere) in
 * bench_result.h's format. Returns 0, or exits the process with 1 when the
 * database fails (see bench_backend.h).
 *
 * The peak RSS includes the runner's own memory, the same for every engine:
 * a 1 MiB value pool, the live-key set (num / 8 bytes) and 16 KiB of
 * latency histogram per thread.
 */
int bench_workloads_run(const bench_config *cfg, const bench_backend *backend, int result_fd);

#endif /* LSMKV_TOOLS_BENCH_WORKLOADS_H */
