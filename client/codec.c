/*
 * Encoding goes through the method's input descriptor and decoding through
 * its output descriptor, both found in the generated KV service descriptor by
 * the method's name; only the conversions between the generated structs and
 * the client's public structs are written per method.
 */
#include "codec.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lsmkv/v1/kv.pb-c.h"
#include "lsmkv/v1/rpc.pb-c.h"
#include "xalloc.h"

static const char *const method_names[CODEC_METHOD_COUNT] = {
    [CODEC_PUT] = "Put",     [CODEC_GET] = "Get",         [CODEC_DELETE] = "Delete",
    [CODEC_FLUSH] = "Flush", [CODEC_COMPACT] = "Compact", [CODEC_STATS] = "Stats",
    [CODEC_SCAN] = "Scan",   [CODEC_BATCH] = "Batch",     [CODEC_MULTI_GET] = "MultiGet",
};

/* The public enums carry kv.proto's numbers, so requests cast them. */
_Static_assert((int)LSMKV_CLIENT_SYNC_ALWAYS == (int)LSMKV__V1__SYNC_MODE__SYNC_ALWAYS &&
                   (int)LSMKV_CLIENT_SYNC_NONE == (int)LSMKV__V1__SYNC_MODE__SYNC_NONE,
               "lsmkv_client_sync follows kv.proto's SyncMode");
_Static_assert((int)LSMKV_CLIENT_OP_PUT == (int)LSMKV__V1__OP_TYPE__OP_TYPE_PUT &&
                   (int)LSMKV_CLIENT_OP_DELETE == (int)LSMKV__V1__OP_TYPE__OP_TYPE_DELETE,
               "lsmkv_client_op_type follows kv.proto's OpType");

static char method_paths[CODEC_METHOD_COUNT][64];
static pthread_once_t method_paths_once = PTHREAD_ONCE_INIT;

/* ---- descriptors -------------------------------------------------------------- */

static const ProtobufCMethodDescriptor *
method_descriptor(codec_method method)
{
    assert(method < CODEC_METHOD_COUNT);
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(
        &lsmkv__v1__kv__descriptor, method_names[method]);
    /* The unit tests check every name against kv.proto, so this is an invariant. */
    assert(md != NULL);
    return md;
}

static void
build_method_paths(void)
{
    for (int m = 0; m < CODEC_METHOD_COUNT; m++) {
        snprintf(method_paths[m], sizeof(method_paths[m]), "/%s/%s", lsmkv__v1__kv__descriptor.name,
                 method_names[m]);
    }
}

const char *
codec_method_name(codec_method method)
{
    assert(method < CODEC_METHOD_COUNT);
    return method_names[method];
}

const char *
codec_method_path(codec_method method)
{
    assert(method < CODEC_METHOD_COUNT);
    pthread_once(&method_paths_once, build_method_paths);
    return method_paths[method];
}

size_t
codec_service_method_count(void)
{
    return lsmkv__v1__kv__descriptor.n_methods;
}

const char *
codec_service_method_name(size_t index)
{
    assert(index < lsmkv__v1__kv__descriptor.n_methods);
    return lsmkv__v1__kv__descriptor.methods[index].name;
}

size_t
codec_wire_code_count(void)
{
    return lsmkv__v1__code__descriptor.n_values;
}

int
codec_wire_code(size_t index, const char **name)
{
    assert(index < lsmkv__v1__code__descriptor.n_values);
    *name = lsmkv__v1__code__descriptor.values[index].name;
    return lsmkv__v1__code__descriptor.values[index].value;
}

/* ---- requests ----------------------------------------------------------------- */

