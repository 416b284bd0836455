/*
 * bench_result — see bench_result.h. Text rather than binary records: the
 * parent and child are the same binary, but a line is easy to inspect with
 * strace and costs nothing next to a workload.
 */
#include "bench_result.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
send_line(int fd, const char *line, int len)
{
    if (fd < 0) {
        return;
    }
    while (len > 0) {
        ssize_t n = write(fd, line, (size_t)len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, "lsmkv-bench: cannot send results to the parent: %s\n",
                    strerror(errno));
            exit(1);
        }
        line += n;
        len -= (int)n;
    }
}

void
bench_result_send(int fd, const bench_result *r)
{
    char line[512];
    int len = snprintf(
        line, sizeof(line),
        "W %" PRIu32 " %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRIu64
        " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64 "\n",
        r->index, r->name, r->ops, r->elapsed_ns, r->bytes, r->keys, r->found, r->p50_ns, r->p99_ns,
        r->p999_ns, r->max_ns, r->disk_bytes, r->live_keys, r->peak_rss_kib);

    /* Names are short and numbers bounded: a record always fits. */
    send_line(fd, line, len);
}

void
bench_result_send_end(int fd, uint64_t peak_rss_kib)
{
    char line[64];
    int len = snprintf(line, sizeof(line), "E %" PRIu64 "\n", peak_rss_kib);

    send_line(fd, line, len);
}

bench_result_kind
bench_result_parse(const char *line, bench_result *r, uint64_t *peak_rss_kib)
{
    bench_result tmp;
    int end = 0;

    if (sscanf(line, "E %" SCNu64 "%n", peak_rss_kib, &end) == 1 &&
        (line[end] == '\0' || line[end] == '\n')) {
        return BENCH_RESULT_END;
    }
    memset(&tmp, 0, sizeof(tmp));
    /* %31s: BENCH_RESULT_NAME_MAX - 1. */
    if (sscanf(line,
               "W %" SCNu32 " %31s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64
               " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNd64 " %" SCNu64
               "%n",
               &tmp.index, tmp.name, &tmp.ops, &tmp.elapsed_ns, &tmp.bytes, &tmp.keys, &tmp.found,
               &tmp.p50_ns, &tmp.p99_ns, &tmp.p999_ns, &tmp.max_ns, &tmp.disk_bytes, &tmp.live_keys,
               &tmp.peak_rss_kib, &end) != 14 ||
        (line[end] != '\0' && line[end] != '\n')) {
        return BENCH_RESULT_BAD;
    }
    *r = tmp;
    return BENCH_RESULT_WORKLOAD;
}

double
bench_result_micros_per_op(const bench_result *r)
{
    return r->ops > 0 ? (double)r->elapsed_ns / 1e3 / (double)r->ops : 0.0;
}

double
bench_result_ops_per_sec(const bench_result *r)
{
    return r->elapsed_ns > 0 ? (double)r->ops * 1e9 / (double)r->elapsed_ns : 0.0;
}

double
bench_result_keys_per_sec(const bench_result *r)
{
    if (r->keys == 0) {
        return bench_result_ops_per_sec(r);
    }
    return r->elapsed_ns > 0 ? (double)r->keys * 1e9 / (double)r->elapsed_ns : 0.0;
}

void
bench_result_format_micros(char *buf, size_t len, double micros)
{
    snprintf(buf, len, micros < 1.0 ? "%.3f" : micros < 10.0 ? "%.2f" : "%.1f", micros);
}
