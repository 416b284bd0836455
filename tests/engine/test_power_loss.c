/* ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "file.h"
#include "filename.h"
#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Power loss, simulated by file.h's tracking mode: the store runs, the power
 * is cut at some moment (every byte not fsynced and every directory change
 * not synced is dropped, and the store can write nothing more), the store is
 * closed and opened again as after a reboot. Then:
 *
 *  - the store opens;
 *  - it holds exactly the state after some prefix of the operations (no
 *    value that was never written, no hole, no reordering);
 *  - with sync=always that prefix includes every acknowledged write; with
 *    sync=none, every write before the last successful lsmkv_flush.
 *
 * Cuts fall after every file operation of a deterministic workload, inside
 * flushes, compactions and log rotations (holding the thread in a fault hook),
 * during recovery itself, under concurrent writers, and at random moments
 * while background flushes and compactions run.
 */

/* ---- the model: operation i (from 1) writes key[i], or deletes it --------------------- */

typedef struct model {
    int count; /* operations so far */
    int cap;
    uint16_t *key;
    bool *put;
} model;

static void
model_push(model *m, uint16_t key, bool put)
{
    if (m->count + 1 >= m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->key = realloc(m->key, (size_t)m->cap * sizeof(*m->key));
        m->put = realloc(m->put, (size_t)m->cap * sizeof(*m->put));
    }
    m->count++;
    m->key[m->count] = key;
    m->put[m->count] = put;
}

static void
model_free(model *m)
{
    free(m->key);
    free(m->put);
}

static void
key_name(char *out, size_t cap, int key)
{
    snprintf(out, cap, "p%04d", key);
}

/* The value op writes: its number, then bytes derived from it. */
static size_t
op_value(uint8_t *out, int op, size_t base, size_t spread)
{
    size_t len = base + (size_t)(op * 37) % (spread + 1);
    snprintf((char *)out, 16, "%010d", op);
    for (size_t j = 10; j < len; j++) {
        out[j] = (uint8_t)(op * 131 + (int)j);
    }
    return len;
}

typedef struct workload {
    int keys;
    size_t value_base, value_spread;
} workload;

#define VALUE_MAX 4096

/* Appends one random operation to m and runs it; returns its status. */
static int
do_op(lsmkv *db, model *m, test_rng *rng, const workload *w)
{
    int key = (int)test_rng_below(rng, (uint64_t)w->keys);
    bool put = test_rng_below(rng, 5) != 0;
    model_push(m, (uint16_t)key, put);
    char name[16];
    key_name(name, sizeof(name), key);
    if (!put) {
        return lsmkv_delete(db, NULL, (const uint8_t *)name, strlen(name), NULL);
    }
    uint8_t value[VALUE_MAX];
    size_t len = op_value(value, m->count, w->value_base, w->value_spread);
    return lsmkv_put(db, NULL, (const uint8_t *)name, strlen(name), value, len, NULL);
}

/* The op whose value `value` is, checking every byte; fails on a phantom. */
static int
value_op(const model *m, const workload *w, int key, const uint8_t *value, size_t len)
{
    char digits[11] = {0};
    if (len >= 10) {
        memcpy(digits, value, 10);
    }
    int op = atoi(digits);
    uint8_t want[VALUE_MAX];
    bool ok = op >= 1 && op <= m->count && m->key[op] == key && m->put[op] &&
              op_value(want, op, w->value_base, w->value_spread) == len &&
              memcmp(want, value, len) == 0;
    if (!ok) {
        fail_msg("key %d holds a value that was never written to it (%zu bytes, \"%.10s\")", key,
                 len, (const char *)value);
    }
    return op;
}

