/*
 * lsmkv-bench — db_bench-style micro-benchmarks for lsmkv, optionally side by
 * side with LevelDB and RocksDB (build with -DLSMKV_BENCH_COMPARE=ON).
 *
 * Usage:
 *   lsmkv-bench [--benchmarks=fillseq,fillrandom,overwrite,readrandom,readmissing,
 *                             readseq,deleterandom,fillsync]
 *               [--engine=lsmkv|leveldb|rocksdb[,...]] [--num=1000000] [--reads=NUM]
 *               [--value_size=100] [--db=/tmp/lsmkv-bench] [--sync=none|always]
 *               [--write_buffer_size=4M] [--bloom_bits=10] [--seed=301] [--help]
 *
 *   lsmkv-bench --engine=lsmkv,leveldb,rocksdb --num=200000
 *
 * Each engine runs in its own child process (so "peak RSS" is its own) in
 * <db>/<engine>, which is deleted before the run and before every fill*. All
 * engines get the same settings: a 4 MiB write buffer, 10 bloom bits per key,
 * no compression, default caches, and writes without sync except fillsync,
 * which syncs every write and does num/100 of them. Keys are the key number
 * in 16 decimal digits; values are slices of a half-compressible random pool.
 *
 * Workloads: fill* start from an empty database (fillseq writes keys 0..num-1
 * in order, fillrandom random keys in [0, num)); overwrite writes random keys
 * into what is there; readrandom and readmissing read `reads` random keys that
 * exist or never exist ("(X of Y found)"); readseq scans `reads` entries in
 * key order — for lsmkv, which has no public iterator yet, it is point reads
 * of keys 0..reads-1 and its line says so; deleterandom deletes num random keys.
 *
 * Output, per engine: a header, then one line per workload,
 *   fillrandom   :       2.345 micros/op;  426439 ops/sec;   47.2 MB/s
 * (MB/s counts key+value bytes written, or read back by reads that found
 * data; MB is 2^20 bytes as in db_bench), then "peak RSS: N MiB". Progress
 * goes to stderr when it is a terminal. Exit status: 0, 1 when an engine
 * failed (its error is on stderr), 2 for a bad command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_backend.h"
#include "bench_flags.h"
#include "bench_workloads.h"

/* Runs one engine in a child process and says whether it succeeded. */
static bool
run_engine(const bench_config *cfg, const bench_backend *backend)
{
    pid_t pid;
    int status;

    fflush(stdout); /* or the child would print our buffered lines again */
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        perror("lsmkv-bench: fork");
        return false;
    }
    if (pid == 0) {
        int rc = bench_workloads_run(cfg, backend);

        fflush(stdout);
        _exit(rc);
    }
    if (waitpid(pid, &status, 0) != pid) {
        perror("lsmkv-bench: waitpid");
        return false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return true;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "lsmkv-bench: %s run killed by signal %d\n", backend->name,
                WTERMSIG(status));
    } else {
        fprintf(stderr, "lsmkv-bench: %s run failed (exit status %d)\n", backend->name,
                WEXITSTATUS(status));
    }
    return false;
}

int
main(int argc, char **argv)
{
    bench_config cfg;
    bool ok = true;

    switch (bench_flags_parse(argc, argv, &cfg)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    for (size_t i = 0; i < cfg.engine_count; i++) {
        if (i > 0) {
            printf("\n");
        }
        /* Go on after a failure: the other engines' figures are still worth having. */
        ok &= run_engine(&cfg, cfg.engines[i]);
    }
    return ok ? 0 : 1;
}
