/*
 * bench_summary — see bench_summary.h. Every figure is kept per (repetition,
 * engine, workload) so medians and paired ratios can be taken at the end; at
 * most 1000 x 64 x 64 small records, allocated once.
 */
#include "bench_summary.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_backend.h"
#include "bench_result.h"

#define MIB (1024.0 * 1024.0)

typedef struct slot {
    bool valid;
    bench_result r;
} slot;

struct bench_summary {
    const bench_config *cfg;
    size_t reps;
    slot *results;         /* [rep][engine][workload] */
    uint64_t *end_rss_kib; /* [rep][engine], 0: the run did not finish */
};

/* A figure of one result; false when it was not measured. */
typedef bool (*field_fn)(const bench_config *cfg, const bench_result *r, double *out);

bench_summary *
bench_summary_new(const bench_config *cfg)
{
    bench_summary *s = calloc(1, sizeof(*s));
    size_t runs = (size_t)cfg->repeat * cfg->engine_count;

    if (s != NULL) {
        s->cfg = cfg;
        s->reps = cfg->repeat;
        s->results = calloc(runs * cfg->benchmark_count + 1, sizeof(slot));
        s->end_rss_kib = calloc(runs + 1, sizeof(uint64_t));
    }
    if (s == NULL || s->results == NULL || s->end_rss_kib == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for the summary\n");
        exit(1);
    }
    return s;
}

void
bench_summary_free(bench_summary *s)
{
    if (s != NULL) {
        free(s->results);
        free(s->end_rss_kib);
        free(s);
    }
}

static slot *
slot_at(const bench_summary *s, size_t rep, size_t engine, size_t workload)
{
    return &s->results[(rep * s->cfg->engine_count + engine) * s->cfg->benchmark_count + workload];
}

bool
bench_summary_add_line(bench_summary *s, size_t rep, size_t engine, const char *line)
{
    bench_result r;
    uint64_t rss = 0;

    if (rep >= s->reps || engine >= s->cfg->engine_count) {
        return false;
    }
    switch (bench_result_parse(line, &r, &rss)) {
    case BENCH_RESULT_WORKLOAD:
        if (r.index >= s->cfg->benchmark_count ||
            strcmp(r.name, s->cfg->benchmarks[r.index]) != 0) {
            return false;
        }
        *slot_at(s, rep, engine, r.index) = (slot){.valid = true, .r = r};
        return true;
    case BENCH_RESULT_END:
        s->end_rss_kib[rep * s->cfg->engine_count + engine] = rss > 0 ? rss : 1;
        return true;
    default:
        return false;
    }
}

/* ---- statistics -------------------------------------------------------------- */

