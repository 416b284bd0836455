/*
 * Fuzz target: the server's request path (src/server/rpc.h) — envelope
 * decoding, method lookup through the service descriptor, payload decoding,
 * the KV handlers and the response — against a real store, opened once per
 * process in the harness's scratch directory and reused by every input.
 *
 * Every input runs twice: as the bytes of an RpcRequest, as a client would
 * send them, and wrapped in a valid envelope (its first byte picks the
 * method, and with its top bit set makes the request one whose 1 ms deadline
 * passed before it ran; the rest is the payload) so that mutations reach the
 * payload decoders and handlers behind the envelope. Besides memory safety,
 * the properties checked:
 *   - rpc_handle asks for the reply buffer exactly once, and what it writes
 *     there is a well-formed RpcResponse whose status code is the one returned
 *     and a known one; an OK response carries the method's response message
 *     (it unpacks as the method's output type), any other carries no payload
 *     and a message;
 *   - a request that is not a valid RpcRequest is INVALID_ARGUMENT, an unknown
 *     method INVALID_ARGUMENT or UNIMPLEMENTED, a payload that is not the
 *     method's input INVALID_ARGUMENT; no request is answered INTERNAL,
 *     UNKNOWN, DATA_LOSS, UNAVAILABLE or FAILED_PRECONDITION (the store is
 *     healthy);
 *   - a request whose deadline has passed is DEADLINE_EXCEEDED, whatever its
 *     payload, and changes nothing (the store's last sequence stays);
 *   - after an acknowledged Put, a Get of its key returns its value; after an
 *     acknowledged Delete, the key is absent.
 */
/* fuzz-link: lsmkv_server_core lsmkv_proto_rpc PkgConfig::PROTOBUF_C */
#include "harness.h"
#include "rpc.h"

#include "lsmkv/v1/kv.pb-c.h"
#include "lsmkv/v1/rpc.pb-c.h"

#include <string.h>

/* Small limits, so that inputs reach them. */
#define MAX_KEY   1024
#define MAX_VALUE 2048
#define MAX_NAME  128

static lsmkv *db;
static rpc *server_rpc;

static void
close_store(void)
{
    rpc_free(server_rpc);
    lsmkv_close(db);
}

static void
drop_line(void *ctx, lsmkv_log_level level, const char *line)
{
}

static void
open_store(void)
{
    char dir[4096];
    harness_path(dir, "store");
    lsmkv_options o;
    lsmkv_options_init(&o);
    o.memtable_bytes = 64u << 10; /* flushes and compactions happen often */
    o.level1_target_bytes = 256u << 10;
    o.max_key_bytes = MAX_KEY;
    o.max_value_bytes = MAX_VALUE;
    o.log_fn = drop_line;
    lsmkv_error err;
    if (lsmkv_open(dir, &o, &db, &err) != LSMKV_OK) {
        fprintf(stderr, "fuzz_rpc: cannot open %s: %s\n", dir, err.message);
        abort();
    }
    rpc_options ro = {
        .max_key_bytes = MAX_KEY, .max_value_bytes = MAX_VALUE, .log = harness_quiet_logger()};
    server_rpc = rpc_new(db, &ro);
    atexit(close_store); /* registered after harness_dir's cleanup: runs before it */
}

/* ---- one call ------------------------------------------------------------------------ */

typedef struct reply_buffer {
    uint8_t *data;
    size_t size;
    int reserved; /* calls of reserve */
} reply_buffer;

static uint8_t *
reserve(void *ctx, size_t size)
{
    reply_buffer *b = ctx;
    b->reserved++;
    free(b->data);
    b->size = size;
    b->data = malloc(size > 0 ? size : 1);
    return b->data;
}

/* Runs one request and checks the envelope of the answer; returns it (unpacked,
 * free with lsmkv__v1__rpc_response__free_unpacked). */