/* For each key, the op whose value the store holds (0: absent); also checks a scan agrees. */
static int *
read_state(lsmkv *db, const model *m, const workload *w)
{
    int *found = calloc((size_t)w->keys, sizeof(*found));
    for (int k = 0; k < w->keys; k++) {
        char name[16];
        key_name(name, sizeof(name), k);
        uint8_t *value = NULL;
        size_t len = 0;
        bool present = false;
        lsmkv_error err = {0};
        if (lsmkv_get(db, (const uint8_t *)name, strlen(name), &value, &len, &present, &err) !=
            LSMKV_OK) {
            fail_msg("get %s after power loss: %s", name, err.message);
        }
        found[k] = present ? value_op(m, w, k, value, len) : 0;
        lsmkv_free(value);
    }
    lsmkv_iterator *it;
    assert_int_equal(lsmkv_iterator_new(db, &it, NULL), LSMKV_OK);
    int seen = 0, present = 0;
    for (lsmkv_iterator_seek_to_first(it); lsmkv_iterator_valid(it); lsmkv_iterator_next(it)) {
        size_t key_len, len;
        const uint8_t *key = lsmkv_iterator_key(it, &key_len);
        const uint8_t *value = lsmkv_iterator_value(it, &len);
        char name[16] = {0};
        memcpy(name, key, key_len < 15 ? key_len : 15);
        int k = atoi(name + 1);
        assert_true(k >= 0 && k < w->keys);
        assert_int_equal(value_op(m, w, k, value, len), found[k]);
        seen++;
    }
    assert_int_equal(lsmkv_iterator_status(it, NULL), LSMKV_OK);
    lsmkv_iterator_free(it);
    for (int k = 0; k < w->keys; k++) {
        present += found[k] != 0;
    }
    assert_int_equal(seen, present);
    return found;
}

/*
 * The store must hold exactly the state after the first j operations for
 * some j in [lo, hi]; returns that j (the smallest).
 */
static int
check_prefix(lsmkv *db, const model *m, const workload *w, int lo, int hi)
{
    assert_true(lo <= hi && hi <= m->count);
    int *found = read_state(db, m, w);
    int *want = calloc((size_t)w->keys, sizeof(*want));
    for (int op = 1; op <= lo; op++) {
        want[m->key[op]] = m->put[op] ? op : 0;
    }
    int wrong = 0, first_wrong = -1;
    for (int k = 0; k < w->keys; k++) {
        if (want[k] != found[k]) {
            wrong++;
            first_wrong = first_wrong < 0 ? k : first_wrong;
        }
    }
    int j = lo;
    while (wrong > 0 && j < hi) {
        j++;
        int k = m->key[j];
        wrong -= want[k] != found[k];
        want[k] = m->put[j] ? j : 0;
        wrong += want[k] != found[k];
    }
    if (wrong > 0) {
        int k = first_wrong;
        int expected = 0;
        for (int op = 1; op <= lo; op++) {
            expected = m->key[op] == k ? (m->put[op] ? op : 0) : expected;
        }
        fail_msg("no prefix of operations [%d, %d] matches the store: key %d holds op %d, "
                 "after op %d it should hold op %d",
                 lo, hi, k, found[k], lo, expected);
    }
    free(want);
    free(found);
    return j;
}

/* ---- cutting the power --------------------------------------------------------------- */

/*
 * A fault hook that cuts the power (file_power_loss_simulate) at the
 * `cut_at`-th file operation it sees (0: never), or at the first one
 * matching (op, needle) after `skip` earlier matches; or, with `hold`, stops
 * the thread there until the test releases it (the test then cuts).
 */
typedef struct cutter {
    const char *dir;
    uint64_t seed;
    long cut_at;
    file_op op;
    const char *needle; /* NULL: match by count only */
    int skip;
    bool hold;

    pthread_mutex_t mutex;
    pthread_cond_t cond;
    long seen;
    bool armed, reached, released, cut;
} cutter;

static void
cutter_init(cutter *c, const char *dir, uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    c->dir = dir;
    c->seed = seed;
    pthread_mutex_init(&c->mutex, NULL);
    pthread_cond_init(&c->cond, NULL);
}

static void
cutter_fini(cutter *c)
{
    pthread_mutex_destroy(&c->mutex);
    pthread_cond_destroy(&c->cond);
}

/* Cuts the power now, once. Caller holds c->mutex. */
static void
cut_locked(cutter *c)
{
    if (!c->cut) {
        c->cut = true;
        lsmkv_error err = {0};
        if (file_power_loss_simulate(c->dir, c->seed, &err) != LSMKV_OK) {
            fail_msg("simulating power loss: %s", err.message);
        }
    }
}