/* Wraps the packed request message `payload` of `method` in an RpcRequest. */
static void
encode_envelope(codec_method method, const ProtobufCMessage *payload, uint32_t timeout_ms,
                codec_bytes *out)
{
    assert(payload->descriptor == method_descriptor(method)->input);
    size_t payload_len = protobuf_c_message_get_packed_size(payload);
    uint8_t *payload_bytes = xmalloc(payload_len);
    protobuf_c_message_pack(payload, payload_bytes);

    Lsmkv__V1__RpcRequest request = LSMKV__V1__RPC_REQUEST__INIT;
    request.method = (char *)codec_method_path(method);
    request.payload.data = payload_bytes;
    request.payload.len = payload_len;
    request.timeout_ms = timeout_ms;
    out->len = lsmkv__v1__rpc_request__get_packed_size(&request);
    out->data = xmalloc(out->len);
    lsmkv__v1__rpc_request__pack(&request, out->data);
    free(payload_bytes);
}

static ProtobufCBinaryData
borrow_bytes(const uint8_t *data, size_t len)
{
    ProtobufCBinaryData b = {.len = len, .data = (uint8_t *)data};
    return b;
}

void
codec_encode_put(const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                 lsmkv_client_sync sync, uint32_t timeout_ms, codec_bytes *out)
{
    Lsmkv__V1__PutRequest request = LSMKV__V1__PUT_REQUEST__INIT;
    request.key = borrow_bytes(key, key_len);
    request.value = borrow_bytes(value, value_len);
    request.sync = (Lsmkv__V1__SyncMode)sync;
    encode_envelope(CODEC_PUT, &request.base, timeout_ms, out);
}

void
codec_encode_get(const uint8_t *key, size_t key_len, uint32_t timeout_ms, codec_bytes *out)
{
    Lsmkv__V1__GetRequest request = LSMKV__V1__GET_REQUEST__INIT;
    request.key = borrow_bytes(key, key_len);
    encode_envelope(CODEC_GET, &request.base, timeout_ms, out);
}

void
codec_encode_delete(const uint8_t *key, size_t key_len, lsmkv_client_sync sync, uint32_t timeout_ms,
                    codec_bytes *out)
{
    Lsmkv__V1__DeleteRequest request = LSMKV__V1__DELETE_REQUEST__INIT;
    request.key = borrow_bytes(key, key_len);
    request.sync = (Lsmkv__V1__SyncMode)sync;
    encode_envelope(CODEC_DELETE, &request.base, timeout_ms, out);
}

void
codec_encode_empty(codec_method method, uint32_t timeout_ms, codec_bytes *out)
{
    Lsmkv__V1__FlushRequest flush = LSMKV__V1__FLUSH_REQUEST__INIT;
    Lsmkv__V1__CompactRequest compact = LSMKV__V1__COMPACT_REQUEST__INIT;
    Lsmkv__V1__StatsRequest stats = LSMKV__V1__STATS_REQUEST__INIT;
    switch (method) {
    case CODEC_FLUSH:
        encode_envelope(method, &flush.base, timeout_ms, out);
        break;
    case CODEC_COMPACT:
        encode_envelope(method, &compact.base, timeout_ms, out);
        break;
    case CODEC_STATS:
        encode_envelope(method, &stats.base, timeout_ms, out);
        break;
    default:
        assert(!"codec_encode_empty: the method's request has fields");
    }
}

void
codec_encode_scan(const lsmkv_client_range *range, uint32_t limit, uint32_t timeout_ms,
                  codec_bytes *out)
{
    Lsmkv__V1__ScanRequest request = LSMKV__V1__SCAN_REQUEST__INIT;
    request.start = borrow_bytes(range->start, range->start_len);
    request.end = borrow_bytes(range->end, range->end_len);
    request.prefix = borrow_bytes(range->prefix, range->prefix_len);
    request.limit = limit;
    request.keys_only = range->keys_only;
    encode_envelope(CODEC_SCAN, &request.base, timeout_ms, out);
}

