/* ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/*
 * Leveled background compaction through the public API, with small settings
 * (64 KiB memtables and files, a 128 KiB level 1) so that a few megabytes
 * reach level 3: levels form and stay sorted and disjoint (checked in the
 * MANIFEST after close), every write reads back, tombstones leave the
 * bottom, sequential writes move tables down without rewriting them, the
 * counters add up, and levels and background work survive a reopen.
 * Writers race background and manual compactions; level-0 write throttling
 * (slowdown, stop, deadlines, a failing compaction) and close during a
 * compaction are driven by holding the compaction thread inside the file
 * fault hook; a fork+SIGKILL test checks crash safety of compaction.
 *
 * Waiting is on conditions, never on time: compactions are observed through
 * the log callback ("compaction L..." lines), held compactions through the
 * hook's condition variable, and a stalled writer through the stall counter.
 */

#include "coding.h"
#include "file.h"
#include "filename.h"
#include "lsmkv/lsmkv.h"
#include "manifest.h"
#include "test_support.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024u

/* ---- keys and self-describing values ------------------------------------------------ */

#define KEY_BYTES    6
#define VALUE_HEADER 16
#define ABSENT       0 /* value ids start at 1 */

/* Binary keys with NUL bytes at both ends; they sort in index order. */
static void
make_key(uint32_t index, uint8_t out[KEY_BYTES])
{
    out[0] = 0;
    out[1] = (uint8_t)(index >> 24);
    out[2] = (uint8_t)(index >> 16);
    out[3] = (uint8_t)(index >> 8);
    out[4] = (uint8_t)index;
    out[5] = 0;
}

static uint8_t
filler(uint32_t key, uint64_t id, size_t j)
{
    return (uint8_t)(id * 131u ^ key * 17u ^ j);
}

/* 16 to ~400 bytes, from the id. */
static size_t
value_len_for(uint64_t id)
{
    return VALUE_HEADER + (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) % 380;
}

/* Writes value `id` of `len` bytes (VALUE_HEADER to VALUE_HEADER + 400) to key. */
static int
put_value(lsmkv *db, const lsmkv_write_options *wo, uint32_t key, uint64_t id, size_t len,
          lsmkv_error *err)
{
    uint8_t k[KEY_BYTES], v[VALUE_HEADER + 400];
    make_key(key, k);
    encode_fixed32(v, key);
    encode_fixed64(v + 4, id);
    encode_fixed32(v + 12, (uint32_t)len);
    for (size_t j = VALUE_HEADER; j < len; j++) {
        v[j] = filler(key, id, j);
    }
    return lsmkv_put(db, wo, k, sizeof(k), v, len, err);
}

static int
put_id(lsmkv *db, const lsmkv_write_options *wo, uint32_t key, uint64_t id, lsmkv_error *err)
{
    return put_value(db, wo, key, id, value_len_for(id), err);
}

static int
delete_key(lsmkv *db, uint32_t key, lsmkv_error *err)
{
    uint8_t k[KEY_BYTES];
    make_key(key, k);
    return lsmkv_delete(db, NULL, k, sizeof(k), err);
}

/* The id in v if it is exactly what put_id wrote for key, else 0. */
static uint64_t
parse_value(const uint8_t *v, size_t len, uint32_t key)
{
    if (len < VALUE_HEADER || decode_fixed32(v) != key || decode_fixed32(v + 12) != len) {
        return 0;
    }
    uint64_t id = decode_fixed64(v + 4);
    for (size_t j = VALUE_HEADER; j < len; j++) {
        if (v[j] != filler(key, id, j)) {
            return 0;
        }
    }
    return id;
}

/* The id stored under key (ABSENT if none); *bad set for a value never written. */
static uint64_t
try_read_id(lsmkv *db, uint32_t key, int *rc, bool *bad)
{
    uint8_t k[KEY_BYTES];
    make_key(key, k);
    uint8_t *v = NULL;
    size_t len = 0;
    bool found = false;
    *rc = lsmkv_get(db, k, sizeof(k), &v, &len, &found, NULL);
    uint64_t id = ABSENT;
    *bad = false;
    if (*rc == LSMKV_OK && found) {
        id = parse_value(v, len, key);
        *bad = id == ABSENT;
        lsmkv_free(v);
    }
    return id;
}

static uint64_t
read_id(lsmkv *db, uint32_t key)
{
    int rc;
    bool bad;
    uint64_t id = try_read_id(db, key, &rc, &bad);
    if (rc != LSMKV_OK || bad) {
        fail_msg("get of key %u: %s%s", key, lsmkv_status_name(rc),
                 bad ? " (a value never written)" : "");
    }
    return id;
}