static int
cutter_hook(void *ctx, file_op op, const char *path)
{
    cutter *c = ctx;
    pthread_mutex_lock(&c->mutex);
    c->seen++;
    if (c->cut_at > 0 && c->seen == c->cut_at) {
        cut_locked(c);
    }
    bool match = c->armed && c->needle != NULL && op == c->op && strstr(path, c->needle) != NULL;
    if (match && c->skip-- == 0) {
        c->armed = false;
        c->reached = true;
        pthread_cond_broadcast(&c->cond);
        if (!c->hold) {
            cut_locked(c);
        }
        while (c->hold && !c->released) {
            pthread_cond_wait(&c->cond, &c->mutex);
        }
    }
    pthread_mutex_unlock(&c->mutex);
    return 0; /* after a cut, the layer itself fails the operation with EIO */
}

static void
cutter_arm(cutter *c, file_op op, const char *needle, int skip, bool hold)
{
    pthread_mutex_lock(&c->mutex);
    c->op = op;
    c->needle = needle;
    c->skip = skip;
    c->hold = hold;
    c->armed = true;
    pthread_mutex_unlock(&c->mutex);
}

/* Cuts the power unless the hook did already. */
static void
cut_now(cutter *c)
{
    pthread_mutex_lock(&c->mutex);
    cut_locked(c);
    pthread_mutex_unlock(&c->mutex);
}

static bool
was_cut(cutter *c)
{
    pthread_mutex_lock(&c->mutex);
    bool cut = c->cut;
    pthread_mutex_unlock(&c->mutex);
    return cut;
}

/* Waits for a holding cutter to be reached, cuts the power, lets the thread go. */
static void
cut_at_hold(cutter *c)
{
    pthread_mutex_lock(&c->mutex);
    while (!c->reached) {
        pthread_cond_wait(&c->cond, &c->mutex);
    }
    cut_locked(c);
    c->released = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mutex);
}

/* Starts a run that the power may cut: tracking on, hook installed. */
static void
power_on(cutter *c)
{
    file_power_loss_begin();
    file_set_fault_hook(cutter_hook, c);
}

/* After the cut: close what still runs (its calls fail), then reboot. */
static void
reboot(lsmkv *db)
{
    lsmkv_close(db);
    file_set_fault_hook(NULL, NULL);
    file_power_loss_end();
}

/* ---- stores ---------------------------------------------------------------------- */

static void
discard_log(void *ctx, lsmkv_log_level level, const char *line)
{
}

static void
base_options(lsmkv_options *o, lsmkv_sync_mode sync)
{
    lsmkv_options_init(o);
    o->sync = sync;
    o->mmap_reads = false; /* a table cut under a running store must not SIGBUS it */
    o->log_fn = discard_log;
}

static lsmkv *
open_ok(const char *dir, const lsmkv_options *o)
{
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    if (lsmkv_open(dir, o, &db, &err) != LSMKV_OK) {
        fail_msg("open %s after power loss: %s", dir, err.message);
    }
    return db;
}

/* Opens after a reboot and checks a prefix in [lo, hi]; returns it. */
static int
reopen_and_check(const char *dir, const lsmkv_options *o, const model *m, const workload *w, int lo,
                 int hi)
{
    lsmkv_options quiet = *o; /* no compaction writing files while they are counted */
    quiet.disable_auto_compaction = true;
    lsmkv *db = open_ok(dir, &quiet);
    int j = check_prefix(db, m, w, lo, hi);
    /* Nothing is left over from interrupted work: every table is named. */
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    assert_int_equal(test_count_files(dir, ".sst"), (int)s.sstables);
    assert_int_equal(test_count_files(dir, ".tmp"), 0);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    return j;
}

/* ---- every file operation of a deterministic run ---------------------------------------- */

#define SWEEP_OPS 60

typedef struct progress {
    int acked;     /* every op up to here was acknowledged */
    int attempted; /* ops tried (the last may have failed) */
    int durable;   /* sync=none: ops before the last successful flush */
} progress;

