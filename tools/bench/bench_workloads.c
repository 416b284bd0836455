/*
 * bench_workloads — see bench_workloads.h.
 *
 * Semantics follow LevelDB's db_bench so numbers can be compared with what
 * people know: fill* workloads start from a deleted database, overwrite and
 * the reads use whatever the previous workloads left, random keys are uniform
 * in [0, num). The random streams depend only on --seed and the workload's
 * position in --benchmarks, so every engine sees the same keys and values.
 *
 * The runner also keeps the set of live keys (bench_keyset.h), so after every
 * workload that changes the database it can put the engine's bytes on disk
 * next to the data the database really holds, the same way for every engine.
 */
#include "bench_workloads.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_dir.h"
#include "bench_keyset.h"
#include "bench_report.h"
#include "bench_result.h"

/* Values are slices of one pre-generated pool, as db_bench does, so value
 * generation costs nothing inside the timed loops. */
#define VALUE_POOL_BYTES (1024 * 1024)

typedef struct bench_run {
    const bench_config *cfg;
    const bench_backend *backend;
    char dir[PATH_MAX];
    void *db;
    uint64_t rng;
    uint8_t *pool;
    size_t pool_len;
    size_t pool_pos;
    bench_keyset live; /* key numbers the database holds */
} bench_run;

typedef void (*workload_fn)(bench_run *run, bench_report *rep);

/* ---- random numbers, keys, values ----------------------------------------- */

/* splitmix64: tiny, fast and well mixed, which is all a key stream needs. */
static uint64_t
rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
rng_uniform(uint64_t *state, uint64_t n)
{
    return rng_next(state) % n; /* bias is < n / 2^64: irrelevant here */
}

/* Writes the 16-digit decimal key of `n` (like "%016" PRIu64) into key. */
static void
format_key(uint8_t key[BENCH_KEY_BYTES], uint64_t n)
{
    for (int i = BENCH_KEY_BYTES - 1; i >= 0; i--) {
        key[i] = (uint8_t)('0' + n % 10);
        n /= 10;
    }
}

/*
 * Fills the pool with printable bytes in which every 100-byte stretch is a
 * 50-byte random run repeated: about 2:1 compressible, like real-ish data and
 * like db_bench's default, although every engine runs without compression.
 */
static void
value_pool_init(bench_run *run)
{
    uint64_t state = run->cfg->seed ^ 0x76616c7565ULL;
    size_t len = run->cfg->value_size > VALUE_POOL_BYTES ? run->cfg->value_size : VALUE_POOL_BYTES;
    uint8_t *pool = malloc(len);

    if (pool == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for a %zu-byte value pool\n", len);
        exit(1);
    }
    for (size_t off = 0; off < len; off += 100) {
        size_t piece = len - off < 100 ? len - off : 100;
        size_t unique = piece / 2 > 0 ? piece / 2 : 1;

        for (size_t i = 0; i < unique; i++) {
            pool[off + i] = (uint8_t)(' ' + rng_uniform(&state, 95));
        }
        for (size_t i = unique; i < piece; i++) {
            pool[off + i] = pool[off + i - unique];
        }
    }
    run->pool = pool;
    run->pool_len = len;
    run->pool_pos = 0;
}

static const uint8_t *
next_value(bench_run *run)
{
    size_t size = run->cfg->value_size;

    if (run->pool_pos + size > run->pool_len) {
        run->pool_pos = 0;
    }
    run->pool_pos += size;
    return run->pool + run->pool_pos - size;
}

/* ---- the database directory ------------------------------------------------ */

static void
open_fresh(bench_run *run)
{
    if (run->db != NULL) {
        run->backend->close(run->db);
        run->db = NULL;
    }
    bench_dir_remove_tree(run->dir);
    bench_keyset_clear(&run->live);
    run->db = run->backend->open(run->cfg, run->dir);
}

/* ---- workloads ------------------------------------------------------------- */

static void
write_keys(bench_run *run, bench_report *rep, uint64_t count, bool sequential, bool sync)
{
    uint8_t key[BENCH_KEY_BYTES];
    size_t value_size = run->cfg->value_size;

    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = sequential ? i : rng_uniform(&run->rng, run->cfg->num);

        format_key(key, n);
        run->backend->put(run->db, key, sizeof(key), next_value(run), value_size, sync);
        bench_keyset_add(&run->live, n);
        bench_report_op(rep, sizeof(key) + value_size);
    }
}