void
codec_encode_batch(const lsmkv_client_op *ops, size_t count, lsmkv_client_sync sync,
                   uint32_t timeout_ms, codec_bytes *out)
{
    Lsmkv__V1__BatchOp *messages = xcalloc(count, sizeof(*messages));
    Lsmkv__V1__BatchOp **ptrs = xcalloc(count, sizeof(*ptrs));
    for (size_t i = 0; i < count; i++) {
        lsmkv__v1__batch_op__init(&messages[i]);
        messages[i].type = (Lsmkv__V1__OpType)ops[i].type;
        messages[i].key = borrow_bytes(ops[i].key, ops[i].key_len);
        messages[i].value = borrow_bytes(ops[i].value, ops[i].value_len);
        ptrs[i] = &messages[i];
    }
    Lsmkv__V1__BatchRequest request = LSMKV__V1__BATCH_REQUEST__INIT;
    request.n_ops = count;
    request.ops = ptrs;
    request.sync = (Lsmkv__V1__SyncMode)sync;
    encode_envelope(CODEC_BATCH, &request.base, timeout_ms, out);
    free(ptrs);
    free(messages);
}

void
codec_encode_multi_get(size_t count, const uint8_t *const *keys, const size_t *key_lens,
                       uint32_t timeout_ms, codec_bytes *out)
{
    ProtobufCBinaryData *list = xcalloc(count, sizeof(*list));
    for (size_t i = 0; i < count; i++) {
        list[i] = borrow_bytes(keys[i], key_lens[i]);
    }
    Lsmkv__V1__MultiGetRequest request = LSMKV__V1__MULTI_GET_REQUEST__INIT;
    request.n_keys = count;
    request.keys = list;
    encode_envelope(CODEC_MULTI_GET, &request.base, timeout_ms, out);
    free(list);
}

/* ---- responses ---------------------------------------------------------------- */

/* Converts an unpacked response message into the caller's result. */
typedef void (*convert_fn)(const ProtobufCMessage *message, void *result);

/* The error carried by an envelope's Status, or OK. A missing Status is OK,
 * as proto3 reads an absent message as its default. */
static int
envelope_status(const Lsmkv__V1__RpcResponse *response, lsmkv_client_error *err)
{
    const Lsmkv__V1__Status *status = response->status;
    if (status == NULL || status->code == LSMKV__V1__CODE__OK) {
        return LSMKV_CLIENT_OK;
    }
    const char *message = status->message ? status->message : "";
    int code = (int)status->code;
    if (code < 0 || code > LSMKV_CLIENT_UNAUTHENTICATED) {
        return error_set(err, LSMKV_CLIENT_UNKNOWN,
                         "the server answered unknown status code %d%s%s", code,
                         *message ? ": " : "", message);
    }
    return error_set(err, code, "%s", *message ? message : lsmkv_client_status_str(code));
}

/*
 * Unpacks the envelope, then its payload as `method`'s response message, and
 * hands that to `convert`. Both unpacked messages are freed here.
 */
static int
decode(codec_method method, const uint8_t *reply, size_t len, convert_fn convert, void *result,
       lsmkv_client_error *err)
{
    Lsmkv__V1__RpcResponse *response = lsmkv__v1__rpc_response__unpack(NULL, len, reply);
    if (response == NULL) {
        return error_set(err, LSMKV_CLIENT_INTERNAL,
                         "malformed answer to %s: %zu bytes that are not an RpcResponse",
                         codec_method_path(method), len);
    }
    int rc = envelope_status(response, err);
    if (rc == LSMKV_CLIENT_OK) {
        const ProtobufCMessageDescriptor *output = method_descriptor(method)->output;
        ProtobufCMessage *message =
            protobuf_c_message_unpack(output, NULL, response->payload.len, response->payload.data);
        if (message == NULL) {
            rc = error_set(err, LSMKV_CLIENT_INTERNAL,
                           "malformed answer to %s: the payload (%zu bytes) is not a %s",
                           codec_method_path(method), response->payload.len, output->name);
        } else {
            convert(message, result);
            protobuf_c_message_free_unpacked(message, NULL);
        }
    }
    lsmkv__v1__rpc_response__free_unpacked(response, NULL);
    return rc;
}