/* Every key reads back as the model says, and a scan sees exactly the live keys. */
static void
check_model(lsmkv *db, const uint64_t *model, uint32_t keys)
{
    for (uint32_t key = 0; key < keys; key++) {
        uint64_t id = read_id(db, key);
        if (id != model[key]) {
            fail_msg("key %u: read id %" PRIu64 ", expected %" PRIu64, key, id, model[key]);
        }
    }
    lsmkv_iterator *it = NULL;
    assert_int_equal(lsmkv_iterator_new(db, &it, NULL), LSMKV_OK);
    uint32_t next = 0;
    for (lsmkv_iterator_seek_to_first(it); lsmkv_iterator_valid(it); lsmkv_iterator_next(it)) {
        size_t klen, vlen;
        const uint8_t *k = lsmkv_iterator_key(it, &klen);
        const uint8_t *v = lsmkv_iterator_value(it, &vlen);
        assert_int_equal(klen, KEY_BYTES);
        uint32_t key = (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 | k[4];
        while (next < key) {
            assert_int_equal(model[next++], ABSENT);
        }
        assert_true(key < keys);
        assert_int_equal(parse_value(v, vlen, key), model[key]);
        next = key + 1;
    }
    assert_int_equal(lsmkv_iterator_status(it, NULL), LSMKV_OK);
    lsmkv_iterator_free(it);
    while (next < keys) {
        assert_int_equal(model[next++], ABSENT);
    }
}

/* ---- observing compactions through the log ------------------------------------------ */

typedef struct events {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t compactions; /* "compaction L..." lines: every finished compaction or move */
    uint64_t failures;    /* "background compaction failed" lines */
} events;

static void
on_log(void *ctx, lsmkv_log_level level, const char *line)
{
    events *ev = ctx;
    (void)level;
    bool done = strstr(line, "compaction L") != NULL;
    bool failed = strstr(line, "background compaction failed") != NULL;
    if (done || failed) {
        pthread_mutex_lock(&ev->mutex);
        ev->compactions += done;
        ev->failures += failed;
        pthread_cond_broadcast(&ev->cond);
        pthread_mutex_unlock(&ev->mutex);
    }
}

/* On the heap: a test that fails leaves its store running, and the store's
 * threads must not write into a later test's stack. */
static events *
events_new(void)
{
    events *ev = calloc(1, sizeof(*ev));
    pthread_mutex_init(&ev->mutex, NULL);
    pthread_cond_init(&ev->cond, NULL);
    return ev;
}

static void
events_free(events *ev)
{
    pthread_mutex_destroy(&ev->mutex);
    pthread_cond_destroy(&ev->cond);
    free(ev);
}

/* Small settings: 64 KiB memtables and files, level 1 at 128 KiB, ratio 10. */
static void
small_options(lsmkv_options *o, events *ev)
{
    lsmkv_options_init(o);
    o->sync = LSMKV_SYNC_NONE;
    o->memtable_bytes = 64 * KIB;
    o->sstable_target_bytes = 64 * KIB;
    o->level1_target_bytes = 128 * KIB;
    if (ev != NULL) {
        o->log_level = LSMKV_LOG_INFO;
        o->log_fn = on_log;
        o->log_ctx = ev;
    }
}

static lsmkv *
open_store(const char *dir, const lsmkv_options *o)
{
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    int rc = lsmkv_open(dir, o, &db, &err);
    if (rc != LSMKV_OK) {
        fail_msg("open %s: %s: %s", dir, lsmkv_status_name(rc), err.message);
    }
    return db;
}

static void
flush(lsmkv *db)
{
    lsmkv_error err = {0};
    if (lsmkv_flush(db, NULL, &err) != LSMKV_OK) {
        fail_msg("flush: %s", err.message);
    }
}

/* No compaction is due: level 0 under its trigger, every level under its target. */
static bool
settled(const lsmkv_stats *s, const lsmkv_options *o)
{
    if (s->levels[0].tables >= (uint64_t)o->level0_compaction_trigger) {
        return false;
    }
    for (int level = 1; level < LSMKV_MAX_LEVELS - 1; level++) {
        if (s->levels[level].bytes >= s->levels[level].target_bytes) {
            return false;
        }
    }
    return true;
}

/*
 * Waits until background compaction has nothing left to do; fills *s. A
 * failing compaction (which would never finish) fails the test instead.
 */
static void
wait_settled(lsmkv *db, events *ev, const lsmkv_options *o, lsmkv_stats *s)
{
    pthread_mutex_lock(&ev->mutex);
    uint64_t failures = ev->failures;
    pthread_mutex_unlock(&ev->mutex);
    for (;;) {
        pthread_mutex_lock(&ev->mutex);
        uint64_t seen = ev->compactions;
        bool failed = ev->failures != failures;
        pthread_mutex_unlock(&ev->mutex);
        if (failed) {
            fail_msg("a background compaction failed");
        }
        lsmkv_get_stats(db, s); /* after reading the count: a later compaction logs anew */
        if (settled(s, o)) {
            return;
        }
        pthread_mutex_lock(&ev->mutex);
        while (ev->compactions == seen && ev->failures == failures) {
            pthread_cond_wait(&ev->cond, &ev->mutex);
        }
        pthread_mutex_unlock(&ev->mutex);
    }
}

/* ---- the MANIFEST after close ----------------------------------------------------------- */

static int
by_min_key(const void *pa, const void *pb)
{
    const lsmkv_table_info *a = *(const lsmkv_table_info *const *)pa;
    const lsmkv_table_info *b = *(const lsmkv_table_info *const *)pb;
    size_t n = a->min_key_len < b->min_key_len ? a->min_key_len : b->min_key_len;
    int c = memcmp(a->min_key, b->min_key, n);
    return c != 0 ? c : (a->min_key_len > b->min_key_len) - (a->min_key_len < b->min_key_len);
}

static int
key_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

typedef struct layout {
    uint64_t tables[LSMKV_MAX_LEVELS];
    uint64_t bytes[LSMKV_MAX_LEVELS];
    uint64_t entries, tombstones;
    uint64_t zeroed[LSMKV_MAX_LEVELS]; /* tables whose every sequence is 0 */
    size_t count;
} layout;

/*
 * Reads a closed store's MANIFEST: every level >= 1 is sorted and disjoint,
 * and the directory holds exactly the tables it names (no orphan outputs).
 */
static layout
check_manifest(const char *dir)
{
    manifest_state state;
    manifest_state_init(&state);
    lsmkv_error err = {0};
    if (manifest_read(dir, &state, &err) != LSMKV_OK) {
        fail_msg("manifest_read: %s", err.message);
    }
    layout out = {.count = state.table_count};
    const lsmkv_table_info **level = calloc(state.table_count + 1, sizeof(*level));
    for (uint32_t l = 0; l < LSMKV_MAX_LEVELS; l++) {
        size_t n = 0;
        for (size_t i = 0; i < state.table_count; i++) {
            const lsmkv_table_info *t = &state.tables[i];
            if (t->level == l) {
                level[n++] = t;
                out.tables[l]++;
                out.bytes[l] += t->size_bytes;
                out.entries += t->entries;
                out.tombstones += t->tombstones;
                out.zeroed[l] += t->max_sequence == 0;
                assert_true(key_compare(t->min_key, t->min_key_len, t->max_key, t->max_key_len) <=
                            0);
                assert_true(t->entries > 0);
                char path[FILENAME_PATH_MAX];
                filename_table(path, dir, t->id);
                assert_true(file_exists(path));
            }
        }
        qsort(level, n, sizeof(*level), by_min_key);
        for (size_t i = 1; l > 0 && i < n; i++) {
            if (key_compare(level[i - 1]->max_key, level[i - 1]->max_key_len, level[i]->min_key,
                            level[i]->min_key_len) >= 0) {
                fail_msg("level %u: tables %" PRIu64 " and %" PRIu64 " overlap", l,
                         level[i - 1]->id, level[i]->id);
            }
        }
    }
    assert_int_equal(test_count_files(dir, ".sst"), state.table_count);
    free(level);
    manifest_state_fini(&state);
    return out;
}

/* Stats agree with themselves: levels add up, compaction counters per level sum up. */
static void
check_counters(const lsmkv_stats *s)
{
    uint64_t tables = 0, bytes = 0, read = 0, written = 0, compactions = 0;
    for (int l = 0; l < LSMKV_MAX_LEVELS; l++) {
        tables += s->levels[l].tables;
        bytes += s->levels[l].bytes;
        read += s->levels[l].bytes_read;
        written += s->levels[l].bytes_written;
        compactions += s->levels[l].compactions;
    }
    assert_int_equal(tables, s->sstables);
    assert_int_equal(bytes, s->sstable_bytes);
    assert_int_equal(read, s->compaction_bytes_read);
    assert_int_equal(written, s->compaction_bytes_written);
    assert_int_equal(compactions, s->compactions); /* moves included */
    /* Nothing compacts into level 0. */
    assert_int_equal(s->levels[0].compactions, 0);
    assert_int_equal(s->levels[0].bytes_written + s->levels[0].bytes_moved, 0);
    /* Every live byte was written by a flush or a compaction of this session. */
    assert_true(s->sstable_bytes <= s->flush_bytes_written + s->compaction_bytes_written);
    uint64_t target = 128 * KIB;
    assert_int_equal(s->levels[0].target_bytes, 0);
    int bottom = LSMKV_MAX_LEVELS - 1;
    while (bottom > 1 && s->levels[bottom].tables == 0) {
        bottom--;
    }
    for (int l = 1; l < LSMKV_MAX_LEVELS - 1; l++, target *= 10) {
        /* A level above the deepest one is held to its share of it, with a floor. */
        if (l < bottom) {
            assert_true(s->levels[l].target_bytes <= target);
            assert_true(s->levels[l].target_bytes >= 128 * KIB / 10);
        } else {
            assert_int_equal(s->levels[l].target_bytes, target);
        }
    }
    assert_int_equal(s->levels[LSMKV_MAX_LEVELS - 1].target_bytes, 0);
}

/* ---- levels form and hold every write ------------------------------------------------- */

#define MIXED_KEYS 10000
#define MIXED_OPS  30000

static void
test_levels_form_and_hold_every_write(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled");
    events *ev = events_new();
    lsmkv_options o;
    small_options(&o, ev);
    lsmkv *db = open_store(dir, &o);
    uint64_t *model = calloc(MIXED_KEYS, sizeof(*model));
    test_rng rng;
    test_rng_init(&rng, test_seed());
    uint64_t max_level0 = 0;
    for (uint64_t id = 1; id <= MIXED_OPS; id++) {
        uint32_t key = (uint32_t)test_rng_below(&rng, MIXED_KEYS);
        if (test_rng_below(&rng, 5) == 0) {
            assert_int_equal(delete_key(db, key, NULL), LSMKV_OK);
            model[key] = ABSENT;
        } else {
            assert_int_equal(put_id(db, NULL, key, id, NULL), LSMKV_OK);
            model[key] = id;
        }
        if (id % 256 == 0) {
            lsmkv_stats s;
            lsmkv_get_stats(db, &s);
            max_level0 = s.levels[0].tables > max_level0 ? s.levels[0].tables : max_level0;
        }
    }
    /* Writers stop at the stop trigger; queued memtables may still land. */
    assert_true(max_level0 <= (uint64_t)(o.level0_stop_trigger + o.max_immutables));
    flush(db);
    lsmkv_stats s;
    wait_settled(db, ev, &o, &s);
    check_counters(&s);
    assert_true(s.compactions > 0);
    assert_true(s.levels[2].tables > 0); /* level 1 holds 128 KiB of ~2 MiB */
    assert_int_equal(s.pending_compaction_bytes, 0);
    assert_true(s.compaction_bytes_written > 0 && s.compaction_bytes_read > 0);
    check_model(db, model, MIXED_KEYS);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);

    layout l = check_manifest(dir);
    int deepest = 0;
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        assert_int_equal(l.tables[level], s.levels[level].tables);
        assert_int_equal(l.bytes[level], s.levels[level].bytes);
        deepest = l.tables[level] > 0 ? level : deepest;
    }
    /* Compactions into the bottom wrote sequence 0 (check_model read them
     * right); flushes keep theirs. */
    assert_true(l.zeroed[deepest] > 0);
    assert_int_equal(l.zeroed[0], 0);
    /* The levels come back from the MANIFEST; nothing is due, so nothing moves. */
    db = open_store(dir, &o);
    lsmkv_stats after;
    lsmkv_get_stats(db, &after);
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        assert_int_equal(after.levels[level].tables, s.levels[level].tables);
        assert_int_equal(after.levels[level].bytes, s.levels[level].bytes);
    }
    check_model(db, model, MIXED_KEYS);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    free(model);
    events_free(ev);
    test_remove_dir(dir);
}

