/*
 * Model-based randomized test of the whole store: thousands of random steps
 * (put, delete, get, flush, compact, close + reopen, full checks) on a small
 * space of binary keys, each checked against an in-memory map. The memtable
 * is small, so background flushes, rotations and stalls happen on their own
 * between the explicit steps. A failure names the step and the seed; rerun
 * with LSMKV_TEST_SEED=<seed> to repeat it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_KEYS      160
#define MODEL_STEPS     20000
#define LONG_KEY_BYTES  2000
#define MAX_VALUE_BYTES (1u << 20)

typedef struct model_value {
    bool present;
    uint8_t *data;
    size_t len;
} model_value;

typedef struct model {
    const char *dir;
    lsmkv *db;
    test_rng rng;
    uint64_t seed;
    int step;
    int reopens;
    uint64_t sequence;       /* successful puts and deletes so far */
    uint64_t flushes;        /* memtables flushed, over every open before the current */
    uint64_t manual_flushes; /* lsmkv_flush calls */
    model_value values[MODEL_KEYS];
} model;

static void model_failed(const model *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fails the test, naming the step and seed so the run can be repeated. */
static void
model_failed(const model *m, const char *fmt, ...)
{
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    fail_msg("step %d (seed %" PRIu64 "): %s", m->step, m->seed, detail);
}

/*
 * Key i as bytes. A few one-byte keys (one of them "\0"), many two-byte
 * prefixes padded with NULs to different lengths, and one long key: shared
 * prefixes and embedded zeros everywhere.
 */
static size_t
model_key(uint32_t i, uint8_t *out)
{
    if (i < 8) {
        out[0] = (uint8_t)(i * 37);
        return 1;
    }
    if (i == MODEL_KEYS - 1) {
        for (size_t j = 0; j < LONG_KEY_BYTES; j++) {
            out[j] = (uint8_t)(j * 13);
        }
        return LONG_KEY_BYTES;
    }
    size_t len = 2 + i % 6;
    memset(out, 0, len);
    out[0] = (uint8_t)(i & 15);
    out[1] = (uint8_t)(i >> 4);
    return len;
}

/* Empty now and then, mostly small, sometimes large (a memtable or more). */
static size_t
random_value_len(test_rng *rng)
{
    uint64_t r = test_rng_below(rng, 1000);
    if (r < 50) {
        return 0;
    }
    if (r < 900) {
        return 1 + test_rng_below(rng, 200);
    }
    if (r < 990) {
        return 200 + test_rng_below(rng, 4000);
    }
    return 64000 + test_rng_below(rng, 600000);
}

static lsmkv *
model_open(model *m)
{
    lsmkv_options o;
    lsmkv_options_init(&o);
    o.sync = LSMKV_SYNC_NONE;
    o.memtable_bytes = 64u << 10;
    o.level1_target_bytes = 128u << 10; /* background compactions reach deeper levels */
    o.max_immutables = 2;
    o.sstable_target_bytes = 64u << 10; /* compactions write several tables */
    o.max_value_bytes = MAX_VALUE_BYTES;
    /* Tables written under different settings must read alike. */
    o.block_bytes = m->reopens % 2 == 0 ? 512 : 4096;
    o.bloom_bits_per_key = m->reopens % 3 == 2 ? 0 : 10;
    lsmkv_error err = {0};
    lsmkv *db = NULL;
    int rc = lsmkv_open(m->dir, &o, &db, &err);
    if (rc != LSMKV_OK) {
        model_failed(m, "open: %s", err.message);
    }
    return db;
}

static void
check_key(model *m, uint32_t i)
{
    uint8_t key[LONG_KEY_BYTES];
    size_t key_len = model_key(i, key);
    uint8_t *value = NULL;
    size_t len = 0;
    bool found = false;
    lsmkv_error err = {0};
    int rc = lsmkv_get(m->db, key, key_len, &value, &len, &found, &err);
    if (rc != LSMKV_OK) {
        model_failed(m, "get of key %u: %s", i, err.message);
    }
    const model_value *want = &m->values[i];
    if (found != want->present) {
        lsmkv_free(value);
        model_failed(m, "key %u is %s, the model says %s", i, found ? "present" : "absent",
                     want->present ? "present" : "absent");
    }
    if (found && (len != want->len || (len > 0 && memcmp(value, want->data, len) != 0))) {
        lsmkv_free(value);
        model_failed(m, "key %u has a value of %zu bytes, not the model's %zu", i, len, want->len);
    }
    if (found) {
        assert_non_null(value); /* even an empty value comes back as a buffer */
    }
    lsmkv_free(value);
}

static void
check_all(model *m)
{
    for (uint32_t i = 0; i < MODEL_KEYS; i++) {
        check_key(m, i);
    }
    lsmkv_stats stats;
    lsmkv_get_stats(m->db, &stats);
    if (stats.last_sequence != m->sequence) {
        model_failed(m, "last_sequence is %" PRIu64 ", expected %" PRIu64, stats.last_sequence,
                     m->sequence);
    }
}

static void
step_put(model *m, uint32_t i)
{
    uint8_t key[LONG_KEY_BYTES];
    size_t key_len = model_key(i, key);
    size_t len = random_value_len(&m->rng);
    uint8_t *value = malloc(len > 0 ? len : 1);
    test_rng_bytes(&m->rng, value, len);
    lsmkv_error err = {0};
    int rc = lsmkv_put(m->db, NULL, key, key_len, value, len, &err);
    if (rc != LSMKV_OK) {
        free(value);
        model_failed(m, "put of key %u (%zu bytes): %s", i, len, err.message);
    }
    model_value *v = &m->values[i];
    free(v->data);
    *v = (model_value){.present = true, .data = value, .len = len};
    m->sequence++;
}

static void
step_delete(model *m, uint32_t i)
{
    uint8_t key[LONG_KEY_BYTES];
    size_t key_len = model_key(i, key);
    lsmkv_error err = {0};
    if (lsmkv_delete(m->db, NULL, key, key_len, &err) != LSMKV_OK) {
        model_failed(m, "delete of key %u: %s", i, err.message);
    }
    model_value *v = &m->values[i];
    free(v->data);
    *v = (model_value){.present = false};
    m->sequence++;
}

/* Writes the store refuses change nothing and use no sequence number. */
static void
step_invalid_write(model *m)
{
    uint8_t key[8] = {1};
    lsmkv_error err = {0};
    if (lsmkv_put(m->db, NULL, key, 0, key, 1, &err) != LSMKV_INVALID_ARGUMENT ||
        lsmkv_delete(m->db, NULL, key, 0, &err) != LSMKV_INVALID_ARGUMENT) {
        model_failed(m, "an empty key was not refused");
    }
    uint8_t *big = calloc(1, MAX_VALUE_BYTES + 1);
    size_t key_len = model_key(9, key);
    int rc = lsmkv_put(m->db, NULL, key, key_len, big, MAX_VALUE_BYTES + 1, &err);
    free(big);
    if (rc != LSMKV_INVALID_ARGUMENT) {
        model_failed(m, "an oversize value was not refused (%s)", lsmkv_status_name(rc));
    }
    check_key(m, 9);
}

static void
step_flush(model *m)
{
    lsmkv_stats stats;
    lsmkv_get_stats(m->db, &stats);
    lsmkv_table_list written = {0};
    lsmkv_error err = {0};
    m->manual_flushes++;
    if (lsmkv_flush(m->db, &written, &err) != LSMKV_OK) {
        model_failed(m, "flush: %s", err.message);
    }
    /* Only this thread writes, so the active memtable is what the stats saw;
     * the table keeps only the newest version of each key. */
    size_t expected = stats.memtable_entries > 0 ? 1 : 0;
    if (written.count != expected ||
        (expected == 1 &&
         (written.tables[0].entries == 0 || written.tables[0].entries > stats.memtable_entries ||
          written.tables[0].level != 0))) {
        model_failed(m, "flush of %" PRIu64 " entries wrote %zu tables", stats.memtable_entries,
                     written.count);
    }
    lsmkv_table_list_fini(&written);
}

static uint64_t
live_keys(const model *m)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < MODEL_KEYS; i++) {
        n += m->values[i].present;
    }
    return n;
}

