/*
 * The request path: envelope → method → deadline → payload → handler →
 * response.
 *
 * Dispatch is by name through protobuf-c's generated service descriptor: the
 * descriptor names the service ("lsmkv.v1.KV") and its methods, each with the
 * descriptors of its input and output messages, and service->invoke calls the
 * handler at the method's index in the generated service struct. Adding an
 * RPC to kv.proto and a handler to kv_service.c is all it takes; nothing here
 * names a method.
 *
 * Copies: the envelope is unpacked straight from the transport's bytes, and
 * the handler's response is packed straight into the transport's reply
 * message (see reply_writer), so a large value is copied once on its way out.
 */
#include "rpc.h"

#include "kv_service.h"
#include "buffer.h"
#include "status.h"

#include "lsmkv/v1/rpc.pb-c.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rpc {
    kv_service *kv;
    ProtobufCService *service; /* kv's generated service struct */
    const logger *log;
};

/* One request in progress. */
typedef struct rpc_call {
    kv_call kv; /* first: the handler sees closure_data as a kv_call */
    const rpc_reply *reply;
    const ProtobufCMessageDescriptor *output; /* the method's response type */
    bool executed;                            /* the handler ran */
    bool answered;                            /* an OK response was packed */
    char method[64];                          /* for the log */
} rpc_call;

uint64_t
rpc_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- packing the response ------------------------------------------------------------ */

/*
 * A ProtobufCBuffer that writes the RpcResponse into the reply's bytes. The
 * envelope's payload field is given the handler's response message itself as
 * a marker for its data (with the packed size as its length): protobuf-c
 * hands a bytes field's data to append() in one call, so when that pointer
 * comes by, the response is packed in place instead of being packed into a
 * buffer first and then copied.
 */
typedef struct reply_writer {
    ProtobufCBuffer base;
    uint8_t *out;
    size_t used;
    const ProtobufCMessage *payload; /* the marker, or NULL */
} reply_writer;

static void
reply_writer_append(ProtobufCBuffer *out, size_t len, const uint8_t *data)
{
    reply_writer *w = (reply_writer *)out;
    if (w->payload != NULL && data == (const uint8_t *)w->payload) {
        size_t packed = protobuf_c_message_pack(w->payload, w->out + w->used);
        assert(packed == len);
        (void)packed;
        w->payload = NULL;
    } else if (len > 0) {
        memcpy(w->out + w->used, data, len);
    }
    w->used += len;
}

static void
rpc_pack(rpc_call *call, int wire_code, const char *message, const ProtobufCMessage *payload)
{
    Lsmkv__V1__Status status = LSMKV__V1__STATUS__INIT;
    status.code = (Lsmkv__V1__Code)wire_code;
    status.message = (char *)message;
    Lsmkv__V1__RpcResponse resp = LSMKV__V1__RPC_RESPONSE__INIT;
    resp.status = &status;
    if (payload != NULL) {
        resp.payload.len = protobuf_c_message_get_packed_size(payload);
        resp.payload.data = (uint8_t *)payload; /* the marker, see reply_writer */
    }
    size_t size = lsmkv__v1__rpc_response__get_packed_size(&resp);
    reply_writer w = {
        .base = {.append = reply_writer_append},
        .out = call->reply->reserve(call->reply->ctx, size),
        .payload = resp.payload.len > 0 ? payload : NULL,
    };
    lsmkv__v1__rpc_response__pack_to_buffer(&resp, &w.base);
    assert(w.used == size && w.payload == NULL);
}

/* The closure every handler answers through (kv_service.h). */
static void
rpc_closure(const ProtobufCMessage *output, void *data)
{
    rpc_call *call = data;
    if (output == NULL) {
        return; /* failed: the handler filled call->kv.err */
    }
    assert(output->descriptor == call->output && !call->answered);
    rpc_pack(call, LSMKV__V1__CODE__OK, "", output);
    call->answered = true;
}

/*
 * The wire code of a failed call. The status table's gRPC column is the one
 * mapping, with one deliberate exception: LSMKV_TIMED_OUT from a handler that
 * ran means a write waited for a stalled store (flushes or compactions behind)
 * past the time its deadline left it (lsmkv_write_options.timeout_ms). The
 * contract (rpc.proto) answers that RESOURCE_EXHAUSTED, "the store is too busy,
 * back off", and keeps the table's DEADLINE_EXCEEDED for a request whose
 * deadline passed before it ran.
 */
