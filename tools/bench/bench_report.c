/*
 * bench_report — see bench_report.h. Output follows db_bench's shape so
 * figures can be read side by side with LevelDB's own tool:
 *   fillrandom   :       2.345 micros/op;  426439 ops/sec;   47.2 MB/s
 */
#include "bench_report.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MB (1024.0 * 1024.0)

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
format_bytes(char *buf, size_t len, size_t bytes)
{
    if (bytes % (1024 * 1024) == 0) {
        snprintf(buf, len, "%zu MiB", bytes / (1024 * 1024));
    } else if (bytes % 1024 == 0) {
        snprintf(buf, len, "%zu KiB", bytes / 1024);
    } else {
        snprintf(buf, len, "%zu bytes", bytes);
    }
}

void
bench_report_header(const bench_config *cfg, const bench_backend *backend, const char *dir)
{
    char wbs[32];
    double raw = (double)cfg->num * (double)(BENCH_KEY_BYTES + cfg->value_size) / BENCH_MB;

    format_bytes(wbs, sizeof(wbs), cfg->write_buffer_size);
    printf("Engine:     %s\n", backend->version());
    printf("Database:   %s\n", dir);
    printf("Keys:       %d bytes each\n", BENCH_KEY_BYTES);
    printf("Values:     %zu bytes each (about half compressible; compression off)\n",
           cfg->value_size);
    printf("Entries:    %" PRIu64 "\n", cfg->num);
    printf("Reads:      %" PRIu64 "\n", cfg->reads);
    printf("RawSize:    %.1f MB (estimated)\n", raw);
    printf("Settings:   write buffer %s, bloom %d bits/key, no compression, %s\n", wbs,
           cfg->bloom_bits,
           cfg->sync_always ? "every write synced" : "writes not synced (fillsync: every write)");
    printf("------------------------------------------------\n");
    fflush(stdout);
}

void
bench_report_start(bench_report *r, const char *name)
{
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->progress = isatty(STDERR_FILENO) == 1;
    r->next_progress = 1000;
    r->start_ns = now_ns();
}

void
bench_report_progress(bench_report *r)
{
    /* Coarser steps as the count grows keep the terminal quiet and cheap. */
    uint64_t step = 1000;

    if (r->ops >= 1000000) {
        step = 500000;
    } else if (r->ops >= 100000) {
        step = 100000;
    } else if (r->ops >= 10000) {
        step = 10000;
    }
    fprintf(stderr, "\r... finished %" PRIu64 " ops%20s", r->ops, "");
    r->next_progress = (r->ops / step + 1) * step;
}

void
bench_report_finish(bench_report *r)
{
    uint64_t ns = now_ns() - r->start_ns;
    double secs = (double)ns / 1e9;
    double micros = r->ops > 0 ? (double)ns / 1e3 / (double)r->ops : 0.0;
    double rate = secs > 0 ? (double)r->ops / secs : 0.0;
    char mbs[32] = "";

    if (r->progress) {
        fprintf(stderr, "\r%60s\r", "");
    }
    if (r->bytes > 0 && secs > 0) {
        snprintf(mbs, sizeof(mbs), " %6.1f MB/s", (double)r->bytes / BENCH_MB / secs);
    }
    printf("%-12s : %11.3f micros/op; %7.0f ops/sec;%s%s%s\n", r->name, micros, rate, mbs,
           r->message[0] != '\0' ? " " : "", r->message);
    fflush(stdout);
}

void
bench_report_peak_rss(void)
{
    struct rusage ru;

    /* Linux reports ru_maxrss in KiB. Each engine runs in its own child
     * process, so this is that engine's peak alone. */
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        perror("lsmkv-bench: getrusage");
        return;
    }
    printf("peak RSS: %ld MiB\n", (ru.ru_maxrss + 512) / 1024);
    fflush(stdout);
}