/* 60 writes with two flushes and a compaction, stopping at the first failure. */
static void
sweep_workload(lsmkv *db, model *m, progress *p)
{
    static const workload w = {.keys = 12, .value_base = 20, .value_spread = 200};
    test_rng rng;
    test_rng_init(&rng, 42);
    for (int i = 1; i <= SWEEP_OPS; i++) {
        int rc = do_op(db, m, &rng, &w);
        p->attempted = m->count;
        if (rc != LSMKV_OK) {
            return;
        }
        p->acked = m->count;
        if ((i == 20 || i == 40) && lsmkv_flush(db, NULL, NULL) != LSMKV_OK) {
            return;
        }
        if (i == 50 && lsmkv_compact(db, NULL, NULL) != LSMKV_OK) {
            return;
        }
    }
}

/* Opens, runs the sweep workload, closes; the cutter may cut anywhere. */
static void
sweep_run(const char *dir, cutter *c, model *m, progress *p)
{
    lsmkv_options o;
    base_options(&o, LSMKV_SYNC_ALWAYS);
    o.disable_auto_compaction = true;
    power_on(c);
    lsmkv *db = NULL;
    if (lsmkv_open(dir, &o, &db, NULL) == LSMKV_OK) {
        sweep_workload(db, m, p);
        lsmkv_close(db);
    }
    cut_now(c);
    reboot(NULL);
}

static void
test_sync_always_cut_after_every_file_operation(void **state)
{
    /* A run without a cut counts the operations (they come in a fixed order:
     * the flush thread works while the writer waits in lsmkv_flush). */
    char *dir = test_make_temp_dir("power-sweep");
    cutter c;
    cutter_init(&c, dir, 0);
    model m = {0};
    progress p = {0};
    sweep_run(dir, &c, &m, &p);
    long operations = c.seen;
    cutter_fini(&c);
    model_free(&m);
    m = (model){0};
    test_remove_dir(dir);
    assert_true(operations > 2 * SWEEP_OPS);

    static const workload w = {.keys = 12, .value_base = 20, .value_spread = 200};
    lsmkv_options o;
    base_options(&o, LSMKV_SYNC_ALWAYS);
    o.disable_auto_compaction = true;
    for (long cut = 1; cut <= operations; cut++) {
        dir = test_make_temp_dir("power-sweep");
        /* Every other cut keeps a random part of what was not synced. */
        cutter_init(&c, dir, cut % 2 ? 0 : (uint64_t)cut * 7919);
        c.cut_at = cut;
        memset(&p, 0, sizeof(p));
        m.count = 0;
        sweep_run(dir, &c, &m, &p);
        cutter_fini(&c);
        if (cut / 2 % 2 == 0) {
            /* The first open after the cut recovers the log, and the power
             * fails again during that recovery (at a different step each time). */
            cutter_init(&c, dir, cut % 3 ? 0 : (uint64_t)cut);
            c.cut_at = 1 + cut % 29;
            power_on(&c);
            lsmkv *db = NULL;
            if (lsmkv_open(dir, &o, &db, NULL) == LSMKV_OK) {
                cut_now(&c);
            }
            reboot(db);
            cutter_fini(&c);
        }
        /* Every acknowledged write is there, and a second open changes nothing. */
        int j = reopen_and_check(dir, &o, &m, &w, p.acked, p.attempted);
        assert_int_equal(reopen_and_check(dir, &o, &m, &w, j, j), j);
        test_remove_dir(dir);
    }
    model_free(&m);
}

/* ---- inside a flush, a compaction, a rotation ------------------------------------------- */

typedef struct step {
    file_op op;
    const char *needle;
    int skip; /* earlier matches let through */
} step;

typedef struct call {
    lsmkv *db;
    bool compact;
    int rc;
} call;

static void *
call_main(void *arg)
{
    call *k = arg;
    k->rc = k->compact ? lsmkv_compact(k->db, NULL, NULL) : lsmkv_flush(k->db, NULL, NULL);
    return NULL;
}

/*
 * Holds the flush (or compaction) thread at `at`, cuts the power there, and
 * checks the reopened store holds every acknowledged write.
 */