/* ---- tombstones ------------------------------------------------------------------------- */

static void
test_tombstones_leave_the_bottom(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-tombstones");
    events *ev = events_new();
    lsmkv_options o;
    small_options(&o, ev);
    lsmkv *db = open_store(dir, &o);
    enum { KEYS = 6000 };
    for (uint32_t key = 0; key < KEYS; key++) {
        assert_int_equal(put_id(db, NULL, key, key + 1, NULL), LSMKV_OK);
    }
    flush(db);
    lsmkv_stats s;
    wait_settled(db, ev, &o, &s);
    assert_true(s.levels[2].tables > 0);
    for (uint32_t key = 0; key < KEYS; key++) {
        assert_int_equal(delete_key(db, key, NULL), LSMKV_OK);
    }
    flush(db);
    wait_settled(db, ev, &o, &s);
    uint64_t zeros[KEYS] = {0};
    check_model(db, zeros, KEYS);

    /* A full compaction has every table as input: all of it goes. */
    lsmkv_compaction_result result;
    lsmkv_error err = {0};
    if (lsmkv_compact(db, &result, &err) != LSMKV_OK) {
        fail_msg("compact: %s", err.message);
    }
    assert_int_equal(result.outputs.count, 0);
    assert_int_equal(result.output_bytes, 0);
    assert_true(result.input_tables > 0 && result.dropped_entries > 0);
    lsmkv_compaction_result_fini(&result);
    lsmkv_get_stats(db, &s);
    assert_int_equal(s.sstables, 0);
    check_counters(&s);
    check_model(db, zeros, KEYS);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    layout l = check_manifest(dir);
    assert_int_equal(l.count, 0);
    assert_int_equal(l.entries, 0);
    events_free(ev);
    test_remove_dir(dir);
}

