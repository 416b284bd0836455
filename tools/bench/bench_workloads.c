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
 *
 * With --threads=N a workload's operations are split between N threads
 * (bench_threads.h), each on its own handle with its own random stream:
 * thread i does ops [i*total/N, (i+1)*total/N) of the workload — for fillseq
 * that stretch of keys in order, for the random workloads that many random
 * keys — and thread 0's stream is the single-threaded run's. The live-key
 * set is kept by one thread only, so with several the space line says
 * "unknown" for live data. A remote database (the rpc back end) cannot be
 * deleted or measured: it is opened once, fill* write into what it holds,
 * and writes print no space line.
 */
#include "bench_workloads.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_dir.h"
#include "bench_echo.h"
#include "bench_keyset.h"
#include "bench_report.h"
#include "bench_result.h"
#include "bench_threads.h"

/* Values are slices of one pre-generated pool, as db_bench does, so value
 * generation costs nothing inside the timed loops. */
#define VALUE_POOL_BYTES (1024 * 1024)

typedef struct bench_run bench_run;
struct workload;

/* One thread's share of a workload, and what it keeps between workloads. */
typedef struct bench_worker {
    bench_run *run;
    const struct workload *workload; /* the one running */
    void *db;                        /* this thread's handle (a back-end session) */
    unsigned index;                  /* 0 .. threads - 1 */
    unsigned threads;                /* how many share the running workload */
    uint64_t rng;
    size_t pool_pos;
    bench_keyset *live;      /* the run's live keys; NULL when not tracked */
    bench_echo_client *echo; /* the echo workload's connection */
    bench_report rep;
} bench_worker;

struct bench_run {
    const bench_config *cfg;
    const bench_backend *backend;
    char dir[PATH_MAX];
    void *db;
    bool sessions_open;
    uint8_t *pool;
    size_t pool_len;
    bench_keyset live;     /* key numbers the database holds (one thread, local only) */
    bench_worker *workers; /* cfg->threads of them */
};

typedef void (*workload_fn)(bench_worker *w);

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

/*
 * The seed of thread `thread`'s stream in the workload at position `index`
 * of --benchmarks: by position, not by engine, so every engine gets the same
 * keys; thread 0's is what a single-threaded run uses.
 */
static uint64_t
rng_seed(const bench_config *cfg, size_t index, unsigned thread)
{
    return (cfg->seed + 0x1000193ULL * (index + 1)) ^ (0xd1b54a32d192ed03ULL * thread);
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
}

/* Each thread walks the shared, read-only pool with its own position. */
static const uint8_t *
next_value(bench_worker *w)
{
    size_t size = w->run->cfg->value_size;

    if (w->pool_pos + size > w->run->pool_len) {
        w->pool_pos = 0;
    }
    w->pool_pos += size;
    return w->run->pool + w->pool_pos - size;
}

/* Thread w's part of `total` operations: [*first, *first + *count). */
static void
share(const bench_worker *w, uint64_t total, uint64_t *first, uint64_t *count)
{
    uint64_t base = total / w->threads;
    uint64_t extra = total % w->threads;

    *count = base + (w->index < extra);
    *first = base * w->index + (w->index < extra ? w->index : extra);
}

static void
track_add(bench_worker *w, uint64_t n)
{
    if (w->live != NULL) {
        bench_keyset_add(w->live, n);
    }
}

static void
track_remove(bench_worker *w, uint64_t n)
{
    if (w->live != NULL) {
        bench_keyset_remove(w->live, n);
    }
}

/* ---- the database and the threads' handles --------------------------------- */

static void
sessions_close(bench_run *run)
{
    if (!run->sessions_open) {
        return;
    }
    for (unsigned i = 0; i < run->cfg->threads; i++) {
        if (run->backend->session_close != NULL) {
            run->backend->session_close(run->workers[i].db);
        }
        run->workers[i].db = NULL;
    }
    run->sessions_open = false;
}

/* Whether any listed workload uses the database (echo alone does not). */
static bool
uses_database(const bench_config *cfg)
{
    for (size_t i = 0; i < cfg->benchmark_count; i++) {
        if (strcmp(cfg->benchmarks[i], "echo") != 0) {
            return true;
        }
    }
    return false;
}

