/*
 * bench_report — see bench_report.h. Output follows db_bench's shape so
 * figures can be read side by side with LevelDB's own tool:
 *   fillrandom   :       2.345 micros/op;  426439 ops/sec;   47.2 MB/s
 * and anything new (latency percentiles) goes after those fields, so tools
 * that parse db_bench's lines keep working.
 */
#include "bench_report.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MB (1024.0 * 1024.0)

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

/* The Settings line of an engine run in this process. */
static void
print_local_settings(const bench_config *cfg)
{
    char wbs[32];

    format_bytes(wbs, sizeof(wbs), cfg->write_buffer_size);
    printf("Settings:   write buffer %s, bloom %d bits/key, no compression, %s\n", wbs,
           cfg->bloom_bits,
           cfg->sync_always ? "every write synced" : "writes not synced (fillsync: every write)");
}

/* The server's own flags decide its settings; only the writes' sync is ours. */
static void
print_remote_settings(const bench_config *cfg)
{
    const char *sync = !cfg->sync_given   ? "writes synced as the server's --sync says"
                       : cfg->sync_always ? "every write asks for a sync"
                                          : "writes ask for no sync";

    printf("Settings:   the server's; %s (fillsync: every write asks for a sync); fill* write "
           "into what the server holds\n",
           sync);
}

void
bench_report_header(const bench_config *cfg, const bench_backend *backend, const char *version,
                    const char *dir)
{
    double raw = (double)cfg->num * (double)(BENCH_KEY_BYTES + cfg->value_size) / BENCH_MB;

    printf("Engine:     %s\n", version);
    if (backend->remote) {
        printf("Target:     %s\n", cfg->target);
    } else {
        printf("Database:   %s\n", dir);
    }
    if (cfg->threads > 1) {
        printf("Threads:    %u, each with its own %s, sharing every workload's operations\n",
               cfg->threads, backend->session_open != NULL ? "client" : "loop on one handle");
    }
    if (bench_config_echo_url(cfg) != NULL) {
        printf("Echo:       %s (bare nng req/rep, Put-sized messages)\n",
               bench_config_echo_url(cfg));
    }
    printf("Keys:       %d bytes each\n", BENCH_KEY_BYTES);
    printf("Values:     %zu bytes each (about half compressible; compression off)\n",
           cfg->value_size);
    printf("Entries:    %" PRIu64 "\n", cfg->num);
    printf("Reads:      %" PRIu64 "\n", cfg->reads);
    printf("RawSize:    %.1f MB (estimated)\n", raw);
    if (backend->remote) {
        print_remote_settings(cfg);
    } else {
        print_local_settings(cfg);
    }
    printf("------------------------------------------------\n");
    fflush(stdout);
}

void
bench_report_start(bench_report *r, const char *name)
{
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->found = -1;
    r->progress = isatty(STDERR_FILENO) == 1;
    r->progress_scale = 1;
    r->next_progress = 1000;
    bench_histogram_init(&r->latency);
    r->start_ns = bench_report_now_ns();
    r->last_ns = r->start_ns;
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
    fprintf(stderr, "\r... finished %s%" PRIu64 " ops%20s", r->progress_scale > 1 ? "about " : "",
            r->ops * r->progress_scale, "");
    r->next_progress = (r->ops / step + 1) * step;
    r->last_ns = bench_report_now_ns(); /* the next operation's latency starts now */
}

/* Appends "; p50 X p99 Y p99.9 Z max W us" to the line in `line`. */
static void
append_percentiles(char *line, size_t len, const bench_result *res)
{
    char p50[32];
    char p99[32];
    char p999[32];
    char max[32];
    size_t used = strlen(line);

    bench_result_format_micros(p50, sizeof(p50), (double)res->p50_ns / 1e3);
    bench_result_format_micros(p99, sizeof(p99), (double)res->p99_ns / 1e3);
    bench_result_format_micros(p999, sizeof(p999), (double)res->p999_ns / 1e3);
    bench_result_format_micros(max, sizeof(max), (double)res->max_ns / 1e3);
    /* db_bench's lines end in "ops/sec;" when there is nothing after it. */
    snprintf(line + used, len - used, "%s p50 %s p99 %s p99.9 %s max %s us",
             used > 0 && line[used - 1] == ';' ? "" : ";", p50, p99, p999, max);
}