/* Overlapping level-0 tables of tombstones only, nothing below: merged into nothing. */
static void
test_background_compaction_drops_tombstones_with_nothing_below(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-tombstones-bg");
    events *ev = events_new();
    lsmkv_options o;
    small_options(&o, ev);
    lsmkv *db = open_store(dir, &o);
    for (int round = 0; round < o.level0_compaction_trigger; round++) {
        for (uint32_t key = 0; key < 100; key++) {
            assert_int_equal(put_id(db, NULL, key, 1 + key, NULL), LSMKV_OK);
            assert_int_equal(delete_key(db, key, NULL), LSMKV_OK);
        }
        flush(db); /* the flush keeps only the tombstones */
    }
    lsmkv_stats s;
    wait_settled(db, ev, &o, &s);
    assert_int_equal(s.sstables, 0);
    assert_int_equal(s.levels[1].compactions, 1);
    assert_true(s.compaction_bytes_read > 0);
    assert_int_equal(s.compaction_bytes_written, 0);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    assert_int_equal(check_manifest(dir).count, 0);
    events_free(ev);
    test_remove_dir(dir);
}

/* ---- sequential writes: trivial moves ------------------------------------------------- */

static void
test_sequential_fill_moves_tables_down(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-fillseq");
    events *ev = events_new();
    lsmkv_options o;
    small_options(&o, ev);
    lsmkv *db = open_store(dir, &o);
    enum { KEYS = 12000 };
    uint64_t *model = calloc(KEYS, sizeof(*model));
    for (uint32_t key = 0; key < KEYS; key++) {
        assert_int_equal(put_id(db, NULL, key, key + 1, NULL), LSMKV_OK);
        model[key] = key + 1;
    }
    flush(db);
    lsmkv_stats s;
    wait_settled(db, ev, &o, &s);
    check_counters(&s);
    /* Flushed tables never overlap anything: each goes down as it is. */
    assert_true(s.levels[1].bytes_moved > 0);
    assert_true(s.levels[2].bytes_moved > 0);
    /* Moves count as compactions (as in LevelDB) but rewrite nothing. */
    assert_true(s.compactions > 0);
    assert_int_equal(s.compaction_bytes_written, 0);
    assert_int_equal(s.sstable_bytes, s.flush_bytes_written);
    check_model(db, model, KEYS);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    layout l = check_manifest(dir);
    assert_true(l.tables[2] > 0);
    free(model);
    events_free(ev);
    test_remove_dir(dir);
}

/* ---- across a reopen -------------------------------------------------------------------- */

static void
test_background_compaction_resumes_after_reopen(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-reopen");
    events *ev = events_new();
    lsmkv_options o;
    small_options(&o, ev);
    o.disable_auto_compaction = true; /* level 0 piles up, and nothing throttles */
    lsmkv *db = open_store(dir, &o);
    enum { KEYS = 3000, TABLES = 10 };
    uint64_t model[KEYS] = {0};
    test_rng rng;
    test_rng_init(&rng, test_seed() ^ 7);
    uint64_t id = 1;
    for (int t = 0; t < TABLES; t++) {
        for (int i = 0; i < 150; i++, id++) {
            uint32_t key = (uint32_t)test_rng_below(&rng, KEYS);
            assert_int_equal(put_id(db, NULL, key, id, NULL), LSMKV_OK);
            model[key] = id;
        }
        flush(db);
    }
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    assert_int_equal(s.levels[0].tables, TABLES);
    assert_int_equal(s.compactions, 0);
    assert_true(s.pending_compaction_bytes >= s.levels[0].bytes);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);

    o.disable_auto_compaction = false;
    db = open_store(dir, &o);
    wait_settled(db, ev, &o, &s);
    assert_true(s.levels[0].tables < (uint64_t)o.level0_compaction_trigger);
    assert_true(s.compactions > 0);
    check_model(db, model, KEYS);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    check_manifest(dir);
    events_free(ev);
    test_remove_dir(dir);
}