static void
sessions_open(bench_run *run)
{
    const bench_backend *b = run->backend;

    for (unsigned i = 0; i < run->cfg->threads; i++) {
        run->workers[i].db = b->session_open != NULL ? b->session_open(run->db, i) : run->db;
    }
    run->sessions_open = true;
    /* Only when a workload talks to it: --target may be an echo server. */
    if (b->warm_up != NULL && uses_database(run->cfg)) {
        for (unsigned i = 0; i < run->cfg->threads; i++) {
            b->warm_up(run->workers[i].db);
        }
    }
}

/* A remote database cannot be deleted: it is opened once and kept. */
static void
open_fresh(bench_run *run)
{
    if (run->backend->remote) {
        if (run->db == NULL) {
            run->db = run->backend->open(run->cfg, run->dir);
            sessions_open(run);
        }
        return;
    }
    sessions_close(run);
    if (run->db != NULL) {
        run->backend->close(run->db);
        run->db = NULL;
    }
    bench_dir_remove_tree(run->dir);
    bench_keyset_clear(&run->live);
    run->db = run->backend->open(run->cfg, run->dir);
    sessions_open(run);
}

/* ---- workloads ------------------------------------------------------------- */

static void
write_keys(bench_worker *w, uint64_t total, bool sequential, bool sync)
{
    const bench_backend *b = w->run->backend;
    uint64_t num = w->run->cfg->num;
    size_t value_size = w->run->cfg->value_size;
    uint8_t key[BENCH_KEY_BYTES];
    uint64_t first;
    uint64_t count;

    share(w, total, &first, &count);
    for (uint64_t i = first; i < first + count; i++) {
        uint64_t n = sequential ? i : rng_uniform(&w->rng, num);

        format_key(key, n);
        b->put(w->db, key, sizeof(key), next_value(w), value_size, sync);
        track_add(w, n);
        bench_report_op(&w->rep, sizeof(key) + value_size);
    }
}

/* Each thread writes its own contiguous stretch of keys, in order. */
static void
fill_seq(bench_worker *w)
{
    write_keys(w, w->run->cfg->num, true, false);
}

/* Also overwrite: the same loop, but on the database the last workloads left. */
static void
fill_random(bench_worker *w)
{
    write_keys(w, w->run->cfg->num, false, false);
}

/* Every write synced, so num/100 of them (db_bench shrinks fillsync too). */
static void
fill_sync(bench_worker *w)
{
    uint64_t count = w->run->cfg->num / 100 > 0 ? w->run->cfg->num / 100 : 1;

    write_keys(w, count, false, true);
}

/* Point reads of `reads` keys, random in [0, num) or in key order. */
static void
read_keys(bench_worker *w, bool sequential)
{
    const bench_backend *b = w->run->backend;
    uint8_t key[BENCH_KEY_BYTES];
    uint64_t found = 0;
    uint64_t first;
    uint64_t count;
    size_t len;

    share(w, w->run->cfg->reads, &first, &count);
    for (uint64_t i = first; i < first + count; i++) {
        format_key(key, sequential ? i : rng_uniform(&w->rng, w->run->cfg->num));
        bool hit = b->get(w->db, key, sizeof(key), &len);

        found += hit;
        bench_report_op(&w->rep, hit ? sizeof(key) + len : 0);
    }
    w->rep.found = (int64_t)found;
}

static void
read_random(bench_worker *w)
{
    read_keys(w, false);
}

/* A '.' after the 16 digits makes a key no workload ever writes. */
static void
read_missing(bench_worker *w)
{
    const bench_backend *b = w->run->backend;
    uint8_t key[BENCH_KEY_BYTES + 1];
    uint64_t found = 0;
    uint64_t first;
    uint64_t count;
    size_t len;

    share(w, w->run->cfg->reads, &first, &count);
    key[BENCH_KEY_BYTES] = '.';
    for (uint64_t i = 0; i < count; i++) {
        format_key(key, rng_uniform(&w->rng, w->run->cfg->num));
        bool hit = b->get(w->db, key, sizeof(key), &len);

        found += hit;
        bench_report_op(&w->rep, 0);
    }
    w->rep.found = (int64_t)found;
}

/* Entries of a scan timed together (bench_report_ops). */
#define READ_SEQ_STRETCH 64

/*
 * A real scan with the engine's iterator, up to `reads` entries from the
 * first, as db_bench's readseq (one thread), timed READ_SEQ_STRETCH entries
 * at a time; for a back end without an iterator, point reads of keys
 * 0..reads-1 in key order, shared by the threads: the nearest thing, but not
 * a scan, and the line says so.
 */
