/* ctest-labels: concurrency */
/*
 * Batch atomicity through the real lsmkv-server: readers (Scan and MultiGet,
 * on their own threads and clients) never see part of a batch while writers
 * replace or delete a group of keys batch by batch; and after a kill -9 in
 * the middle of a stream of sync=always batches, every acknowledged batch is
 * whole and the one in flight is there entirely or not at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/client.h"
#include "test_server.h"
#include "test_support.h"

static lsmkv_client *
connect_to(const test_server *s, uint32_t timeout_ms)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    options.timeout_ms = timeout_ms;
    lsmkv_client *c = NULL;
    assert_int_equal(lsmkv_client_open(s->url, &options, &c, NULL), LSMKV_CLIENT_OK);
    return c;
}

/* ---- readers never see half a batch -------------------------------------------------------- */

#define GROUP    16 /* keys every batch writes (or deletes) together */
#define WRITERS  2
#define BATCHES  150 /* per writer */
#define SCANNERS 2
#define GETTERS  2

typedef struct shared {
    atomic_int writers_left;
    const test_server *server;
} shared;

typedef struct worker {
    shared *run;
    int index;
    long checks;        /* reader: views checked */
    long whole;         /* reader: views holding the whole group */
    char failure[1024]; /* empty: none (cmocka's asserts stay on the main thread) */
} worker;

/* Key k of the group: binary, with a NUL between the prefix and the number. */
static size_t
group_key(int k, char *buf)
{
    return (size_t)snprintf(buf, 16, "grp%c%02d", '\0', k);
}

/* Writer w's batch i: every key of the group gets the value "w<w>-<i>", or every
 * 7th batch deletes them all. */
static void *
writer_main(void *arg)
{
    worker *w = arg;
    lsmkv_client *c = connect_to(w->run->server, 20000);
    char keys[GROUP][16], value[32];
    lsmkv_client_op ops[GROUP];
    for (int i = 0; i < BATCHES && w->failure[0] == '\0'; i++) {
        int value_len = snprintf(value, sizeof(value), "w%d-%d", w->index, i);
        bool del = i % 7 == 6;
        for (int k = 0; k < GROUP; k++) {
            ops[k] = (lsmkv_client_op){
                .type = del ? LSMKV_CLIENT_OP_DELETE : LSMKV_CLIENT_OP_PUT,
                .key = (const uint8_t *)keys[k],
                .key_len = group_key(k, keys[k]),
                .value = del ? NULL : (const uint8_t *)value,
                .value_len = del ? 0 : (size_t)value_len,
            };
        }
        lsmkv_client_error err;
        if (lsmkv_client_batch(c, ops, GROUP, LSMKV_CLIENT_SYNC_NONE, NULL, &err) !=
            LSMKV_CLIENT_OK) {
            snprintf(w->failure, sizeof(w->failure), "writer %d batch %d: %s", w->index, i,
                     err.message);
        }
    }
    lsmkv_client_close(c);
    atomic_fetch_sub(&w->run->writers_left, 1);
    return NULL;
}

/*
 * One view of the group: `found` keys present with values[0..found). Whole:
 * none present, or all of them with the same value.
 */
static void
check_view(worker *w, int found, const uint8_t *const *values, const size_t *lens, const char *how)
{
    w->checks++;
    if (found == 0) {
        return;
    }
    bool same = found == GROUP;
    for (int k = 1; k < found && same; k++) {
        same = lens[k] == lens[0] && memcmp(values[k], values[0], lens[0]) == 0;
    }
    if (!same) {
        snprintf(w->failure, sizeof(w->failure),
                 "%s saw part of a batch: %d of %d keys, first value %.*s", how, found, GROUP,
                 (int)lens[0], (const char *)values[0]);
    }
    w->whole++;
}

static void
scan_once(worker *w, lsmkv_client *c)
{
    /* The group fits in one page: one point in time. */
    lsmkv_client_range range = {.prefix = (const uint8_t *)"grp", .prefix_len = 4};
    lsmkv_client_scan_page page;
    lsmkv_client_error err;
    if (lsmkv_client_scan(c, &range, 100, &page, &err) != LSMKV_CLIENT_OK) {
        snprintf(w->failure, sizeof(w->failure), "scan: %s", err.message);
        return;
    }
    const uint8_t *values[GROUP];
    size_t lens[GROUP];
    int found = (int)page.count;
    for (int k = 0; k < found && k < GROUP; k++) {
        values[k] = page.pairs[k].value;
        lens[k] = page.pairs[k].value_len;
    }
    if (found > GROUP || page.resume_key != NULL) {
        snprintf(w->failure, sizeof(w->failure), "scan: %d keys", found);
    } else {
        check_view(w, found, values, lens, "a scan");
    }
    lsmkv_client_scan_page_fini(&page);
}