/* ---- writers racing background and manual compactions ------------------------------- */

#define RACE_WRITERS         4
#define RACE_KEYS_PER_WRITER 600
#define RACE_OPS             2500

typedef struct race {
    lsmkv *db;
    atomic_int writers_left;
    atomic_int failures;
    uint64_t model[RACE_WRITERS * RACE_KEYS_PER_WRITER];
} race;

typedef struct race_writer {
    race *r;
    uint32_t index;
} race_writer;

/* Each writer owns its keys, so its model is the truth for them. */
static void *
race_writer_main(void *arg)
{
    race_writer *w = arg;
    race *r = w->r;
    test_rng rng;
    test_rng_init(&rng, test_seed() + w->index * 1000003u);
    for (uint32_t n = 1; n <= RACE_OPS; n++) {
        uint32_t key =
            w->index * RACE_KEYS_PER_WRITER + (uint32_t)test_rng_below(&rng, RACE_KEYS_PER_WRITER);
        uint64_t id = (uint64_t)(w->index + 1) << 32 | n;
        int rc;
        if (test_rng_below(&rng, 6) == 0) {
            rc = delete_key(r->db, key, NULL);
            r->model[key] = ABSENT;
        } else {
            rc = put_id(r->db, NULL, key, id, NULL);
            r->model[key] = id;
        }
        if (rc != LSMKV_OK) {
            atomic_fetch_add(&r->failures, 1);
        }
    }
    atomic_fetch_sub(&r->writers_left, 1);
    return NULL;
}

/* Full compactions, one after another, while the writers run (at least one). */
static void *
race_compactor_main(void *arg)
{
    race *r = arg;
    do {
        if (lsmkv_compact(r->db, NULL, NULL) != LSMKV_OK) {
            atomic_fetch_add(&r->failures, 1);
        }
    } while (atomic_load(&r->writers_left) > 0);
    return NULL;
}

/* Reads see only values some writer wrote. */
static void *
race_reader_main(void *arg)
{
    race *r = arg;
    test_rng rng;
    test_rng_init(&rng, test_seed() ^ 99);
    while (atomic_load(&r->writers_left) > 0) {
        int rc;
        bool bad;
        try_read_id(r->db, (uint32_t)test_rng_below(&rng, RACE_WRITERS * RACE_KEYS_PER_WRITER), &rc,
                    &bad);
        if (rc != LSMKV_OK || bad) {
            atomic_fetch_add(&r->failures, 1);
        }
    }
    return NULL;
}

static void
test_writers_race_background_and_manual_compactions(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-race");
    events *ev = events_new();
    lsmkv_options o;
    small_options(&o, ev);
    race *r = calloc(1, sizeof(*r));
    r->db = open_store(dir, &o);
    atomic_init(&r->writers_left, RACE_WRITERS);
    atomic_init(&r->failures, 0);
    pthread_t writers[RACE_WRITERS], compactor, reader;
    race_writer args[RACE_WRITERS];
    for (uint32_t i = 0; i < RACE_WRITERS; i++) {
        args[i] = (race_writer){r, i};
        assert_int_equal(pthread_create(&writers[i], NULL, race_writer_main, &args[i]), 0);
    }
    assert_int_equal(pthread_create(&compactor, NULL, race_compactor_main, r), 0);
    assert_int_equal(pthread_create(&reader, NULL, race_reader_main, r), 0);
    for (int i = 0; i < RACE_WRITERS; i++) {
        assert_int_equal(pthread_join(writers[i], NULL), 0);
    }
    assert_int_equal(pthread_join(compactor, NULL), 0);
    assert_int_equal(pthread_join(reader, NULL), 0);
    assert_int_equal(atomic_load(&r->failures), 0);

    check_model(r->db, r->model, RACE_WRITERS * RACE_KEYS_PER_WRITER);
    flush(r->db);
    lsmkv_stats s;
    wait_settled(r->db, ev, &o, &s);
    check_counters(&s);
    check_model(r->db, r->model, RACE_WRITERS * RACE_KEYS_PER_WRITER);
    assert_int_equal(lsmkv_close(r->db), LSMKV_OK);
    check_manifest(dir);
    r->db = open_store(dir, &o);
    check_model(r->db, r->model, RACE_WRITERS * RACE_KEYS_PER_WRITER);
    assert_int_equal(lsmkv_close(r->db), LSMKV_OK);
    free(r);
    events_free(ev);
    test_remove_dir(dir);
}

/* ---- holding the compaction thread in the file fault hook ----------------------------- */

/*
 * The hook acts on table-file opens (creating an output, or reopening a
 * moved table) by the compaction thread only. Threads are told apart by a
 * thread-local role: the test's own threads say who they are; in a fresh
 * store the first other thread to open a table is the flush thread (no
 * compaction can be due before the first flush), and any later one is the
 * compaction thread.
 */
typedef enum gate_mode { GATE_OPEN, GATE_HOLD, GATE_FAIL } gate_mode;
typedef enum role { ROLE_UNKNOWN, ROLE_TEST, ROLE_CLOSER, ROLE_FLUSH, ROLE_COMPACTION } role;

typedef struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    gate_mode mode;
    bool flush_thread_known;
    bool holding;       /* the compaction thread waits in the hook */
    bool closer_synced; /* the closing thread reached the WAL's final fsync */
    int opens;          /* table opens by the compaction thread */
    int failures;       /* of those, failed with EIO */
} gate;

static _Thread_local const gate *thread_gate; /* the gate this thread's role is for */
static _Thread_local role thread_role;

static void
gate_set_role(const gate *g, role r)
{
    thread_gate = g;
    thread_role = r;
}

static bool
is_table_path(const char *path)
{
    size_t len = strlen(path);
    return len > 4 && strcmp(path + len - 4, ".sst") == 0;
}