static void
check_cut_inside(bool compact, step at, uint64_t seed)
{
    static const workload w = {.keys = 40, .value_base = 100, .value_spread = 400};
    char *dir = test_make_temp_dir("power-step");
    lsmkv_options o;
    base_options(&o, LSMKV_SYNC_ALWAYS);
    o.disable_auto_compaction = true;
    cutter c;
    cutter_init(&c, dir, seed);
    power_on(&c);
    lsmkv *db = open_ok(dir, &o);
    model m = {0};
    test_rng rng;
    test_rng_init(&rng, seed + 1);
    for (int table = 0; table < (compact ? 3 : 1); table++) {
        for (int i = 0; i < 60; i++) {
            assert_int_equal(do_op(db, &m, &rng, &w), LSMKV_OK);
        }
        if (compact) {
            assert_int_equal(lsmkv_flush(db, NULL, NULL), LSMKV_OK);
        }
    }

    cutter_arm(&c, at.op, at.needle, at.skip, true);
    call k = {.db = db, .compact = compact};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, call_main, &k), 0);
    cut_at_hold(&c);
    assert_int_equal(pthread_join(thread, NULL), 0);
    reboot(db);
    cutter_fini(&c);
    int acked = m.count;
    int j = reopen_and_check(dir, &o, &m, &w, acked, acked);
    assert_int_equal(j, acked);
    model_free(&m);
    test_remove_dir(dir);
}

static const step flush_steps[] = {
    {FILE_OP_OPEN, ".sst", 0}, /* the table is created */
    {FILE_OP_SYNC, ".sst", 0}, /* written, not synced */
    {FILE_OP_OPEN, FILENAME_MANIFEST_TEMP, 0},
    {FILE_OP_SYNC, FILENAME_MANIFEST_TEMP, 0},
    {FILE_OP_RENAME, FILENAME_MANIFEST, 0}, /* before the new manifest takes the name */
    {FILE_OP_SYNC_DIR, "power-step", 1},    /* renamed, directory not synced (the first
                                               directory sync is the new WAL segment's) */
    {FILE_OP_REMOVE, ".wal", 0},            /* installed; the old segment still there */
};

static const step compaction_steps[] = {
    {FILE_OP_OPEN, ".sst", 0},
    {FILE_OP_SYNC, ".sst", 0},
    {FILE_OP_OPEN, FILENAME_MANIFEST_TEMP, 0},
    {FILE_OP_RENAME, FILENAME_MANIFEST, 0},
    {FILE_OP_SYNC_DIR, "power-step", 0},
    {FILE_OP_REMOVE, ".sst", 0}, /* installed; the first input is being deleted */
    {FILE_OP_REMOVE, ".sst", 2}, /* the last input */
};

static void
test_sync_always_cut_inside_a_flush(void **state)
{
    for (size_t i = 0; i < sizeof(flush_steps) / sizeof(flush_steps[0]); i++) {
        check_cut_inside(false, flush_steps[i], 0);
        check_cut_inside(false, flush_steps[i], 1000 + i);
    }
}

static void
test_sync_always_cut_inside_a_compaction(void **state)
{
    for (size_t i = 0; i < sizeof(compaction_steps) / sizeof(compaction_steps[0]); i++) {
        check_cut_inside(true, compaction_steps[i], 0);
        check_cut_inside(true, compaction_steps[i], 2000 + i);
    }
}

/* The only WAL segment's file name in dir. */
static void
only_segment(const char *dir, char *name, size_t cap)
{
    assert_int_equal(test_count_files(dir, ".wal"), 1);
    for (uint64_t n = 1; n < 1000; n++) {
        char path[FILENAME_PATH_MAX];
        filename_wal(path, dir, n);
        if (test_file_size(path) >= 0) {
            snprintf(name, cap, "%06" PRIu64 ".wal", n);
            return;
        }
    }
    fail_msg("no WAL segment in %s", dir);
}

/*
 * sync=none: the power goes while the log rotates to a new segment, when the
 * full segment is synced. Whatever part of its unsynced tail survives, the
 * store opens at a prefix of the writes.
 */
