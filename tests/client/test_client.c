/* ctest-labels: concurrency */
/*
 * The client library against no server and against a scripted fake server
 * (an nng REP socket in this process, answering with hand-built protobuf):
 * deadlines, transport failures, bad answers, reconnection, concurrency.
 * The real server is exercised by tests/e2e.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/client.h"
#include "test_support.h"
#include "test_wire.h"

/* Generous: sanitizer builds on a loaded 2-core machine are slow. */
#define SLACK_MS 3000

/* ---- a scripted fake server ------------------------------------------------------------- */

typedef struct fake fake;
typedef void (*fake_script)(fake *f);

struct fake {
    nng_socket socket;
    char *dir;
    char url[512];
    pthread_t thread;
    fake_script script;
    bool closed;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int stage; /* mutex: how far the script got */
    int acked; /* mutex: how far the test got (answers it has received) */
};

static void
fake_listen(fake *f)
{
    TEST_CHECK(nng_rep0_open(&f->socket) == 0);
    TEST_CHECK(nng_listen(f->socket, f->url, NULL, 0) == 0);
    f->closed = false;
}

static void *
fake_main(void *arg)
{
    fake *f = arg;
    f->script(f);
    return NULL;
}

static void
fake_start(fake *f, fake_script script)
{
    memset(f, 0, sizeof(*f));
    f->dir = test_make_temp_dir("client");
    snprintf(f->url, sizeof(f->url), "ipc://%s/fake.sock", f->dir);
    pthread_mutex_init(&f->mutex, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->script = script;
    fake_listen(f);
    TEST_CHECK(pthread_create(&f->thread, NULL, fake_main, f) == 0);
}

static void
fake_stop(fake *f)
{
    pthread_join(f->thread, NULL);
    if (!f->closed) {
        nng_close(f->socket);
    }
    pthread_mutex_destroy(&f->mutex);
    pthread_cond_destroy(&f->cond);
    test_remove_dir(f->dir);
}

static void
fake_set_stage(fake *f, int stage)
{
    pthread_mutex_lock(&f->mutex);
    f->stage = stage;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mutex);
}

static void
fake_wait_stage(fake *f, int stage)
{
    pthread_mutex_lock(&f->mutex);
    while (f->stage < stage) {
        pthread_cond_wait(&f->cond, &f->mutex);
    }
    pthread_mutex_unlock(&f->mutex);
}

/* The test has received `n` answers (so the fake may close its socket). */
static void
fake_ack(fake *f, int n)
{
    pthread_mutex_lock(&f->mutex);
    f->acked = n;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mutex);
}

static void
fake_wait_ack(fake *f, int n)
{
    pthread_mutex_lock(&f->mutex);
    while (f->acked < n) {
        pthread_cond_wait(&f->cond, &f->mutex);
    }
    pthread_mutex_unlock(&f->mutex);
}

/* The key of a Put/Get/Delete request, copied into key (NUL-terminated). */
static void
request_key(nng_msg *msg, char *key, size_t size)
{
    const uint8_t *payload = NULL, *k = NULL;
    size_t payload_len = 0, k_len = 0;
    TEST_CHECK(
        test_wire_find(nng_msg_body(msg), nng_msg_len(msg), 2, NULL, &payload, &payload_len));
    TEST_CHECK(test_wire_find(payload, payload_len, 1, NULL, &k, &k_len));
    TEST_CHECK(k_len < size);
    memcpy(key, k, k_len);
    key[k_len] = '\0';
}

/* An RpcResponse with status code/message and a PutResponse{sequence}. */
static nng_msg *
put_answer(int code, const char *message, uint64_t sequence)
{
    test_wire status = {0}, payload = {0}, resp = {0};
    test_wire_uint(&status, 1, (uint64_t)code);
    test_wire_bytes(&status, 2, message, strlen(message));
    test_wire_message(&resp, 1, &status);
    if (code == 0) {
        test_wire_uint(&payload, 1, sequence);
        test_wire_message(&resp, 2, &payload);
    }
    nng_msg *msg;
    TEST_CHECK(nng_msg_alloc(&msg, 0) == 0);
    TEST_CHECK(nng_msg_append(msg, resp.data, resp.len) == 0);
    test_wire_free(&status);
    test_wire_free(&payload);
    test_wire_free(&resp);
    return msg;
}

static nng_msg *
fake_recv(fake *f)
{
    nng_msg *msg;
    TEST_CHECK(nng_recvmsg(f->socket, &msg, 0) == 0);
    return msg;
}

