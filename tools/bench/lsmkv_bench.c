/*
 * lsmkv-bench — db_bench-style micro-benchmarks for lsmkv, optionally side by
 * side with LevelDB and RocksDB (build with -DLSMKV_BENCH_COMPARE=ON), or over
 * RPC against a running lsmkv-server next to a bare nng echo.
 *
 * Usage:
 *   lsmkv-bench [--benchmarks=fillseq,fillrandom,overwrite,readrandom,readmissing,
 *                             readseq,deleterandom,fillsync,compact,stats,echo,
 *                             batchput,multiget,scan]
 *               [--engine=lsmkv|rpc|leveldb|rocksdb[,...]] [--num=1000000] [--reads=NUM]
 *               [--value_size=100] [--db=/tmp/lsmkv-bench] [--sync=none|always]
 *               [--write_buffer_size=4M] [--bloom_bits=10] [--seed=301]
 *               [--repeat=1] [--stats] [--threads=1] [--batch_size=100] [--page_size=1000]
 *               [--target=URL] [--compare-echo=URL] [--timeout_ms=10000] [--help]
 *   lsmkv-bench --serve-echo=URL
 *
 *   lsmkv-bench --engine=lsmkv,leveldb,rocksdb --num=200000 --repeat=3
 *   lsmkv-bench --target=tcp://127.0.0.1:7420 --compare-echo=tcp://127.0.0.1:7421 \
 *               --threads=16 --benchmarks=echo,fillrandom,echo,readrandom,echo --repeat=5
 *
 * Each engine runs in its own child process (so "peak RSS" is its own) in
 * <db>/<engine>, which is deleted before the run and before every fill*. All
 * engines get the same settings: a 4 MiB write buffer, 10 bloom bits per key,
 * no compression, default caches, and writes without sync except fillsync,
 * which syncs every write and does num/100 of them. Keys are the key number
 * in 16 decimal digits; values are slices of a half-compressible random pool.
 * The default --benchmarks list is the first eight workloads above.
 *
 * Workloads: fill* start from an empty database (fillseq writes keys 0..num-1
 * in order, fillrandom random keys in [0, num)); overwrite writes random keys
 * into what is there; readrandom and readmissing read `reads` random keys that
 * exist or never exist ("(X of Y found)"); readseq scans `reads` entries in
 * key order with the engine's iterator; deleterandom deletes num random keys;
 * batchput writes num random keys like fillrandom but batch_size per request
 * (one atomic write batch), multiget reads `reads` random keys batch_size per
 * request (one point in time), scan pages through every key in pages of at
 * most page_size pairs (with threads, each its own stretch of the key
 * space); their lines add the keys/sec after MB/s, their ops being requests
 * (an engine without batches, multi-gets or range scans refuses them);
 * compact is one manual compaction of the whole key range, timed to its end
 * (lsmkv_flush then lsmkv_compact; leveldb_compact_range and
 * rocksdb_compact_range over everything, which flush their memtables too);
 * settle waits, timed, until the engine's background flushes and compactions
 * are done (lsmkv: no full memtable and no level over its target, from
 * lsmkv_get_stats; RocksDB: its flush and compaction pending and running
 * properties; LevelDB, which tells neither: its directory and
 * "leveldb.stats" unchanged for 250 ms, a window its time includes), so its
 * space line shows what an engine keeps once it has caught up;
 * stats prints the engine's statistics once and is not timed.
 *
 * Output, per engine run: a header, then one line per workload (wrapped here),
 *   fillrandom   :       2.345 micros/op;  426439 ops/sec;   47.2 MB/s; p50 1.82
 *       p99 9.10 p99.9 210.0 max 5300.0 us
 * — db_bench's fields unchanged (MB/s counts key+value bytes written, or read
 * back by reads that found data; MB is 2^20 bytes), then the latency
 * percentiles of single operations from a log-linear histogram (~3% buckets;
 * every operation is timed, which costs one clock read, ~25 ns). After each
 * workload that changes the database (fill*, overwrite, deleterandom,
 * compact, settle) a space line follows,
 *   disk: 23.4 MiB; live data: 11.1 MiB in 100000 keys; space amplification: 2.11
 * where disk is the sum of the regular files under <db>/<engine> (measured as
 * the workload ends, background work possibly still running), and live data
 * is the distinct keys the workloads have written and not deleted, times
 * (16 + value_size): the same for every engine. --stats prints the engine's
 * own statistics after every workload (lsmkv: a table from lsmkv_get_stats
 * with write amplification = (wal + flush + compaction bytes written) / user
 * bytes; LevelDB: "leveldb.stats"; RocksDB: "rocksdb.stats"). Each run ends
 * with "peak RSS: N MiB" (including the runner's value pool and live-key set,
 * 1 MiB + num/8 bytes).
 *
 * --repeat=N runs the engine list N times, interleaved (lsmkv, leveldb,
 * rocksdb, lsmkv, ...), so slow phases of a noisy machine hit every engine.
 * Children send their figures to this process through a pipe, and with more
 * than one run or engine it ends with a summary: per workload and engine the
 * median micros/op over the runs and its spread, median p99 / p99.9, disk
 * MiB, space amplification and peak RSS, and each later engine's throughput
 * ratio against the first ("lsmkv/leveldb 1.23x [1.10-1.31]": lsmkv did 1.23x
 * leveldb's ops/sec by the medians; the range is over the runs paired by
 * repetition). Progress goes to stderr when it is a terminal. Exit status: 0,
 * 1 when an engine run failed (its error is on stderr), 2 for a bad command
 * line.
 *
 * --threads=N splits every workload's operations between N threads started
 * together (fillseq: each its own stretch of keys in order; the random ones:
 * each its own random stream), each with its own handle: for the rpc engine
 * its own lsmkv_client, so its own connection. The line's ops/sec is then the
 * threads' total, micros/op its inverse, and the percentiles those of single
 * operations of every thread. compact, and readseq with an iterator, run on
 * one thread. With several threads the live keys are not tracked.
 *
 * Over RPC (--target=URL: the rpc engine) the workloads go to lsmkv-server
 * through the C client library: Put (with SYNC_ALWAYS for fillsync, with
 * what --sync says when given, else the server's setting), Get, Delete, and
 * Flush + Compact for compact; --stats and stats print the Stats RPC. The
 * server's data cannot be deleted from here, so fill* write into what it
 * holds (start it on an empty directory), and there is no space line.
 * readseq reads by points in key order (no Scan RPC yet).
 *
 * The echo workload makes `num` round trips, each the exact envelope of a Put
 * of one key and value (so the same bytes, both ways), to a bare nng req/rep
 * echo server: the transport's own limit at the same message size and
 * concurrency. --serve-echo=URL runs such a server (until SIGINT/SIGTERM);
 * echo goes to --compare-echo's URL, else to --target's. --compare-echo also
 * puts echo first in the list if it is not there, and the run ends with a
 * table of every other workload against echo: ops/sec and p99 divided by
 * echo's of the same run, the echo nearest before and after the workload in
 * the list, as the median over --repeat runs with its range:
 *   workload     engine      ops/sec       echo  throughput ratio      p99 us  echo p99  p99 ratio
 *   fillrandom   rpc           15839      22461  0.70 [0.58-0.82]      1208.3     774.1  1.55
 * [1.41-1.69] tools/bench/rpc_vs_echo.sh starts both servers and prints these for 1, 16 and 64
 * threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_backend.h"
#include "bench_echo.h"
#include "bench_flags.h"
#include "bench_summary.h"
#include "bench_workloads.h"

/* Reads the child's result records from `fd` until the child closes it. */
static void
collect_results(int fd, bench_summary *summary, size_t rep, size_t engine)
{
    FILE *in = fdopen(fd, "r");
    char *line = NULL;
    size_t cap = 0;

    if (in == NULL) {
        perror("lsmkv-bench: fdopen");
        close(fd);
        return;
    }
    while (getline(&line, &cap, in) > 0) {
        if (!bench_summary_add_line(summary, rep, engine, line)) {
            fprintf(stderr, "lsmkv-bench: ignoring a bad result record: %s", line);
        }
    }
    free(line);
    fclose(in);
}