static void
fill_seq(bench_run *run, bench_report *rep)
{
    write_keys(run, rep, run->cfg->num, true, false);
}

/* Also overwrite: the same loop, but on the database the last workloads left. */
static void
fill_random(bench_run *run, bench_report *rep)
{
    write_keys(run, rep, run->cfg->num, false, false);
}

/* Every write synced, so num/100 of them (db_bench shrinks fillsync too). */
static void
fill_sync(bench_run *run, bench_report *rep)
{
    uint64_t count = run->cfg->num / 100 > 0 ? run->cfg->num / 100 : 1;

    write_keys(run, rep, count, false, true);
}

/* Point reads of `reads` keys, random in [0, num) or 0..reads-1 in order. */
static uint64_t
read_keys(bench_run *run, bench_report *rep, bool sequential)
{
    uint8_t key[BENCH_KEY_BYTES];
    uint64_t found = 0;
    size_t len;

    for (uint64_t i = 0; i < run->cfg->reads; i++) {
        format_key(key, sequential ? i : rng_uniform(&run->rng, run->cfg->num));
        bool hit = run->backend->get(run->db, key, sizeof(key), &len);

        found += hit;
        bench_report_op(rep, hit ? sizeof(key) + len : 0);
    }
    rep->found = (int64_t)found;
    return found;
}

static void
read_random(bench_run *run, bench_report *rep)
{
    uint64_t found = read_keys(run, rep, false);

    snprintf(rep->message, sizeof(rep->message), "(%" PRIu64 " of %" PRIu64 " found)", found,
             run->cfg->reads);
}

/* A '.' after the 16 digits makes a key no workload ever writes. */
static void
read_missing(bench_run *run, bench_report *rep)
{
    uint8_t key[BENCH_KEY_BYTES + 1];
    uint64_t found = 0;
    size_t len;

    key[BENCH_KEY_BYTES] = '.';
    for (uint64_t i = 0; i < run->cfg->reads; i++) {
        format_key(key, rng_uniform(&run->rng, run->cfg->num));
        bool hit = run->backend->get(run->db, key, sizeof(key), &len);

        found += hit;
        bench_report_op(rep, 0);
    }
    rep->found = (int64_t)found;
    snprintf(rep->message, sizeof(rep->message), "(%" PRIu64 " of %" PRIu64 " found)", found,
             run->cfg->reads);
}

/*
 * For a back end without an iterator, readseq is point reads of keys
 * 0..reads-1 in key order: the nearest thing, but not a scan, and the report
 * line says so.
 */
static void
read_seq_by_gets(bench_run *run, bench_report *rep)
{
    uint64_t found = read_keys(run, rep, true);

    snprintf(rep->message, sizeof(rep->message),
             "(point gets in key order, no iterator: %" PRIu64 " of %" PRIu64 " found)", found,
             run->cfg->reads);
}

/* A real scan: up to `reads` entries from the first, as db_bench's readseq. */
static void
read_seq(bench_run *run, bench_report *rep)
{
    const bench_backend *b = run->backend;
    void *it;
    size_t bytes;

    if (b->iter_new == NULL) {
        read_seq_by_gets(run, rep);
        return;
    }
    it = b->iter_new(run->db);
    while (rep->ops < run->cfg->reads && b->iter_next(it, &bytes)) {
        bench_report_op(rep, bytes);
    }
    b->iter_free(it);
}

static void
delete_random(bench_run *run, bench_report *rep)
{
    uint8_t key[BENCH_KEY_BYTES];

    for (uint64_t i = 0; i < run->cfg->num; i++) {
        uint64_t n = rng_uniform(&run->rng, run->cfg->num);

        format_key(key, n);
        run->backend->del(run->db, key, sizeof(key));
        bench_keyset_remove(&run->live, n);
        bench_report_op(rep, 0);
    }
}

/* One operation: a manual compaction of everything, timed until it is done. */
static void
compact_all(bench_run *run, bench_report *rep)
{
    run->backend->compact(run->db);
    bench_report_op(rep, 0);
}

static void
print_stats(bench_run *run)
{
    run->backend->print_stats(run->db, stdout);
    fflush(stdout);
}