static void
fake_send(fake *f, nng_msg *msg)
{
    TEST_CHECK(nng_sendmsg(f->socket, msg, 0) == 0);
}

static lsmkv_client *
open_client(const char *url, uint32_t timeout_ms)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    options.timeout_ms = timeout_ms;
    lsmkv_client *c = NULL;
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_open(url, &options, &c, &err), LSMKV_CLIENT_OK);
    return c;
}

static uint64_t
elapsed_since(uint64_t start)
{
    return (uint64_t)nng_clock() - start;
}

/* ---- without a server ------------------------------------------------------------------- */

static void
test_open_rejects_bad_urls(void **state)
{
    lsmkv_client *c = NULL;
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_open("bogus://where", NULL, &c, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "bogus://where"));
    assert_int_equal(lsmkv_client_open("", NULL, &c, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_open(NULL, NULL, &c, NULL), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_null(c);
    lsmkv_client_close(NULL);
}

static void
test_unreachable_server_fails_within_the_timeout(void **state)
{
    char *dir = test_make_temp_dir("client");
    char url[512];
    snprintf(url, sizeof(url), "ipc://%s/nobody.sock", dir);
    const char *urls[] = {url, "tcp://127.0.0.1:1"};
    for (int u = 0; u < 2; u++) {
        lsmkv_client *c = open_client(urls[u], 200);
        lsmkv_client_error err;
        uint64_t start = nng_clock();
        assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                          LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                         LSMKV_CLIENT_UNAVAILABLE);
        assert_true(elapsed_since(start) < 200 + SLACK_MS);
        assert_int_equal(err.code, LSMKV_CLIENT_UNAVAILABLE);
        assert_non_null(strstr(err.message, "not connected within 200 ms"));
        assert_non_null(strstr(err.message, urls[u]));
        lsmkv_client_close(c);
    }
    test_remove_dir(dir);
}

static void
test_every_call_fails_cleanly_without_a_server(void **state)
{
    lsmkv_client *c = open_client("tcp://127.0.0.1:1", 50);
    lsmkv_client_error err;
    uint8_t *value = (uint8_t *)"x";
    size_t len = 1;
    bool found = true;
    assert_int_equal(lsmkv_client_get(c, (const uint8_t *)"k", 1, &value, &len, &found, &err),
                     LSMKV_CLIENT_UNAVAILABLE);
    assert_string_equal((char *)value, "x"); /* untouched */
    assert_int_equal(
        lsmkv_client_delete(c, (const uint8_t *)"k", 1, LSMKV_CLIENT_SYNC_ALWAYS, NULL, &err),
        LSMKV_CLIENT_UNAVAILABLE);
    lsmkv_client_table_list tables;
    assert_int_equal(lsmkv_client_flush(c, &tables, &err), LSMKV_CLIENT_UNAVAILABLE);
    lsmkv_client_compaction_result result;
    assert_int_equal(lsmkv_client_compact(c, &result, &err), LSMKV_CLIENT_UNAVAILABLE);
    lsmkv_client_stats stats;
    assert_int_equal(lsmkv_client_get_stats(c, &stats, NULL), LSMKV_CLIENT_UNAVAILABLE);
    lsmkv_client_close(c);
}

static void
test_bad_arguments_fail_locally(void **state)
{
    lsmkv_client *c = open_client("tcp://127.0.0.1:1", 50);
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_put(c, NULL, 3, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "key"));
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, NULL, 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                      (lsmkv_client_sync)7, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_get(c, (const uint8_t *)"k", 1, NULL, NULL, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_get_stats(c, NULL, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    lsmkv_client_close(c);
}

static void
test_request_over_max_message_size_is_not_sent(void **state)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    assert_int_equal(options.timeout_ms, 5000);
    assert_int_equal(options.max_message_size, LSMKV_CLIENT_DEFAULT_MAX_MESSAGE_SIZE);
    options.max_message_size = 1024;
    lsmkv_client *c;
    assert_int_equal(lsmkv_client_open("tcp://127.0.0.1:1", &options, &c, NULL), LSMKV_CLIENT_OK);
    uint8_t value[2000] = {0};
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, value, sizeof(value),
                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(err.message, "max_message_size"));
    lsmkv_client_close(c);
}

/* ---- against the fake server ------------------------------------------------------------ */

