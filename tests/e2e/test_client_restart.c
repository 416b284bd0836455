/* ctest-labels: concurrency */
/*
 * Durability as a client sees it: what was acknowledged survives a clean
 * restart (flushed data, data only in the write-ahead log, deletions) and a
 * kill -9 in the middle of concurrent sync=always writes.
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

/* key and value of item i of a test: binary, with NUL bytes. */
static size_t
make_key(char *buf, size_t size, const char *prefix, int i)
{
    int n = snprintf(buf, size, "%s%c%05d", prefix, '\0', i);
    return (size_t)n;
}

static size_t
make_value(char *buf, size_t size, const char *tag, int i)
{
    int n = snprintf(buf, size, "%s%c%d", tag, '\0', i * 7919);
    return (size_t)n;
}

static void
put_item(lsmkv_client *c, const char *prefix, int i, const char *tag)
{
    char key[64], value[64];
    size_t key_len = make_key(key, sizeof(key), prefix, i);
    size_t value_len = make_value(value, sizeof(value), tag, i);
    lsmkv_client_error err;
    int rc = lsmkv_client_put(c, (const uint8_t *)key, key_len, (const uint8_t *)value, value_len,
                              LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err);
    if (rc != LSMKV_CLIENT_OK) {
        fail_msg("put %s/%d: %s", prefix, i, err.message);
    }
}

static void
delete_item(lsmkv_client *c, const char *prefix, int i)
{
    char key[64];
    size_t key_len = make_key(key, sizeof(key), prefix, i);
    assert_int_equal(lsmkv_client_delete(c, (const uint8_t *)key, key_len,
                                         LSMKV_CLIENT_SYNC_DEFAULT, NULL, NULL),
                     LSMKV_CLIENT_OK);
}

/* Item i holds the value tagged `tag`, or is absent when tag is NULL. */
static void
expect_item(lsmkv_client *c, const char *prefix, int i, const char *tag)
{
    char key[64], value[64];
    size_t key_len = make_key(key, sizeof(key), prefix, i);
    uint8_t *got;
    size_t got_len;
    bool found;
    lsmkv_client_error err;
    int rc = lsmkv_client_get(c, (const uint8_t *)key, key_len, &got, &got_len, &found, &err);
    if (rc != LSMKV_CLIENT_OK) {
        fail_msg("get %s/%d: %s", prefix, i, err.message);
    }
    if (tag == NULL) {
        if (found) {
            fail_msg("%s/%d was deleted but is back", prefix, i);
        }
        return;
    }
    if (!found) {
        fail_msg("%s/%d is lost", prefix, i);
    }
    size_t value_len = make_value(value, sizeof(value), tag, i);
    assert_int_equal(got_len, value_len);
    assert_memory_equal(got, value, value_len);
    lsmkv_client_free(got);
}

static void
test_clean_restart_keeps_flushed_logged_and_deleted_state(void **state)
{
    test_server s;
    test_server_start(&s, NULL, NULL);
    lsmkv_client *c = connect_to(&s, 20000);
    for (int i = 0; i < 100; i++) {
        put_item(c, "flushed", i, "v1");
    }
    for (int i = 0; i < 10; i++) {
        delete_item(c, "flushed", i); /* tombstones in an SSTable */
    }
    assert_int_equal(lsmkv_client_flush(c, NULL, NULL), LSMKV_CLIENT_OK);
    for (int i = 0; i < 100; i++) {
        put_item(c, "logged", i, "w1"); /* only in the write-ahead log */
    }
    for (int i = 10; i < 20; i++) {
        delete_item(c, "flushed", i); /* tombstones in the log over SSTable data */
    }
    for (int i = 20; i < 30; i++) {
        put_item(c, "flushed", i, "v2"); /* newer values in the log */
    }
    delete_item(c, "logged", 50);
    lsmkv_client_close(c);

    for (int restart = 0; restart < 2; restart++) {
        test_server_restart(&s, NULL); /* SIGTERM (exit 0 checked), then start again */
        c = connect_to(&s, 20000);
        for (int i = 0; i < 100; i++) {
            expect_item(c, "flushed", i, i < 20 ? NULL : i < 30 ? "v2" : "v1");
            expect_item(c, "logged", i, i == 50 ? NULL : "w1");
        }
        expect_item(c, "never", 0, NULL);
        lsmkv_client_close(c);
    }
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

#define WRITERS    4
#define KILL_AFTER 300 /* acknowledged writes, over all writers */

typedef struct crash_run {
    lsmkv_client *client;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int acknowledged;      /* mutex: over all writers */
    bool killing;          /* mutex: writers stop calling */
    int last_ack[WRITERS]; /* mutex: highest acknowledged item per writer, -1 none */
} crash_run;

typedef struct writer {
    crash_run *run;
    int index;
} writer;

/* Writes items 0, 1, 2, ... with sync=always until a call fails (the kill). */
static void *
writer_main(void *arg)
{
    writer *w = arg;
    crash_run *run = w->run;
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "w%d", w->index);
    for (int i = 0;; i++) {
        pthread_mutex_lock(&run->mutex);
        bool stop = run->killing;
        pthread_mutex_unlock(&run->mutex);
        if (stop) {
            break;
        }
        char key[64], value[64];
        size_t key_len = make_key(key, sizeof(key), prefix, i);
        size_t value_len = make_value(value, sizeof(value), "acked", i);
        int rc =
            lsmkv_client_put(run->client, (const uint8_t *)key, key_len, (const uint8_t *)value,
                             value_len, LSMKV_CLIENT_SYNC_ALWAYS, NULL, NULL);
        if (rc != LSMKV_CLIENT_OK) {
            break;
        }
        pthread_mutex_lock(&run->mutex);
        run->last_ack[w->index] = i;
        run->acknowledged++;
        pthread_cond_broadcast(&run->cond);
        pthread_mutex_unlock(&run->mutex);
    }
    return NULL;
}

static void
test_kill_9_during_sync_writes_keeps_every_acknowledged_write(void **state)
{
    static const char *const args[] = {"--sync", "always", NULL};
    test_server s;
    test_server_start(&s, NULL, args);
    /* A short deadline: a writer that calls after the kill waits for no server. */
    crash_run run = {.client = connect_to(&s, 3000)};
    pthread_mutex_init(&run.mutex, NULL);
    pthread_cond_init(&run.cond, NULL);
    pthread_t threads[WRITERS];
    writer writers[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        run.last_ack[i] = -1;
        writers[i] = (writer){.run = &run, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &writers[i]), 0);
    }
    pthread_mutex_lock(&run.mutex);
    while (run.acknowledged < KILL_AFTER) {
        pthread_cond_wait(&run.cond, &run.mutex);
    }
    /* Calls already made are in flight; later ones would only wait for a server. */
    run.killing = true;
    pthread_mutex_unlock(&run.mutex);
    test_server_kill(&s); /* writes are in flight on every writer */
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
    }
    lsmkv_client_close(run.client);

    /* A second server on the crashed one's directory (which s still owns). */
    test_server again;
    test_server_start(&again, s.data_dir, args);
    lsmkv_client *c = connect_to(&again, 20000);
    for (int w = 0; w < WRITERS; w++) {
        char prefix[16];
        snprintf(prefix, sizeof(prefix), "w%d", w);
        for (int i = 0; i <= run.last_ack[w]; i++) {
            expect_item(c, prefix, i, "acked");
        }
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
        cmocka_unit_test(test_clean_restart_keeps_flushed_logged_and_deleted_state),
        cmocka_unit_test(test_kill_9_during_sync_writes_keeps_every_acknowledged_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