static Lsmkv__V1__RpcResponse *
call(const uint8_t *request, size_t len, uint64_t received_ns)
{
    reply_buffer b = {0};
    rpc_reply reply = {.reserve = reserve, .ctx = &b};
    int code = rpc_handle(server_rpc, request, len, received_ns, &reply);
    FUZZ_CHECK(b.reserved == 1);
    Lsmkv__V1__RpcResponse *resp = lsmkv__v1__rpc_response__unpack(NULL, b.size, b.data);
    FUZZ_CHECK(resp != NULL);
    /* The bytes are exactly the response's encoding (nothing left over or missing). */
    FUZZ_CHECK(lsmkv__v1__rpc_response__get_packed_size(resp) == b.size);
    free(b.data);
    FUZZ_CHECK(resp->status != NULL);
    FUZZ_CHECK((int)resp->status->code == code);
    FUZZ_CHECK(code >= LSMKV__V1__CODE__OK && code <= LSMKV__V1__CODE__UNAUTHENTICATED);
    if (code != LSMKV__V1__CODE__OK) {
        FUZZ_CHECK(resp->payload.len == 0);
        FUZZ_CHECK(resp->status->message != NULL && resp->status->message[0] != '\0');
    }
    /* A healthy store on a healthy disk: none of these may come from a request. */
    FUZZ_CHECK(code != LSMKV__V1__CODE__INTERNAL && code != LSMKV__V1__CODE__UNKNOWN &&
               code != LSMKV__V1__CODE__DATA_LOSS && code != LSMKV__V1__CODE__UNAVAILABLE &&
               code != LSMKV__V1__CODE__FAILED_PRECONDITION);
    return resp;
}

/* The method "/lsmkv.v1.KV/<Name>" names, or NULL. */
static const ProtobufCMethodDescriptor *
find_method(const char *name)
{
    const ProtobufCServiceDescriptor *sd = &lsmkv__v1__kv__descriptor;
    size_t service_len = strlen(sd->name);
    if (name[0] != '/' || strncmp(name + 1, sd->name, service_len) != 0 ||
        name[1 + service_len] != '/') {
        return NULL;
    }
    return protobuf_c_service_descriptor_get_method_by_name(sd, name + service_len + 2);
}

static size_t
pack_envelope(const char *method, const uint8_t *payload, size_t len, uint32_t timeout_ms,
              uint8_t **out)
{
    Lsmkv__V1__RpcRequest req = LSMKV__V1__RPC_REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = len;
    req.timeout_ms = timeout_ms;
    size_t size = lsmkv__v1__rpc_request__get_packed_size(&req);
    *out = malloc(size > 0 ? size : 1);
    lsmkv__v1__rpc_request__pack(&req, *out);
    return size;
}

/* ---- what an acknowledged write implies ----------------------------------------------- */

/* Gets key through the request path; checks found and, if found, the value. */
static void
expect_get(const ProtobufCBinaryData *key, bool found, const ProtobufCBinaryData *value)
{
    Lsmkv__V1__GetRequest get = LSMKV__V1__GET_REQUEST__INIT;
    get.key = *key;
    size_t len = lsmkv__v1__get_request__get_packed_size(&get);
    uint8_t *payload = malloc(len > 0 ? len : 1);
    lsmkv__v1__get_request__pack(&get, payload);
    uint8_t *request;
    size_t request_len = pack_envelope("/lsmkv.v1.KV/Get", payload, len, 0, &request);
    free(payload);
    Lsmkv__V1__RpcResponse *resp = call(request, request_len, rpc_clock_ns());
    free(request);
    FUZZ_CHECK(resp->status->code == LSMKV__V1__CODE__OK);
    Lsmkv__V1__GetResponse *got =
        lsmkv__v1__get_response__unpack(NULL, resp->payload.len, resp->payload.data);
    FUZZ_CHECK(got != NULL);
    FUZZ_CHECK(got->found == found);
    if (found) {
        FUZZ_CHECK(got->value.len == value->len);
        FUZZ_CHECK(value->len == 0 || memcmp(got->value.data, value->data, value->len) == 0);
    }
    lsmkv__v1__get_response__free_unpacked(got, NULL);
    lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
}

