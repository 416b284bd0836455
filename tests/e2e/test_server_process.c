/* ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_server.h"
#include "test_support.h"

#include "lsmkv/v1/kv.pb-c.h"
#include "lsmkv/v1/rpc.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Generous: sanitizer builds on a loaded 2-core machine are slow. */
#define CALL_TIMEOUT_MS 20000

/* ---- a raw REQ client with hand-built envelopes -----------------------------------------------
 */

static nng_socket
client_open(const char *url, int recv_timeout_ms)
{
    nng_socket sock;
    assert_int_equal(nng_req0_open(&sock), 0);
    /* No automatic resend: a resent Put could overwrite a newer value. */
    assert_int_equal(nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
    assert_int_equal(nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, recv_timeout_ms), 0);
    assert_int_equal(nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, CALL_TIMEOUT_MS), 0);
    /* Room for the largest answers. */
    assert_int_equal(nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 0), 0);
    int rv = nng_dial(sock, url, NULL, 0);
    if (rv != 0) {
        fail_msg("dial %s: %s", url, nng_strerror(rv));
    }
    return sock;
}

typedef struct answer {
    int code;
    char message[512];
    uint8_t *payload;
    size_t payload_len;
} answer;

/* Sends raw bytes and receives one answer: 0, or the nng error. */
static int
send_bytes(nng_socket sock, const void *bytes, size_t len, answer *out)
{
    int rv = nng_send(sock, (void *)bytes, len, 0);
    if (rv != 0) {
        return rv;
    }
    nng_msg *msg;
    if ((rv = nng_recvmsg(sock, &msg, 0)) != 0) {
        return rv;
    }
    Lsmkv__V1__RpcResponse *resp =
        lsmkv__v1__rpc_response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    nng_msg_free(msg);
    assert_non_null(resp);
    assert_non_null(resp->status);
    out->code = resp->status->code;
    snprintf(out->message, sizeof(out->message), "%s", resp->status->message);
    out->payload_len = resp->payload.len;
    out->payload = malloc(out->payload_len + 1);
    if (out->payload_len > 0) {
        memcpy(out->payload, resp->payload.data, out->payload_len);
    }
    lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
    return 0;
}

/* Builds the envelope around msg (NULL: empty payload) and calls method. */
static int
send_call(nng_socket sock, const char *method, const ProtobufCMessage *msg, answer *out)
{
    size_t payload_len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *payload = malloc(payload_len + 1);
    if (msg != NULL) {
        protobuf_c_message_pack(msg, payload);
    }
    Lsmkv__V1__RpcRequest req = LSMKV__V1__RPC_REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = payload;
    req.payload.len = payload_len;
    req.timeout_ms = CALL_TIMEOUT_MS;
    size_t len = lsmkv__v1__rpc_request__get_packed_size(&req);
    uint8_t *bytes = malloc(len);
    lsmkv__v1__rpc_request__pack(&req, bytes);
    int rv = send_bytes(sock, bytes, len, out);
    free(bytes);
    free(payload);
    return rv;
}

static int
send_put(nng_socket sock, const void *key, size_t key_len, const void *value, size_t value_len)
{
    Lsmkv__V1__PutRequest req = LSMKV__V1__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)key;
    req.key.len = key_len;
    req.value.data = (uint8_t *)value;
    req.value.len = value_len;
    answer a;
    int rv = send_call(sock, "/lsmkv.v1.KV/Put", &req.base, &a);
    if (rv != 0) {
        return -rv;
    }
    free(a.payload);
    return a.code;
}

static void
put_ok(nng_socket sock, const void *key, size_t key_len, const void *value, size_t value_len)
{
    int code = send_put(sock, key, key_len, value, value_len);
    if (code != 0) {
        fail_msg("Put answered %d", code);
    }
}

/* Gets key: -1 if missing, else compares the value and returns 1. */
static int
get_check(nng_socket sock, const void *key, size_t key_len, const void *value, size_t value_len)
{
    Lsmkv__V1__GetRequest req = LSMKV__V1__GET_REQUEST__INIT;
    req.key.data = (uint8_t *)key;
    req.key.len = key_len;
    answer a;
    int rv = send_call(sock, "/lsmkv.v1.KV/Get", &req.base, &a);
    if (rv != 0) {
        fail_msg("Get: %s", nng_strerror(rv));
    }
    assert_int_equal(a.code, 0);
    Lsmkv__V1__GetResponse *resp = lsmkv__v1__get_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    int result = resp->found ? 1 : -1;
    if (resp->found && value != NULL) {
        assert_int_equal(resp->value.len, value_len);
        assert_memory_equal(resp->value.data, value, value_len);
    }
    lsmkv__v1__get_response__free_unpacked(resp, NULL);
    free(a.payload);
    return result;
}