static void
read_seq(bench_worker *w)
{
    const bench_backend *b = w->run->backend;
    void *it;
    size_t bytes;

    if (b->iter_new == NULL) {
        read_keys(w, true);
        return;
    }
    it = b->iter_new(w->db);
    uint64_t stretch_ops = 0, stretch_bytes = 0;
    while (w->rep.ops + stretch_ops < w->run->cfg->reads && b->iter_next(it, &bytes)) {
        stretch_bytes += bytes;
        if (++stretch_ops == READ_SEQ_STRETCH) {
            bench_report_ops(&w->rep, stretch_ops, stretch_bytes);
            stretch_ops = stretch_bytes = 0;
        }
    }
    if (stretch_ops > 0) {
        bench_report_ops(&w->rep, stretch_ops, stretch_bytes);
    }
    b->iter_free(it);
}

static void
delete_random(bench_worker *w)
{
    uint8_t key[BENCH_KEY_BYTES];
    uint64_t first;
    uint64_t count;

    share(w, w->run->cfg->num, &first, &count);
    for (uint64_t i = 0; i < count; i++) {
        uint64_t n = rng_uniform(&w->rng, w->run->cfg->num);

        format_key(key, n);
        w->run->backend->del(w->db, key, sizeof(key));
        track_remove(w, n);
        bench_report_op(&w->rep, 0);
    }
}

/* Arrays of `count` elements of `size` bytes for a workload's requests. */
static void *
request_array(size_t count, size_t size)
{
    void *p = calloc(count, size);

    if (p == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for a request of %zu keys\n", count);
        exit(1);
    }
    return p;
}

/*
 * `num` random keys, like fillrandom, but batch_size puts per request (a
 * thread's last request may hold fewer), each request one atomic batch.
 */
static void
batch_put(bench_worker *w)
{
    const bench_config *cfg = w->run->cfg;
    uint8_t(*keys)[BENCH_KEY_BYTES] = request_array(cfg->batch_size, BENCH_KEY_BYTES);
    bench_kv *kvs = request_array(cfg->batch_size, sizeof(*kvs));
    uint64_t first;
    uint64_t count;

    share(w, cfg->num, &first, &count);
    for (uint64_t done = 0; done < count;) {
        size_t n = count - done < cfg->batch_size ? (size_t)(count - done) : cfg->batch_size;

        for (size_t i = 0; i < n; i++) {
            uint64_t k = rng_uniform(&w->rng, cfg->num);

            format_key(keys[i], k);
            kvs[i] = (bench_kv){keys[i], BENCH_KEY_BYTES, next_value(w), cfg->value_size};
            track_add(w, k);
        }
        w->run->backend->batch_put(w->db, kvs, n, false);
        bench_report_request(&w->rep, n * (BENCH_KEY_BYTES + cfg->value_size), n);
        done += n;
    }
    free(kvs);
    free(keys);
}

/* `reads` random keys, like readrandom, but batch_size keys per request. */
static void
multi_get(bench_worker *w)
{
    const bench_config *cfg = w->run->cfg;
    uint8_t(*keys)[BENCH_KEY_BYTES] = request_array(cfg->batch_size, BENCH_KEY_BYTES);
    const uint8_t **ptrs = request_array(cfg->batch_size, sizeof(*ptrs));
    size_t *lens = request_array(cfg->batch_size, sizeof(*lens));
    uint64_t found = 0;
    uint64_t first;
    uint64_t count;

    share(w, cfg->reads, &first, &count);
    for (size_t i = 0; i < cfg->batch_size; i++) {
        ptrs[i] = keys[i];
        lens[i] = BENCH_KEY_BYTES;
    }
    for (uint64_t done = 0; done < count;) {
        size_t n = count - done < cfg->batch_size ? (size_t)(count - done) : cfg->batch_size;
        uint64_t bytes = 0;

        for (size_t i = 0; i < n; i++) {
            format_key(keys[i], rng_uniform(&w->rng, cfg->num));
        }
        found += w->run->backend->multi_get(w->db, n, ptrs, lens, &bytes);
        bench_report_request(&w->rep, bytes, n);
        done += n;
    }
    w->rep.found = (int64_t)found;
    free(lens);
    free(ptrs);
    free(keys);
}

/*
 * Pages through every key: thread i scans the keys from number
 * i*num/threads up to where thread i+1 starts (the first and last threads
 * from the first key and to the last, so keys outside [0, num) count too),
 * in pages of at most page_size pairs, one request each.
 */