static void
script_answer_errors(fake *f)
{
    nng_msg *req = fake_recv(f);
    nng_msg_free(req);
    fake_send(f, put_answer(LSMKV_CLIENT_INVALID_ARGUMENT, "the key is empty", 0));
    req = fake_recv(f);
    char key[64];
    request_key(req, key, sizeof(key));
    nng_msg_free(req);
    fake_send(f, put_answer(0, "", 41 + (uint64_t)strlen(key)));
    /* Garbage bytes instead of an RpcResponse. */
    nng_msg_free(fake_recv(f));
    nng_msg *garbage;
    TEST_CHECK(nng_msg_alloc(&garbage, 0) == 0);
    TEST_CHECK(nng_msg_append(garbage, "\xff\xff\xff\xff\x0f", 5) == 0);
    fake_send(f, garbage);
}

static void
test_answers_become_codes_and_messages(void **state)
{
    fake f;
    fake_start(&f, script_answer_errors);
    lsmkv_client *c = open_client(f.url, 5000);
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"", 0, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_string_equal(err.message, "the key is empty");
    uint64_t seq = 0;
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"a", 1, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err),
                     LSMKV_CLIENT_OK);
    assert_int_equal(seq, 42);
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"a", 1, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err),
                     LSMKV_CLIENT_INTERNAL);
    assert_non_null(strstr(err.message, "not an RpcResponse"));
    lsmkv_client_close(c);
    fake_stop(&f);
}

static void
script_never_answer(fake *f)
{
    nng_msg_free(fake_recv(f));
}

static void
test_no_answer_is_deadline_exceeded(void **state)
{
    fake f;
    fake_start(&f, script_never_answer);
    lsmkv_client *c = open_client(f.url, 300);
    lsmkv_client_error err;
    uint64_t start = nng_clock();
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_DEADLINE_EXCEEDED);
    assert_true(elapsed_since(start) < 300 + SLACK_MS);
    assert_non_null(strstr(err.message, "no answer"));
    assert_non_null(strstr(err.message, "300 ms"));
    lsmkv_client_close(c);
    fake_stop(&f);
}

static void
script_close_after_request(fake *f)
{
    nng_msg_free(fake_recv(f));
    nng_close(f->socket);
    f->closed = true;
}

static void
test_connection_closed_before_the_answer_is_unavailable(void **state)
{
    fake f;
    fake_start(&f, script_close_after_request);
    lsmkv_client *c = open_client(f.url, 5000);
    lsmkv_client_error err;
    uint64_t start = nng_clock();
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_UNAVAILABLE);
    /* The closed connection is noticed at once, not at the deadline. */
    assert_true(elapsed_since(start) < 5000);
    assert_non_null(strstr(err.message, "closed before the answer"));
    lsmkv_client_close(c);
    fake_stop(&f);
}

static void
script_restart(fake *f)
{
    nng_msg_free(fake_recv(f));
    fake_send(f, put_answer(0, "", 1));
    /* nng_sendmsg only queues the answer, and closing the socket at once may
     * drop it: close once the client has it. */
    fake_wait_ack(f, 1);
    nng_close(f->socket);
    fake_listen(f);
    fake_set_stage(f, 1);
    nng_msg_free(fake_recv(f));
    fake_send(f, put_answer(0, "", 2));
}

static void
test_reconnects_after_a_server_restart(void **state)
{
    fake f;
    fake_start(&f, script_restart);
    lsmkv_client *c = open_client(f.url, 5000);
    uint64_t seq = 0;
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                      LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err),
                     LSMKV_CLIENT_OK);
    assert_int_equal(seq, 1);
    fake_ack(&f, 1);
    fake_wait_stage(&f, 1);
    /* A call made before the client noticed the old connection close goes out on
     * it and fails at once (the server restarted); after that it has reconnected. */
    int rc = lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                              LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err);
    if (rc == LSMKV_CLIENT_UNAVAILABLE) {
        assert_non_null(strstr(err.message, "closed before the answer"));
        rc = lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                              LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err);
    }
    assert_int_equal(rc, LSMKV_CLIENT_OK);
    assert_int_equal(seq, 2);
    lsmkv_client_close(c);
    fake_stop(&f);
}

/* Receives one request on ctx (synchronously, through an aio). */
static nng_msg *
ctx_recv(nng_ctx ctx, nng_aio *aio)
{
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    TEST_CHECK(nng_aio_result(aio) == 0);
    return nng_aio_get_msg(aio);
}