static void
assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL) {
        fail_msg("'%s' not found in:\n%s", needle, text);
    }
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_put_get_then_sigterm_exits_zero(void **state)
{
    test_server srv;
    test_server_start(&srv, NULL, NULL);
    nng_socket sock = client_open(srv.url, CALL_TIMEOUT_MS);
    const uint8_t key[] = {'b', 0x00, 'i', 0xff};
    const uint8_t value[] = {0x00, 0x00, 0x7f, 0x80};
    put_ok(sock, key, sizeof(key), value, sizeof(value));
    assert_int_equal(get_check(sock, key, sizeof(key), value, sizeof(value)), 1);
    assert_int_equal(get_check(sock, "missing", 7, NULL, 0), -1);
    nng_close(sock);
    assert_int_equal(test_server_stop(&srv), 0);
    char *log = test_server_stderr(&srv);
    assert_contains(log, "listening on ");
    assert_contains(log, srv.url);
    assert_contains(log, "received SIGTERM");
    assert_contains(log, "stopped after answering 3 request(s)");
    assert_contains(log, "store closed");
    free(log);
    test_server_fini(&srv);
}

static void
test_writes_survive_a_restart(void **state)
{
    test_server srv;
    test_server_start(&srv, NULL, (const char *const[]){"--sync", "none", NULL});
    nng_socket sock = client_open(srv.url, CALL_TIMEOUT_MS);
    put_ok(sock, "kept", 4, "value", 5);
    nng_close(sock);
    test_server_restart(&srv, NULL);
    sock = client_open(srv.url, CALL_TIMEOUT_MS);
    assert_int_equal(get_check(sock, "kept", 4, "value", 5), 1);
    nng_close(sock);
    assert_int_equal(test_server_stop(&srv), 0);
    test_server_fini(&srv);
}

static void
test_garbage_and_empty_messages_get_invalid_argument(void **state)
{
    test_server srv;
    test_server_start(&srv, NULL, NULL);
    nng_socket sock = client_open(srv.url, CALL_TIMEOUT_MS);
    answer a;
    static const uint8_t garbage[] = {0xff, 0xfe, 0x00, 0x13, 0x37, 0xff, 0xff, 0xff};
    assert_int_equal(send_bytes(sock, garbage, sizeof(garbage), &a), 0);
    assert_int_equal(a.code, LSMKV__V1__CODE__INVALID_ARGUMENT);
    assert_contains(a.message, "not a valid lsmkv.v1.RpcRequest");
    free(a.payload);
    assert_int_equal(send_bytes(sock, "", 0, &a), 0);
    assert_int_equal(a.code, LSMKV__V1__CODE__INVALID_ARGUMENT);
    free(a.payload);
    assert_int_equal(send_call(sock, "/lsmkv.v1.KV/Nope", NULL, &a), 0);
    assert_int_equal(a.code, LSMKV__V1__CODE__UNIMPLEMENTED);
    free(a.payload);
    assert_int_equal(send_put(sock, "", 0, "v", 1), LSMKV__V1__CODE__INVALID_ARGUMENT);
    /* And the server goes on. */
    put_ok(sock, "k", 1, "v", 1);
    nng_close(sock);
    assert_int_equal(test_server_stop(&srv), 0);
    test_server_fini(&srv);
}

static void
test_oversize_message_is_dropped_and_the_server_goes_on(void **state)
{
    test_server srv;
    test_server_start(&srv, NULL, (const char *const[]){"--max-message-size", "64K", NULL});
    /* A short receive timeout: the oversize request is never answered. */
    nng_socket sock = client_open(srv.url, 1000);
    size_t big_len = 100 * 1024;
    uint8_t *big = calloc(1, big_len);
    int code = send_put(sock, "big", 3, big, big_len);
    assert_true(code < 0); /* an nng error (timed out or connection reset), not an answer */
    free(big);
    nng_close(sock);
    sock = client_open(srv.url, CALL_TIMEOUT_MS);
    put_ok(sock, "small", 5, "v", 1);
    assert_int_equal(get_check(sock, "small", 5, "v", 1), 1);
    assert_int_equal(get_check(sock, "big", 3, NULL, 0), -1);
    nng_close(sock);
    assert_int_equal(test_server_stop(&srv), 0);
    test_server_fini(&srv);
}