static void
check_write_effect(const ProtobufCMethodDescriptor *m, const ProtobufCMessage *input)
{
    if (m->input == &lsmkv__v1__put_request__descriptor) {
        const Lsmkv__V1__PutRequest *put = (const Lsmkv__V1__PutRequest *)input;
        expect_get(&put->key, true, &put->value);
    } else if (m->input == &lsmkv__v1__delete_request__descriptor) {
        const Lsmkv__V1__DeleteRequest *del = (const Lsmkv__V1__DeleteRequest *)input;
        expect_get(&del->key, false, NULL);
    }
}

/* ---- one input -------------------------------------------------------------------------- */

/* Runs request (received at received_ns) and checks the answer against what it is. */
static void
check_request(const uint8_t *request, size_t len, uint64_t received_ns)
{
    Lsmkv__V1__RpcRequest *req =
        len > 0 ? lsmkv__v1__rpc_request__unpack(NULL, len, request) : NULL;
    Lsmkv__V1__RpcResponse *resp = call(request, len, received_ns);
    int code = (int)resp->status->code;
    if (req == NULL) {
        FUZZ_CHECK(code == LSMKV__V1__CODE__INVALID_ARGUMENT);
        lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
        return;
    }
    const ProtobufCMethodDescriptor *m = find_method(req->method);
    ProtobufCMessage *input = NULL;
    if (m == NULL) {
        FUZZ_CHECK(code == LSMKV__V1__CODE__INVALID_ARGUMENT ||
                   code == LSMKV__V1__CODE__UNIMPLEMENTED);
    } else if ((input = protobuf_c_message_unpack(m->input, NULL, req->payload.len,
                                                  req->payload.data)) == NULL) {
        FUZZ_CHECK(code == LSMKV__V1__CODE__INVALID_ARGUMENT ||
                   code == LSMKV__V1__CODE__DEADLINE_EXCEEDED);
    } else if (code == LSMKV__V1__CODE__OK) {
        ProtobufCMessage *output =
            protobuf_c_message_unpack(m->output, NULL, resp->payload.len, resp->payload.data);
        FUZZ_CHECK(output != NULL);
        protobuf_c_message_free_unpacked(output, NULL);
        check_write_effect(m, input);
    }
    if (input != NULL) {
        protobuf_c_message_free_unpacked(input, NULL);
    }
    lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
    lsmkv__v1__rpc_request__free_unpacked(req, NULL);
}

static uint64_t
last_sequence(void)
{
    lsmkv_stats stats;
    lsmkv_get_stats(db, &stats);
    return stats.last_sequence;
}

/* payload behind a valid envelope for the method `selector` picks; with its top bit
 * set, as a request received 10 ms ago with a 1 ms deadline. */
static void
check_wrapped(uint8_t selector, const uint8_t *payload, size_t len)
{
    const ProtobufCServiceDescriptor *sd = &lsmkv__v1__kv__descriptor;
    char method[MAX_NAME];
    snprintf(method, sizeof(method), "/%s/%s", sd->name,
             sd->methods[(selector & 0x7f) % sd->n_methods].name);
    bool late = (selector & 0x80) != 0;
    uint8_t *request;
    size_t request_len = pack_envelope(method, payload, len, late ? 1 : 0, &request);
    if (!late) {
        check_request(request, request_len, rpc_clock_ns());
    } else {
        uint64_t before = last_sequence();
        Lsmkv__V1__RpcResponse *resp = call(request, request_len, rpc_clock_ns() - 10 * 1000000ull);
        FUZZ_CHECK(resp->status->code == LSMKV__V1__CODE__DEADLINE_EXCEEDED);
        FUZZ_CHECK(last_sequence() == before);
        lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
    }
    free(request);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (db == NULL) {
        open_store();
    }
    check_request(data, size, rpc_clock_ns());
    if (size > 0) {
        check_wrapped(data[0], data + 1, size - 1);
    }
    return 0;
}