static void
convert_put(const ProtobufCMessage *message, void *result)
{
    *(uint64_t *)result = ((const Lsmkv__V1__PutResponse *)message)->sequence;
}

int
codec_decode_put(const uint8_t *reply, size_t len, uint64_t *sequence, lsmkv_client_error *err)
{
    uint64_t seq = 0;
    int rc = decode(CODEC_PUT, reply, len, convert_put, &seq, err);
    if (rc == LSMKV_CLIENT_OK && sequence != NULL) {
        *sequence = seq;
    }
    return rc;
}

typedef struct get_result {
    bool found;
    uint8_t *value;
    size_t value_len;
} get_result;

static void
convert_get(const ProtobufCMessage *message, void *result)
{
    const Lsmkv__V1__GetResponse *response = (const Lsmkv__V1__GetResponse *)message;
    get_result *get = result;
    get->found = response->found;
    if (get->found) {
        get->value = xmemdup(response->value.data, response->value.len);
        get->value_len = response->value.len;
    }
}

int
codec_decode_get(const uint8_t *reply, size_t len, uint8_t **value, size_t *value_len, bool *found,
                 lsmkv_client_error *err)
{
    get_result get = {0};
    int rc = decode(CODEC_GET, reply, len, convert_get, &get, err);
    if (rc == LSMKV_CLIENT_OK) {
        *found = get.found;
        *value = get.value;
        *value_len = get.value_len;
    }
    return rc;
}

static void
convert_delete(const ProtobufCMessage *message, void *result)
{
    *(uint64_t *)result = ((const Lsmkv__V1__DeleteResponse *)message)->sequence;
}

int
codec_decode_delete(const uint8_t *reply, size_t len, uint64_t *sequence, lsmkv_client_error *err)
{
    uint64_t seq = 0;
    int rc = decode(CODEC_DELETE, reply, len, convert_delete, &seq, err);
    if (rc == LSMKV_CLIENT_OK && sequence != NULL) {
        *sequence = seq;
    }
    return rc;
}

static void
convert_tables(Lsmkv__V1__TableInfo *const *tables, size_t count, lsmkv_client_table_list *list)
{
    list->count = count;
    list->tables = count ? xcalloc(count, sizeof(*list->tables)) : NULL;
    for (size_t i = 0; i < count; i++) {
        const Lsmkv__V1__TableInfo *in = tables[i];
        lsmkv_client_table_info *t = &list->tables[i];
        t->id = in->id;
        t->level = in->level;
        t->size_bytes = in->size_bytes;
        t->entries = in->entries;
        t->tombstones = in->tombstones;
        t->max_sequence = in->max_sequence;
        t->min_key = xmemdup(in->min_key.data, in->min_key.len);
        t->min_key_len = in->min_key.len;
        t->max_key = xmemdup(in->max_key.data, in->max_key.len);
        t->max_key_len = in->max_key.len;
    }
}

static void
convert_flush(const ProtobufCMessage *message, void *result)
{
    const Lsmkv__V1__FlushResponse *response = (const Lsmkv__V1__FlushResponse *)message;
    convert_tables(response->tables, response->n_tables, result);
}

int
codec_decode_flush(const uint8_t *reply, size_t len, lsmkv_client_table_list *tables,
                   lsmkv_client_error *err)
{
    lsmkv_client_table_list list = {0};
    int rc = decode(CODEC_FLUSH, reply, len, convert_flush, &list, err);
    if (rc == LSMKV_CLIENT_OK && tables != NULL) {
        *tables = list;
    } else {
        lsmkv_client_table_list_fini(&list);
    }
    return rc;
}