/*
 * Compaction; after a flush, every write is in the tables it merges, so its
 * output holds exactly one entry per live key and no tombstones.
 */
static void
step_compact(model *m, bool flush_first)
{
    if (flush_first) {
        step_flush(m);
    }
    lsmkv_compaction_result result;
    lsmkv_error err = {0};
    if (lsmkv_compact(m->db, &result, &err) != LSMKV_OK) {
        model_failed(m, "compact: %s", err.message);
    }
    uint64_t entries = 0, tombstones = 0;
    for (size_t i = 0; i < result.outputs.count; i++) {
        entries += result.outputs.tables[i].entries;
        tombstones += result.outputs.tables[i].tombstones;
        /* A full compaction writes one level: the first >= 1 that holds it all. */
        if (result.outputs.tables[i].level < 1 ||
            result.outputs.tables[i].level != result.outputs.tables[0].level) {
            model_failed(m, "compaction output at level %u", result.outputs.tables[i].level);
        }
    }
    if (flush_first && (entries != live_keys(m) || tombstones != 0)) {
        model_failed(m,
                     "compaction kept %" PRIu64 " entries and %" PRIu64 " tombstones for %" PRIu64
                     " live keys",
                     entries, tombstones, live_keys(m));
    }
    lsmkv_stats stats;
    lsmkv_get_stats(m->db, &stats);
    uint32_t level = result.outputs.count > 0 ? result.outputs.tables[0].level : 1;
    if (stats.levels[level].tables != result.outputs.count) {
        model_failed(m, "%" PRIu64 " level-%u tables after a compaction that wrote %zu",
                     stats.levels[level].tables, level, result.outputs.count);
    }
    lsmkv_compaction_result_fini(&result);
}