static int
rpc_wire_code(const rpc_call *call, int engine_code)
{
    if (engine_code == LSMKV_TIMED_OUT && call->executed) {
        return LSMKV__V1__CODE__RESOURCE_EXHAUSTED;
    }
    return lsmkv_status_grpc_code(engine_code);
}

/* ---- method lookup and deadline -------------------------------------------------------- */

/* Finds "/<service>/<Method>" in the service descriptor; NULL with err set if absent. */
static const ProtobufCMethodDescriptor *
rpc_find_method(const rpc *r, const char *name, lsmkv_error *err)
{
    const ProtobufCServiceDescriptor *sd = r->service->descriptor;
    if (*name == '\0') {
        status_set(err, LSMKV_INVALID_ARGUMENT,
                   "the request names no method (expected e.g. /%s/%s)", sd->name,
                   sd->methods[0].name);
        return NULL;
    }
    const char *slash = name[0] == '/' ? strchr(name + 1, '/') : NULL;
    if (slash == NULL || slash == name + 1 || slash[1] == '\0' || strchr(slash + 1, '/')) {
        status_set(err, LSMKV_INVALID_ARGUMENT,
                   "method '%.100s' is not of the form /package.Service/Method", name);
        return NULL;
    }
    size_t service_len = (size_t)(slash - (name + 1));
    if (strlen(sd->name) != service_len || memcmp(sd->name, name + 1, service_len) != 0) {
        status_set(err, LSMKV_NOT_SUPPORTED, "unknown service '%.*s' (this server has %s)",
                   (int)(service_len > 100 ? 100 : service_len), name + 1, sd->name);
        return NULL;
    }
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(sd, slash + 1);
    if (m == NULL) {
        status_set(err, LSMKV_NOT_SUPPORTED, "unknown method '%.100s'", name);
    }
    return m;
}

/* Fails with LSMKV_TIMED_OUT if the deadline has passed; else sets the time left. */
static int
rpc_check_deadline(uint32_t timeout_ms, uint64_t received_ns, kv_call *kv, lsmkv_error *err)
{
    kv->timeout_ms = 0;
    if (timeout_ms == 0) {
        return LSMKV_OK;
    }
    uint64_t now = rpc_clock_ns();
    uint64_t waited = now > received_ns ? now - received_ns : 0;
    uint64_t limit = (uint64_t)timeout_ms * 1000000u;
    if (waited >= limit) {
        return status_set(err, LSMKV_TIMED_OUT,
                          "the deadline of %" PRIu32 " ms passed before the request ran "
                          "(it waited %" PRIu64 " ms)",
                          timeout_ms, waited / 1000000u);
    }
    /* Round up: 0 would mean "no deadline" to the store. */
    kv->timeout_ms = (uint32_t)((limit - waited + 999999u) / 1000000u);
    return LSMKV_OK;
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* Runs the method a well-formed envelope names. Returns the engine code of the outcome. */
static int
rpc_call_method(rpc *r, const Lsmkv__V1__RpcRequest *req, uint64_t received_ns, rpc_call *call)
{
    lsmkv_error *err = &call->kv.err;
    const ProtobufCMethodDescriptor *method = rpc_find_method(r, req->method, err);
    if (method == NULL) {
        return err->code;
    }
    if (call->kv.no_wait && !kv_service_may_try_without_waiting(method)) {
        return LSMKV_WOULD_BLOCK;
    }
    int rc = rpc_check_deadline(req->timeout_ms, received_ns, &call->kv, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    static const uint8_t empty[1];
    const uint8_t *payload = req->payload.data != NULL ? req->payload.data : empty;
    ProtobufCMessage *input =
        protobuf_c_message_unpack(method->input, NULL, req->payload.len, payload);
    if (input == NULL) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the payload (%zu bytes) is not a valid %s",
                          req->payload.len, method->input->name);
    }
    call->output = method->output;
    call->executed = true;
    unsigned index = (unsigned)(method - r->service->descriptor->methods);
    r->service->invoke(r->service, index, input, rpc_closure, call);
    protobuf_c_message_free_unpacked(input, NULL);
    if (call->answered) {
        return LSMKV_OK;
    }
    if (err->code == LSMKV_OK) {
        return status_set(err, LSMKV_INTERNAL, "%s gave no answer", method->name);
    }
    return err->code;
}