static void
ctx_send(nng_ctx ctx, nng_aio *aio, nng_msg *msg)
{
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nng_aio_wait(aio);
    TEST_CHECK(nng_aio_result(aio) == 0);
}

/* Holds the first request unanswered until the second arrives, then answers both. */
static void
script_late_answer(fake *f)
{
    nng_ctx ctx[2];
    nng_aio *aio[2];
    for (int i = 0; i < 2; i++) {
        TEST_CHECK(nng_ctx_open(&ctx[i], f->socket) == 0);
        TEST_CHECK(nng_aio_alloc(&aio[i], NULL, NULL) == 0);
    }
    nng_msg_free(ctx_recv(ctx[0], aio[0]));
    nng_msg_free(ctx_recv(ctx[1], aio[1]));
    ctx_send(ctx[0], aio[0], put_answer(0, "", 1)); /* too late: its caller gave up */
    ctx_send(ctx[1], aio[1], put_answer(0, "", 2));
    for (int i = 0; i < 2; i++) {
        nng_aio_free(aio[i]);
        nng_ctx_close(ctx[i]);
    }
}

static void
test_late_answer_never_reaches_the_next_call(void **state)
{
    fake f;
    fake_start(&f, script_late_answer);
    /* One client: its second call must not take the first call's late answer. */
    lsmkv_client *c = open_client(f.url, 500);
    uint64_t seq = 0;
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v1", 2,
                                      LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err),
                     LSMKV_CLIENT_DEADLINE_EXCEEDED);
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"k", 1, (const uint8_t *)"v2", 2,
                                      LSMKV_CLIENT_SYNC_DEFAULT, &seq, &err),
                     LSMKV_CLIENT_OK);
    assert_int_equal(seq, 2);
    lsmkv_client_close(c);
    fake_stop(&f);
}

#define PARALLEL 8

/*
 * Answers nothing until PARALLEL requests are in: only a client whose calls
 * do not wait for each other gets any answer. Each answer carries a sequence
 * derived from its request's key, so each caller can check it got its own.
 */
static void
script_hold_until_all_arrive(fake *f)
{
    nng_ctx ctx[PARALLEL];
    nng_aio *aio[PARALLEL];
    nng_msg *req[PARALLEL];
    for (int i = 0; i < PARALLEL; i++) {
        TEST_CHECK(nng_ctx_open(&ctx[i], f->socket) == 0);
        TEST_CHECK(nng_aio_alloc(&aio[i], NULL, NULL) == 0);
        nng_ctx_recv(ctx[i], aio[i]);
    }
    for (int i = 0; i < PARALLEL; i++) {
        nng_aio_wait(aio[i]);
        TEST_CHECK(nng_aio_result(aio[i]) == 0);
        req[i] = nng_aio_get_msg(aio[i]);
    }
    for (int i = PARALLEL - 1; i >= 0; i--) {
        char key[32];
        request_key(req[i], key, sizeof(key));
        nng_msg_free(req[i]);
        ctx_send(ctx[i], aio[i], put_answer(0, "", 1000 + strtoull(key, NULL, 10)));
    }
    for (int i = 0; i < PARALLEL; i++) {
        nng_aio_free(aio[i]);
        nng_ctx_close(ctx[i]);
    }
}

typedef struct caller {
    lsmkv_client *client;
    int index;
    int rc;
    uint64_t sequence;
} caller;

static void *
caller_main(void *arg)
{
    caller *k = arg;
    char key[16];
    int n = snprintf(key, sizeof(key), "%d", k->index);
    k->rc = lsmkv_client_put(k->client, (const uint8_t *)key, (size_t)n, (const uint8_t *)"v", 1,
                             LSMKV_CLIENT_SYNC_DEFAULT, &k->sequence, NULL);
    return NULL;
}

static void
test_concurrent_calls_do_not_wait_for_each_other(void **state)
{
    fake f;
    fake_start(&f, script_hold_until_all_arrive);
    lsmkv_client *c = open_client(f.url, 10000);
    pthread_t threads[PARALLEL];
    caller callers[PARALLEL];
    for (int i = 0; i < PARALLEL; i++) {
        callers[i] = (caller){.client = c, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, caller_main, &callers[i]), 0);
    }
    for (int i = 0; i < PARALLEL; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(callers[i].rc, LSMKV_CLIENT_OK);
        assert_int_equal(callers[i].sequence, 1000 + (uint64_t)i);
    }
    lsmkv_client_close(c);
    fake_stop(&f);
}

