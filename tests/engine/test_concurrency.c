/* ctest-labels: concurrency */
/*
 * The store under concurrent use, through the public API: writer threads
 * (each owning a disjoint key range and writing increasing version numbers),
 * reader threads, and a thread that flushes and compacts over and over, with
 * a small memtable so that rotations, background flushes and stalls happen.
 * tools/dev.sh also runs this file under ThreadSanitizer.
 *
 * Readers check every answer against what the writers have published: for a
 * key, the writer announces an op (`begun`) before calling the store and
 * records it (`acked`) after the call returns. A get that starts after op A
 * was acknowledged and ends before op B was begun must return one of the ops
 * from A to B: never something older than A (a lost or resurrected write),
 * never something that was not yet written. Worker threads cannot use cmocka
 * asserts (they would jump into the main thread's test state), so they record
 * failures and the main thread checks them after joining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITERS         3
#define READERS         2
#define KEYS_PER_WRITER 40
#define KEYS            (WRITERS * KEYS_PER_WRITER)
#ifdef LSMKV_SANITIZED
#define WRITES_PER_WRITER 8000
#else
#define WRITES_PER_WRITER 20000
#endif
#define KEY_BYTES    5
#define VALUE_HEADER 16

/*
 * A key's op state in one word: version << 1 | is_delete. Versions come from
 * one counter per writer, so they grow along each key's history; 0 means the
 * key was never written.
 */
#define OP_DELETE_BIT 1u
#define OP_VERSION(s) ((s) >> 1)

typedef struct shared {
    lsmkv *db;
    uint64_t seed; /* test_seed() is not thread-safe: read once */
    _Atomic uint64_t begun[KEYS];
    _Atomic uint64_t acked[KEYS];
    _Atomic uint64_t last_delete[KEYS]; /* version of the newest delete begun */
    _Atomic int writers_running;
    _Atomic uint64_t failures;
    _Atomic uint64_t reads, flushes, compactions;
    pthread_mutex_t failure_mutex;
    char first_failure[512];
} shared;

typedef struct worker {
    shared *s;
    int index;
} worker;