static int
gate_hook(void *ctx, file_op op, const char *path)
{
    gate *g = ctx;
    int rc = 0;
    pthread_mutex_lock(&g->mutex);
    if (thread_gate == g && thread_role == ROLE_CLOSER && op == FILE_OP_SYNC) {
        g->closer_synced = true;
        pthread_cond_broadcast(&g->cond);
    }
    if (op == FILE_OP_OPEN && is_table_path(path)) {
        if (thread_gate != g) {
            gate_set_role(g, g->flush_thread_known ? ROLE_COMPACTION : ROLE_FLUSH);
            g->flush_thread_known = true;
        }
        g->opens += thread_role == ROLE_COMPACTION;
        if (thread_role == ROLE_COMPACTION && g->mode != GATE_OPEN) {
            g->holding = g->mode == GATE_HOLD;
            pthread_cond_broadcast(&g->cond);
            while (g->mode == GATE_HOLD) {
                pthread_cond_wait(&g->cond, &g->mutex);
            }
            g->holding = false;
            if (g->mode == GATE_FAIL) {
                g->failures++;
                rc = EIO;
            }
        }
    }
    pthread_mutex_unlock(&g->mutex);
    return rc;
}

/* On the heap, like events. */
static gate *
gate_new(void)
{
    gate *g = calloc(1, sizeof(*g));
    pthread_mutex_init(&g->mutex, NULL);
    pthread_cond_init(&g->cond, NULL);
    gate_set_role(g, ROLE_TEST);
    file_set_fault_hook(gate_hook, g); /* before the store's threads start */
    return g;
}

static void
gate_free(gate *g)
{
    file_set_fault_hook(NULL, NULL); /* after the store's threads are gone */
    gate_set_role(NULL, ROLE_UNKNOWN);
    pthread_mutex_destroy(&g->mutex);
    pthread_cond_destroy(&g->cond);
    free(g);
}

static void
gate_set_mode(gate *g, gate_mode mode)
{
    pthread_mutex_lock(&g->mutex);
    g->mode = mode;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mutex);
}

static void
gate_wait_holding(gate *g)
{
    pthread_mutex_lock(&g->mutex);
    while (!g->holding) {
        pthread_cond_wait(&g->cond, &g->mutex);
    }
    pthread_mutex_unlock(&g->mutex);
}

/* Options for the throttling tests: compact at 2 level-0 tables, slow at 3, stop at 4. */
static void
throttle_options(lsmkv_options *o, events *ev)
{
    small_options(o, ev);
    o->level0_compaction_trigger = 2;
    o->level0_slowdown_trigger = 3;
    o->level0_stop_trigger = 4;
}

/* One put and a flush: one more level-0 table. */
static void
put_and_flush(lsmkv *db, uint32_t key, uint64_t *model)
{
    assert_int_equal(put_id(db, NULL, key, key + 1, NULL), LSMKV_OK);
    model[key] = key + 1;
    flush(db);
}

/*
 * Fresh store with the compaction thread held in the hook and level 0 at
 * `level0` tables (keys 0..level0-1 written, one per table).
 */
static lsmkv *
open_with_held_compaction(const char *dir, const lsmkv_options *o, gate *g, int level0,
                          uint64_t *model)
{
    lsmkv *db = open_store(dir, o);
    put_and_flush(db, 0, model);
    pthread_mutex_lock(&g->mutex);
    assert_true(g->flush_thread_known);
    pthread_mutex_unlock(&g->mutex);
    gate_set_mode(g, GATE_HOLD);
    put_and_flush(db, 1, model); /* level 0 at the trigger: the compaction starts, held */
    gate_wait_holding(g);
    for (uint32_t key = 2; key < (uint32_t)level0; key++) {
        put_and_flush(db, key, model);
    }
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    assert_int_equal(s.levels[0].tables, level0);
    return db;
}

typedef struct blocked_put {
    lsmkv *db;
    uint32_t key;
    atomic_bool done;
    int rc;
    lsmkv_error err;
} blocked_put;

static void *
blocked_put_main(void *arg)
{
    blocked_put *p = arg;
    p->rc = put_id(p->db, NULL, p->key, p->key + 1, &p->err); /* no deadline */
    atomic_store(&p->done, true);
    return NULL;
}

/* Starts a put without deadline and returns once it waits for compaction. */
static void
start_blocked_put(blocked_put *p, pthread_t *thread, lsmkv *db, uint32_t key)
{
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    uint64_t stalls = s.write_stalls;
    p->db = db;
    p->key = key;
    atomic_init(&p->done, false);
    assert_int_equal(pthread_create(thread, NULL, blocked_put_main, p), 0);
    /* The stall counter moves when the writer starts waiting. */
    while (!atomic_load(&p->done)) {
        lsmkv_get_stats(db, &s);
        if (s.write_stalls > stalls) {
            break;
        }
        sched_yield();
    }
    if (atomic_load(&p->done)) {
        fail_msg("a write at the stop trigger did not wait (rc %s)", lsmkv_status_name(p->rc));
    }
}