static int
compare_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Sorts v[0..n) and returns its median (n > 0). */
static double
median(double *v, size_t n)
{
    qsort(v, n, sizeof(v[0]), compare_double);
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static bool
field_micros(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = bench_result_micros_per_op(r);
    return r->ops > 0;
}

static bool
field_p99(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = (double)r->p99_ns / 1e3;
    return r->ops > 0;
}

static bool
field_p999(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = (double)r->p999_ns / 1e3;
    return r->ops > 0;
}

static bool
field_keys_per_sec(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = bench_result_keys_per_sec(r);
    return r->keys > 0 && r->elapsed_ns > 0;
}

static bool
field_disk_mib(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = (double)r->disk_bytes / MIB;
    return r->disk_bytes >= 0;
}

static bool
field_space_amp(const bench_config *cfg, const bench_result *r, double *out)
{
    if (r->disk_bytes < 0 || r->live_keys <= 0) {
        return false;
    }
    *out = (double)r->disk_bytes /
           ((double)r->live_keys * (double)(BENCH_KEY_BYTES + cfg->value_size));
    return true;
}

static bool
field_rss_mib(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = (double)r->peak_rss_kib / 1024.0;
    return r->peak_rss_kib > 0;
}

/* The figures of every run of (engine, workload) into v; returns how many. */
static size_t
collect(const bench_summary *s, size_t engine, size_t workload, field_fn field, double *v)
{
    size_t n = 0;

    for (size_t rep = 0; rep < s->reps; rep++) {
        const slot *sl = slot_at(s, rep, engine, workload);

        n += sl->valid && field(s->cfg, &sl->r, &v[n]);
    }
    return n;
}

/* ---- the table ---------------------------------------------------------------- */

/* The median of a figure over the runs, printed with `fmt`; "-" if none. */
static void
format_median(const bench_summary *s, size_t engine, size_t workload, field_fn field,
              const char *fmt, double *scratch, char *buf, size_t len)
{
    size_t n = collect(s, engine, workload, field, scratch);

    if (n == 0) {
        snprintf(buf, len, "-");
    } else if (fmt == NULL) {
        bench_result_format_micros(buf, len, median(scratch, n));
    } else {
        snprintf(buf, len, fmt, median(scratch, n));
    }
}

/* (max - min) / median of micros/op: how far one run may be off. */
static void
format_spread(const bench_summary *s, size_t engine, size_t workload, double *scratch, char *buf,
              size_t len)
{
    size_t n = collect(s, engine, workload, field_micros, scratch);
    double mid = n > 0 ? median(scratch, n) : 0.0;

    if (n < 2 || mid <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    snprintf(buf, len, "%.0f%%", (scratch[n - 1] - scratch[0]) / mid * 100.0);
}

/*
 * "lsmkv/leveldb 1.23x [1.10-1.31]": the first engine's throughput over this
 * one's, from the median micros/op, then the range over the repetitions in
 * which both ran (shown from two such pairs on).
 */
static void
format_ratio(const bench_summary *s, size_t engine, size_t workload, double *scratch, char *buf,
             size_t len)
{
    const char *first = s->cfg->engines[0]->name;
    const char *name = s->cfg->engines[engine]->name;
    size_t n0 = collect(s, 0, workload, field_micros, scratch);
    double us0 = n0 > 0 ? median(scratch, n0) : 0.0;
    size_t n1 = collect(s, engine, workload, field_micros, scratch);
    double us1 = n1 > 0 ? median(scratch, n1) : 0.0;
    double lo = 0.0;
    double hi = 0.0;
    size_t pairs = 0;
    int used;

    if (us0 <= 0 || us1 <= 0) {
        snprintf(buf, len, "%s/%s -", first, name);
        return;
    }
    for (size_t rep = 0; rep < s->reps; rep++) {
        const slot *a = slot_at(s, rep, 0, workload);
        const slot *b = slot_at(s, rep, engine, workload);
        double x;
        double y;

        if (a->valid && b->valid && field_micros(s->cfg, &a->r, &x) &&
            field_micros(s->cfg, &b->r, &y) && x > 0) {
            lo = pairs == 0 || y / x < lo ? y / x : lo;
            hi = pairs == 0 || y / x > hi ? y / x : hi;
            pairs++;
        }
    }
    used = snprintf(buf, len, "%s/%s %.2fx", first, name, us1 / us0);
    if (pairs >= 2 && used > 0 && (size_t)used < len) {
        snprintf(buf + used, len - (size_t)used, " [%.2f-%.2f]", lo, hi);
    }
}

/* One column layout for the header and the rows. */
#define ROW_FORMAT    "%-12s %-8s %4zu %12s %7s %10s %10s %9s %10s %8s"
#define HEADER_FORMAT "%-12s %-8s %4s %12s %7s %10s %10s %9s %10s %8s"

static void
print_row(const bench_summary *s, size_t engine, size_t workload, double *scratch, FILE *out)
{
    char micros[32], spread[16], p99[32], p999[32], disk[32], amp[32], rss[32], ratio[128] = "";
    char keys[32] = "";
    size_t runs = 0;

    for (size_t rep = 0; rep < s->reps; rep++) {
        runs += slot_at(s, rep, engine, workload)->valid;
    }
    format_median(s, engine, workload, field_micros, "%.3f", scratch, micros, sizeof(micros));
    format_spread(s, engine, workload, scratch, spread, sizeof(spread));
    format_median(s, engine, workload, field_p99, NULL, scratch, p99, sizeof(p99));
    format_median(s, engine, workload, field_p999, NULL, scratch, p999, sizeof(p999));
    format_median(s, engine, workload, field_disk_mib, "%.1f", scratch, disk, sizeof(disk));
    format_median(s, engine, workload, field_space_amp, "%.2f", scratch, amp, sizeof(amp));
    format_median(s, engine, workload, field_rss_mib, "%.0f", scratch, rss, sizeof(rss));
    if (engine > 0) {
        format_ratio(s, engine, workload, scratch, ratio, sizeof(ratio));
    }
    /* Multi-key requests: their keys/sec says more than their ops/sec. */
    if (collect(s, engine, workload, field_keys_per_sec, scratch) > 0) {
        format_median(s, engine, workload, field_keys_per_sec, "%.0f", scratch, keys, sizeof(keys));
    }
    fprintf(out, ROW_FORMAT "%s%s%s%s\n", engine == 0 ? s->cfg->benchmarks[workload] : "",
            s->cfg->engines[engine]->name, runs, micros, spread, p99, p999, disk, amp, rss,
            ratio[0] != '\0' ? "  " : "", ratio, keys[0] != '\0' ? "  keys/sec " : "", keys);
}

static bool
workload_reported(const bench_summary *s, size_t workload)
{
    for (size_t rep = 0; rep < s->reps; rep++) {
        for (size_t e = 0; e < s->cfg->engine_count; e++) {
            if (slot_at(s, rep, e, workload)->valid) {
                return true;
            }
        }
    }
    return false;
}

/* Every engine read the same keys, so differing found counts mean a bug. */
static void
check_found(const bench_summary *s, size_t workload, FILE *out)
{
    int64_t first = -1;
    bool differ = false;

    for (size_t rep = 0; rep < s->reps; rep++) {
        for (size_t e = 0; e < s->cfg->engine_count; e++) {
            const slot *sl = slot_at(s, rep, e, workload);

            if (!sl->valid || sl->r.found < 0) {
                continue;
            }
            differ |= first >= 0 && sl->r.found != first;
            first = first < 0 ? sl->r.found : first;
        }
    }
    if (!differ) {
        return;
    }
    fprintf(out, "warning: %s: found counts differ:", s->cfg->benchmarks[workload]);
    for (size_t rep = 0; rep < s->reps; rep++) {
        for (size_t e = 0; e < s->cfg->engine_count; e++) {
            const slot *sl = slot_at(s, rep, e, workload);

            if (sl->valid && sl->r.found >= 0) {
                fprintf(out, " %s#%zu %" PRId64, s->cfg->engines[e]->name, rep + 1, sl->r.found);
            }
        }
    }
    fprintf(out, "\n");
}

/* The whole run's peak RSS per engine, and runs that did not finish. */
static void
print_footer(const bench_summary *s, double *scratch, FILE *out)
{
    fprintf(out, "peak RSS (median, whole run):");
    for (size_t e = 0; e < s->cfg->engine_count; e++) {
        size_t n = 0;

        for (size_t rep = 0; rep < s->reps; rep++) {
            uint64_t kib = s->end_rss_kib[rep * s->cfg->engine_count + e];

            if (kib > 0) {
                scratch[n++] = (double)kib / 1024.0;
            }
        }
        fprintf(out, "%s %s ", e > 0 ? "," : "", s->cfg->engines[e]->name);
        if (n > 0) {
            fprintf(out, "%.0f MiB", median(scratch, n));
        } else {
            fprintf(out, "-");
        }
        if (n < s->reps) {
            fprintf(out, " (%zu of %zu runs failed)", s->reps - n, s->reps);
        }
    }
    fprintf(out, "\n");
}

/* ---- the echo comparison ------------------------------------------------------- */

static bool
field_ops_per_sec(const bench_config *cfg, const bench_result *r, double *out)
{
    *out = bench_result_ops_per_sec(r);
    return r->ops > 0 && r->elapsed_ns > 0;
}

static bool
is_echo(const bench_summary *s, size_t workload)
{
    return strcmp(s->cfg->benchmarks[workload], "echo") == 0;
}

/*
 * Echo's figure for `workload` in repetition `rep` of `engine`: the mean of
 * the nearest echo workload before it and the nearest after it in the list
 * (either alone when there is one): the echo measured closest in time.
 */
static bool
echo_figure(const bench_summary *s, size_t rep, size_t engine, size_t workload, field_fn field,
            double *out)
{
    size_t near[2];
    size_t count = 0;
    double sum = 0.0;
    size_t n = 0;
    double v;

    for (size_t w = workload; w-- > 0;) {
        if (is_echo(s, w)) {
            near[count++] = w;
            break;
        }
    }
    for (size_t w = workload + 1; w < s->cfg->benchmark_count; w++) {
        if (is_echo(s, w)) {
            near[count++] = w;
            break;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const slot *sl = slot_at(s, rep, engine, near[i]);

        if (sl->valid && field(s->cfg, &sl->r, &v)) {
            sum += v;
            n++;
        }
    }
    if (n == 0) {
        return false;
    }
    *out = sum / (double)n;
    return true;
}

/* Per repetition, workload / echo of the same run: "0.91 [0.85-0.95]". */
static void
format_echo_ratio(const bench_summary *s, size_t engine, size_t workload, field_fn field,
                  double *scratch, char *buf, size_t len)
{
    size_t n = 0;

    for (size_t rep = 0; rep < s->reps; rep++) {
        const slot *sl = slot_at(s, rep, engine, workload);
        double v;
        double echo;

        if (sl->valid && field(s->cfg, &sl->r, &v) &&
            echo_figure(s, rep, engine, workload, field, &echo) && echo > 0) {
            scratch[n++] = v / echo;
        }
    }
    if (n == 0) {
        snprintf(buf, len, "-");
    } else if (n == 1) {
        snprintf(buf, len, "%.2f", scratch[0]);
    } else {
        double mid = median(scratch, n); /* sorts */

        snprintf(buf, len, "%.2f [%.2f-%.2f]", mid, scratch[0], scratch[n - 1]);
    }
}

/* The median over the repetitions of echo's figure for `workload`. */
static void
format_echo_median(const bench_summary *s, size_t engine, size_t workload, field_fn field,
                   const char *fmt, double *scratch, char *buf, size_t len)
{
    size_t n = 0;

    for (size_t rep = 0; rep < s->reps; rep++) {
        n += echo_figure(s, rep, engine, workload, field, &scratch[n]);
    }
    if (n == 0) {
        snprintf(buf, len, "-");
    } else if (fmt == NULL) {
        bench_result_format_micros(buf, len, median(scratch, n));
    } else {
        snprintf(buf, len, fmt, median(scratch, n));
    }
}

#define ECHO_ROW_FORMAT "%-12s %-8s %10s %10s  %-18s %9s %9s  %-18s\n"

static void
print_echo_row(const bench_summary *s, size_t engine, size_t workload, double *scratch, FILE *out)
{
    char ops[32], echo_ops[32], ratio[64], p99[32], echo_p99[32], p99_ratio[64];

    format_median(s, engine, workload, field_ops_per_sec, "%.0f", scratch, ops, sizeof(ops));
    format_echo_median(s, engine, workload, field_ops_per_sec, "%.0f", scratch, echo_ops,
                       sizeof(echo_ops));
    format_echo_ratio(s, engine, workload, field_ops_per_sec, scratch, ratio, sizeof(ratio));
    format_median(s, engine, workload, field_p99, NULL, scratch, p99, sizeof(p99));
    format_echo_median(s, engine, workload, field_p99, NULL, scratch, echo_p99, sizeof(echo_p99));
    format_echo_ratio(s, engine, workload, field_p99, scratch, p99_ratio, sizeof(p99_ratio));
    fprintf(out, ECHO_ROW_FORMAT, s->cfg->benchmarks[workload], s->cfg->engines[engine]->name, ops,
            echo_ops, ratio, p99, echo_p99, p99_ratio);
}

/* Whether the list has an echo workload and another to hold against it. */
static bool
has_echo_comparison(const bench_summary *s)
{
    bool echo = false;
    bool other = false;

    for (size_t w = 0; w < s->cfg->benchmark_count; w++) {
        echo |= is_echo(s, w);
        other |= !is_echo(s, w) && strcmp(s->cfg->benchmarks[w], "stats") != 0;
    }
    return echo && other;
}

/* A workload of one operation (compact) has no rate or p99 to hold against echo's. */
static bool
single_operation(const bench_summary *s, size_t workload)
{
    for (size_t rep = 0; rep < s->reps; rep++) {
        for (size_t e = 0; e < s->cfg->engine_count; e++) {
            const slot *sl = slot_at(s, rep, e, workload);

            if (sl->valid && sl->r.ops > 1) {
                return false;
            }
        }
    }
    return true;
}

static void
print_echo_comparison(const bench_summary *s, double *scratch, FILE *out)
{
    fprintf(out,
            "\nAgainst echo (%zu run%s; ratio = workload / echo of the same run, median "
            "[min-max]; ops/sec and p99 are medians):\n",
            s->reps, s->reps == 1 ? "" : "s");
    fprintf(out, ECHO_ROW_FORMAT, "workload", "engine", "ops/sec", "echo", "throughput ratio",
            "p99 us", "echo p99", "p99 ratio");
    for (size_t w = 0; w < s->cfg->benchmark_count; w++) {
        if (is_echo(s, w) || !workload_reported(s, w) || single_operation(s, w)) {
            continue;
        }
        for (size_t e = 0; e < s->cfg->engine_count; e++) {
            print_echo_row(s, e, w, scratch, out);
        }
    }
}

/* ---- the whole summary ------------------------------------------------------------ */

static bool
any_reported(const bench_summary *s)
{
    for (size_t i = 0; i < s->reps * s->cfg->engine_count * s->cfg->benchmark_count; i++) {
        if (s->results[i].valid) {
            return true;
        }
    }
    return false;
}

static void
print_medians(const bench_summary *s, double *scratch, FILE *out)
{
    fprintf(out,
            "\nSummary: medians of %zu run%s per engine%s (times in micros; spread = "
            "(max - min) / median of micros/op)\n",
            s->reps, s->reps == 1 ? "" : "s", s->reps > 1 ? ", interleaved" : "");
    fprintf(out, HEADER_FORMAT "%s\n", "workload", "engine", "runs", "micros/op", "spread", "p99",
            "p99.9", "disk MiB", "space amp", "RSS MiB",
            s->cfg->engine_count > 1 ? "  throughput ratio" : "");
    for (size_t w = 0; w < s->cfg->benchmark_count; w++) {
        if (!workload_reported(s, w)) {
            continue; /* not timed (stats), or every run failed before it */
        }
        for (size_t e = 0; e < s->cfg->engine_count; e++) {
            print_row(s, e, w, scratch, out);
        }
    }
    for (size_t w = 0; w < s->cfg->benchmark_count; w++) {
        check_found(s, w, out);
    }
    print_footer(s, scratch, out);
}

void
bench_summary_print(const bench_summary *s, FILE *out)
{
    double *scratch = calloc(s->reps, sizeof(double));

    if (scratch == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for the summary\n");
        return;
    }
    if (any_reported(s) && (s->reps > 1 || s->cfg->engine_count > 1)) {
        print_medians(s, scratch, out);
    }
    if (any_reported(s) && has_echo_comparison(s)) {
        print_echo_comparison(s, scratch, out);
    }
    fflush(out);
    free(scratch);
}