static void report_failure(shared *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
report_failure(shared *s, const char *fmt, ...)
{
    pthread_mutex_lock(&s->failure_mutex);
    if (atomic_fetch_add(&s->failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->first_failure, sizeof(s->first_failure), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&s->failure_mutex);
}

static void
make_key(uint32_t key, uint8_t out[KEY_BYTES])
{
    out[0] = 'k';
    out[1] = 0;
    out[2] = (uint8_t)(key >> 8);
    out[3] = (uint8_t)key;
    out[4] = 0xff;
}

static uint8_t
filler_byte(uint32_t key, uint64_t version, size_t j)
{
    return (uint8_t)(version * 131 ^ key * 17 ^ j);
}

static size_t
value_len_for(uint64_t version)
{
    return VALUE_HEADER + (version % 97 == 0 ? 9000 : (size_t)(version * 7919 % 400));
}

static void
make_value(uint32_t key, uint64_t version, uint8_t *out, size_t len)
{
    encode_fixed32(out, key);
    encode_fixed64(out + 4, version);
    encode_fixed32(out + 12, (uint32_t)len);
    for (size_t j = VALUE_HEADER; j < len; j++) {
        out[j] = filler_byte(key, version, j);
    }
}

/* The version a well-formed value of key carries, or 0 if it is malformed. */
static uint64_t
value_version(const uint8_t *v, size_t len, uint32_t key)
{
    if (len < VALUE_HEADER || decode_fixed32(v) != key || decode_fixed32(v + 12) != len) {
        return 0;
    }
    uint64_t version = decode_fixed64(v + 4);
    if (len != value_len_for(version)) {
        return 0;
    }
    for (size_t j = VALUE_HEADER; j < len; j++) {
        if (v[j] != filler_byte(key, version, j)) {
            return 0;
        }
    }
    return version;
}

/* ---- threads ---------------------------------------------------------------- */

static void *
writer_main(void *arg)
{
    worker *w = arg;
    shared *s = w->s;
    test_rng rng;
    test_rng_init(&rng, s->seed * 31 + (uint64_t)w->index + 1);
    uint8_t *value = malloc(VALUE_HEADER + 9000);
    uint64_t version = 0;
    for (int n = 0; n < WRITES_PER_WRITER && atomic_load(&s->failures) == 0; n++) {
        uint32_t key = (uint32_t)(w->index * KEYS_PER_WRITER) +
                       (uint32_t)test_rng_below(&rng, KEYS_PER_WRITER);
        bool is_delete = test_rng_below(&rng, 10) == 0;
        version++;
        uint64_t op = version << 1 | (is_delete ? OP_DELETE_BIT : 0);
        uint8_t k[KEY_BYTES];
        make_key(key, k);
        /* Some writes ask for an fsync: they must not ride on a no-sync leader. */
        lsmkv_write_options wo = {.sync = n % 64 == 0 ? LSMKV_SYNC_ALWAYS : LSMKV_SYNC_DEFAULT};
        if (is_delete) {
            atomic_store(&s->last_delete[key], version);
        }
        atomic_store(&s->begun[key], op);
        lsmkv_error err = {0};
        int rc;
        if (is_delete) {
            rc = lsmkv_delete(s->db, &wo, k, sizeof(k), &err);
        } else {
            size_t len = value_len_for(version);
            make_value(key, version, value, len);
            rc = lsmkv_put(s->db, &wo, k, sizeof(k), value, len, &err);
        }
        if (rc != LSMKV_OK) {
            report_failure(s, "writer %d: %s of key %u failed: %s", w->index,
                           is_delete ? "delete" : "put", key, err.message);
            break;
        }
        atomic_store(&s->acked[key], op);
    }
    free(value);
    atomic_fetch_sub(&s->writers_running, 1);
    return NULL;
}

/* Checks one get of key against the ops acknowledged before and begun after it. */
static void
read_and_check(shared *s, uint32_t key, uint64_t *last_seen)
{
    uint8_t k[KEY_BYTES];
    make_key(key, k);
    uint64_t before = atomic_load(&s->acked[key]);
    uint8_t *v = NULL;
    size_t len = 0;
    bool found = false;
    lsmkv_error err = {0};
    int rc = lsmkv_get(s->db, k, sizeof(k), &v, &len, &found, &err);
    uint64_t after = atomic_load(&s->begun[key]);
    uint64_t deleted_since = atomic_load(&s->last_delete[key]);
    if (rc != LSMKV_OK) {
        report_failure(s, "get of key %u failed: %s", key, err.message);
        return;
    }
    if (!found) {
        /* Absent: nothing acknowledged, a delete acknowledged, or one begun since. */
        if (before != 0 && !(before & OP_DELETE_BIT) && deleted_since <= OP_VERSION(before)) {
            report_failure(s, "key %u is absent, but version %" PRIu64 " was acknowledged", key,
                           OP_VERSION(before));
        }
        return;
    }
    uint64_t version = value_version(v, len, key);
    lsmkv_free(v);
    if (version == 0) {
        report_failure(s, "key %u holds a malformed value of %zu bytes", key, len);
    } else if (version < OP_VERSION(before) || version > OP_VERSION(after)) {
        report_failure(s,
                       "key %u shows version %" PRIu64 ", outside [%" PRIu64 ", %" PRIu64 "]: "
                       "acknowledged before the get, begun after it",
                       key, version, OP_VERSION(before), OP_VERSION(after));
    } else if (version < *last_seen) {
        report_failure(s, "key %u went back from version %" PRIu64 " to %" PRIu64, key, *last_seen,
                       version);
    } else {
        *last_seen = version;
    }
}

static void *
reader_main(void *arg)
{
    worker *w = arg;
    shared *s = w->s;
    test_rng rng;
    test_rng_init(&rng, s->seed * 57 + (uint64_t)w->index + 1000);
    uint64_t last_seen[KEYS] = {0};
    uint64_t reads = 0;
    while (atomic_load(&s->writers_running) > 0 && atomic_load(&s->failures) == 0) {
        uint32_t key = (uint32_t)test_rng_below(&rng, KEYS);
        read_and_check(s, key, &last_seen[key]);
        reads++;
    }
    atomic_fetch_add(&s->reads, reads);
    return NULL;
}

/* Flushes and compacts back to back while the writers run. */
static void *
maintenance_main(void *arg)
{
    shared *s = arg;
    while (atomic_load(&s->writers_running) > 0 && atomic_load(&s->failures) == 0) {
        lsmkv_error err = {0};
        lsmkv_table_list written = {0};
        if (lsmkv_flush(s->db, &written, &err) != LSMKV_OK) {
            report_failure(s, "flush failed: %s", err.message);
            break;
        }
        lsmkv_table_list_fini(&written);
        atomic_fetch_add(&s->flushes, 1);
        lsmkv_compaction_result result;
        if (lsmkv_compact(s->db, &result, &err) != LSMKV_OK) {
            report_failure(s, "compact failed: %s", err.message);
            break;
        }
        lsmkv_compaction_result_fini(&result);
        atomic_fetch_add(&s->compactions, 1);
        lsmkv_stats stats;
        lsmkv_get_stats(s->db, &stats);
    }
    return NULL;
}

/* ---- the test ----------------------------------------------------------------- */

static lsmkv *
open_store(const char *dir)
{
    lsmkv_options o;
    lsmkv_options_init(&o);
    o.sync = LSMKV_SYNC_NONE;
    o.memtable_bytes = 64u << 10;
    o.level1_target_bytes = 128u << 10; /* background compactions reach deeper levels */
    o.max_immutables = 1; /* writers stall behind the flush thread */
    o.sstable_target_bytes = 64u << 10;
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    int rc = lsmkv_open(dir, &o, &db, &err);
    if (rc != LSMKV_OK) {
        fail_msg("open %s: %s", dir, err.message);
    }
    return db;
}

/* Every key holds its writer's last acknowledged op (the model). */
static void
check_final_state(shared *s, const char *when)
{
    for (uint32_t key = 0; key < KEYS; key++) {
        uint8_t k[KEY_BYTES];
        make_key(key, k);
        uint8_t *v = NULL;
        size_t len = 0;
        bool found = false;
        assert_int_equal(lsmkv_get(s->db, k, sizeof(k), &v, &len, &found, NULL), LSMKV_OK);
        uint64_t op = atomic_load(&s->acked[key]);
        bool want = op != 0 && !(op & OP_DELETE_BIT);
        if (found != want) {
            lsmkv_free(v);
            fail_msg("%s: key %u is %s, expected %s", when, key, found ? "present" : "absent",
                     want ? "present" : "absent");
        }
        if (found) {
            uint64_t version = value_version(v, len, key);
            lsmkv_free(v);
            if (version != OP_VERSION(op)) {
                fail_msg("%s: key %u has version %" PRIu64 ", expected %" PRIu64, when, key,
                         version, OP_VERSION(op));
            }
        }
    }
}

static void
test_writers_readers_flush_and_compact(void **state)
{
    char *dir = test_make_temp_dir("concurrency");
    shared *s = calloc(1, sizeof(*s));
    pthread_mutex_init(&s->failure_mutex, NULL);
    s->seed = test_seed();
    s->db = open_store(dir);
    atomic_store(&s->writers_running, WRITERS);

    pthread_t writers[WRITERS], readers[READERS], maintenance;
    worker writer_args[WRITERS], reader_args[READERS];
    for (int i = 0; i < WRITERS; i++) {
        writer_args[i] = (worker){.s = s, .index = i};
        assert_int_equal(pthread_create(&writers[i], NULL, writer_main, &writer_args[i]), 0);
    }
    for (int i = 0; i < READERS; i++) {
        reader_args[i] = (worker){.s = s, .index = i};
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &reader_args[i]), 0);
    }
    assert_int_equal(pthread_create(&maintenance, NULL, maintenance_main, s), 0);
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(writers[i], NULL);
    }
    for (int i = 0; i < READERS; i++) {
        pthread_join(readers[i], NULL);
    }
    pthread_join(maintenance, NULL);
    if (atomic_load(&s->failures) > 0) {
        fail_msg("%" PRIu64 " failures; the first: %s", (uint64_t)atomic_load(&s->failures),
                 s->first_failure);
    }

    lsmkv_stats stats;
    lsmkv_get_stats(s->db, &stats);
    assert_int_equal(stats.puts + stats.deletes, WRITERS * WRITES_PER_WRITER);
    assert_int_equal(stats.last_sequence, WRITERS * WRITES_PER_WRITER);
    assert_true(stats.flushes > 0);
    assert_true(atomic_load(&s->reads) > 0);
    assert_true(atomic_load(&s->flushes) > 0 && atomic_load(&s->compactions) > 0);
    check_final_state(s, "after the run");

    assert_int_equal(lsmkv_close(s->db), LSMKV_OK);
    s->db = open_store(dir);
    check_final_state(s, "after reopening");
    lsmkv_get_stats(s->db, &stats);
    assert_int_equal(stats.last_sequence, WRITERS * WRITES_PER_WRITER);
    assert_int_equal(lsmkv_close(s->db), LSMKV_OK);

    pthread_mutex_destroy(&s->failure_mutex);
    free(s);
    test_remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writers_readers_flush_and_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