static void
step_reopen(model *m)
{
    lsmkv_stats stats;
    lsmkv_get_stats(m->db, &stats);
    m->flushes += stats.flushes;
    if (lsmkv_close(m->db) != LSMKV_OK) {
        m->db = NULL;
        model_failed(m, "close failed");
    }
    m->reopens++;
    m->db = model_open(m);
    check_all(m);
}

static void
model_step(model *m)
{
    uint64_t r = test_rng_below(&m->rng, 1000);
    uint32_t i = (uint32_t)test_rng_below(&m->rng, MODEL_KEYS);
    if (r < 450) {
        step_put(m, i);
    } else if (r < 600) {
        step_delete(m, i);
    } else if (r < 930) {
        check_key(m, i);
    } else if (r < 955) {
        step_flush(m);
    } else if (r < 970) {
        step_compact(m, r % 2 == 0);
    } else if (r < 980) {
        step_reopen(m);
    } else if (r < 985) {
        step_invalid_write(m);
    } else {
        check_all(m);
    }
}

static void
test_random_operations_match_model(void **state)
{
    model *m = calloc(1, sizeof(*m));
    char *dir = test_make_temp_dir("model");
    m->dir = dir;
    m->seed = test_seed();
    test_rng_init(&m->rng, m->seed);
    m->db = model_open(m);
    for (m->step = 0; m->step < MODEL_STEPS; m->step++) {
        model_step(m);
    }
    check_all(m);
    step_reopen(m);
    /* The small memtable filled up and was flushed in the background too. */
    assert_true(m->flushes > m->manual_flushes);
    step_compact(m, true);
    step_reopen(m);
    assert_int_equal(lsmkv_close(m->db), LSMKV_OK);
    for (uint32_t i = 0; i < MODEL_KEYS; i++) {
        free(m->values[i].data);
    }
    test_remove_dir(dir);
    free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_operations_match_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