static void
test_ipc_listener_alongside_tcp(void **state)
{
    char *dir = test_make_temp_dir("ipc");
    char url[600];
    snprintf(url, sizeof(url), "ipc://%s/lsmkv.sock", dir);
    test_server srv;
    test_server_start(&srv, NULL, (const char *const[]){"--listen", url, NULL});
    nng_socket over_ipc = client_open(url, CALL_TIMEOUT_MS);
    nng_socket over_tcp = client_open(srv.url, CALL_TIMEOUT_MS);
    put_ok(over_ipc, "via", 3, "ipc", 3);
    assert_int_equal(get_check(over_tcp, "via", 3, "ipc", 3), 1);
    nng_close(over_ipc);
    nng_close(over_tcp);
    assert_int_equal(test_server_stop(&srv), 0);
    test_server_fini(&srv);
    test_remove_dir(dir);
}

static void
test_second_server_on_the_same_directory_refuses(void **state)
{
    test_server srv;
    test_server_start(&srv, NULL, NULL);
    char url[64];
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", test_free_port());
    char *log = NULL;
    int status = test_server_run(
        (const char *const[]){"--listen", url, "--data-dir", srv.data_dir, NULL}, 30000, &log);
    assert_int_equal(status, 1);
    assert_contains(log, "locked by another process");
    assert_contains(log, srv.data_dir);
    free(log);
    /* The first one is unharmed. */
    nng_socket sock = client_open(srv.url, CALL_TIMEOUT_MS);
    put_ok(sock, "k", 1, "v", 1);
    nng_close(sock);
    assert_int_equal(test_server_stop(&srv), 0);
    test_server_fini(&srv);
}

static void
test_address_in_use_refuses(void **state)
{
    test_server srv;
    test_server_start(&srv, NULL, NULL);
    char *dir = test_make_temp_dir("second");
    char *log = NULL;
    int status = test_server_run(
        (const char *const[]){"--listen", srv.url, "--data-dir", dir, NULL}, 30000, &log);
    assert_int_equal(status, 1);
    assert_contains(log, "already in use");
    assert_contains(log, srv.url);
    free(log);
    test_remove_dir(dir);
    assert_int_equal(test_server_stop(&srv), 0);
    test_server_fini(&srv);
}

static void
test_bad_flags_exit_2_and_help_exits_0(void **state)
{
    char *log = NULL;
    assert_int_equal(test_server_run((const char *const[]){"--workers", "0", NULL}, 30000, &log),
                     2);
    assert_contains(log, "--workers");
    assert_contains(log, "usage: lsmkv-server");
    free(log);
    assert_int_equal(test_server_run((const char *const[]){"--frobnicate", NULL}, 30000, &log), 2);
    assert_contains(log, "unknown flag '--frobnicate'");
    free(log);
    assert_int_equal(test_server_run((const char *const[]){"--help", NULL}, 30000, &log), 0);
    assert_contains(log, "--max-message-size BYTES");
    free(log);
    assert_int_equal(test_server_run((const char *const[]){"--version", NULL}, 30000, &log), 0);
    assert_contains(log, "lsmkv-server ");
    free(log);
}

/* ---- many clients at once, both io models ---------------------------------------------------- */

typedef struct load_client {
    const char *url;
    int index;
    int ops;
    atomic_int failures;
    atomic_bool *stop; /* NULL: run `ops` operations */
    atomic_int answered;
} load_client;