static void
rpc_log(const rpc *r, const rpc_call *call, int wire_code, uint64_t received_ns)
{
    if (wire_code == LSMKV__V1__CODE__INTERNAL || wire_code == LSMKV__V1__CODE__UNAVAILABLE ||
        wire_code == LSMKV__V1__CODE__DATA_LOSS) {
        log_error(r->log, "%s failed (code %d): %s", call->method, wire_code, call->kv.err.message);
    } else if (wire_code == LSMKV__V1__CODE__RESOURCE_EXHAUSTED ||
               wire_code == LSMKV__V1__CODE__FAILED_PRECONDITION) {
        log_warn(r->log, "%s failed (code %d): %s", call->method, wire_code, call->kv.err.message);
    } else if (r->log != NULL && r->log->level >= LSMKV_LOG_DEBUG) {
        log_debug(r->log, "%s: code %d in %" PRIu64 " us%s%s", call->method, wire_code,
                  (rpc_clock_ns() - received_ns) / 1000u, wire_code ? ": " : "",
                  wire_code ? call->kv.err.message : "");
    }
}

static int
rpc_handle_call(rpc *r, const uint8_t *request, size_t len, uint64_t received_ns,
                const rpc_reply *reply, bool no_wait)
{
    rpc_call call;
    memset(&call, 0, sizeof(call));
    call.reply = reply;
    call.kv.no_wait = no_wait;
    strcpy(call.method, "?");
    int rc;
    Lsmkv__V1__RpcRequest *req = NULL;
    if (len == 0) {
        rc = status_set(&call.kv.err, LSMKV_INVALID_ARGUMENT,
                        "the message is empty; expected a serialized lsmkv.v1.RpcRequest");
    } else if ((req = lsmkv__v1__rpc_request__unpack(NULL, len, request)) == NULL) {
        rc = status_set(&call.kv.err, LSMKV_INVALID_ARGUMENT,
                        "the message (%zu bytes) is not a valid lsmkv.v1.RpcRequest", len);
    } else {
        snprintf(call.method, sizeof(call.method), "%s", req->method);
        rc = rpc_call_method(r, req, received_ns, &call);
    }
    lsmkv__v1__rpc_request__free_unpacked(req, NULL);
    if (rc == LSMKV_WOULD_BLOCK && no_wait) {
        return RPC_WOULD_BLOCK; /* nothing done, nothing answered */
    }
    int wire_code = LSMKV__V1__CODE__OK;
    if (rc != LSMKV_OK) {
        wire_code = rpc_wire_code(&call, rc);
        rpc_pack(&call, wire_code, call.kv.err.message, NULL);
    }
    kv_service_count_answer(r->kv, wire_code == LSMKV__V1__CODE__OK);
    rpc_log(r, &call, wire_code, received_ns);
    return wire_code;
}

int
rpc_handle(rpc *r, const uint8_t *request, size_t len, uint64_t received_ns, const rpc_reply *reply)
{
    return rpc_handle_call(r, request, len, received_ns, reply, false);
}

int
rpc_try_handle(rpc *r, const uint8_t *request, size_t len, uint64_t received_ns,
               const rpc_reply *reply)
{
    return rpc_handle_call(r, request, len, received_ns, reply, true);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

/*
 * The payload an OK answer may carry within max_message_bytes. The envelope
 * of an OK answer takes at most 8 bytes: an empty Status (a tag and a zero
 * length) and the payload field's tag and length (a varint of at most 5
 * bytes below 32 GiB); req/rep adds a 4-byte request id per hop on the wire,
 * and that counts against the receiver's limit too. RPC_ENVELOPE_RESERVE
 * covers both with room to spare. The smallest --max-message-size (1 KiB)
 * still leaves most of itself to the payload.
 */
static size_t
rpc_response_budget(size_t max_message_bytes)
{
    if (max_message_bytes == 0) {
        return 0; /* no limit */
    }
    return max_message_bytes > RPC_ENVELOPE_RESERVE ? max_message_bytes - RPC_ENVELOPE_RESERVE : 1;
}

rpc *
rpc_new(lsmkv *db, const rpc_options *options)
{
    rpc *r = xcalloc(1, sizeof(*r));
    kv_service_options kvo = {
        .max_key_bytes = options->max_key_bytes,
        .max_value_bytes = options->max_value_bytes,
        .max_batch_bytes = options->max_batch_bytes,
        .max_response_bytes = rpc_response_budget(options->max_message_bytes),
        .log = options->log,
    };
    r->kv = kv_service_new(db, &kvo);
    r->service = kv_service_base(r->kv);
    r->log = options->log;
    return r;
}

void
rpc_free(rpc *r)
{
    if (r != NULL) {
        kv_service_free(r->kv);
        free(r);
    }
}