void
bench_report_merge(bench_report *dst, const bench_report *src)
{
    uint64_t dst_end = dst->end_ns != 0 ? dst->end_ns : dst->last_ns;

    dst->ops += src->ops;
    dst->bytes += src->bytes;
    dst->keys += src->keys;
    if (src->found >= 0) {
        dst->found = (dst->found > 0 ? dst->found : 0) + src->found;
    }
    bench_histogram_merge(&dst->latency, &src->latency);
    dst->start_ns = src->start_ns < dst->start_ns ? src->start_ns : dst->start_ns;
    dst->end_ns = src->last_ns > dst_end ? src->last_ns : dst_end;
}

void
bench_report_finish(bench_report *r, bench_result *out)
{
    uint64_t ns = (r->end_ns != 0 ? r->end_ns : bench_report_now_ns()) - r->start_ns;
    double secs = (double)ns / 1e9;
    char mbs[32] = "";
    char keys[48] = "";
    char line[512];

    if (r->progress) {
        fprintf(stderr, "\r%60s\r", "");
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", r->name);
    out->ops = r->ops;
    out->elapsed_ns = ns;
    out->bytes = r->bytes;
    out->keys = r->keys;
    out->found = r->found;
    out->p50_ns = bench_histogram_quantile(&r->latency, 0.50);
    out->p99_ns = bench_histogram_quantile(&r->latency, 0.99);
    out->p999_ns = bench_histogram_quantile(&r->latency, 0.999);
    out->max_ns = r->latency.max;
    out->disk_bytes = -1;
    out->live_keys = -1;

    if (r->bytes > 0 && secs > 0) {
        snprintf(mbs, sizeof(mbs), " %6.1f MB/s", (double)r->bytes / BENCH_MB / secs);
    }
    if (r->keys > 0) {
        snprintf(keys, sizeof(keys), "%s %.0f keys/sec", mbs[0] != '\0' ? ";" : "",
                 bench_result_keys_per_sec(out));
    }
    snprintf(line, sizeof(line), "%-12s : %11.3f micros/op; %7.0f ops/sec;%s%s%s%s", r->name,
             bench_result_micros_per_op(out), bench_result_ops_per_sec(out), mbs, keys,
             r->message[0] != '\0' ? " " : "", r->message);
    append_percentiles(line, sizeof(line), out);
    printf("%s\n", line);
    fflush(stdout);
}

void
bench_report_space(int64_t disk_bytes, int64_t live_keys, size_t value_size)
{
    double live = (double)live_keys * (double)(BENCH_KEY_BYTES + value_size);
    char disk[48] = "unknown";
    char data[80] = "unknown";
    char amp[32] = "unknown";

    if (disk_bytes >= 0) {
        snprintf(disk, sizeof(disk), "%.1f MiB", (double)disk_bytes / BENCH_MB);
    }
    if (live_keys >= 0) {
        snprintf(data, sizeof(data), "%.1f MiB in %" PRId64 " keys", live / BENCH_MB, live_keys);
    }
    if (disk_bytes >= 0 && live_keys > 0) {
        snprintf(amp, sizeof(amp), "%.2f", (double)disk_bytes / live);
    } else if (live_keys == 0) {
        snprintf(amp, sizeof(amp), "n/a (no live keys)");
    }
    printf("disk: %s; live data: %s; space amplification: %s\n", disk, data, amp);
    fflush(stdout);
}

uint64_t
bench_report_peak_rss_kib(void)
{
    struct rusage ru;

    /* Linux reports ru_maxrss in KiB. Each engine runs in its own child
     * process, so this is that engine's peak alone. */
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (uint64_t)ru.ru_maxrss;
}

void
bench_report_peak_rss(void)
{
    printf("peak RSS: %" PRIu64 " MiB\n", (bench_report_peak_rss_kib() + 512) / 1024);
    fflush(stdout);
}