/* Each client writes its own keys and reads them back. */
static void *
load_client_run(void *arg)
{
    load_client *c = arg;
    nng_socket sock = client_open(c->url, CALL_TIMEOUT_MS);
    char key[32], value[32];
    for (int i = 0; c->stop ? !atomic_load(c->stop) : i < c->ops; i++) {
        snprintf(key, sizeof(key), "c%02d-k%04d", c->index, i % 1000);
        snprintf(value, sizeof(value), "v%d", i);
        int code = send_put(sock, key, strlen(key), value, strlen(value));
        if (code != 0) {
            atomic_fetch_add(&c->failures, 1);
            if (c->stop != NULL) {
                break; /* the server is stopping */
            }
            continue;
        }
        atomic_fetch_add(&c->answered, 1);
        if (c->stop == NULL && get_check(sock, key, strlen(key), value, strlen(value)) != 1) {
            atomic_fetch_add(&c->failures, 1);
        }
    }
    nng_close(sock);
    return NULL;
}

/* sync "none": the callbacks model answers the Puts on nng's threads, the Gets on workers. */
static void
run_clients(const char *io_model, const char *sync)
{
    test_server srv;
    test_server_start(
        &srv, NULL,
        (const char *const[]){"--io-model", io_model, "--workers", "8", "--sync", sync, NULL});
    enum { CLIENTS = 16 };
    load_client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (load_client){.url = srv.url, .index = i, .ops = 50};
        pthread_create(&threads[i], NULL, load_client_run, &clients[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(atomic_load(&clients[i].failures), 0);
    }
    assert_int_equal(test_server_stop(&srv), 0);
    char *log = test_server_stderr(&srv);
    assert_contains(log, io_model);
    assert_contains(log, "stopped after answering 1600 request(s)");
    free(log);
    test_server_fini(&srv);
}

static void
test_sixteen_clients_callbacks_model(void **state)
{
    run_clients("callbacks", "always");
    run_clients("callbacks", "none");
}

static void
test_sixteen_clients_threads_model(void **state)
{
    run_clients("threads", "always");
}

/* SIGTERM while clients are writing: the server answers what it took and exits 0. */
static void
stop_under_load(const char *io_model, const char *sync)
{
    test_server srv;
    test_server_start(&srv, NULL,
                      (const char *const[]){"--io-model", io_model, "--sync", sync, NULL});
    enum { CLIENTS = 8 };
    atomic_bool stop;
    atomic_init(&stop, false);
    load_client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (load_client){.url = srv.url, .index = i, .stop = &stop};
        pthread_create(&threads[i], NULL, load_client_run, &clients[i]);
    }
    /* Wait until every client has been answered at least once: load is on. */
    nng_socket probe = client_open(srv.url, CALL_TIMEOUT_MS);
    for (int i = 0; i < CLIENTS; i++) {
        while (atomic_load(&clients[i].answered) == 0 && atomic_load(&clients[i].failures) == 0) {
            assert_int_equal(get_check(probe, "probe", 5, NULL, 0), -1);
        }
    }
    nng_close(probe);
    assert_int_equal(test_server_stop(&srv), 0);
    atomic_store(&stop, true);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
    }
    char *log = test_server_stderr(&srv);
    assert_contains(log, "stopping: no new requests");
    assert_contains(log, "store closed");
    free(log);
    test_server_fini(&srv);
}

static void
test_stop_under_load_callbacks_model(void **state)
{
    stop_under_load("callbacks", "always");
    stop_under_load("callbacks", "none"); /* writes answered on nng's threads */
}

static void
test_stop_under_load_threads_model(void **state)
{
    stop_under_load("threads", "always");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_then_sigterm_exits_zero),
        cmocka_unit_test(test_writes_survive_a_restart),
        cmocka_unit_test(test_garbage_and_empty_messages_get_invalid_argument),
        cmocka_unit_test(test_oversize_message_is_dropped_and_the_server_goes_on),
        cmocka_unit_test(test_ipc_listener_alongside_tcp),
        cmocka_unit_test(test_second_server_on_the_same_directory_refuses),
        cmocka_unit_test(test_address_in_use_refuses),
        cmocka_unit_test(test_bad_flags_exit_2_and_help_exits_0),
        cmocka_unit_test(test_sixteen_clients_callbacks_model),
        cmocka_unit_test(test_sixteen_clients_threads_model),
        cmocka_unit_test(test_stop_under_load_callbacks_model),
        cmocka_unit_test(test_stop_under_load_threads_model),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* nng tears a pipe down on its own threads; a pipe the server closed
     * (the oversize request) may still be queued for that when the test ends.
     * nng_fini waits for it, so LeakSanitizer sees nothing half-freed. */
    nng_fini();
    return failed;
}
