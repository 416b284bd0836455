/*
 * bench_flags — lsmkv-bench's command line: db_bench-style `--name=value` flags
 * parsed into one bench_config that every engine run reads unchanged. In flag
 * names '-' and '_' are the same character (--value-size is --value_size).
 */
#ifndef LSMKV_TOOLS_BENCH_FLAGS_H
#define LSMKV_TOOLS_BENCH_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bench_backend;

/* Enough for every workload and engine name a user could list more than once. */
#define BENCH_MAX_LIST 64

/* More runs than this would take days at any useful --num. */
#define BENCH_MAX_REPEAT 1000

/* Keys per batch or multi-get request, pairs per scan page: the server's limits. */
#define BENCH_MAX_BATCH 10000

/* Client threads: far more than a server's contexts are worth. */
#define BENCH_MAX_THREADS 1024

/* Keys are the key number in 16 decimal digits, so numbers stay below 10^16. */
#define BENCH_KEY_BYTES 16
#define BENCH_MAX_NUM   9999999999999999ULL

typedef struct bench_config {
    const char *benchmarks[BENCH_MAX_LIST]; /* workload names (static), run in order */
    size_t benchmark_count;
    const struct bench_backend *engines[BENCH_MAX_LIST]; /* each run in turn */
    size_t engine_count;
    uint64_t num;             /* entries written by fills (--num) */
    uint64_t reads;           /* operations of the read workloads (--reads) */
    size_t value_size;        /* bytes per value (--value_size) */
    const char *db;           /* parent directory; engine X uses <db>/X */
    bool sync_always;         /* --sync=always: every write is synced */
    size_t write_buffer_size; /* memtable / write buffer bytes */
    int bloom_bits;           /* bloom filter bits per key; 0 disables */
    uint64_t seed;            /* seed of the key and value generators */
    unsigned repeat;          /* runs of the whole engine list, interleaved (--repeat) */
    bool stats;               /* print the engine's statistics after each workload */
    bool sync_given;          /* --sync was given (over RPC: else the server's setting) */
    unsigned threads;         /* threads sharing each workload's operations (--threads) */
    const char *target;       /* lsmkv-server's URL, the `rpc` engine's (--target); or NULL */
    const char *compare_echo; /* echo server of the echo workload (--compare-echo); or NULL */
    const char *serve_echo;   /* run an echo server here and nothing else (--serve-echo) */
    uint32_t timeout_ms;      /* deadline of every RPC and echo round trip (--timeout_ms) */
    uint32_t batch_size;      /* keys per batchput / multiget request (--batch_size) */
    uint32_t page_size;       /* the most pairs per scan page (--page_size) */
} bench_config;

/* Where the echo workload sends its messages: --compare-echo, else --target. */
static inline const char *
bench_config_echo_url(const bench_config *cfg)
{
    return cfg->compare_echo != NULL ? cfg->compare_echo : cfg->target;
}

/*
 * Parses argv into *cfg (defaults for what is not given). Returns 0 to run,
 * 1 when --help was printed (exit 0), 2 after printing an error for an unknown
 * flag, a bad value or flags that do not go together (exit 2). Nothing is
 * allocated: names point to static strings, `db` and the URLs into argv.
 *
 * --target without --engine selects the `rpc` engine alone; `rpc` needs
 * --target. --compare-echo puts the echo workload first in the list when it
 * is not there; `echo` needs --compare-echo or --target.
 */
int bench_flags_parse(int argc, char **argv, bench_config *cfg);

/* Prints the usage text to `out`. */
void bench_flags_usage(FILE *out);

#endif /* LSMKV_TOOLS_BENCH_FLAGS_H */