/* The `stats` workload: not timed, no line, just the engine's statistics. */
static void
stats_now(bench_run *run, bench_report *rep)
{
    (void)rep;
    print_stats(run);
}

static const struct workload {
    const char *name;
    bool fresh;  /* starts from a deleted database */
    bool writes; /* changes the database: report its space afterwards */
    bool timed;  /* a measured workload with a report line (all but stats) */
    workload_fn fn;
} workloads[] = {
    {"fillseq", true, true, true, fill_seq},
    {"fillrandom", true, true, true, fill_random},
    {"overwrite", false, true, true, fill_random},
    {"readrandom", false, false, true, read_random},
    {"readmissing", false, false, true, read_missing},
    {"readseq", false, false, true, read_seq},
    {"deleterandom", false, true, true, delete_random},
    {"fillsync", true, true, true, fill_sync},
    {"compact", false, true, true, compact_all},
    {"stats", false, false, false, stats_now},
};

#define WORKLOAD_COUNT (sizeof(workloads) / sizeof(workloads[0]))

static const struct workload *
find_workload(const char *name)
{
    for (size_t i = 0; i < WORKLOAD_COUNT; i++) {
        if (strcmp(workloads[i].name, name) == 0) {
            return &workloads[i];
        }
    }
    return NULL;
}

const char *
bench_workloads_find(const char *name)
{
    const struct workload *w = find_workload(name);

    return w != NULL ? w->name : NULL;
}

const char *
bench_workloads_names(void)
{
    static char names[256]; /* built from the table so it cannot drift */

    if (names[0] == '\0') {
        for (size_t i = 0; i < WORKLOAD_COUNT; i++) {
            strncat(names, i > 0 ? " " : "", sizeof(names) - strlen(names) - 1);
            strncat(names, workloads[i].name, sizeof(names) - strlen(names) - 1);
        }
    }
    return names;
}

/*
 * Runs workload `w` (position `index` in --benchmarks): its report line, then
 * for writes the space line, then --stats; the figures go to `result_fd`.
 * The space is measured after the clock stops, while the engine may still be
 * flushing or compacting in the background: a snapshot, as a user would see.
 */
static void
run_workload(bench_run *run, const struct workload *w, size_t index, int result_fd)
{
    bench_report rep;
    bench_result res;

    if (w->fresh) {
        open_fresh(run);
    }
    /* Seeded by position, not by engine: every engine gets the same keys. */
    run->rng = run->cfg->seed + 0x1000193ULL * (index + 1);
    if (!w->timed) {
        w->fn(run, NULL);
        return;
    }
    bench_report_start(&rep, w->name);
    w->fn(run, &rep);
    bench_report_finish(&rep, &res);
    res.index = (uint32_t)index;
    if (w->writes) {
        res.disk_bytes = bench_dir_disk_bytes(run->dir);
        res.live_keys = bench_keyset_tracked(&run->live) ? (int64_t)run->live.live : -1;
        bench_report_space(res.disk_bytes, res.live_keys, run->cfg->value_size);
    }
    res.peak_rss_kib = bench_report_peak_rss_kib();
    bench_result_send(result_fd, &res);
    if (run->cfg->stats) {
        print_stats(run);
    }
}

int
bench_workloads_run(const bench_config *cfg, const bench_backend *backend, int result_fd)
{
    bench_run run = {.cfg = cfg, .backend = backend};
    int n = snprintf(run.dir, sizeof(run.dir), "%s/%s", cfg->db, backend->name);

    if (n < 0 || (size_t)n >= sizeof(run.dir)) {
        fprintf(stderr, "lsmkv-bench: database path too long: %s\n", cfg->db);
        exit(1);
    }
    bench_dir_make_parents(cfg->db);
    value_pool_init(&run);
    bench_keyset_init(&run.live, cfg->num);
    bench_report_header(cfg, backend, run.dir);
    open_fresh(&run); /* like db_bench: never measure a leftover database */
    for (size_t i = 0; i < cfg->benchmark_count; i++) {
        run_workload(&run, find_workload(cfg->benchmarks[i]), i, result_fd);
    }
    backend->close(run.db);
    bench_keyset_fini(&run.live);
    free(run.pool);
    bench_report_peak_rss();
    bench_result_send_end(result_fd, bench_report_peak_rss_kib());
    return 0;
}