/* Says how the child ended; true when it succeeded. */
static bool
child_succeeded(pid_t pid, const char *name)
{
    int status;

    if (waitpid(pid, &status, 0) != pid) {
        perror("lsmkv-bench: waitpid");
        return false;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return true;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "lsmkv-bench: %s run killed by signal %d\n", name, WTERMSIG(status));
    } else {
        fprintf(stderr, "lsmkv-bench: %s run failed (exit status %d)\n", name, WEXITSTATUS(status));
    }
    return false;
}

/* Runs engine number `engine` in a child process, for repetition `rep`. */
static bool
run_engine(const bench_config *cfg, size_t engine, size_t rep, bench_summary *summary)
{
    const bench_backend *backend = cfg->engines[engine];
    int fds[2];
    pid_t pid;

    if (pipe(fds) != 0) {
        perror("lsmkv-bench: pipe");
        return false;
    }
    fflush(stdout); /* or the child would print our buffered lines again */
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        perror("lsmkv-bench: fork");
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[0]);
        int rc = bench_workloads_run(cfg, backend, fds[1]);

        close(fds[1]);
        /* exit, not _exit: stdio was flushed before the fork, so nothing is
         * printed twice, and a sanitizer build's leak check runs at exit. */
        exit(rc);
    }
    close(fds[1]); /* so the read end sees EOF when the child is done */
    collect_results(fds[0], summary, rep, engine);
    return child_succeeded(pid, backend->name);
}

int
main(int argc, char **argv)
{
    bench_config cfg;
    bench_summary *summary;
    bool ok = true;

    switch (bench_flags_parse(argc, argv, &cfg)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    if (cfg.serve_echo != NULL) {
        return bench_echo_serve(cfg.serve_echo);
    }
    summary = bench_summary_new(&cfg);
    for (size_t rep = 0; rep < cfg.repeat; rep++) {
        for (size_t i = 0; i < cfg.engine_count; i++) {
            if (rep > 0 || i > 0) {
                printf("\n");
            }
            if (cfg.repeat > 1 && i == 0) {
                printf("==== run %zu of %u ====\n\n", rep + 1, cfg.repeat);
            }
            /* Go on after a failure: the other runs' figures are still worth having. */
            ok &= run_engine(&cfg, i, rep, summary);
        }
    }
    bench_summary_print(summary, stdout); /* prints what there is to summarize */
    bench_summary_free(summary);
    return ok ? 0 : 1;
}
