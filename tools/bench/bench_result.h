/*
 * bench_result — what one workload of one engine run measured, and the pipe
 * format that carries it from the child running the engine to the parent,
 * which collects every run for the summary (bench_summary.h).
 *
 * The format is one text line per record, fields separated by single spaces,
 * at most a few hundred bytes, so each record is one atomic write(2):
 *   W <index> <name> <ops> <elapsed_ns> <bytes> <keys> <found> <p50_ns> <p99_ns>
 *     <p999_ns> <max_ns> <disk_bytes> <live_keys> <peak_rss_kib>
 *   E <peak_rss_kib>
 * W is a workload (index = its position in --benchmarks; found, disk_bytes
 * and live_keys are -1 when not measured); E ends a run that completed, with
 * the process's peak RSS after closing the database.
 */
#ifndef LSMKV_TOOLS_BENCH_RESULT_H
#define LSMKV_TOOLS_BENCH_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longer than any workload name. */
#define BENCH_RESULT_NAME_MAX 32

typedef struct bench_result {
    uint32_t index; /* position in cfg->benchmarks */
    char name[BENCH_RESULT_NAME_MAX];
    uint64_t ops;
    uint64_t elapsed_ns;
    uint64_t bytes;  /* key + value bytes written or read back */
    uint64_t keys;   /* keys of multi-key requests; 0: one key per operation */
    int64_t found;   /* reads that found their key; -1: not a point-read workload */
    uint64_t p50_ns; /* latency percentiles of single operations */
    uint64_t p99_ns;
    uint64_t p999_ns;
    uint64_t max_ns;
    int64_t disk_bytes;    /* the engine's directory after the workload; -1: not measured */
    int64_t live_keys;     /* distinct keys the database holds; -1: not measured */
    uint64_t peak_rss_kib; /* of the run's process so far */
} bench_result;

/* What a parsed line was. */
typedef enum bench_result_kind {
    BENCH_RESULT_BAD = 0,
    BENCH_RESULT_WORKLOAD,
    BENCH_RESULT_END,
} bench_result_kind;

/* Sends one workload record on `fd` (-1: nowhere). Exits 1 if the pipe fails. */
void bench_result_send(int fd, const bench_result *r);

/* Sends the end record of a completed run. */
void bench_result_send_end(int fd, uint64_t peak_rss_kib);

/*
 * Parses one line (with or without its newline): a workload into *r, or an
 * end record's RSS into *peak_rss_kib; anything else is BENCH_RESULT_BAD.
 */
bench_result_kind bench_result_parse(const char *line, bench_result *r, uint64_t *peak_rss_kib);

/* Derived figures; 0 when there were no operations or no time. */
double bench_result_micros_per_op(const bench_result *r);
double bench_result_ops_per_sec(const bench_result *r);
/* Keys per second: ops/sec for single-key operations. */
double bench_result_keys_per_sec(const bench_result *r);

/* Microseconds with about three significant digits: "0.083", "1.82", "210.0". */
void bench_result_format_micros(char *buf, size_t len, double micros);

#endif /* LSMKV_TOOLS_BENCH_RESULT_H */