static void
scan_pages(bench_worker *w)
{
    const bench_backend *b = w->run->backend;
    uint8_t start[BENCH_KEY_BYTES];
    uint8_t end[BENCH_KEY_BYTES];
    uint64_t first;
    uint64_t count;
    uint64_t keys = 0;
    uint64_t bytes = 0;
    void *scan;

    share(w, w->run->cfg->num, &first, &count);
    format_key(start, first);
    format_key(end, first + count);
    scan = b->scan_new(w->db, w->index > 0 ? start : NULL, sizeof(start),
                       w->index + 1 < w->threads ? end : NULL, sizeof(end), w->run->cfg->page_size);
    while (b->scan_next(scan, &keys, &bytes)) {
        bench_report_request(&w->rep, bytes, keys);
        keys = 0;
        bytes = 0;
    }
    b->scan_free(scan);
}

/* One operation: a manual compaction of everything, timed until it is done. */
static void
compact_all(bench_worker *w)
{
    w->run->backend->compact(w->db);
    bench_report_op(&w->rep, 0);
}

/*
 * One operation: waiting, after the workloads before it, until the engine's
 * background flushes and compactions are done; its space line then shows
 * what the engine keeps once it has caught up, next to the snapshot taken
 * right after the writes.
 */
static void
settle(bench_worker *w)
{
    w->run->backend->wait_idle(w->db, w->run->dir);
    bench_report_op(&w->rep, 0);
}

/* Connects before the common start, so no round trip measures connecting. */
static void
echo_setup(bench_worker *w)
{
    uint8_t key[BENCH_KEY_BYTES];

    format_key(key, w->index);
    w->echo =
        bench_echo_client_open(bench_config_echo_url(w->run->cfg), key, sizeof(key), next_value(w),
                               w->run->cfg->value_size, w->run->cfg->timeout_ms);
}

/* `num` round trips of a Put's envelope, counted as the Put's bytes. */
static void
echo_round_trips(bench_worker *w)
{
    uint64_t first;
    uint64_t count;

    share(w, w->run->cfg->num, &first, &count);
    for (uint64_t i = 0; i < count; i++) {
        bench_echo_client_call(w->echo);
        bench_report_op(&w->rep, BENCH_KEY_BYTES + w->run->cfg->value_size);
    }
}

static void
echo_teardown(bench_worker *w)
{
    bench_echo_client_close(w->echo);
    w->echo = NULL;
}

static void
print_stats(bench_worker *w)
{
    w->run->backend->print_stats(w->db, stdout);
    fflush(stdout);
}

/* The `stats` workload: not timed, no line, just the engine's statistics. */
static void
stats_now(bench_worker *w)
{
    print_stats(w);
}

/* ---- the line's note ------------------------------------------------------- */

static void
describe_found(const bench_run *run, bench_report *rep)
{
    snprintf(rep->message, sizeof(rep->message), "(%" PRId64 " of %" PRIu64 " found)", rep->found,
             rep->ops);
}

static void
describe_batch(const bench_run *run, bench_report *rep)
{
    snprintf(rep->message, sizeof(rep->message), "(%" PRIu32 " keys per request)",
             run->cfg->batch_size);
}

static void
describe_multi_get(const bench_run *run, bench_report *rep)
{
    snprintf(rep->message, sizeof(rep->message),
             "(%" PRIu32 " keys per request; %" PRId64 " of %" PRIu64 " found)",
             run->cfg->batch_size, rep->found, rep->keys);
}

static void
describe_scan(const bench_run *run, bench_report *rep)
{
    snprintf(rep->message, sizeof(rep->message), "(%" PRIu64 " keys in pages of up to %" PRIu32 ")",
             rep->keys, run->cfg->page_size);
}

static void
describe_read_seq(const bench_run *run, bench_report *rep)
{
    if (run->backend->iter_new == NULL) {
        snprintf(rep->message, sizeof(rep->message),
                 "(point gets in key order, no iterator: %" PRId64 " of %" PRIu64 " found)",
                 rep->found, rep->ops);
    }
}

/* ---- the table ------------------------------------------------------------- */

/* How a workload's operations go to the threads. */
typedef enum split {
    SPLIT_THREADS, /* shared by all threads */
    SPLIT_ONE,     /* one operation or one scan: thread 0 alone */
    SPLIT_SCAN,    /* an iterator scan on thread 0, or point reads on all */
} split;