static void
convert_compact(const ProtobufCMessage *message, void *result)
{
    const Lsmkv__V1__CompactResponse *response = (const Lsmkv__V1__CompactResponse *)message;
    lsmkv_client_compaction_result *compaction = result;
    compaction->input_tables = response->input_tables;
    compaction->input_bytes = response->input_bytes;
    compaction->output_bytes = response->output_bytes;
    compaction->dropped_entries = response->dropped_entries;
    convert_tables(response->tables, response->n_tables, &compaction->outputs);
}

int
codec_decode_compact(const uint8_t *reply, size_t len, lsmkv_client_compaction_result *result,
                     lsmkv_client_error *err)
{
    lsmkv_client_compaction_result compaction = {0};
    int rc = decode(CODEC_COMPACT, reply, len, convert_compact, &compaction, err);
    if (rc == LSMKV_CLIENT_OK && result != NULL) {
        *result = compaction;
    } else {
        lsmkv_client_compaction_result_fini(&compaction);
    }
    return rc;
}

static void
convert_levels(const Lsmkv__V1__StatsResponse *in, lsmkv_client_stats *out)
{
    out->level_count = in->n_levels;
    out->levels = in->n_levels ? xcalloc(in->n_levels, sizeof(*out->levels)) : NULL;
    for (size_t i = 0; i < in->n_levels; i++) {
        const Lsmkv__V1__LevelStats *l = in->levels[i];
        out->levels[i] = (lsmkv_client_level_stats){
            .level = l->level,
            .tables = l->tables,
            .bytes = l->bytes,
            .target_bytes = l->target_bytes,
            .compactions = l->compactions,
            .bytes_read = l->bytes_read,
            .bytes_written = l->bytes_written,
            .bytes_moved = l->bytes_moved,
        };
    }
}

static void
convert_stats(const ProtobufCMessage *message, void *result)
{
    const Lsmkv__V1__StatsResponse *in = (const Lsmkv__V1__StatsResponse *)message;
    lsmkv_client_stats *out = result;
#define COPY(field) out->field = in->field
    COPY(memtable_entries);
    COPY(memtable_bytes);
    COPY(immutable_memtables);
    COPY(immutable_bytes);
    COPY(sstables);
    COPY(sstable_bytes);
    COPY(puts);
    COPY(gets);
    COPY(deletes);
    COPY(flushes);
    COPY(compactions);
    COPY(user_bytes_written);
    COPY(wal_bytes_written);
    COPY(flush_bytes_written);
    COPY(compaction_bytes_read);
    COPY(compaction_bytes_written);
    COPY(wal_syncs);
    COPY(write_slowdowns);
    COPY(write_stalls);
    COPY(stall_micros);
    COPY(pending_compaction_bytes);
    COPY(corruptions);
    COPY(last_sequence);
    COPY(open_tables);
    COPY(block_cache_capacity);
    COPY(block_cache_usage);
    COPY(block_cache_hits);
    COPY(block_cache_misses);
    COPY(uptime_seconds);
    COPY(requests);
    COPY(request_errors);
    COPY(scans);
    COPY(batches);
    COPY(multi_gets);
#undef COPY
    const char *version = in->server_version ? in->server_version : "";
    out->server_version = (char *)xmemdup(version, strlen(version) + 1);
    convert_levels(in, out);
}

int
codec_decode_stats(const uint8_t *reply, size_t len, lsmkv_client_stats *stats,
                   lsmkv_client_error *err)
{
    lsmkv_client_stats s = {0};
    int rc = decode(CODEC_STATS, reply, len, convert_stats, &s, err);
    if (rc == LSMKV_CLIENT_OK) {
        *stats = s;
    }
    return rc;
}

/* ---- Scan, Batch, MultiGet --------------------------------------------------------- */

/* Copies len bytes to *at and moves it past them; returns where they went. */
static uint8_t *
place(uint8_t **at, const uint8_t *data, size_t len)
{
    uint8_t *p = *at;
    if (len > 0) {
        memcpy(p, data, len);
    }
    *at += len;
    return p;
}

