/*
 * bench_workloads — see bench_workloads.h.
 *
 * Semantics follow LevelDB's db_bench so numbers can be compared with what
 * people know: fill* workloads start from a deleted database, overwrite and
 * the reads use whatever the previous workloads left, random keys are uniform
 * in [0, num). The random streams depend only on --seed and the workload's
 * position in --benchmarks, so every engine sees the same keys and values.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include "bench_workloads.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_report.h"

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

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "lsmkv-bench: cannot remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* rm -rf of the engine's own subdirectory <db>/<engine>, never of <db>. */
static void
remove_tree(const char *dir)
{
    struct stat st;

    if (lstat(dir, &st) != 0 && errno == ENOENT) {
        return;
    }
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "lsmkv-bench: cannot delete the database in %s\n", dir);
        exit(1);
    }
}

/* mkdir -p: the engines create their own directory but not its parents. */
static void
make_parents(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        fprintf(stderr, "lsmkv-bench: bad database path '%s'\n", path);
        exit(1);
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char saved = buf[i];

        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "lsmkv-bench: cannot create %s: %s\n", buf, strerror(errno));
            exit(1);
        }
        buf[i] = saved;
    }
}

static void
open_fresh(bench_run *run)
{
    if (run->db != NULL) {
        run->backend->close(run->db);
        run->db = NULL;
    }
    remove_tree(run->dir);
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
    snprintf(rep->message, sizeof(rep->message), "(%" PRIu64 " of %" PRIu64 " found)", found,
             run->cfg->reads);
}

/*
 * lsmkv's public API has no iterator yet, so its readseq is point reads of
 * keys 0..reads-1 in key order: the nearest thing, but not a scan, and the
 * report line says so.
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
        format_key(key, rng_uniform(&run->rng, run->cfg->num));
        run->backend->del(run->db, key, sizeof(key));
        bench_report_op(rep, 0);
    }
}

static const struct workload {
    const char *name;
    bool fresh; /* starts from a deleted database */
    workload_fn fn;
} workloads[] = {
    {"fillseq", true, fill_seq},
    {"fillrandom", true, fill_random},
    {"overwrite", false, fill_random},
    {"readrandom", false, read_random},
    {"readmissing", false, read_missing},
    {"readseq", false, read_seq},
    {"deleterandom", false, delete_random},
    {"fillsync", true, fill_sync},
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

int
bench_workloads_run(const bench_config *cfg, const bench_backend *backend)
{
    bench_run run = {.cfg = cfg, .backend = backend};
    bench_report rep;
    int n = snprintf(run.dir, sizeof(run.dir), "%s/%s", cfg->db, backend->name);

    if (n < 0 || (size_t)n >= sizeof(run.dir)) {
        fprintf(stderr, "lsmkv-bench: database path too long: %s\n", cfg->db);
        exit(1);
    }
    make_parents(cfg->db);
    value_pool_init(&run);
    bench_report_header(cfg, backend, run.dir);
    open_fresh(&run); /* like db_bench: never measure a leftover database */
    for (size_t i = 0; i < cfg->benchmark_count; i++) {
        const struct workload *w = find_workload(cfg->benchmarks[i]);

        if (w->fresh) {
            open_fresh(&run);
        }
        /* Seeded by position, not by engine: every engine gets the same keys. */
        run.rng = cfg->seed + 0x1000193ULL * (i + 1);
        bench_report_start(&rep, w->name);
        w->fn(&run, &rep);
        bench_report_finish(&rep);
    }
    backend->close(run.db);
    free(run.pool);
    bench_report_peak_rss();
    return 0;
}