static void
multi_get_once(worker *w, lsmkv_client *c)
{
    char keys[GROUP][16];
    const uint8_t *key_ptrs[GROUP];
    size_t key_lens[GROUP];
    for (int k = 0; k < GROUP; k++) {
        key_lens[k] = group_key(k, keys[k]);
        key_ptrs[k] = (const uint8_t *)keys[k];
    }
    lsmkv_client_value got[GROUP];
    lsmkv_client_error err;
    if (lsmkv_client_multi_get(c, GROUP, key_ptrs, key_lens, got, &err) != LSMKV_CLIENT_OK) {
        snprintf(w->failure, sizeof(w->failure), "multi-get: %s", err.message);
        return;
    }
    const uint8_t *values[GROUP];
    size_t lens[GROUP];
    int found = 0;
    for (int k = 0; k < GROUP; k++) {
        if (got[k].found) {
            values[found] = got[k].value;
            lens[found++] = got[k].value_len;
        }
    }
    check_view(w, found, values, lens, "a multi-get");
    lsmkv_client_values_fini(got, GROUP);
}

/* Reads until the writers are done (and at least a few times after). */
static void *
reader_main(void *arg)
{
    worker *w = arg;
    lsmkv_client *c = connect_to(w->run->server, 20000);
    int after = 0;
    while (w->failure[0] == '\0' && after < 3) {
        if (atomic_load(&w->run->writers_left) == 0) {
            after++;
        }
        if (w->index < SCANNERS) {
            scan_once(w, c);
        } else {
            multi_get_once(w, c);
        }
    }
    lsmkv_client_close(c);
    return NULL;
}