static void
test_level0_throttles_writes_until_compaction_catches_up(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-throttle");
    events *ev = events_new();
    gate *g = gate_new();
    lsmkv_options o;
    throttle_options(&o, ev);
    uint64_t model[16] = {0};
    lsmkv *db = open_with_held_compaction(dir, &o, g, 3, model);

    /* At the slowdown trigger: a write is delayed, not stopped. */
    lsmkv_stats before, after;
    lsmkv_get_stats(db, &before);
    assert_int_equal(put_id(db, NULL, 3, 4, NULL), LSMKV_OK);
    model[3] = 4;
    lsmkv_get_stats(db, &after);
    assert_int_equal(after.write_slowdowns, before.write_slowdowns + 1);
    assert_int_equal(after.write_stalls, before.write_stalls);
    flush(db); /* level 0 at the stop trigger (a manual flush is not throttled) */

    /* Stopped: a deadline runs out... */
    lsmkv_write_options wo = {.timeout_ms = 20};
    lsmkv_error err = {0};
    assert_int_equal(put_id(db, &wo, 4, 5, &err), LSMKV_TIMED_OUT);
    assert_int_equal(err.code, LSMKV_TIMED_OUT);
    assert_int_equal(read_id(db, 4), ABSENT); /* nothing of it was written */
    lsmkv_get_stats(db, &after);
    assert_int_equal(after.write_stalls, before.write_stalls + 1);
    assert_int_equal(after.levels[0].tables, 4);
    /* ...reads go on... */
    assert_int_equal(read_id(db, 0), 1);
    /* ...and a write without one waits for the compaction. */
    blocked_put p;
    pthread_t thread;
    start_blocked_put(&p, &thread, db, 5);
    gate_set_mode(g, GATE_OPEN);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (p.rc != LSMKV_OK) {
        fail_msg("the stalled write failed: %s", p.err.message);
    }
    model[5] = 6;

    lsmkv_stats s;
    wait_settled(db, ev, &o, &s);
    assert_true(s.stall_micros > 0);
    check_model(db, model, 16);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    gate_free(g);
    check_manifest(dir);
    o.disable_auto_compaction = true;
    db = open_store(dir, &o);
    check_model(db, model, 16);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    events_free(ev);
    test_remove_dir(dir);
}

static void
test_failing_compaction_fails_stopped_writers_and_is_retried(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-failing");
    events *ev = events_new();
    gate *g = gate_new();
    lsmkv_options o;
    throttle_options(&o, ev);
    uint64_t model[16] = {0};
    lsmkv *db = open_with_held_compaction(dir, &o, g, 4, model);

    /* A writer waits at the stop trigger; then the held compaction fails. */
    blocked_put p;
    pthread_t thread;
    start_blocked_put(&p, &thread, db, 8);
    gate_set_mode(g, GATE_FAIL);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(p.rc, LSMKV_IO_ERROR);
    assert_non_null(strstr(p.err.message, ".sst"));
    /* While it keeps failing, writers at the stop trigger get its error at once. */
    lsmkv_error err = {0};
    assert_int_equal(put_id(db, NULL, 9, 10, &err), LSMKV_IO_ERROR);
    assert_int_equal(read_id(db, 8), ABSENT);
    assert_int_equal(read_id(db, 9), ABSENT);

    /* The fault clears: the retry succeeds and writes go through again. */
    gate_set_mode(g, GATE_OPEN);
    int rc;
    while ((rc = put_id(db, NULL, 10, 11, &err)) != LSMKV_OK) {
        assert_int_equal(rc, LSMKV_IO_ERROR);
        sched_yield();
    }
    model[10] = 11;
    lsmkv_stats s;
    wait_settled(db, ev, &o, &s);
    pthread_mutex_lock(&g->mutex);
    assert_true(g->failures >= 1);
    assert_true(g->opens > g->failures); /* retried, and then it went through */
    pthread_mutex_unlock(&g->mutex);
    pthread_mutex_lock(&ev->mutex);
    assert_true(ev->failures >= 1);
    pthread_mutex_unlock(&ev->mutex);
    check_model(db, model, 16);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    gate_free(g);
    check_manifest(dir); /* the failed attempts left no files behind */
    events_free(ev);
    test_remove_dir(dir);
}

typedef struct closer {
    lsmkv *db;
    int rc;
} closer;

typedef struct closer_start {
    closer *c;
    gate *g;
} closer_start;

static void *
closer_thread(void *arg)
{
    closer_start *start = arg;
    gate_set_role(start->g, ROLE_CLOSER);
    start->c->rc = lsmkv_close(start->c->db);
    return NULL;
}

/* Close while a compaction is held: it returns once released, leaving no stray file. */
static void
test_close_during_compaction_leaves_no_orphans(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-close");
    gate *g = gate_new();
    lsmkv_options o;
    small_options(&o, NULL);
    o.level0_compaction_trigger = 2;
    lsmkv *db = open_store(dir, &o);
    /* Two overlapping tables of 700 small entries (one memtable each): a merge of
     * more than 1024 entries, long enough to notice the close. */
    enum { KEYS = 1000 };
    uint64_t model[KEYS] = {0};
    for (uint32_t key = 0; key < 700; key++) {
        assert_int_equal(put_value(db, NULL, key, key + 1, VALUE_HEADER, NULL), LSMKV_OK);
        model[key] = key + 1;
    }
    flush(db);
    gate_set_mode(g, GATE_HOLD);
    for (uint32_t key = 300; key < KEYS; key++) {
        assert_int_equal(put_value(db, NULL, key, key + 5000, VALUE_HEADER, NULL), LSMKV_OK);
        model[key] = key + 5000;
    }
    flush(db);
    gate_wait_holding(g);

    closer c = {.db = db};
    closer_start start = {&c, g};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, closer_thread, &start), 0);
    pthread_mutex_lock(&g->mutex);
    while (!g->closer_synced) { /* the last step before the compaction is stopped */
        pthread_cond_wait(&g->cond, &g->mutex);
    }
    pthread_mutex_unlock(&g->mutex);
    gate_set_mode(g, GATE_OPEN);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(c.rc, LSMKV_OK);
    gate_free(g);

    /* Outputs of an abandoned compaction are gone even before the next open. */
    layout l = check_manifest(dir);
    assert_true(l.tables[0] + l.tables[1] >= 1);
    o.disable_auto_compaction = true;
    db = open_store(dir, &o);
    check_model(db, model, KEYS);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    check_manifest(dir);
    test_remove_dir(dir);
}

/* ---- SIGKILL while compactions run ------------------------------------------------------ */

