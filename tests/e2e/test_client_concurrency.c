/* ctest-labels: concurrency */
/*
 * 16 client threads of mixed operations against one lsmkv-server, each
 * checked against a model of its own key range: every get must see the
 * thread's last write. Half the threads share one client (its calls run
 * side by side on one connection), the other half have their own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/client.h"
#include "test_server.h"
#include "test_support.h"

#define THREADS   16
#define KEYS      40
#define OPS       250
#define MAX_VALUE 200

typedef struct model_entry {
    bool present;
    size_t len;
    uint8_t value[MAX_VALUE];
} model_entry;

typedef struct worker {
    int index;
    lsmkv_client *client;
    uint64_t seed;
    model_entry model[KEYS];
    char failure[1024]; /* empty: no failure (cmocka's asserts stay on the main thread) */
} worker;

static size_t
worker_key(char *buf, int thread, int k)
{
    /* Binary keys: a NUL byte between the thread and the key number. */
    return (size_t)snprintf(buf, 32, "t%02d%c%03d", thread, '\0', k);
}

/* Whether the server's value of key k matches the model; describes a mismatch. */
static bool
check_key(lsmkv_client *c, int thread, int k, const model_entry *m, char *why, size_t why_size)
{
    char key[32];
    size_t key_len = worker_key(key, thread, k);
    uint8_t *value;
    size_t len;
    bool found;
    lsmkv_client_error err;
    int rc = lsmkv_client_get(c, (const uint8_t *)key, key_len, &value, &len, &found, &err);
    if (rc != LSMKV_CLIENT_OK) {
        snprintf(why, why_size, "get t%02d/%d: %s", thread, k, err.message);
        return false;
    }
    bool same =
        found == m->present && (!found || (len == m->len && memcmp(value, m->value, len) == 0));
    if (!same) {
        snprintf(why, why_size, "t%02d/%d: found=%d len=%zu, model present=%d len=%zu", thread, k,
                 found, len, m->present, m->len);
    }
    lsmkv_client_free(value);
    return same;
}

static bool
do_write(worker *w, test_rng *rng, int k)
{
    char key[32];
    size_t key_len = worker_key(key, w->index, k);
    model_entry *m = &w->model[k];
    lsmkv_client_error err;
    int rc;
    if (test_rng_below(rng, 4) != 0) {
        uint8_t value[MAX_VALUE];
        size_t len = (size_t)test_rng_below(rng, MAX_VALUE + 1);
        test_rng_bytes(rng, value, len);
        rc = lsmkv_client_put(w->client, (const uint8_t *)key, key_len, value, len,
                              LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err);
        if (rc == LSMKV_CLIENT_OK) {
            m->present = true;
            m->len = len;
            memcpy(m->value, value, len);
        }
    } else {
        rc = lsmkv_client_delete(w->client, (const uint8_t *)key, key_len,
                                 LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err);
        if (rc == LSMKV_CLIENT_OK) {
            m->present = false;
        }
    }
    if (rc != LSMKV_CLIENT_OK) {
        snprintf(w->failure, sizeof(w->failure), "write t%02d/%d: %s: %s", w->index, k,
                 lsmkv_client_status_name(rc), err.message);
        return false;
    }
    return true;
}

static bool
do_other(worker *w, test_rng *rng)
{
    lsmkv_client_error err;
    int rc;
    if (test_rng_below(rng, 3) == 0) {
        rc = lsmkv_client_flush(w->client, NULL, &err);
    } else {
        lsmkv_client_stats stats;
        rc = lsmkv_client_get_stats(w->client, &stats, &err);
        if (rc == LSMKV_CLIENT_OK) {
            lsmkv_client_stats_fini(&stats);
        }
    }
    if (rc != LSMKV_CLIENT_OK) {
        snprintf(w->failure, sizeof(w->failure), "flush/stats: %s", err.message);
        return false;
    }
    return true;
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    test_rng rng;
    test_rng_init(&rng, w->seed);
    for (int op = 0; op < OPS; op++) {
        int k = (int)test_rng_below(&rng, KEYS);
        uint64_t r = test_rng_below(&rng, 100);
        bool ok;
        if (r < 50) {
            ok = do_write(w, &rng, k);
        } else if (r < 97) {
            ok = check_key(w->client, w->index, k, &w->model[k], w->failure, sizeof(w->failure));
        } else {
            ok = do_other(w, &rng);
        }
        if (!ok) {
            break;
        }
    }
    return NULL;
}

static void
check_all(lsmkv_client *c, worker *workers)
{
    for (int t = 0; t < THREADS; t++) {
        for (int k = 0; k < KEYS; k++) {
            char why[1024];
            if (!check_key(c, t, k, &workers[t].model[k], why, sizeof(why))) {
                fail_msg("%s", why);
            }
        }
    }
}

static lsmkv_client *
connect_to(const test_server *s)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    options.timeout_ms = 30000; /* sanitizer builds on two cores are slow */
    lsmkv_client *c = NULL;
    assert_int_equal(lsmkv_client_open(s->url, &options, &c, NULL), LSMKV_CLIENT_OK);
    return c;
}

static void
test_sixteen_threads_match_their_models(void **state)
{
    static const char *const args[] = {"--sync", "none", "--memtable-size", "64K", NULL};
    test_server s;
    test_server_start(&s, NULL, args);
    lsmkv_client *shared = connect_to(&s);
    worker *workers = calloc(THREADS, sizeof(*workers));
    pthread_t threads[THREADS];
    uint64_t seed = test_seed();
    for (int t = 0; t < THREADS; t++) {
        workers[t].index = t;
        workers[t].seed = seed + (uint64_t)t * 1000003;
        workers[t].client = t % 2 == 0 ? shared : connect_to(&s);
        assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    for (int t = 0; t < THREADS; t++) {
        if (workers[t].failure[0] != '\0') {
            fail_msg("thread %d: %s", t, workers[t].failure);
        }
        if (workers[t].client != shared) {
            lsmkv_client_close(workers[t].client);
        }
    }
    check_all(shared, workers);
    assert_int_equal(lsmkv_client_compact(shared, NULL, NULL), LSMKV_CLIENT_OK);
    check_all(shared, workers);

    lsmkv_client_stats stats;
    assert_int_equal(lsmkv_client_get_stats(shared, &stats, NULL), LSMKV_CLIENT_OK);
    assert_true(stats.puts + stats.deletes > THREADS * OPS / 3);
    assert_int_equal(stats.request_errors, 0);
    lsmkv_client_stats_fini(&stats);
    lsmkv_client_close(shared);
    free(workers);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixteen_threads_match_their_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