/* ---- Scan paging, Batch, MultiGet against the fake server --------------------------------- */

/* An RpcResponse carrying a ScanResponse with the given keys (value "v" + key) and resume key. */
static nng_msg *
scan_answer(const char *keys, const char *resume)
{
    test_wire payload = {0}, resp = {0}, status = {0};
    for (const char *k = keys; *k != '\0'; k++) {
        char value[2] = {'v', *k};
        test_wire kv = {0};
        test_wire_bytes(&kv, 1, k, 1);
        test_wire_bytes(&kv, 2, value, 2);
        test_wire_message(&payload, 1, &kv);
        test_wire_free(&kv);
    }
    if (*resume != '\0') {
        test_wire_bytes(&payload, 2, resume, strlen(resume));
    }
    test_wire_message(&resp, 1, &status);
    test_wire_message(&resp, 2, &payload);
    nng_msg *msg;
    TEST_CHECK(nng_msg_alloc(&msg, 0) == 0);
    TEST_CHECK(nng_msg_append(msg, resp.data, resp.len) == 0);
    test_wire_free(&payload);
    test_wire_free(&resp);
    return msg;
}

/* Receives a Scan request and checks its start (as a C string) and limit. */
static void
expect_scan_request(fake *f, const char *start, uint64_t limit)
{
    nng_msg *req = fake_recv(f);
    const uint8_t *payload = NULL, *b = NULL;
    size_t payload_len = 0, n = 0;
    uint64_t v = 0;
    test_wire_find(nng_msg_body(req), nng_msg_len(req), 2, NULL, &payload, &payload_len);
    bool has_start = test_wire_find(payload, payload_len, 1, NULL, &b, &n);
    TEST_CHECK(has_start == (*start != '\0'));
    TEST_CHECK(n == strlen(start) && (n == 0 || memcmp(b, start, n) == 0));
    TEST_CHECK(test_wire_find(payload, payload_len, 4, &v, NULL, NULL) && v == limit);
    TEST_CHECK(test_wire_find(payload, payload_len, 3, NULL, &b, &n) && n == 1 && *b == 'p');
    nng_msg_free(req);
}

static void
script_scan_pages(fake *f)
{
    /* Every key, in pages the server cuts short. */
    expect_scan_request(f, "", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, scan_answer("ab", "c"));
    expect_scan_request(f, "c", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, scan_answer("cd", "e"));
    expect_scan_request(f, "e", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, scan_answer("e", ""));
    /* At most 3 pairs: the limits follow what is left. */
    expect_scan_request(f, "", 3);
    fake_send(f, scan_answer("ab", "c"));
    expect_scan_request(f, "c", 1);
    fake_send(f, scan_answer("c", "d"));
    /* The callback stops after the first pair: one page only. */
    expect_scan_request(f, "", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, scan_answer("ab", "c"));
    /* A resume key that does not move forward. */
    expect_scan_request(f, "", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, scan_answer("ab", "b"));
    /* An error on the second page. */
    expect_scan_request(f, "", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, scan_answer("a", "b"));
    expect_scan_request(f, "b", LSMKV_CLIENT_SCAN_MAX_PAGE);
    fake_send(f, put_answer(LSMKV_CLIENT_DATA_LOSS, "a checksum failed", 0));
}

typedef struct collector {
    char keys[64];
    size_t stop_after; /* 0: never stop */
} collector;

static bool
collect(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    collector *col = ctx;
    size_t n = strlen(col->keys);
    TEST_CHECK(key_len == 1 && value_len == 2 && value[0] == 'v' && value[1] == key[0]);
    col->keys[n] = (char)key[0];
    col->keys[n + 1] = '\0';
    return col->stop_after == 0 || n + 1 < col->stop_after;
}