/* The pairs array, then every key, value and the resume key, in one allocation. */
static void
convert_scan(const ProtobufCMessage *message, void *result)
{
    const Lsmkv__V1__ScanResponse *in = (const Lsmkv__V1__ScanResponse *)message;
    lsmkv_client_scan_page *page = result;
    size_t bytes = in->n_pairs * sizeof(lsmkv_client_pair) + in->resume_key.len;
    for (size_t i = 0; i < in->n_pairs; i++) {
        bytes += in->pairs[i]->key.len + in->pairs[i]->value.len;
    }
    page->pairs = xmalloc(bytes);
    page->count = in->n_pairs;
    uint8_t *at = (uint8_t *)(page->pairs + in->n_pairs);
    for (size_t i = 0; i < in->n_pairs; i++) {
        const Lsmkv__V1__KeyValue *kv = in->pairs[i];
        lsmkv_client_pair *out = &page->pairs[i];
        out->key = place(&at, kv->key.data, kv->key.len);
        out->key_len = kv->key.len;
        out->value = place(&at, kv->value.data, kv->value.len);
        out->value_len = kv->value.len;
    }
    if (in->resume_key.len > 0) {
        page->resume_key = place(&at, in->resume_key.data, in->resume_key.len);
        page->resume_key_len = in->resume_key.len;
    }
}

int
codec_decode_scan(const uint8_t *reply, size_t len, lsmkv_client_scan_page *page,
                  lsmkv_client_error *err)
{
    lsmkv_client_scan_page p = {0};
    int rc = decode(CODEC_SCAN, reply, len, convert_scan, &p, err);
    if (rc == LSMKV_CLIENT_OK) {
        *page = p;
    }
    return rc;
}

static void
convert_batch(const ProtobufCMessage *message, void *result)
{
    *(uint64_t *)result = ((const Lsmkv__V1__BatchResponse *)message)->sequence;
}

int
codec_decode_batch(const uint8_t *reply, size_t len, uint64_t *sequence, lsmkv_client_error *err)
{
    uint64_t seq = 0;
    int rc = decode(CODEC_BATCH, reply, len, convert_batch, &seq, err);
    if (rc == LSMKV_CLIENT_OK && sequence != NULL) {
        *sequence = seq;
    }
    return rc;
}

typedef struct multi_get_result {
    size_t expected;
    size_t got; /* results in the answer */
    lsmkv_client_value *values;
} multi_get_result;

static void
convert_multi_get(const ProtobufCMessage *message, void *result)
{
    const Lsmkv__V1__MultiGetResponse *in = (const Lsmkv__V1__MultiGetResponse *)message;
    multi_get_result *r = result;
    r->got = in->n_results;
    if (r->got != r->expected) {
        return;
    }
    for (size_t i = 0; i < in->n_results; i++) {
        const Lsmkv__V1__GetResponse *one = in->results[i];
        r->values[i].found = one->found;
        if (one->found) {
            r->values[i].value = xmemdup(one->value.data, one->value.len);
            r->values[i].value_len = one->value.len;
        }
    }
}

int
codec_decode_multi_get(const uint8_t *reply, size_t len, size_t count, lsmkv_client_value *values,
                       lsmkv_client_error *err)
{
    multi_get_result r = {.expected = count, .values = xcalloc(count, sizeof(*values))};
    int rc = decode(CODEC_MULTI_GET, reply, len, convert_multi_get, &r, err);
    if (rc == LSMKV_CLIENT_OK && r.got != count) {
        rc = error_set(err, LSMKV_CLIENT_INTERNAL,
                       "malformed answer to %s: %zu results for %zu keys",
                       codec_method_path(CODEC_MULTI_GET), r.got, count);
    }
    if (rc == LSMKV_CLIENT_OK && count > 0) {
        memcpy(values, r.values, count * sizeof(*values));
    } else if (rc != LSMKV_CLIENT_OK) {
        lsmkv_client_values_fini(r.values, count);
    }
    free(r.values);
    return rc;
}