static void
test_sync_none_cut_while_the_log_rotates(void **state)
{
    static const workload w = {.keys = 30, .value_base = 500, .value_spread = 1500};
    for (uint64_t seed = 0; seed < 8; seed++) {
        char *dir = test_make_temp_dir("power-rotate");
        lsmkv_options o;
        base_options(&o, LSMKV_SYNC_NONE);
        o.memtable_bytes = 64u << 10;
        cutter c;
        cutter_init(&c, dir, seed * 31 + 1);
        power_on(&c);
        lsmkv *db = open_ok(dir, &o);
        char first[32];
        only_segment(dir, first, sizeof(first));
        cutter_arm(&c, FILE_OP_SYNC, first, 0, false);
        model m = {0};
        test_rng rng;
        test_rng_init(&rng, seed);
        while (!was_cut(&c)) {
            assert_true(m.count < 10000);
            if (do_op(db, &m, &rng, &w) != LSMKV_OK) {
                break;
            }
        }
        reboot(db);
        cutter_fini(&c);
        reopen_and_check(dir, &o, &m, &w, 0, m.count);
        model_free(&m);
        test_remove_dir(dir);
    }
}

/* ---- a new store's directory -------------------------------------------------------- */

static void
test_new_store_directory_survives(void **state)
{
    static const workload w = {.keys = 5, .value_base = 10, .value_spread = 10};
    char *parent = test_make_temp_dir("power-new");
    char dir[FILENAME_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/nested/store", parent);
    lsmkv_options o;
    base_options(&o, LSMKV_SYNC_ALWAYS);
    cutter c;
    cutter_init(&c, parent, 0);
    power_on(&c);
    lsmkv *db = open_ok(dir, &o);
    model m = {0};
    test_rng rng;
    test_rng_init(&rng, 7);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(do_op(db, &m, &rng, &w), LSMKV_OK);
    }
    cut_now(&c); /* the whole tree under parent: the store's directories too */
    reboot(db);
    cutter_fini(&c);
    o.create_if_missing = false; /* the directory must still be there */
    reopen_and_check(dir, &o, &m, &w, m.count, m.count);
    model_free(&m);
    test_remove_dir(parent);
}

/* ---- random moments, background work ---------------------------------------------------- */

/*
 * Rounds on one directory: open, random writes (and now and then a manual
 * flush or compaction) while background flushes and compactions run, a cut
 * at a random file operation, a reboot, a check. The model continues from
 * the prefix each check finds.
 */
static void
run_random_rounds(lsmkv_sync_mode sync, int rounds, uint64_t seed)
{
    static const workload w = {.keys = 200, .value_base = 200, .value_spread = 1800};
    char *dir = test_make_temp_dir("power-random");
    lsmkv_options o;
    base_options(&o, sync);
    o.memtable_bytes = 64u << 10;
    o.level0_compaction_trigger = 2;
    o.level1_target_bytes = 256u << 10;
    o.sstable_target_bytes = 64u << 10;
    model m = {0};
    test_rng rng;
    test_rng_init(&rng, seed);
    int durable = 0;
    for (int round = 0; round < rounds; round++) {
        cutter c;
        cutter_init(&c, dir, test_rng_below(&rng, 2) ? 0 : test_rng_next(&rng) | 1);
        c.cut_at = (long)(1 + test_rng_below(&rng, 600));
        power_on(&c);
        lsmkv *db = NULL;
        progress p = {.acked = m.count, .attempted = m.count, .durable = durable};
        if (lsmkv_open(dir, &o, &db, NULL) == LSMKV_OK) {
            int ops = 50 + (int)test_rng_below(&rng, 400);
            for (int i = 0; i < ops && !was_cut(&c); i++) {
                int rc = do_op(db, &m, &rng, &w);
                p.attempted = m.count;
                if (rc != LSMKV_OK) {
                    break;
                }
                p.acked = m.count;
                uint64_t dice = test_rng_below(&rng, 100);
                if (dice == 0 && lsmkv_flush(db, NULL, NULL) == LSMKV_OK) {
                    p.durable = p.acked;
                } else if (dice == 1) {
                    lsmkv_compact(db, NULL, NULL);
                }
            }
        }
        cut_now(&c);
        reboot(db);
        cutter_fini(&c);
        int lo = sync == LSMKV_SYNC_ALWAYS ? p.acked : p.durable;
        int j = reopen_and_check(dir, &o, &m, &w, lo, p.attempted);
        m.count = j; /* the lost tail never happened */
        durable = j; /* recovery wrote what it found to tables */
    }
    model_free(&m);
    test_remove_dir(dir);
}