typedef void (*describe_fn)(const bench_run *run, bench_report *rep);

/* The back-end operations beyond put/get/delete a workload needs. */
typedef enum needs {
    NEEDS_NOTHING,
    NEEDS_BATCH,
    NEEDS_MULTI_GET,
    NEEDS_SCAN,
    NEEDS_IDLE,
} needs;

static const struct workload {
    const char *name;
    bool fresh;  /* starts from a deleted database */
    bool writes; /* changes the database: report its space afterwards */
    bool timed;  /* a measured workload with a report line (all but stats) */
    split split;
    needs needs;
    workload_fn fn;
    workload_fn setup;    /* per thread, untimed, before the common start */
    workload_fn teardown; /* per thread, untimed */
    describe_fn describe; /* the line's note, from the merged figures */
} workloads[] = {
    {"fillseq", true, true, true, SPLIT_THREADS, NEEDS_NOTHING, fill_seq, NULL, NULL, NULL},
    {"fillrandom", true, true, true, SPLIT_THREADS, NEEDS_NOTHING, fill_random, NULL, NULL, NULL},
    {"overwrite", false, true, true, SPLIT_THREADS, NEEDS_NOTHING, fill_random, NULL, NULL, NULL},
    {"readrandom", false, false, true, SPLIT_THREADS, NEEDS_NOTHING, read_random, NULL, NULL,
     describe_found},
    {"readmissing", false, false, true, SPLIT_THREADS, NEEDS_NOTHING, read_missing, NULL, NULL,
     describe_found},
    {"readseq", false, false, true, SPLIT_SCAN, NEEDS_NOTHING, read_seq, NULL, NULL,
     describe_read_seq},
    {"deleterandom", false, true, true, SPLIT_THREADS, NEEDS_NOTHING, delete_random, NULL, NULL,
     NULL},
    {"fillsync", true, true, true, SPLIT_THREADS, NEEDS_NOTHING, fill_sync, NULL, NULL, NULL},
    {"compact", false, true, true, SPLIT_ONE, NEEDS_NOTHING, compact_all, NULL, NULL, NULL},
    {"settle", false, true, true, SPLIT_ONE, NEEDS_IDLE, settle, NULL, NULL, NULL},
    {"stats", false, false, false, SPLIT_ONE, NEEDS_NOTHING, stats_now, NULL, NULL, NULL},
    {"echo", false, false, true, SPLIT_THREADS, NEEDS_NOTHING, echo_round_trips, echo_setup,
     echo_teardown, NULL},
    {"batchput", false, true, true, SPLIT_THREADS, NEEDS_BATCH, batch_put, NULL, NULL,
     describe_batch},
    {"multiget", false, false, true, SPLIT_THREADS, NEEDS_MULTI_GET, multi_get, NULL, NULL,
     describe_multi_get},
    {"scan", false, false, true, SPLIT_THREADS, NEEDS_SCAN, scan_pages, NULL, NULL, describe_scan},
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
bench_workloads_unsupported(const char *name, const bench_backend *backend)
{
    const struct workload *w = find_workload(name);

    switch (w != NULL ? w->needs : NEEDS_NOTHING) {
    case NEEDS_BATCH:
        return backend->batch_put == NULL ? "it has no batch writes" : NULL;
    case NEEDS_MULTI_GET:
        return backend->multi_get == NULL ? "it has no multi-key reads" : NULL;
    case NEEDS_SCAN:
        return backend->scan_new == NULL ? "it has no range scans" : NULL;
    case NEEDS_IDLE:
        return backend->wait_idle == NULL ? "it cannot tell when its background work is done"
                                          : NULL;
    default:
        return NULL;
    }
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

/* ---- running one workload ---------------------------------------------------- */

static void
worker_setup(void *arg)
{
    bench_worker *w = arg;

    if (w->workload->setup != NULL) {
        w->workload->setup(w);
    }
}

/* Only the first thread shows progress, scaled to the whole workload. */
static void
worker_body(void *arg)
{
    bench_worker *w = arg;

    bench_report_start(&w->rep, w->workload->name);
    w->rep.progress &= w->index == 0;
    w->rep.progress_scale = w->threads;
    w->workload->fn(w);
}

static void
worker_teardown(void *arg)
{
    bench_worker *w = arg;

    if (w->workload->teardown != NULL) {
        w->workload->teardown(w);
    }
}

static unsigned
thread_count(const bench_run *run, const struct workload *w)
{
    switch (w->split) {
    case SPLIT_ONE:
        return 1;
    case SPLIT_SCAN:
        return run->backend->iter_new != NULL ? 1 : run->cfg->threads;
    default:
        return run->cfg->threads;
    }
}

/*
 * Runs timed workload `w` (position `index` in --benchmarks) on its threads
 * and merges their figures into *total.
 */
static void
run_threads(bench_run *run, const struct workload *w, size_t index, bench_report *total)
{
    static const bench_threads_job job = {worker_setup, worker_body, worker_teardown};
    unsigned n = thread_count(run, w);
    void *args[BENCH_MAX_THREADS];

    for (unsigned i = 0; i < n; i++) {
        bench_worker *wk = &run->workers[i];

        wk->workload = w;
        wk->threads = n;
        wk->rng = rng_seed(run->cfg, index, i);
        wk->live = bench_keyset_tracked(&run->live) ? &run->live : NULL;
        args[i] = wk;
    }
    bench_threads_run(&job, args, n);
    *total = run->workers[0].rep;
    for (unsigned i = 1; i < n; i++) {
        bench_report_merge(total, &run->workers[i].rep);
    }
    if (w->describe != NULL) {
        w->describe(run, total);
    }
}

/*
 * Runs workload `w` (position `index` in --benchmarks): its report line, then
 * for writes to a local database the space line, then --stats; the figures
 * go to `result_fd`. The space is measured after the clock stops, while the
 * engine may still be flushing or compacting in the background: a snapshot,
 * as a user would see.
 */
static void
run_workload(bench_run *run, const struct workload *w, size_t index, int result_fd)
{
    bench_report rep;
    bench_result res;

    if (w->fresh) {
        open_fresh(run);
    }
    if (!w->timed) {
        w->fn(&run->workers[0]);
        return;
    }
    run_threads(run, w, index, &rep);
    bench_report_finish(&rep, &res);
    res.index = (uint32_t)index;
    if (w->writes && !run->backend->remote) {
        res.disk_bytes = bench_dir_disk_bytes(run->dir);
        res.live_keys = bench_keyset_tracked(&run->live) ? (int64_t)run->live.live : -1;
        bench_report_space(res.disk_bytes, res.live_keys, run->cfg->value_size);
    }
    res.peak_rss_kib = bench_report_peak_rss_kib();
    bench_result_send(result_fd, &res);
    if (run->cfg->stats) {
        print_stats(&run->workers[0]);
    }
}

/* Sets up what the run needs before its first workload. */
static void
run_init(bench_run *run, const bench_config *cfg, const bench_backend *backend)
{
    int n = snprintf(run->dir, sizeof(run->dir), "%s/%s", cfg->db, backend->name);

    if (n < 0 || (size_t)n >= sizeof(run->dir)) {
        fprintf(stderr, "lsmkv-bench: database path too long: %s\n", cfg->db);
        exit(1);
    }
    run->workers = calloc(cfg->threads, sizeof(*run->workers));
    if (run->workers == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for %u threads\n", cfg->threads);
        exit(1);
    }
    for (unsigned i = 0; i < cfg->threads; i++) {
        run->workers[i].run = run;
        run->workers[i].index = i;
    }
    if (!backend->remote) {
        bench_dir_make_parents(cfg->db);
    }
    value_pool_init(run);
    /* Several threads would race on the bitmap, and a server's keys are its own. */
    bench_keyset_init(&run->live, cfg->threads == 1 && !backend->remote ? cfg->num : 0);
}

int
bench_workloads_run(const bench_config *cfg, const bench_backend *backend, int result_fd)
{
    bench_run run = {.cfg = cfg, .backend = backend};

    run_init(&run, cfg, backend);
    open_fresh(&run); /* like db_bench: never measure a leftover database */
    bench_report_header(cfg, backend, backend->version(run.workers[0].db), run.dir);
    for (size_t i = 0; i < cfg->benchmark_count; i++) {
        run_workload(&run, find_workload(cfg->benchmarks[i]), i, result_fd);
    }
    sessions_close(&run);
    backend->close(run.db);
    bench_keyset_fini(&run.live);
    free(run.workers);
    free(run.pool);
    bench_report_peak_rss();
    bench_result_send_end(result_fd, bench_report_peak_rss_kib());
    return 0;
}