#define CRASH_KEYS    4000
#define CRASH_ROUNDS  4
#define CRASH_MAX_OPS 1000000

enum { REC_BEGIN = 1, REC_ACK = 2 };

/* One event of the child, sent in one write() (atomic: smaller than PIPE_BUF). */
typedef struct crash_record {
    uint32_t kind;
    uint32_t key;
    uint64_t id; /* ABSENT for a delete */
} crash_record;

/* Tiny levels: level 1 at 64 KiB, ratio 2: compactions and moves all the time. */
static void
crash_options(lsmkv_options *o)
{
    small_options(o, NULL);
    o->log_level = LSMKV_LOG_ERROR; /* a torn WAL tail after the kill is expected */
    o->level1_target_bytes = 64 * KIB;
    o->level_size_ratio = 2;
    o->level0_compaction_trigger = 2;
}

static void
send_record(int fd, crash_record r)
{
    if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        _exit(20);
    }
}

/*
 * The child writes until killed: two of three ops walk the keys in order
 * (flushed tables that move down whole), the third hits a random key (merges),
 * one in five of those a delete. Never returns; reports trouble by exit code.
 */
static void
crash_child(const char *dir, int fd, uint32_t round)
{
    lsmkv_options o;
    crash_options(&o);
    lsmkv *db;
    if (lsmkv_open(dir, &o, &db, NULL) != LSMKV_OK) {
        _exit(21);
    }
    test_rng rng;
    test_rng_init(&rng, test_seed() + round);
    uint32_t next_key = 0;
    for (uint32_t n = 1; n <= CRASH_MAX_OPS; n++) {
        crash_record r = {.kind = REC_BEGIN, .id = (uint64_t)(round + 1) << 32 | n};
        if (n % 3 != 0) {
            r.key = next_key++ % CRASH_KEYS;
        } else {
            r.key = (uint32_t)test_rng_below(&rng, CRASH_KEYS);
            r.id = test_rng_below(&rng, 5) == 0 ? ABSENT : r.id;
        }
        send_record(fd, r);
        int rc = r.id == ABSENT ? delete_key(db, r.key, NULL) : put_id(db, NULL, r.key, r.id, NULL);
        if (rc != LSMKV_OK) {
            _exit(22);
        }
        r.kind = REC_ACK;
        send_record(fd, r);
    }
    _exit(0);
}

/* false at end of file; a record cut short fails the test. */
static bool
read_record(int fd, crash_record *r)
{
    size_t got = 0;
    while (got < sizeof(*r)) {
        ssize_t n = read(fd, (uint8_t *)r + got, sizeof(*r) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n >= 0);
        if (n == 0) {
            assert_int_equal(got, 0);
            return false;
        }
        got += (size_t)n;
    }
    return true;
}

/* Every key holds its last acknowledged write, or the one write in flight. */
static void
verify_after_kill(const char *dir, uint64_t *model, const crash_record *in_flight)
{
    lsmkv_options o;
    crash_options(&o);
    o.disable_auto_compaction = true;
    lsmkv *db = open_store(dir, &o);
    for (uint32_t key = 0; key < CRASH_KEYS; key++) {
        uint64_t seen = read_id(db, key);
        bool flying =
            in_flight->kind == REC_BEGIN && in_flight->key == key && seen == in_flight->id;
        if (seen != model[key] && !flying) {
            fail_msg("key %u: found id %#" PRIx64 ", last acknowledged %#" PRIx64, key, seen,
                     model[key]);
        }
        model[key] = seen;
    }
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    assert_int_equal(test_count_files(dir, ".sst"), s.sstables);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    check_manifest(dir);
}

static void
test_sigkill_during_compactions_keeps_acknowledged_writes(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir("leveled-crash");
    uint64_t *model = calloc(CRASH_KEYS, sizeof(*model));
    test_rng rng;
    test_rng_init(&rng, test_seed() ^ 0xc0ffee);
    uint64_t deep_tables = 0;
    for (uint32_t round = 0; round < CRASH_ROUNDS; round++) {
        uint32_t kill_after = 2000 + (uint32_t)test_rng_below(&rng, 6000);
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, fds[1], round);
        }
        close(fds[1]);
        crash_record r, in_flight = {0};
        uint32_t acks = 0;
        while (read_record(fds[0], &r)) { /* until the killed child's pipe closes */
            if (r.kind == REC_BEGIN) {
                in_flight = r;
                continue;
            }
            assert_true(r.key < CRASH_KEYS);
            model[r.key] = r.id;
            in_flight.kind = 0;
            if (++acks == kill_after) {
                assert_int_equal(kill(pid, SIGKILL), 0);
            }
        }
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fail_msg("round %u: the child ended by itself (status %#x)", round, status);
        }
        verify_after_kill(dir, model, &in_flight);
        layout l = check_manifest(dir);
        deep_tables += l.tables[2] + l.tables[3] + l.tables[4] + l.tables[5];
    }
    assert_true(deep_tables > 0); /* the children did reach deeper levels */
    free(model);
    test_remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_form_and_hold_every_write),
        cmocka_unit_test(test_tombstones_leave_the_bottom),
        cmocka_unit_test(test_background_compaction_drops_tombstones_with_nothing_below),
        cmocka_unit_test(test_sequential_fill_moves_tables_down),
        cmocka_unit_test(test_background_compaction_resumes_after_reopen),
        cmocka_unit_test(test_writers_race_background_and_manual_compactions),
        cmocka_unit_test(test_level0_throttles_writes_until_compaction_catches_up),
        cmocka_unit_test(test_failing_compaction_fails_stopped_writers_and_is_retried),
        cmocka_unit_test(test_close_during_compaction_leaves_no_orphans),
        cmocka_unit_test(test_sigkill_during_compactions_keeps_acknowledged_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