static void
test_sync_always_random_cuts_with_background_work(void **state)
{
    run_random_rounds(LSMKV_SYNC_ALWAYS, 25, test_seed());
}

static void
test_sync_none_random_cuts_keep_a_prefix(void **state)
{
    run_random_rounds(LSMKV_SYNC_NONE, 40, test_seed() + 1);
}

/* ---- concurrent writers ------------------------------------------------------------- */

#define WRITERS 4

typedef struct writer_state {
    lsmkv *db;
    int id;
    int acked; /* writes 0..acked-1 acknowledged */
    pthread_mutex_t *mutex;
    pthread_cond_t *progress;
    int *total;
} writer_state;

static void
writer_value(char *out, size_t cap, int id, int i)
{
    snprintf(out, cap, "writer %d write %d", id, i);
}

static void *
writer_main(void *arg)
{
    writer_state *ws = arg;
    for (int i = 0;; i++) {
        char key[32], value[64];
        snprintf(key, sizeof(key), "w%d-%06d", ws->id, i);
        writer_value(value, sizeof(value), ws->id, i);
        if (lsmkv_put(ws->db, NULL, (const uint8_t *)key, strlen(key), (const uint8_t *)value,
                      strlen(value), NULL) != LSMKV_OK) {
            return NULL;
        }
        pthread_mutex_lock(ws->mutex);
        ws->acked = i + 1;
        (*ws->total)++;
        pthread_cond_broadcast(ws->progress);
        pthread_mutex_unlock(ws->mutex);
    }
}

/* Group commit under a cut: every acknowledged write of every writer survives. */
static void
test_sync_always_concurrent_writers(void **state)
{
    char *dir = test_make_temp_dir("power-writers");
    lsmkv_options o;
    base_options(&o, LSMKV_SYNC_ALWAYS);
    o.memtable_bytes = 64u << 10;
    cutter c;
    cutter_init(&c, dir, 99);
    power_on(&c);
    lsmkv *db = open_ok(dir, &o);
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t advanced = PTHREAD_COND_INITIALIZER;
    int total = 0;
    writer_state ws[WRITERS];
    pthread_t threads[WRITERS];
    for (int t = 0; t < WRITERS; t++) {
        ws[t] = (writer_state){
            .db = db, .id = t, .mutex = &mutex, .progress = &advanced, .total = &total};
        assert_int_equal(pthread_create(&threads[t], NULL, writer_main, &ws[t]), 0);
    }
    pthread_mutex_lock(&mutex);
    while (total < 1500) {
        pthread_cond_wait(&advanced, &mutex);
    }
    pthread_mutex_unlock(&mutex);
    cut_now(&c); /* the writers are mid-flight */
    for (int t = 0; t < WRITERS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
    }
    reboot(db);
    cutter_fini(&c);

    db = open_ok(dir, &o);
    for (int t = 0; t < WRITERS; t++) {
        /* Acknowledged: present. The one in flight: either. Later: absent. */
        for (int i = 0; i <= ws[t].acked + 1; i++) {
            char key[32], want[64];
            snprintf(key, sizeof(key), "w%d-%06d", t, i);
            writer_value(want, sizeof(want), t, i);
            uint8_t *value = NULL;
            size_t len = 0;
            bool found = false;
            assert_int_equal(
                lsmkv_get(db, (const uint8_t *)key, strlen(key), &value, &len, &found, NULL),
                LSMKV_OK);
            if (i < ws[t].acked) {
                assert_true(found);
            }
            if (i > ws[t].acked) {
                assert_false(found);
            }
            if (found) {
                assert_int_equal(len, strlen(want));
                assert_memory_equal(value, want, len);
            }
            lsmkv_free(value);
        }
    }
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_always_cut_after_every_file_operation),
        cmocka_unit_test(test_sync_always_cut_inside_a_flush),
        cmocka_unit_test(test_sync_always_cut_inside_a_compaction),
        cmocka_unit_test(test_sync_none_cut_while_the_log_rotates),
        cmocka_unit_test(test_new_store_directory_survives),
        cmocka_unit_test(test_sync_always_random_cuts_with_background_work),
        cmocka_unit_test(test_sync_none_random_cuts_keep_a_prefix),
        cmocka_unit_test(test_sync_always_concurrent_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