static void
test_readers_never_see_part_of_a_batch(void **state)
{
    static const char *const args[] = {"--sync", "none", "--memtable-size", "64K", NULL};
    test_server s;
    test_server_start(&s, NULL, args);
    shared run = {.server = &s};
    atomic_init(&run.writers_left, WRITERS);
    worker writers[WRITERS], readers[SCANNERS + GETTERS];
    pthread_t wt[WRITERS], rt[SCANNERS + GETTERS];
    for (int i = 0; i < SCANNERS + GETTERS; i++) {
        readers[i] = (worker){.run = &run, .index = i};
        assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &readers[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (worker){.run = &run, .index = i};
        assert_int_equal(pthread_create(&wt[i], NULL, writer_main, &writers[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(wt[i], NULL);
        if (writers[i].failure[0] != '\0') {
            fail_msg("%s", writers[i].failure);
        }
    }
    for (int i = 0; i < SCANNERS + GETTERS; i++) {
        pthread_join(rt[i], NULL);
        if (readers[i].failure[0] != '\0') {
            fail_msg("reader %d: %s", i, readers[i].failure);
        }
        assert_true(readers[i].checks >= 3);
    }
    /* The last batches were puts (149 % 7 != 6): the group is whole now. */
    assert_true(readers[0].whole > 0);
    assert_true(readers[SCANNERS].whole > 0);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

/* ---- kill -9 in a stream of batches ---------------------------------------------------------- */

#define CRASH_WRITERS 2
#define OPS_PER_BATCH 10
#define KILL_AFTER    60 /* acknowledged batches, over all writers */

typedef struct crash_run {
    const test_server *server;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int acknowledged;            /* mutex */
    bool killing;                /* mutex: writers stop starting batches */
    int last_ack[CRASH_WRITERS]; /* mutex: each writer's last acknowledged batch, -1 none */
} crash_run;

typedef struct crash_writer {
    crash_run *run;
    int index;
} crash_writer;

/* Writer w's batch i: its own keys "b<w>/<i>/<k>" and, overwritten by every
 * batch, "s<w>/<k>" = i. */
static void
crash_batch_keys(int w, int i, char keys[2 * OPS_PER_BATCH][32], size_t lens[2 * OPS_PER_BATCH])
{
    for (int k = 0; k < OPS_PER_BATCH; k++) {
        lens[k] = (size_t)snprintf(keys[k], 32, "b%d/%06d/%d", w, i, k);
        lens[OPS_PER_BATCH + k] = (size_t)snprintf(keys[OPS_PER_BATCH + k], 32, "s%d/%d", w, k);
    }
}

static void *
crash_writer_main(void *arg)
{
    crash_writer *cw = arg;
    crash_run *run = cw->run;
    lsmkv_client *c = connect_to(run->server, 3000);
    for (int i = 0;; i++) {
        pthread_mutex_lock(&run->mutex);
        bool stop = run->killing;
        pthread_mutex_unlock(&run->mutex);
        if (stop) {
            break;
        }
        char keys[2 * OPS_PER_BATCH][32], value[16];
        size_t lens[2 * OPS_PER_BATCH];
        crash_batch_keys(cw->index, i, keys, lens);
        int value_len = snprintf(value, sizeof(value), "%d", i);
        lsmkv_client_op ops[2 * OPS_PER_BATCH];
        for (int k = 0; k < 2 * OPS_PER_BATCH; k++) {
            ops[k] = (lsmkv_client_op){LSMKV_CLIENT_OP_PUT, (const uint8_t *)keys[k], lens[k],
                                       (const uint8_t *)value, (size_t)value_len};
        }
        if (lsmkv_client_batch(c, ops, 2 * OPS_PER_BATCH, LSMKV_CLIENT_SYNC_ALWAYS, NULL, NULL) !=
            LSMKV_CLIENT_OK) {
            break; /* the kill; this batch may or may not have been applied */
        }
        pthread_mutex_lock(&run->mutex);
        run->last_ack[cw->index] = i;
        run->acknowledged++;
        pthread_cond_broadcast(&run->cond);
        pthread_mutex_unlock(&run->mutex);
    }
    lsmkv_client_close(c);
    return NULL;
}

typedef struct counter {
    uint64_t pairs;
} counter;

static bool
count_pair(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    ((counter *)ctx)->pairs++;
    return true;
}

/* How many of batch i's own keys exist (0 to OPS_PER_BATCH). */
static int
batch_keys_present(lsmkv_client *c, int w, int i)
{
    char prefix[32];
    size_t len = (size_t)snprintf(prefix, sizeof(prefix), "b%d/%06d/", w, i);
    lsmkv_client_range range = {
        .prefix = (const uint8_t *)prefix, .prefix_len = len, .keys_only = true};
    counter n = {0};
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, count_pair, &n, NULL, NULL),
                     LSMKV_CLIENT_OK);
    return (int)n.pairs;
}

/* Checks writer w's keys after the restart; last is its last acknowledged batch. */
static void
check_writer_after_crash(lsmkv_client *c, int w, int last)
{
    for (int i = 0; i <= last; i++) {
        if (batch_keys_present(c, w, i) != OPS_PER_BATCH) {
            fail_msg("writer %d: acknowledged batch %d is not whole", w, i);
        }
    }
    int in_flight = batch_keys_present(c, w, last + 1);
    if (in_flight != 0 && in_flight != OPS_PER_BATCH) {
        fail_msg("writer %d: batch %d in flight is half there (%d keys)", w, last + 1, in_flight);
    }
    assert_int_equal(batch_keys_present(c, w, last + 2), 0);
    /* Its shared keys all carry the value of one batch: the last one applied. */
    char keys[2 * OPS_PER_BATCH][32];
    size_t lens[2 * OPS_PER_BATCH];
    crash_batch_keys(w, 0, keys, lens);
    const uint8_t *ptrs[OPS_PER_BATCH];
    for (int k = 0; k < OPS_PER_BATCH; k++) {
        ptrs[k] = (const uint8_t *)keys[OPS_PER_BATCH + k];
    }
    lsmkv_client_value got[OPS_PER_BATCH];
    assert_int_equal(
        lsmkv_client_multi_get(c, OPS_PER_BATCH, ptrs, lens + OPS_PER_BATCH, got, NULL),
        LSMKV_CLIENT_OK);
    char want[16];
    int want_len = snprintf(want, sizeof(want), "%d", in_flight ? last + 1 : last);
    for (int k = 0; k < OPS_PER_BATCH; k++) {
        assert_true(got[k].found || last < 0);
        if (got[k].found) {
            assert_int_equal(got[k].value_len, want_len);
            assert_memory_equal(got[k].value, want, (size_t)want_len);
        }
    }
    lsmkv_client_values_fini(got, OPS_PER_BATCH);
}

static void
test_kill_9_during_sync_batches_keeps_them_whole(void **state)
{
    static const char *const args[] = {"--sync", "always", NULL};
    test_server s;
    test_server_start(&s, NULL, args);
    crash_run run = {.server = &s};
    pthread_mutex_init(&run.mutex, NULL);
    pthread_cond_init(&run.cond, NULL);
    pthread_t threads[CRASH_WRITERS];
    crash_writer writers[CRASH_WRITERS];
    for (int i = 0; i < CRASH_WRITERS; i++) {
        run.last_ack[i] = -1;
        writers[i] = (crash_writer){.run = &run, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, crash_writer_main, &writers[i]), 0);
    }
    pthread_mutex_lock(&run.mutex);
    while (run.acknowledged < KILL_AFTER) {
        pthread_cond_wait(&run.cond, &run.mutex);
    }
    run.killing = true; /* batches already sent are in flight */
    pthread_mutex_unlock(&run.mutex);
    test_server_kill(&s);
    for (int i = 0; i < CRASH_WRITERS; i++) {
        pthread_join(threads[i], NULL);
    }

    test_server again;
    test_server_start(&again, s.data_dir, args);
    lsmkv_client *c = connect_to(&again, 20000);
    for (int w = 0; w < CRASH_WRITERS; w++) {
        check_writer_after_crash(c, w, run.last_ack[w]);
    }
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&again), 0);
    test_server_fini(&again);
    pthread_mutex_destroy(&run.mutex);
    pthread_cond_destroy(&run.cond);
    test_server_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_never_see_part_of_a_batch),
        cmocka_unit_test(test_kill_9_during_sync_batches_keeps_them_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