static void
test_scan_each_pages_through_the_range(void **state)
{
    fake f;
    fake_start(&f, script_scan_pages);
    lsmkv_client *c = open_client(f.url, 5000);
    lsmkv_client_range range = {.prefix = (const uint8_t *)"p", .prefix_len = 1};
    lsmkv_client_error err;
    collector col = {.stop_after = 0};
    uint64_t seen = 0;
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, collect, &col, &seen, &err),
                     LSMKV_CLIENT_OK);
    assert_string_equal(col.keys, "abcde");
    assert_int_equal(seen, 5);

    col = (collector){.stop_after = 0};
    assert_int_equal(lsmkv_client_scan_each(c, &range, 3, collect, &col, &seen, &err),
                     LSMKV_CLIENT_OK);
    assert_string_equal(col.keys, "abc");
    assert_int_equal(seen, 3);

    col = (collector){.stop_after = 1};
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, collect, &col, &seen, &err),
                     LSMKV_CLIENT_OK);
    assert_string_equal(col.keys, "a");
    assert_int_equal(seen, 1);

    col = (collector){.stop_after = 0};
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, collect, &col, &seen, &err),
                     LSMKV_CLIENT_INTERNAL);
    assert_non_null(strstr(err.message, "resume key does not move forward"));

    col = (collector){.stop_after = 0};
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, collect, &col, &seen, &err),
                     LSMKV_CLIENT_DATA_LOSS);
    assert_string_equal(err.message, "a checksum failed");
    assert_string_equal(col.keys, "a"); /* the first page was handed over */
    assert_int_equal(seen, 1);
    lsmkv_client_close(c);
    fake_stop(&f);
}

static void
test_new_calls_check_their_arguments_locally(void **state)
{
    lsmkv_client *c = open_client("tcp://127.0.0.1:1", 50);
    lsmkv_client_error err;
    lsmkv_client_scan_page page;
    lsmkv_client_range range = {0};
    assert_int_equal(lsmkv_client_scan(c, NULL, 1, &page, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_scan(c, &range, 1, NULL, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    range.prefix_len = 2; /* and no prefix */
    assert_int_equal(lsmkv_client_scan(c, &range, 1, &page, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "prefix"));
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, NULL, NULL, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);

    lsmkv_client_op ops[2] = {
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1},
        {(lsmkv_client_op_type)0, (const uint8_t *)"k", 1, NULL, 0},
    };
    assert_int_equal(lsmkv_client_batch(c, NULL, 1, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_batch(c, ops, 2, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "op 1: unknown type 0"));
    ops[1] = (lsmkv_client_op){LSMKV_CLIENT_OP_PUT, NULL, 3, NULL, 0};
    assert_int_equal(lsmkv_client_batch(c, ops, 2, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "op 1: the key is NULL"));
    assert_int_equal(lsmkv_client_batch(c, ops, 1, (lsmkv_client_sync)9, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);

    const uint8_t *keys[] = {(const uint8_t *)"a", NULL};
    const size_t lens[] = {1, 4};
    lsmkv_client_value values[2];
    assert_int_equal(lsmkv_client_multi_get(c, 2, keys, lens, values, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "key 1 is NULL"));
    assert_int_equal(lsmkv_client_multi_get(c, 1, keys, lens, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    /* Without a server, valid calls fail cleanly. */
    assert_int_equal(lsmkv_client_multi_get(c, 1, keys, lens, values, &err),
                     LSMKV_CLIENT_UNAVAILABLE);
    assert_int_equal(lsmkv_client_batch(c, ops, 1, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_UNAVAILABLE);
    range.prefix_len = 0;
    assert_int_equal(lsmkv_client_scan(c, &range, 1, &page, &err), LSMKV_CLIENT_UNAVAILABLE);
    uint64_t seen = 7;
    assert_int_equal(lsmkv_client_scan_each(c, &range, 0, collect, NULL, &seen, &err),
                     LSMKV_CLIENT_UNAVAILABLE);
    assert_int_equal(seen, 0);
    lsmkv_client_values_fini(NULL, 3);
    lsmkv_client_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_rejects_bad_urls),
        cmocka_unit_test(test_unreachable_server_fails_within_the_timeout),
        cmocka_unit_test(test_every_call_fails_cleanly_without_a_server),
        cmocka_unit_test(test_bad_arguments_fail_locally),
        cmocka_unit_test(test_request_over_max_message_size_is_not_sent),
        cmocka_unit_test(test_answers_become_codes_and_messages),
        cmocka_unit_test(test_no_answer_is_deadline_exceeded),
        cmocka_unit_test(test_connection_closed_before_the_answer_is_unavailable),
        cmocka_unit_test(test_reconnects_after_a_server_restart),
        cmocka_unit_test(test_late_answer_never_reaches_the_next_call),
        cmocka_unit_test(test_concurrent_calls_do_not_wait_for_each_other),
        cmocka_unit_test(test_scan_each_pages_through_the_range),
        cmocka_unit_test(test_new_calls_check_their_arguments_locally),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
