#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_support.h"

#include "file.h"
#include "kv_service.h"
#include "rpc.h"

#include "lsmkv/v1/kv.pb-c.h"
#include "lsmkv/v1/rpc.pb-c.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small limits so that the boundaries are cheap to test. */
#define MAX_KEY     1024
#define MAX_VALUE   (64 * 1024)
#define MAX_BATCH   (256 * 1024)
#define MAX_MESSAGE (512 * 1024) /* the fixture's --max-message-size unless a test sets one */

#define KV(method) "/lsmkv.v1.KV/" method

enum {
    OK = LSMKV__V1__CODE__OK,
    INVALID_ARGUMENT = LSMKV__V1__CODE__INVALID_ARGUMENT,
    DEADLINE_EXCEEDED = LSMKV__V1__CODE__DEADLINE_EXCEEDED,
    RESOURCE_EXHAUSTED = LSMKV__V1__CODE__RESOURCE_EXHAUSTED,
    FAILED_PRECONDITION = LSMKV__V1__CODE__FAILED_PRECONDITION,
    UNIMPLEMENTED = LSMKV__V1__CODE__UNIMPLEMENTED,
    UNAVAILABLE = LSMKV__V1__CODE__UNAVAILABLE,
    DATA_LOSS = LSMKV__V1__CODE__DATA_LOSS,
};

typedef struct fixture {
    char *dir;
    lsmkv *db;
    rpc *r;
    size_t max_message; /* rpc_options.max_message_bytes; 0: MAX_MESSAGE */
    logger log;
    char log_text[8192]; /* what rpc logged at WARN and above */
} fixture;

/* One answer, decoded. */
typedef struct answer {
    int code;          /* the status in the envelope */
    char message[512]; /* its message */
    uint8_t *payload;  /* malloc'd copy of the response payload */
    size_t payload_len;
    size_t reply_len; /* the whole packed RpcResponse */
} answer;

/* ---- fixture ---------------------------------------------------------------------------- */

static void
quiet(void *ctx, lsmkv_log_level level, const char *line)
{
}

static void
capture_log(void *ctx, lsmkv_log_level level, const char *line)
{
    fixture *fx = ctx;
    size_t used = strlen(fx->log_text);
    snprintf(fx->log_text + used, sizeof(fx->log_text) - used, "%s\n", line);
}

static void
fixture_open(fixture *fx, const lsmkv_options *custom)
{
    lsmkv_options o;
    if (custom != NULL) {
        o = *custom;
    } else {
        lsmkv_options_init(&o);
    }
    o.max_key_bytes = MAX_KEY;
    o.max_value_bytes = MAX_VALUE;
    o.max_batch_bytes = MAX_BATCH;
    o.log_fn = quiet;
    lsmkv_error err;
    if (lsmkv_open(fx->dir, &o, &fx->db, &err) != LSMKV_OK) {
        fail_msg("open %s: %s", fx->dir, err.message);
    }
    fx->log = (logger){.level = LSMKV_LOG_WARN, .fn = capture_log, .ctx = fx};
    rpc_options ro = {
        .max_key_bytes = MAX_KEY,
        .max_value_bytes = MAX_VALUE,
        .max_batch_bytes = MAX_BATCH,
        .max_message_bytes = fx->max_message ? fx->max_message : MAX_MESSAGE,
        .log = &fx->log,
    };
    fx->r = rpc_new(fx->db, &ro);
}

static void
fixture_close(fixture *fx)
{
    rpc_free(fx->r);
    fx->r = NULL;
    assert_int_equal(lsmkv_close(fx->db), LSMKV_OK);
    fx->db = NULL;
}

static int
setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    fx->dir = test_make_temp_dir("rpc");
    fixture_open(fx, NULL);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fixture *fx = *state;
    file_set_fault_hook(NULL, NULL);
    if (fx->r != NULL) {
        rpc_free(fx->r);
    }
    lsmkv_close(fx->db);
    test_remove_dir(fx->dir);
    free(fx);
    return 0;
}

/* ---- calling rpc_handle ---------------------------------------------------------------- */

typedef struct sink {
    uint8_t *bytes;
    size_t len;
    int calls;
} sink;

static uint8_t *
sink_reserve(void *ctx, size_t size)
{
    sink *s = ctx;
    s->calls++;
    s->bytes = malloc(size ? size : 1);
    s->len = size;
    return s->bytes;
}

/* Hands len raw bytes to rpc_handle as if received at received_ns; decodes the answer. */
static answer
call_bytes_at(fixture *fx, const uint8_t *bytes, size_t len, uint64_t received_ns)
{
    sink s = {0};
    rpc_reply reply = {.reserve = sink_reserve, .ctx = &s};
    int code = rpc_handle(fx->r, bytes, len, received_ns, &reply);
    assert_int_equal(s.calls, 1); /* exactly one answer per request */
    Lsmkv__V1__RpcResponse *resp = lsmkv__v1__rpc_response__unpack(NULL, s.len, s.bytes);
    assert_non_null(resp); /* every answer is a well-formed envelope */
    assert_non_null(resp->status);
    answer a = {.code = resp->status->code};
    assert_int_equal(code, a.code);
    snprintf(a.message, sizeof(a.message), "%s", resp->status->message);
    if (a.code == OK) {
        assert_string_equal(a.message, "");
    } else {
        assert_true(strlen(a.message) > 0); /* failures say why */
        assert_int_equal(resp->payload.len, 0);
    }
    a.payload_len = resp->payload.len;
    a.reply_len = s.len;
    a.payload = malloc(a.payload_len ? a.payload_len : 1);
    if (a.payload_len > 0) {
        memcpy(a.payload, resp->payload.data, a.payload_len);
    }
    lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
    free(s.bytes);
    return a;
}

static answer
call_bytes(fixture *fx, const uint8_t *bytes, size_t len)
{
    return call_bytes_at(fx, bytes, len, rpc_clock_ns());
}

/* Packs an envelope around raw payload bytes (malloc'd; *len_out its size). */
static uint8_t *
envelope(const char *method, const uint8_t *payload, size_t payload_len, uint32_t timeout_ms,
         size_t *len_out)
{
    Lsmkv__V1__RpcRequest req = LSMKV__V1__RPC_REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = (uint8_t *)payload;
    req.payload.len = payload_len;
    req.timeout_ms = timeout_ms;
    size_t len = lsmkv__v1__rpc_request__get_packed_size(&req);
    uint8_t *bytes = malloc(len ? len : 1);
    lsmkv__v1__rpc_request__pack(&req, bytes);
    *len_out = len;
    return bytes;
}

/* Calls method with a request message (NULL: an empty payload). */
static answer
call_at(fixture *fx, const char *method, const ProtobufCMessage *msg, uint32_t timeout_ms,
        uint64_t received_ns)
{
    size_t payload_len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (msg != NULL) {
        protobuf_c_message_pack(msg, payload);
    }
    size_t len;
    uint8_t *bytes = envelope(method, payload, payload_len, timeout_ms, &len);
    answer a = call_bytes_at(fx, bytes, len, received_ns);
    free(bytes);
    free(payload);
    return a;
}

static answer
call(fixture *fx, const char *method, const ProtobufCMessage *msg)
{
    return call_at(fx, method, msg, 0, rpc_clock_ns());
}

static void
answer_fini(answer *a)
{
    free(a->payload);
    a->payload = NULL;
}

static void
expect_code(answer a, int code, const char *needle)
{
    if (a.code != code) {
        fail_msg("expected code %d, got %d: %s", code, a.code, a.message);
    }
    if (needle != NULL && strstr(a.message, needle) == NULL) {
        fail_msg("message '%s' lacks '%s'", a.message, needle);
    }
    answer_fini(&a);
}

/* ---- typed calls --------------------------------------------------------------------------- */

static answer
put_at(fixture *fx, const void *key, size_t key_len, const void *value, size_t value_len,
       uint32_t timeout_ms, uint64_t received_ns)
{
    Lsmkv__V1__PutRequest req = LSMKV__V1__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)key;
    req.key.len = key_len;
    req.value.data = (uint8_t *)value;
    req.value.len = value_len;
    return call_at(fx, KV("Put"), &req.base, timeout_ms, received_ns);
}

static answer
put(fixture *fx, const void *key, size_t key_len, const void *value, size_t value_len)
{
    return put_at(fx, key, key_len, value, value_len, 0, rpc_clock_ns());
}

/* Puts and expects OK; returns the sequence. */
static uint64_t
put_ok(fixture *fx, const char *key, const char *value)
{
    answer a = put(fx, key, strlen(key), value, strlen(value));
    assert_int_equal(a.code, OK);
    Lsmkv__V1__PutResponse *resp = lsmkv__v1__put_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    uint64_t seq = resp->sequence;
    lsmkv__v1__put_response__free_unpacked(resp, NULL);
    answer_fini(&a);
    return seq;
}

static answer
get(fixture *fx, const void *key, size_t key_len)
{
    Lsmkv__V1__GetRequest req = LSMKV__V1__GET_REQUEST__INIT;
    req.key.data = (uint8_t *)key;
    req.key.len = key_len;
    return call(fx, KV("Get"), &req.base);
}

/* Gets key, expecting OK; returns found and (if found) checks the value. */
static bool
get_check(fixture *fx, const void *key, size_t key_len, const void *value, size_t value_len)
{
    answer a = get(fx, key, key_len);
    if (a.code != OK) {
        fail_msg("Get failed with %d: %s", a.code, a.message);
    }
    Lsmkv__V1__GetResponse *resp = lsmkv__v1__get_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    bool found = resp->found;
    if (found && value != NULL) {
        assert_int_equal(resp->value.len, value_len);
        if (value_len > 0) {
            assert_memory_equal(resp->value.data, value, value_len);
        }
    }
    if (!found) {
        assert_int_equal(resp->value.len, 0);
    }
    lsmkv__v1__get_response__free_unpacked(resp, NULL);
    answer_fini(&a);
    return found;
}

static bool
found_str(fixture *fx, const char *key)
{
    return get_check(fx, key, strlen(key), NULL, 0);
}

static uint64_t
store_puts(fixture *fx)
{
    lsmkv_stats stats;
    lsmkv_get_stats(fx->db, &stats);
    return stats.puts + stats.deletes;
}

/* ---- each method's success --------------------------------------------------------------- */

static void
test_put_then_get_binary_key_and_value(void **state)
{
    fixture *fx = *state;
    const uint8_t key[] = {0x00, 'k', 0xff, 0x00, 0x80};
    const uint8_t value[] = {0x00, 0x01, 0x00, 0xfe, 0xff, 0x00};
    answer a = put(fx, key, sizeof(key), value, sizeof(value));
    assert_int_equal(a.code, OK);
    answer_fini(&a);
    assert_true(get_check(fx, key, sizeof(key), value, sizeof(value)));
    /* A key that differs only after a NUL byte is another key. */
    const uint8_t other[] = {0x00, 'k', 0xff, 0x00, 0x81};
    assert_false(get_check(fx, other, sizeof(other), NULL, 0));
}

static void
test_put_returns_increasing_sequences(void **state)
{
    fixture *fx = *state;
    uint64_t s1 = put_ok(fx, "a", "1");
    uint64_t s2 = put_ok(fx, "b", "2");
    uint64_t s3 = put_ok(fx, "a", "3");
    assert_true(s1 >= 1);
    assert_true(s2 > s1);
    assert_true(s3 > s2);
    assert_true(get_check(fx, "a", 1, "3", 1)); /* newest wins */
}

static void
test_get_missing_key_is_ok_with_found_false(void **state)
{
    fixture *fx = *state;
    assert_false(found_str(fx, "never-written"));
}

static void
test_put_empty_value_is_found_empty(void **state)
{
    fixture *fx = *state;
    answer a = put(fx, "e", 1, NULL, 0);
    assert_int_equal(a.code, OK);
    answer_fini(&a);
    assert_true(get_check(fx, "e", 1, "", 0));
}

static void
test_delete_hides_the_key_and_missing_delete_is_ok(void **state)
{
    fixture *fx = *state;
    uint64_t seq = put_ok(fx, "d", "v");
    Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
    del.key.data = (uint8_t *)"d";
    del.key.len = 1;
    answer a = call(fx, KV("Delete"), &del.base);
    assert_int_equal(a.code, OK);
    Lsmkv__V1__DeleteResponse *resp =
        lsmkv__v1__delete_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    assert_true(resp->sequence > seq);
    lsmkv__v1__delete_response__free_unpacked(resp, NULL);
    answer_fini(&a);
    assert_false(found_str(fx, "d"));
    del.key.data = (uint8_t *)"nothing-here";
    del.key.len = strlen("nothing-here");
    expect_code(call(fx, KV("Delete"), &del.base), OK, NULL);
}

static void
test_put_and_delete_honour_sync_modes(void **state)
{
    fixture *fx = *state;
    Lsmkv__V1__SyncMode modes[] = {LSMKV__V1__SYNC_MODE__SYNC_DEFAULT,
                                   LSMKV__V1__SYNC_MODE__SYNC_ALWAYS,
                                   LSMKV__V1__SYNC_MODE__SYNC_NONE};
    for (size_t i = 0; i < 3; i++) {
        Lsmkv__V1__PutRequest req = LSMKV__V1__PUT_REQUEST__INIT;
        req.key.data = (uint8_t *)"s";
        req.key.len = 1;
        req.sync = modes[i];
        expect_code(call(fx, KV("Put"), &req.base), OK, NULL);
        Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
        del.key = req.key;
        del.sync = modes[i];
        expect_code(call(fx, KV("Delete"), &del.base), OK, NULL);
    }
}

static void
test_largest_key_and_value_are_accepted(void **state)
{
    fixture *fx = *state;
    uint8_t *key = malloc(MAX_KEY);
    uint8_t *value = malloc(MAX_VALUE);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, key, MAX_KEY);
    test_rng_bytes(&rng, value, MAX_VALUE);
    answer a = put(fx, key, MAX_KEY, value, MAX_VALUE);
    assert_int_equal(a.code, OK);
    answer_fini(&a);
    /* A large answer is packed straight into the reply, in one piece. */
    assert_true(get_check(fx, key, MAX_KEY, value, MAX_VALUE));
    free(key);
    free(value);
}

/* Decodes a FlushResponse/CompactResponse's tables and checks them against expectations. */
static void
check_table(const Lsmkv__V1__TableInfo *t, uint64_t entries, const char *min_key,
            const char *max_key)
{
    assert_true(t->id > 0);
    assert_true(t->size_bytes > 0);
    assert_int_equal(t->entries, entries);
    /* A flushed table keeps its sequences; a full compaction's output is the
     * bottom, where every value is written with sequence 0. */
    assert_true(t->level == 0 ? t->max_sequence > 0 : t->max_sequence == 0);
    assert_int_equal(t->min_key.len, strlen(min_key));
    assert_memory_equal(t->min_key.data, min_key, strlen(min_key));
    assert_int_equal(t->max_key.len, strlen(max_key));
    assert_memory_equal(t->max_key.data, max_key, strlen(max_key));
}

static Lsmkv__V1__FlushResponse *
flush(fixture *fx)
{
    Lsmkv__V1__FlushRequest req = LSMKV__V1__FLUSH_REQUEST__INIT;
    answer a = call(fx, KV("Flush"), &req.base);
    assert_int_equal(a.code, OK);
    Lsmkv__V1__FlushResponse *resp =
        lsmkv__v1__flush_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    answer_fini(&a);
    return resp;
}

static void
test_flush_answers_the_table_written(void **state)
{
    fixture *fx = *state;
    put_ok(fx, "m", "1");
    put_ok(fx, "c", "2");
    put_ok(fx, "x", "3");
    Lsmkv__V1__FlushResponse *resp = flush(fx);
    assert_int_equal(resp->n_tables, 1);
    check_table(resp->tables[0], 3, "c", "x");
    assert_int_equal(resp->tables[0]->level, 0);
    lsmkv__v1__flush_response__free_unpacked(resp, NULL);
    /* Nothing left in the memtable: nothing written. */
    resp = flush(fx);
    assert_int_equal(resp->n_tables, 0);
    lsmkv__v1__flush_response__free_unpacked(resp, NULL);
    assert_true(get_check(fx, "c", 1, "2", 1)); /* now read from the table */
}

static Lsmkv__V1__CompactResponse *
compact(fixture *fx)
{
    Lsmkv__V1__CompactRequest req = LSMKV__V1__COMPACT_REQUEST__INIT;
    answer a = call(fx, KV("Compact"), &req.base);
    assert_int_equal(a.code, OK);
    Lsmkv__V1__CompactResponse *resp =
        lsmkv__v1__compact_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    answer_fini(&a);
    return resp;
}

static void
test_compact_answers_inputs_and_outputs(void **state)
{
    fixture *fx = *state;
    Lsmkv__V1__CompactResponse *resp = compact(fx);
    assert_int_equal(resp->input_tables, 0); /* nothing to compact */
    assert_int_equal(resp->n_tables, 0);
    lsmkv__v1__compact_response__free_unpacked(resp, NULL);

    put_ok(fx, "a", "old");
    put_ok(fx, "b", "1");
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);
    put_ok(fx, "a", "new");
    put_ok(fx, "z", "2");
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);

    resp = compact(fx);
    assert_int_equal(resp->input_tables, 2);
    assert_true(resp->input_bytes > 0);
    assert_true(resp->output_bytes > 0);
    assert_int_equal(resp->dropped_entries, 1); /* the shadowed "a" */
    assert_int_equal(resp->n_tables, 1);
    check_table(resp->tables[0], 3, "a", "z");
    lsmkv__v1__compact_response__free_unpacked(resp, NULL);
    assert_true(get_check(fx, "a", 1, "new", 3));
}

static Lsmkv__V1__StatsResponse *
stats(fixture *fx)
{
    Lsmkv__V1__StatsRequest req = LSMKV__V1__STATS_REQUEST__INIT;
    answer a = call(fx, KV("Stats"), &req.base);
    assert_int_equal(a.code, OK);
    Lsmkv__V1__StatsResponse *resp =
        lsmkv__v1__stats_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    answer_fini(&a);
    return resp;
}

static void
test_stats_reports_store_and_server_counters(void **state)
{
    fixture *fx = *state;
    put_ok(fx, "k1", "v1");
    put_ok(fx, "k2", "v2");
    assert_true(found_str(fx, "k1"));
    expect_code(put(fx, "", 0, "v", 1), INVALID_ARGUMENT, NULL);
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);
    put_ok(fx, "k3", "v3");

    Lsmkv__V1__StatsResponse *s = stats(fx);
    assert_int_equal(s->puts, 3);
    assert_int_equal(s->gets, 1);
    assert_int_equal(s->deletes, 0);
    assert_int_equal(s->flushes, 1);
    assert_int_equal(s->memtable_entries, 1);
    assert_true(s->memtable_bytes > 0);
    assert_int_equal(s->sstables, 1);
    assert_true(s->sstable_bytes > 0);
    assert_int_equal(s->n_levels, LSMKV_MAX_LEVELS);
    for (size_t i = 0; i < s->n_levels; i++) {
        assert_int_equal(s->levels[i]->level, i);
    }
    assert_int_equal(s->levels[0]->tables, 1);
    assert_int_equal(s->levels[0]->bytes, s->sstable_bytes);
    assert_int_equal(s->user_bytes_written, 3 * 4);
    assert_true(s->wal_bytes_written > 0);
    assert_true(s->flush_bytes_written > 0);
    assert_true(s->wal_syncs > 0);
    assert_int_equal(s->last_sequence, 3);
    assert_int_equal(s->corruptions, 0);
    assert_true(s->block_cache_capacity > 0);
    assert_true(s->uptime_seconds < 3600);
    assert_string_equal(s->server_version, lsmkv_version());
    /* 6 answered before this call, one of them an error. */
    assert_int_equal(s->requests, 6);
    assert_int_equal(s->request_errors, 1);
    lsmkv__v1__stats_response__free_unpacked(s, NULL);
}

/* ---- bad envelopes ------------------------------------------------------------------------- */

static void
test_empty_message_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    expect_code(call_bytes(fx, (const uint8_t *)"", 0), INVALID_ARGUMENT, "empty");
    assert_int_equal(store_puts(fx), 0);
}

static void
test_garbage_bytes_are_invalid_argument(void **state)
{
    fixture *fx = *state;
    static const uint8_t truncated_varint[] = {0xff, 0xff, 0xff};
    expect_code(call_bytes(fx, truncated_varint, sizeof(truncated_varint)), INVALID_ARGUMENT,
                "not a valid lsmkv.v1.RpcRequest");
    static const uint8_t text[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_code(call_bytes(fx, text, sizeof(text) - 1), INVALID_ARGUMENT, NULL);

    test_rng rng;
    test_rng_init(&rng, test_seed());
    uint8_t buf[512];
    for (int i = 0; i < 2000; i++) {
        size_t len = 1 + test_rng_below(&rng, sizeof(buf));
        test_rng_bytes(&rng, buf, len);
        answer a = call_bytes(fx, buf, len);
        /* Random bytes may by chance parse as an envelope with an odd method name. */
        if (a.code != INVALID_ARGUMENT && a.code != UNIMPLEMENTED) {
            fail_msg("random message %d answered %d: %s", i, a.code, a.message);
        }
        answer_fini(&a);
    }
    assert_int_equal(store_puts(fx), 0);
}

static void
test_truncated_envelope_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    Lsmkv__V1__PutRequest req = LSMKV__V1__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)"key";
    req.key.len = 3;
    req.value.data = (uint8_t *)"value";
    req.value.len = 5;
    uint8_t payload[64];
    size_t payload_len = lsmkv__v1__put_request__pack(&req, payload);
    size_t len;
    uint8_t *bytes = envelope(KV("Put"), payload, payload_len, 0, &len);
    for (size_t cut = 1; cut < len; cut++) {
        uint8_t *copy = malloc(cut); /* exact size, so ASan sees any overread */
        memcpy(copy, bytes, cut);
        answer a = call_bytes(fx, copy, cut);
        if (a.code != INVALID_ARGUMENT) {
            fail_msg("envelope cut at %zu of %zu answered %d: %s", cut, len, a.code, a.message);
        }
        answer_fini(&a);
        free(copy);
    }
    free(bytes);
    assert_int_equal(store_puts(fx), 0);
    assert_false(found_str(fx, "key"));
}

static void
test_wrongly_typed_envelope_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    /* method (field 1, a string) sent as a varint */
    static const uint8_t method_as_varint[] = {0x08, 0x05};
    expect_code(call_bytes(fx, method_as_varint, sizeof(method_as_varint)), INVALID_ARGUMENT,
                "RpcRequest");
    /* timeout_ms (field 3, a varint) sent as length-delimited bytes */
    static const uint8_t timeout_as_bytes[] = {0x0a, 0x10, '/',  'l',  's',  'm', 'k', 'v',
                                               '.',  'v',  '1',  '.',  'K',  'V', '/', 'G',
                                               'e',  't',  0x1a, 0x02, 0x01, 0x02};
    expect_code(call_bytes(fx, timeout_as_bytes, sizeof(timeout_as_bytes)), INVALID_ARGUMENT,
                "RpcRequest");
    /* a length running past the end */
    static const uint8_t overlong[] = {0x0a, 0x7f, '/', 'x'};
    expect_code(call_bytes(fx, overlong, sizeof(overlong)), INVALID_ARGUMENT, "RpcRequest");
}

static void
test_truncated_payload_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    Lsmkv__V1__PutRequest req = LSMKV__V1__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)"key";
    req.key.len = 3;
    req.value.data = (uint8_t *)"a value of some length";
    req.value.len = strlen("a value of some length");
    uint8_t payload[64];
    size_t payload_len = lsmkv__v1__put_request__pack(&req, payload);
    for (size_t cut = 1; cut < payload_len; cut++) {
        size_t len;
        uint8_t *bytes = envelope(KV("Put"), payload, cut, 0, &len);
        answer a = call_bytes(fx, bytes, len);
        /* Cut right after the key, it is a valid PutRequest with an empty value. */
        if (cut == 5) {
            assert_int_equal(a.code, OK);
        } else if (a.code != INVALID_ARGUMENT) {
            fail_msg("payload cut at %zu answered %d: %s", cut, a.code, a.message);
        } else if (strstr(a.message, "not a valid lsmkv.v1.PutRequest") == NULL) {
            fail_msg("payload cut at %zu: %s", cut, a.message);
        }
        answer_fini(&a);
        free(bytes);
    }
    assert_int_equal(store_puts(fx), 1);
    assert_true(get_check(fx, "key", 3, "", 0));
}

static void
test_wrongly_typed_payload_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    static const uint8_t key_as_varint[] = {0x08, 0x01};
    size_t len;
    uint8_t *bytes = envelope(KV("Put"), key_as_varint, sizeof(key_as_varint), 0, &len);
    expect_code(call_bytes(fx, bytes, len), INVALID_ARGUMENT, "not a valid lsmkv.v1.PutRequest");
    free(bytes);
    /* A GetRequest's bytes sent to Delete parse (same field 1): only types matter. A
     * PutResponse (a varint in field 1) sent as a GetRequest does not. */
    Lsmkv__V1__PutResponse wrong = LSMKV__V1__PUT_RESPONSE__INIT;
    wrong.sequence = 7;
    expect_code(call(fx, KV("Get"), &wrong.base), INVALID_ARGUMENT,
                "not a valid lsmkv.v1.GetRequest");
    assert_int_equal(store_puts(fx), 0);
}

static void
test_unknown_or_malformed_method(void **state)
{
    fixture *fx = *state;
    expect_code(call(fx, KV("Frobnicate"), NULL), UNIMPLEMENTED,
                "unknown method '/lsmkv.v1.KV/Frobnicate'");
    expect_code(call(fx, KV("scan"), NULL), UNIMPLEMENTED, "unknown method");
    expect_code(call(fx, KV("put"), NULL), UNIMPLEMENTED, "unknown method");
    expect_code(call(fx, "/lsmkv.v2.KV/Put", NULL), UNIMPLEMENTED, "unknown service 'lsmkv.v2.KV'");
    expect_code(call(fx, "/KV/Put", NULL), UNIMPLEMENTED, "unknown service");
    Lsmkv__V1__GetRequest some = LSMKV__V1__GET_REQUEST__INIT;
    some.key.data = (uint8_t *)"k";
    some.key.len = 1;
    expect_code(call(fx, "", &some.base), INVALID_ARGUMENT, "names no method");
    expect_code(call(fx, "Put", NULL), INVALID_ARGUMENT, "not of the form");
    expect_code(call(fx, "lsmkv.v1.KV/Put", NULL), INVALID_ARGUMENT, "not of the form");
    expect_code(call(fx, "/lsmkv.v1.KV/", NULL), INVALID_ARGUMENT, "not of the form");
    expect_code(call(fx, "//Put", NULL), INVALID_ARGUMENT, "not of the form");
    expect_code(call(fx, "/lsmkv.v1.KV/Put/x", NULL), INVALID_ARGUMENT, "not of the form");
    expect_code(call(fx, "/lsmkv.v1.KV", NULL), INVALID_ARGUMENT, "not of the form");
    /* An embedded NUL ends the name protobuf-c hands over: "/lsmkv.v1.KV/Put\0..." is Put,
     * but a NUL inside the service name makes it another service. */
    static const uint8_t nul_in_service[] = {0x0a, 0x08, '/', 'l', 's', 0x00, '/', 'P', 'u', 't'};
    answer a = call_bytes(fx, nul_in_service, sizeof(nul_in_service));
    assert_true(a.code == INVALID_ARGUMENT || a.code == UNIMPLEMENTED);
    answer_fini(&a);
    /* A very long unknown name is clipped in the message, not overflowing it. */
    char *longname = malloc(5000);
    memset(longname, 'x', 4999);
    memcpy(longname, KV(""), strlen(KV("")));
    longname[4999] = '\0';
    expect_code(call(fx, longname, NULL), UNIMPLEMENTED, "unknown method");
    free(longname);
    assert_int_equal(store_puts(fx), 0);
}

/* ---- bad keys and values -------------------------------------------------------------------- */

static void
test_empty_key_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    expect_code(put(fx, "", 0, "v", 1), INVALID_ARGUMENT, "the key is empty");
    expect_code(get(fx, "", 0), INVALID_ARGUMENT, "the key is empty");
    Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
    expect_code(call(fx, KV("Delete"), &del.base), INVALID_ARGUMENT, "the key is empty");
    /* An empty payload is a request with every field at its default. */
    expect_code(call(fx, KV("Put"), NULL), INVALID_ARGUMENT, "the key is empty");
    assert_int_equal(store_puts(fx), 0);
}

static void
test_oversize_key_or_value_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    uint8_t *big = calloc(1, MAX_VALUE + 1);
    expect_code(put(fx, big, MAX_KEY + 1, "v", 1), INVALID_ARGUMENT,
                "the key is 1025 bytes; the limit is 1024");
    expect_code(get(fx, big, MAX_KEY + 1), INVALID_ARGUMENT, "the limit is 1024");
    Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
    del.key.data = big;
    del.key.len = MAX_KEY + 1;
    expect_code(call(fx, KV("Delete"), &del.base), INVALID_ARGUMENT, "the limit is 1024");
    expect_code(put(fx, "k", 1, big, MAX_VALUE + 1), INVALID_ARGUMENT,
                "the value is 65537 bytes; the limit is 65536");
    free(big);
    assert_int_equal(store_puts(fx), 0);
    assert_false(found_str(fx, "k"));
}

static void
test_unknown_sync_mode_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    Lsmkv__V1__PutRequest req = LSMKV__V1__PUT_REQUEST__INIT;
    req.key.data = (uint8_t *)"k";
    req.key.len = 1;
    req.sync = (Lsmkv__V1__SyncMode)7;
    expect_code(call(fx, KV("Put"), &req.base), INVALID_ARGUMENT, "sync mode 7");
    Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
    del.key = req.key;
    del.sync = (Lsmkv__V1__SyncMode)-1;
    expect_code(call(fx, KV("Delete"), &del.base), INVALID_ARGUMENT, "sync mode -1");
    assert_int_equal(store_puts(fx), 0);
}

/* ---- deadlines ----------------------------------------------------------------------------- */

static void
test_deadline_already_passed_is_not_executed(void **state)
{
    fixture *fx = *state;
    uint64_t two_seconds_ago = rpc_clock_ns() - 2000000000ull;
    expect_code(put_at(fx, "late", 4, "v", 1, 1000, two_seconds_ago), DEADLINE_EXCEEDED,
                "deadline of 1000 ms passed");
    Lsmkv__V1__GetRequest req = LSMKV__V1__GET_REQUEST__INIT;
    req.key.data = (uint8_t *)"late";
    req.key.len = 4;
    expect_code(call_at(fx, KV("Get"), &req.base, 1, two_seconds_ago), DEADLINE_EXCEEDED, NULL);
    assert_int_equal(store_puts(fx), 0);
    assert_false(found_str(fx, "late"));
    /* Still within its deadline: runs. No deadline at all: runs. */
    expect_code(put_at(fx, "on-time", 7, "v", 1, 60000, two_seconds_ago), OK, NULL);
    expect_code(put_at(fx, "none", 4, "v", 1, 0, two_seconds_ago), OK, NULL);
    assert_true(found_str(fx, "on-time"));
}

/* ---- store errors -----------------------------------------------------------------------------
 */

typedef struct fault {
    file_op op;
    const char *suffix;
    int error;
    /* Blocking instead of failing: */
    bool block;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool released;
} fault;

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
fault_hook(void *ctx, file_op op, const char *path)
{
    fault *f = ctx;
    if (op != f->op || !ends_with(path, f->suffix)) {
        return 0;
    }
    if (!f->block) {
        return f->error;
    }
    pthread_mutex_lock(&f->mutex);
    while (!f->released) {
        pthread_cond_wait(&f->cond, &f->mutex);
    }
    pthread_mutex_unlock(&f->mutex);
    return 0;
}

static void
test_wal_io_error_is_unavailable_then_read_only(void **state)
{
    fixture *fx = *state;
    put_ok(fx, "before", "v");
    fault f = {.op = FILE_OP_WRITE, .suffix = ".wal", .error = EIO};
    file_set_fault_hook(fault_hook, &f);
    expect_code(put(fx, "k", 1, "v", 1), UNAVAILABLE, NULL);
    file_set_fault_hook(NULL, NULL);
    /* After a failed log write the store refuses writes until reopened. */
    expect_code(put(fx, "k2", 2, "v", 1), FAILED_PRECONDITION, "read-only");
    assert_true(found_str(fx, "before")); /* reads go on */
    assert_non_null(strstr(fx->log_text, "Put failed (code 14)"));
    assert_non_null(strstr(fx->log_text, "Put failed (code 9)"));
}

static void
test_no_space_is_resource_exhausted(void **state)
{
    fixture *fx = *state;
    fault f = {.op = FILE_OP_WRITE, .suffix = ".wal", .error = ENOSPC};
    file_set_fault_hook(fault_hook, &f);
    Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
    del.key.data = (uint8_t *)"k";
    del.key.len = 1;
    expect_code(call(fx, KV("Delete"), &del.base), RESOURCE_EXHAUSTED, NULL);
    file_set_fault_hook(NULL, NULL);
}

/* Path of the only .sst file in dir (static buffer). */
static const char *
only_table(const char *dir)
{
    static char path[4096];
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (ends_with(e->d_name, ".sst")) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
    return path;
}

static void
test_corruption_is_data_loss(void **state)
{
    fixture *fx = *state;
    put_ok(fx, "corrupt-me", "some value that lands in the first data block");
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);
    fixture_close(fx);
    test_flip_bit(only_table(fx->dir), 8, 3);
    fixture_open(fx, NULL);
    expect_code(get(fx, "corrupt-me", strlen("corrupt-me")), DATA_LOSS, ".sst");
    assert_non_null(strstr(fx->log_text, "Get failed (code 15)"));
}

static void
test_write_stalled_past_deadline_is_resource_exhausted(void **state)
{
    fixture *fx = *state;
    fixture_close(fx);
    lsmkv_options o;
    lsmkv_options_init(&o);
    o.memtable_bytes = 64 * 1024;
    o.max_immutables = 1;
    o.sync = LSMKV_SYNC_NONE;
    fixture_open(fx, &o);
    /* Flushes cannot create their table until released: memtables pile up. */
    fault f = {.op = FILE_OP_OPEN, .suffix = ".sst", .block = true};
    pthread_mutex_init(&f.mutex, NULL);
    pthread_cond_init(&f.cond, NULL);
    file_set_fault_hook(fault_hook, &f);
    static uint8_t value[40 * 1024];
    char key[16];
    int code = OK;
    for (int i = 0; i < 16 && code == OK; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        answer a = put_at(fx, key, strlen(key), value, sizeof(value), 200, rpc_clock_ns());
        code = a.code;
        if (code != OK) {
            assert_int_equal(code, RESOURCE_EXHAUSTED);
            assert_non_null(strstr(a.message, "stalled"));
        }
        answer_fini(&a);
    }
    assert_int_equal(code, RESOURCE_EXHAUSTED);
    pthread_mutex_lock(&f.mutex);
    f.released = true;
    pthread_cond_broadcast(&f.cond);
    pthread_mutex_unlock(&f.mutex);
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);
    file_set_fault_hook(NULL, NULL);
    assert_true(found_str(fx, "k00"));
    pthread_cond_destroy(&f.cond);
    pthread_mutex_destroy(&f.mutex);
}

/* ---- Scan, Batch, MultiGet: helpers ------------------------------------------------------ */

/* Ops of a BatchRequest under construction; keys and values are copies. */
typedef struct ops {
    Lsmkv__V1__BatchOp *ops;
    Lsmkv__V1__BatchOp **ptrs;
    size_t n;
} ops;

static void
ops_add(ops *o, Lsmkv__V1__OpType type, const void *key, size_t key_len, const void *value,
        size_t value_len)
{
    o->ops = realloc(o->ops, (o->n + 1) * sizeof(*o->ops));
    assert_non_null(o->ops);
    Lsmkv__V1__BatchOp *op = &o->ops[o->n++];
    lsmkv__v1__batch_op__init(op);
    op->type = type;
    op->key.data = malloc(key_len + 1);
    memcpy(op->key.data, key, key_len);
    op->key.len = key_len;
    op->value.data = malloc(value_len + 1);
    if (value_len > 0) {
        memcpy(op->value.data, value, value_len);
    }
    op->value.len = value_len;
}

static void
ops_put(ops *o, const char *key, const char *value)
{
    ops_add(o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, key, strlen(key), value, strlen(value));
}

static void
ops_del(ops *o, const char *key)
{
    ops_add(o, LSMKV__V1__OP_TYPE__OP_TYPE_DELETE, key, strlen(key), NULL, 0);
}

static void
ops_free(ops *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->ops[i].key.data);
        free(o->ops[i].value.data);
    }
    free(o->ops);
    free(o->ptrs);
    memset(o, 0, sizeof(*o));
}

/* Sends the ops as one Batch (and frees them). */
static answer
batch(fixture *fx, ops *o, Lsmkv__V1__SyncMode sync)
{
    o->ptrs = calloc(o->n + 1, sizeof(*o->ptrs));
    for (size_t i = 0; i < o->n; i++) {
        o->ptrs[i] = &o->ops[i];
    }
    Lsmkv__V1__BatchRequest req = LSMKV__V1__BATCH_REQUEST__INIT;
    req.n_ops = o->n;
    req.ops = o->ptrs;
    req.sync = sync;
    answer a = call(fx, KV("Batch"), &req.base);
    ops_free(o);
    return a;
}

static uint64_t
batch_ok(fixture *fx, ops *o)
{
    answer a = batch(fx, o, LSMKV__V1__SYNC_MODE__SYNC_DEFAULT);
    if (a.code != OK) {
        fail_msg("Batch failed with %d: %s", a.code, a.message);
    }
    Lsmkv__V1__BatchResponse *resp =
        lsmkv__v1__batch_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    uint64_t seq = resp->sequence;
    lsmkv__v1__batch_response__free_unpacked(resp, NULL);
    answer_fini(&a);
    return seq;
}

/* Key i of a numbered set: "k" and five digits, so numeric order is key order. */
static const char *
numbered(int i)
{
    static char key[32];
    snprintf(key, sizeof(key), "k%05d", i);
    return key;
}

/* Puts keys [from, to) of the numbered set with `value_len`-byte values, in batches. */
static void
put_numbered(fixture *fx, int from, int to, size_t value_len)
{
    char *value = malloc(value_len + 1);
    memset(value, 'v', value_len);
    value[value_len] = '\0';
    ops o = {0};
    for (int i = from; i < to; i++) {
        ops_put(&o, numbered(i), value);
        if (o.n == 500 || i + 1 == to) {
            batch_ok(fx, &o);
        }
    }
    free(value);
}

static Lsmkv__V1__ScanRequest
scan_request(uint32_t limit)
{
    Lsmkv__V1__ScanRequest req = LSMKV__V1__SCAN_REQUEST__INIT;
    req.limit = limit;
    return req;
}

static ProtobufCBinaryData
text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

/* One Scan page, expected OK; *reply_len (may be NULL) receives the envelope's size. */
static Lsmkv__V1__ScanResponse *
scan_page_ok(fixture *fx, const Lsmkv__V1__ScanRequest *req, size_t *reply_len)
{
    answer a = call(fx, KV("Scan"), &req->base);
    if (a.code != OK) {
        fail_msg("Scan failed with %d: %s", a.code, a.message);
    }
    Lsmkv__V1__ScanResponse *resp =
        lsmkv__v1__scan_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    if (reply_len != NULL) {
        *reply_len = a.reply_len;
    }
    answer_fini(&a);
    return resp;
}

/* Appends bytes to out, printable ASCII as is, others as \xHH; then `sep`. */
static void
append_escaped(char *out, size_t size, const uint8_t *data, size_t len, char sep)
{
    size_t used = strlen(out);
    for (size_t i = 0; i < len && used + 5 < size; i++) {
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '\\') {
            out[used++] = (char)data[i];
        } else {
            used += (size_t)snprintf(out + used, size - used, "\\x%02x", data[i]);
        }
    }
    if (used + 1 < size) {
        out[used++] = sep;
    }
    out[used] = '\0';
}

/*
 * Pages through req's range with `limit` per page, checking each page's
 * order, size and resume key; returns the keys as "k1 k2 ..." (escaped) in
 * out and the number of pages.
 */
static int
scan_all(fixture *fx, Lsmkv__V1__ScanRequest req, char *out, size_t size)
{
    out[0] = '\0';
    uint8_t *start = NULL;
    int pages = 0;
    for (;;) {
        size_t reply_len;
        Lsmkv__V1__ScanResponse *resp = scan_page_ok(fx, &req, &reply_len);
        pages++;
        assert_true(reply_len <= (fx->max_message ? fx->max_message : MAX_MESSAGE));
        for (size_t i = 0; i < resp->n_pairs; i++) {
            const ProtobufCBinaryData *k = &resp->pairs[i]->key;
            append_escaped(out, size, k->data, k->len, ' ');
        }
        free(start);
        start = NULL;
        if (resp->resume_key.len == 0) {
            lsmkv__v1__scan_response__free_unpacked(resp, NULL);
            break;
        }
        assert_true(resp->n_pairs > 0); /* every page makes progress */
        start = malloc(resp->resume_key.len);
        memcpy(start, resp->resume_key.data, resp->resume_key.len);
        req.start = (ProtobufCBinaryData){.len = resp->resume_key.len, .data = start};
        lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    }
    size_t n = strlen(out);
    if (n > 0) {
        out[n - 1] = '\0'; /* the last separator */
    }
    return pages;
}

/* The keys of the numbered set [from, to), as scan_all writes them. */
static void
numbered_list(int from, int to, char *out, size_t size)
{
    out[0] = '\0';
    for (int i = from; i < to; i++) {
        const char *k = numbered(i);
        append_escaped(out, size, (const uint8_t *)k, strlen(k), ' ');
    }
    size_t n = strlen(out);
    if (n > 0) {
        out[n - 1] = '\0';
    }
}

/* ---- Scan ------------------------------------------------------------------------------------ */

static void
test_scan_pages_through_memtable_and_tables_in_order(void **state)
{
    fixture *fx = *state;
    put_numbered(fx, 0, 300, 10);
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);
    put_numbered(fx, 300, 600, 10); /* memtable over tables */
    put_numbered(fx, 100, 200, 20); /* newer versions shadow older ones */
    ops o = {0};
    for (int i = 0; i < 600; i += 7) {
        ops_del(&o, numbered(i)); /* tombstones are skipped */
    }
    batch_ok(fx, &o);
    static char got[16384], want[16384];
    Lsmkv__V1__ScanRequest req = scan_request(37);
    int pages = scan_all(fx, req, got, sizeof(got));
    want[0] = '\0';
    for (int i = 0; i < 600; i++) {
        if (i % 7 != 0) {
            append_escaped(want, sizeof(want), (const uint8_t *)numbered(i), 6, ' ');
        }
    }
    want[strlen(want) - 1] = '\0';
    assert_string_equal(got, want);
    assert_int_equal(pages, (600 - 86 + 36) / 37);
    /* One page holding everything. */
    req.limit = 10000;
    assert_int_equal(scan_all(fx, req, got, sizeof(got)), 1);
    assert_string_equal(got, want);
}

static void
test_scan_page_carries_values_and_resume_key(void **state)
{
    fixture *fx = *state;
    put_ok(fx, "a", "1");
    put_ok(fx, "b", "");
    put_ok(fx, "c", "3");
    Lsmkv__V1__ScanRequest req = scan_request(2);
    Lsmkv__V1__ScanResponse *resp = scan_page_ok(fx, &req, NULL);
    assert_int_equal(resp->n_pairs, 2);
    assert_int_equal(resp->pairs[0]->key.len, 1);
    assert_memory_equal(resp->pairs[0]->key.data, "a", 1);
    assert_int_equal(resp->pairs[0]->value.len, 1);
    assert_memory_equal(resp->pairs[0]->value.data, "1", 1);
    assert_int_equal(resp->pairs[1]->value.len, 0); /* an empty value */
    /* The resume key is the next key itself. */
    assert_int_equal(resp->resume_key.len, 1);
    assert_memory_equal(resp->resume_key.data, "c", 1);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    /* A page ending exactly at the end of the range says so. */
    req.limit = 3;
    resp = scan_page_ok(fx, &req, NULL);
    assert_int_equal(resp->n_pairs, 3);
    assert_int_equal(resp->resume_key.len, 0);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    /* keys_only: no values on the wire. */
    req.keys_only = true;
    resp = scan_page_ok(fx, &req, NULL);
    assert_int_equal(resp->n_pairs, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(resp->pairs[i]->value.len, 0);
    }
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
}

static void
test_scan_of_an_empty_store_or_range_is_ok_and_empty(void **state)
{
    fixture *fx = *state;
    static char got[256];
    Lsmkv__V1__ScanRequest req = scan_request(10);
    assert_int_equal(scan_all(fx, req, got, sizeof(got)), 1);
    assert_string_equal(got, "");
    put_ok(fx, "m", "v");
    req.start = text("m");
    req.end = text("m"); /* start == end: an empty range */
    assert_int_equal(scan_all(fx, req, got, sizeof(got)), 1);
    assert_string_equal(got, "");
    req.start = text("n");
    req.end = (ProtobufCBinaryData){0};
    scan_all(fx, req, got, sizeof(got));
    assert_string_equal(got, "");
}

/* Binary keys around the edges of prefixes: NUL bytes and 0xff bytes. */
static void
put_binary_keys(fixture *fx)
{
    static const char *const keys[] = {
        "a",      "a\x00", "a\x00\x00", "a\x00\xff", "a\x01",        "ab",
        "ab\xff", "b",     "\xff",      "\xff\xff",  "\xff\xff\x00",
    };
    static const size_t lens[] = {1, 2, 3, 3, 2, 2, 3, 1, 1, 2, 3};
    ops o = {0};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, keys[i], lens[i], "v", 1);
    }
    batch_ok(fx, &o);
}

static const char *
scan_keys(fixture *fx, const char *start, size_t start_len, const char *end, size_t end_len,
          const char *prefix, size_t prefix_len, uint32_t limit)
{
    static char got[1024];
    Lsmkv__V1__ScanRequest req = scan_request(limit);
    req.start = (ProtobufCBinaryData){.len = start_len, .data = (uint8_t *)start};
    req.end = (ProtobufCBinaryData){.len = end_len, .data = (uint8_t *)end};
    req.prefix = (ProtobufCBinaryData){.len = prefix_len, .data = (uint8_t *)prefix};
    scan_all(fx, req, got, sizeof(got));
    return got;
}

static void
test_scan_prefix_start_and_end_intersect_on_binary_keys(void **state)
{
    fixture *fx = *state;
    put_binary_keys(fx);
    for (uint32_t limit = 1; limit <= 3; limit++) { /* the same whatever the page size */
        assert_string_equal(scan_keys(fx, NULL, 0, NULL, 0, "a\0", 2, limit),
                            "a\\x00 a\\x00\\x00 a\\x00\\xff");
        assert_string_equal(scan_keys(fx, NULL, 0, NULL, 0, "\xff", 1, limit),
                            "\\xff \\xff\\xff \\xff\\xff\\x00");
        assert_string_equal(scan_keys(fx, NULL, 0, NULL, 0, "\xff\xff", 2, limit),
                            "\\xff\\xff \\xff\\xff\\x00");
        assert_string_equal(scan_keys(fx, NULL, 0, NULL, 0, "ab", 2, limit), "ab ab\\xff");
        /* start inside the prefix */
        assert_string_equal(scan_keys(fx, "a\0\x01", 3, NULL, 0, "a\0", 2, limit), "a\\x00\\xff");
        /* end inside the prefix (exclusive) */
        assert_string_equal(scan_keys(fx, NULL, 0, "a\0\xff", 3, "a", 1, limit),
                            "a a\\x00 a\\x00\\x00");
        /* start and end around the prefix: the prefix decides */
        assert_string_equal(scan_keys(fx, "", 0, "z", 1, "a\x01", 2, limit), "a\\x01");
        /* start after every key of the prefix; end before them: nothing */
        assert_string_equal(scan_keys(fx, "ac", 2, NULL, 0, "ab", 2, limit), "");
        assert_string_equal(scan_keys(fx, NULL, 0, "a", 1, "a", 1, limit), "");
        /* no prefix: start inclusive, end exclusive */
        assert_string_equal(scan_keys(fx, "a\x01", 2, "b", 1, NULL, 0, limit), "a\\x01 ab ab\\xff");
        assert_string_equal(scan_keys(fx, "b", 1, NULL, 0, NULL, 0, limit),
                            "b \\xff \\xff\\xff \\xff\\xff\\x00");
    }
    /* A prefix no key has. */
    assert_string_equal(scan_keys(fx, NULL, 0, NULL, 0, "\x00", 1, 5), "");
}

static void
test_scan_bad_requests(void **state)
{
    fixture *fx = *state;
    put_ok(fx, "a", "1");
    Lsmkv__V1__ScanRequest req = scan_request(0);
    expect_code(call(fx, KV("Scan"), &req.base), INVALID_ARGUMENT, "the limit is 0");
    /* An empty request has every field at its default, limit 0 included. */
    expect_code(call(fx, KV("Scan"), NULL), INVALID_ARGUMENT, "the limit is 0");
    req = scan_request(10);
    req.start = text("b");
    req.end = text("a");
    expect_code(call(fx, KV("Scan"), &req.base), INVALID_ARGUMENT, "sorts after end");
    /* A proper prefix sorts first: "ab" > "a". */
    req.start = text("ab");
    expect_code(call(fx, KV("Scan"), &req.base), INVALID_ARGUMENT, "start <= end");
    req = scan_request(10);
    req.reverse = true;
    expect_code(call(fx, KV("Scan"), &req.base), UNIMPLEMENTED, "reverse scans are not supported");
}

static void
test_scan_huge_limit_is_capped(void **state)
{
    fixture *fx = *state;
    put_numbered(fx, 0, KV_SCAN_MAX_PAIRS + 5, 0);
    Lsmkv__V1__ScanRequest req = scan_request(UINT32_MAX);
    req.keys_only = true;
    Lsmkv__V1__ScanResponse *resp = scan_page_ok(fx, &req, NULL);
    assert_int_equal(resp->n_pairs, KV_SCAN_MAX_PAIRS);
    assert_int_equal(resp->resume_key.len, 6);
    assert_memory_equal(resp->resume_key.data, numbered(KV_SCAN_MAX_PAIRS), 6);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    req.limit = KV_SCAN_MAX_PAIRS + 1;
    resp = scan_page_ok(fx, &req, NULL);
    assert_int_equal(resp->n_pairs, KV_SCAN_MAX_PAIRS);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
}

/* Reopens the fixture's rpc with another message limit. */
static void
set_max_message(fixture *fx, size_t bytes)
{
    fixture_close(fx);
    fx->max_message = bytes;
    fixture_open(fx, NULL);
}

static void
test_scan_pages_are_cut_to_the_message_size(void **state)
{
    fixture *fx = *state;
    set_max_message(fx, 4096);
    put_numbered(fx, 0, 1000, 100);
    static char got[16384], want[16384];
    Lsmkv__V1__ScanRequest req = scan_request(10000);
    int pages = scan_all(fx, req, got, sizeof(got)); /* checks every reply <= 4096 bytes */
    numbered_list(0, 1000, want, sizeof(want));
    assert_string_equal(got, want);
    /* About 110 bytes a pair: some 36 pairs a page. */
    assert_true(pages >= 1000 * 110 / 4096);
    assert_true(pages <= 1000 / 30);
    /* The first page uses most of the room it has. */
    size_t reply_len;
    Lsmkv__V1__ScanResponse *resp = scan_page_ok(fx, &req, &reply_len);
    assert_true(reply_len > 4096 - 2 * 120);
    assert_true(reply_len <= 4096);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    /* keys_only: values take no room, so a page holds more. */
    req.keys_only = true;
    int key_pages = scan_all(fx, req, got, sizeof(got));
    assert_string_equal(got, want);
    assert_true(key_pages < pages / 5);
}

static void
test_scan_resume_key_too_long_for_the_page_is_shortened(void **state)
{
    fixture *fx = *state;
    set_max_message(fx, 1024); /* 960 bytes for the ScanResponse */
    char value[900];
    memset(value, 'v', sizeof(value));
    char long_key[600];
    memset(long_key, 'b', sizeof(long_key));
    ops o = {0};
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "a", 1, value, sizeof(value));
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, long_key, sizeof(long_key), "", 0);
    batch_ok(fx, &o);
    Lsmkv__V1__ScanRequest req = scan_request(10);
    size_t reply_len;
    Lsmkv__V1__ScanResponse *resp = scan_page_ok(fx, &req, &reply_len);
    assert_true(reply_len <= 1024);
    assert_int_equal(resp->n_pairs, 1);
    /* "bbb..." does not fit beside the pair: "b", between "a" and it, stands for it. */
    assert_int_equal(resp->resume_key.len, 1);
    assert_memory_equal(resp->resume_key.data, "b", 1);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    req.start = text("b");
    resp = scan_page_ok(fx, &req, &reply_len);
    assert_int_equal(resp->n_pairs, 1);
    assert_int_equal(resp->pairs[0]->key.len, sizeof(long_key));
    assert_int_equal(resp->resume_key.len, 0);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);

    /* Keys sharing a long prefix: the stand-in is the next key cut just past where they differ. */
    char k1[301], k2[701], v1[290];
    memset(k1, 'x', 300);
    k1[300] = 'a';
    memset(k2, 'x', 300);
    k2[300] = 'b';
    memset(k2 + 301, 'y', 400);
    memset(v1, 'v', sizeof(v1));
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, k1, sizeof(k1), v1, sizeof(v1));
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, k2, sizeof(k2), "", 0);
    /* A key that is a prefix of the next: the stand-in is one byte longer. */
    char k3[601];
    memset(k3, 'q', sizeof(k3));
    k3[0] = 'p';
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "p", 1, value, 800);
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, k3, sizeof(k3), "", 0);
    batch_ok(fx, &o);
    req.start = text("x");
    resp = scan_page_ok(fx, &req, &reply_len);
    assert_true(reply_len <= 1024);
    assert_int_equal(resp->n_pairs, 1);
    assert_int_equal(resp->resume_key.len, 301);
    assert_memory_equal(resp->resume_key.data, k2, 301);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    req.start = (ProtobufCBinaryData){.len = 301, .data = (uint8_t *)k2};
    resp = scan_page_ok(fx, &req, &reply_len);
    assert_int_equal(resp->n_pairs, 1);
    assert_int_equal(resp->pairs[0]->key.len, sizeof(k2));
    assert_int_equal(resp->resume_key.len, 0);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    req.start = text("p");
    req.end = text("q");
    static char got[2048];
    assert_int_equal(scan_all(fx, req, got, sizeof(got)), 2);
    resp = scan_page_ok(fx, &req, &reply_len);
    assert_int_equal(resp->resume_key.len, 2);
    assert_memory_equal(resp->resume_key.data, "pq", 2);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    req.end = (ProtobufCBinaryData){0};

    /* A first pair that fills the page (959 of 960 bytes) is answered if it is the last... */
    char fill[950];
    memset(fill, 'f', sizeof(fill));
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "c", 1, fill, sizeof(fill));
    batch_ok(fx, &o);
    req.start = text("c");
    req.end = text("d");
    resp = scan_page_ok(fx, &req, &reply_len);
    assert_int_equal(resp->n_pairs, 1);
    assert_int_equal(resp->resume_key.len, 0);
    /* 959 bytes of ScanResponse; an empty Status (2), the payload's tag and length (3). */
    assert_int_equal(reply_len, 959 + 5);
    assert_int_equal(1024 - RPC_ENVELOPE_RESERVE, 960);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
    /* ... but not when a resume key would have to go with it. */
    put_ok(fx, "cc", "");
    expect_code(call(fx, KV("Scan"), &req.base), RESOURCE_EXHAUSTED,
                "leaves no room for the key to resume at");
}

static void
test_scan_pair_larger_than_a_message_is_resource_exhausted(void **state)
{
    fixture *fx = *state;
    set_max_message(fx, 1024);
    char value[2000];
    memset(value, 'x', sizeof(value));
    ops o = {0};
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "big", 3, value, sizeof(value));
    ops_put(&o, "small", "s");
    batch_ok(fx, &o);
    Lsmkv__V1__ScanRequest req = scan_request(10);
    expect_code(call(fx, KV("Scan"), &req.base), RESOURCE_EXHAUSTED, "--max-message-size");
    assert_non_null(strstr(fx->log_text, "Scan failed (code 8)"));
    /* Without values it fits; and from the next key on, too. */
    req.keys_only = true;
    static char got[256];
    scan_all(fx, req, got, sizeof(got));
    assert_string_equal(got, "big small");
    req.keys_only = false;
    req.start = text("c");
    scan_all(fx, req, got, sizeof(got));
    assert_string_equal(got, "small");
    /* A big pair after others ends the page before it instead. */
    req.start = (ProtobufCBinaryData){0};
    req.prefix = (ProtobufCBinaryData){0};
    put_ok(fx, "a", "first");
    Lsmkv__V1__ScanResponse *resp = scan_page_ok(fx, &req, NULL);
    assert_int_equal(resp->n_pairs, 1);
    assert_int_equal(resp->resume_key.len, 3);
    assert_memory_equal(resp->resume_key.data, "big", 3);
    lsmkv__v1__scan_response__free_unpacked(resp, NULL);
}

/* ---- Batch ----------------------------------------------------------------------------------- */

static void
test_batch_applies_puts_and_deletes(void **state)
{
    fixture *fx = *state;
    uint64_t before = put_ok(fx, "gone", "soon");
    ops o = {0};
    ops_put(&o, "x", "1");
    ops_put(&o, "y", "2");
    ops_del(&o, "gone");
    ops_put(&o, "x", "3"); /* later ops on the same key win */
    ops_del(&o, "never-there");
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "\0bin", 4, "\0\xff", 2);
    uint64_t seq = batch_ok(fx, &o);
    assert_int_equal(seq, before + 6); /* one sequence number per op */
    assert_true(get_check(fx, "x", 1, "3", 1));
    assert_true(get_check(fx, "y", 1, "2", 1));
    assert_true(get_check(fx, "\0bin", 4, "\0\xff", 2));
    assert_false(found_str(fx, "gone"));
    for (int mode = 0; mode < 3; mode++) {
        ops_put(&o, "synced", "v");
        expect_code(batch(fx, &o, (Lsmkv__V1__SyncMode)mode), OK, NULL);
    }
}

static void
test_empty_batch_is_ok_and_writes_nothing(void **state)
{
    fixture *fx = *state;
    uint64_t seq = put_ok(fx, "a", "1");
    ops o = {0};
    assert_int_equal(batch_ok(fx, &o), seq);
    expect_code(call(fx, KV("Batch"), NULL), OK, NULL);
    assert_int_equal(store_puts(fx), 1);
}

/* The batch in o (freed) must fail with code and a message containing needle, writing nothing. */
static void
expect_batch_refused(fixture *fx, ops *o, int code, const char *needle)
{
    uint64_t puts = store_puts(fx);
    expect_code(batch(fx, o, LSMKV__V1__SYNC_MODE__SYNC_DEFAULT), code, needle);
    assert_int_equal(store_puts(fx), puts);
    assert_false(found_str(fx, "first"));
}

static void
test_batch_with_a_bad_op_applies_nothing(void **state)
{
    fixture *fx = *state;
    ops o = {0};
    ops_put(&o, "first", "1");
    ops_put(&o, "second", "2");
    ops_put(&o, "", "3");
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "op 2: the key is empty");

    ops_put(&o, "first", "1");
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_UNSPECIFIED, "k", 1, NULL, 0);
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "op 1: type 0 is not OP_TYPE_PUT");
    ops_put(&o, "first", "1");
    ops_add(&o, (Lsmkv__V1__OpType)9, "k", 1, NULL, 0);
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "op 1: type 9");

    ops_put(&o, "first", "1");
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_DELETE, "k", 1, "v", 1);
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "op 1: a delete carries no value");

    uint8_t *big = calloc(1, MAX_VALUE + 1);
    ops_put(&o, "first", "1");
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, big, MAX_KEY + 1, "v", 1);
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "op 1: the key is 1025 bytes");
    ops_put(&o, "first", "1");
    ops_put(&o, "ok", "ok");
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "k", 1, big, MAX_VALUE + 1);
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "op 2: the value is 65537 bytes");
    free(big);

    ops_put(&o, "first", "1");
    o.ptrs = NULL;
    Lsmkv__V1__BatchOp *ptr = &o.ops[0];
    Lsmkv__V1__BatchRequest req = LSMKV__V1__BATCH_REQUEST__INIT;
    req.n_ops = 1;
    req.ops = &ptr;
    req.sync = (Lsmkv__V1__SyncMode)5;
    expect_code(call(fx, KV("Batch"), &req.base), INVALID_ARGUMENT, "sync mode 5");
    ops_free(&o);
    assert_int_equal(store_puts(fx), 0);
    assert_false(found_str(fx, "first"));
}

static void
test_batch_over_the_batch_limit_is_invalid_argument(void **state)
{
    fixture *fx = *state;
    uint8_t *value = calloc(1, MAX_VALUE);
    ops o = {0};
    ops_put(&o, "first", "1");
    for (int i = 0; i < MAX_BATCH / MAX_VALUE + 1; i++) {
        ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, numbered(i), 6, value, MAX_VALUE);
    }
    expect_batch_refused(fx, &o, INVALID_ARGUMENT, "the limit is 262144");
    /* Just under the limit is fine. */
    for (int i = 0; i < MAX_BATCH / MAX_VALUE - 1; i++) {
        ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, numbered(i), 6, value, MAX_VALUE);
    }
    batch_ok(fx, &o);
    free(value);
}

/* ---- MultiGet ------------------------------------------------------------------------------- */

static answer
multi_get(fixture *fx, ProtobufCBinaryData *keys, size_t n)
{
    Lsmkv__V1__MultiGetRequest req = LSMKV__V1__MULTI_GET_REQUEST__INIT;
    req.n_keys = n;
    req.keys = keys;
    return call(fx, KV("MultiGet"), &req.base);
}

static void
test_multi_get_answers_each_key_in_order(void **state)
{
    fixture *fx = *state;
    ops o = {0};
    ops_put(&o, "a", "1");
    ops_put(&o, "empty", "");
    ops_add(&o, LSMKV__V1__OP_TYPE__OP_TYPE_PUT, "\0k", 2, "\0v\0", 3);
    batch_ok(fx, &o);
    lsmkv__v1__flush_response__free_unpacked(flush(fx), NULL);
    put_ok(fx, "a", "2"); /* the memtable's newer value wins */
    ProtobufCBinaryData keys[] = {text("missing"),       text("a"), text("empty"),
                                  {2, (uint8_t *)"\0k"}, text("a"), {1, (uint8_t *)"\0"}};
    answer a = multi_get(fx, keys, 6);
    assert_int_equal(a.code, OK);
    Lsmkv__V1__MultiGetResponse *resp =
        lsmkv__v1__multi_get_response__unpack(NULL, a.payload_len, a.payload);
    assert_non_null(resp);
    assert_int_equal(resp->n_results, 6);
    static const bool found[] = {false, true, true, true, true, false};
    static const char *const values[] = {"", "2", "", "\0v\0", "2", ""};
    static const size_t lens[] = {0, 1, 0, 3, 1, 0};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(resp->results[i]->found, found[i]);
        assert_int_equal(resp->results[i]->value.len, lens[i]);
        assert_memory_equal(resp->results[i]->value.data ? resp->results[i]->value.data
                                                         : (uint8_t *)"",
                            values[i], lens[i]);
    }
    lsmkv__v1__multi_get_response__free_unpacked(resp, NULL);
    answer_fini(&a);
    /* No keys: no results. */
    a = multi_get(fx, NULL, 0);
    assert_int_equal(a.code, OK);
    assert_int_equal(a.payload_len, 0);
    answer_fini(&a);
}

static void
test_multi_get_bad_keys_and_too_many_keys(void **state)
{
    fixture *fx = *state;
    ProtobufCBinaryData keys[] = {text("a"), text("b"), {0, NULL}};
    expect_code(multi_get(fx, keys, 3), INVALID_ARGUMENT, "key 2: the key is empty");
    uint8_t *big = calloc(1, MAX_KEY + 1);
    keys[2] = (ProtobufCBinaryData){MAX_KEY + 1, big};
    expect_code(multi_get(fx, keys, 3), INVALID_ARGUMENT, "key 2: the key is 1025 bytes");
    free(big);
    size_t n = KV_MULTI_GET_MAX_KEYS + 1;
    ProtobufCBinaryData *many = calloc(n, sizeof(*many));
    for (size_t i = 0; i < n; i++) {
        many[i] = text("k");
    }
    expect_code(multi_get(fx, many, n), INVALID_ARGUMENT,
                "10001 keys; a MultiGet takes at most "
                "10000");
    answer a = multi_get(fx, many, n - 1); /* the most there may be */
    assert_int_equal(a.code, OK);
    answer_fini(&a);
    free(many);
}

static void
test_multi_get_over_the_message_size_is_resource_exhausted(void **state)
{
    fixture *fx = *state;
    set_max_message(fx, 4096);
    char value[1000];
    memset(value, 'v', sizeof(value));
    value[sizeof(value) - 1] = '\0';
    put_ok(fx, "a", value);
    put_ok(fx, "b", value);
    put_ok(fx, "c", value);
    put_ok(fx, "d", value);
    ProtobufCBinaryData keys[] = {text("a"), text("b"), text("c"), text("d"), text("e")};
    answer a = multi_get(fx, keys, 4);
    assert_int_equal(a.code, OK);
    assert_true(a.reply_len <= 4096);
    answer_fini(&a);
    keys[3] = text("a");
    keys[4] = text("b");
    expect_code(multi_get(fx, keys, 5), RESOURCE_EXHAUSTED, "ask for fewer keys");
}

static void
test_stats_count_scans_batches_and_multi_gets(void **state)
{
    fixture *fx = *state;
    ops o = {0};
    ops_put(&o, "a", "1");
    ops_del(&o, "b");
    batch_ok(fx, &o);
    ops_put(&o, "", "bad");
    expect_code(batch(fx, &o, LSMKV__V1__SYNC_MODE__SYNC_DEFAULT), INVALID_ARGUMENT, NULL);
    Lsmkv__V1__ScanRequest req = scan_request(5);
    lsmkv__v1__scan_response__free_unpacked(scan_page_ok(fx, &req, NULL), NULL);
    lsmkv__v1__scan_response__free_unpacked(scan_page_ok(fx, &req, NULL), NULL);
    ProtobufCBinaryData keys[] = {text("a"), text("b"), text("c")};
    expect_code(multi_get(fx, keys, 3), OK, NULL);
    Lsmkv__V1__StatsResponse *s = stats(fx);
    assert_int_equal(s->batches, 1);
    assert_int_equal(s->scans, 2);
    assert_int_equal(s->multi_gets, 1);
    assert_int_equal(s->puts, 1); /* a batch's ops count as puts and deletes */
    assert_int_equal(s->deletes, 1);
    assert_int_equal(s->gets, 3); /* and a MultiGet's keys as gets */
    assert_int_equal(s->requests, 5);
    assert_int_equal(s->request_errors, 1);
    lsmkv__v1__stats_response__free_unpacked(s, NULL);
}

static void
test_truncated_scan_batch_and_multi_get_payloads_never_crash(void **state)
{
    fixture *fx = *state;
    Lsmkv__V1__ScanRequest scan = scan_request(3);
    scan.start = text("start");
    scan.prefix = text("st");
    ProtobufCBinaryData keys[] = {text("k1"), text("k2")};
    Lsmkv__V1__MultiGetRequest mget = LSMKV__V1__MULTI_GET_REQUEST__INIT;
    mget.n_keys = 2;
    mget.keys = keys;
    Lsmkv__V1__BatchOp op = LSMKV__V1__BATCH_OP__INIT;
    op.type = LSMKV__V1__OP_TYPE__OP_TYPE_PUT;
    op.key = text("key");
    op.value = text("value");
    Lsmkv__V1__BatchOp *ptrs[] = {&op, &op};
    Lsmkv__V1__BatchRequest bat = LSMKV__V1__BATCH_REQUEST__INIT;
    bat.n_ops = 2;
    bat.ops = ptrs;
    const ProtobufCMessage *msgs[] = {&scan.base, &mget.base, &bat.base};
    const char *methods[] = {KV("Scan"), KV("MultiGet"), KV("Batch")};
    for (int m = 0; m < 3; m++) {
        uint8_t payload[128];
        size_t payload_len = protobuf_c_message_pack(msgs[m], payload);
        for (size_t cut = 0; cut < payload_len; cut++) {
            uint8_t *copy = malloc(cut + 1);
            memcpy(copy, payload, cut);
            size_t len;
            uint8_t *bytes = envelope(methods[m], copy, cut, 0, &len);
            answer a = call_bytes(fx, bytes, len);
            /* Cut at a field boundary it is a valid request with fewer fields. */
            assert_true(a.code == OK || a.code == INVALID_ARGUMENT);
            answer_fini(&a);
            free(bytes);
            free(copy);
        }
    }
}

/* ---- rpc_try_handle: answering on a thread that must not wait -------------------------- */

/* Offers method(msg) to rpc_try_handle; returns its code and how often it answered. */
static int
try_call(fixture *fx, const char *method, const ProtobufCMessage *msg, int *answers)
{
    size_t payload_len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    if (msg != NULL) {
        protobuf_c_message_pack(msg, payload);
    }
    size_t len;
    uint8_t *bytes = envelope(method, payload, payload_len, 0, &len);
    sink snk = {0};
    rpc_reply reply = {.reserve = sink_reserve, .ctx = &snk};
    int code = rpc_try_handle(fx->r, bytes, len, rpc_clock_ns(), &reply);
    *answers = snk.calls;
    free(snk.bytes);
    free(bytes);
    free(payload);
    return code;
}

static void
test_try_handle_answers_writes_that_need_no_wait(void **state)
{
    fixture *fx = *state;
    int answers;
    Lsmkv__V1__PutRequest put_req = LSMKV__V1__PUT_REQUEST__INIT;
    put_req.key = (ProtobufCBinaryData){1, (uint8_t *)"a"};
    put_req.value = (ProtobufCBinaryData){1, (uint8_t *)"1"};
    /* The store's default is sync always: these ask for none. */
    put_req.sync = LSMKV__V1__SYNC_MODE__SYNC_NONE;
    assert_int_equal(try_call(fx, KV("Put"), &put_req.base, &answers), OK);
    assert_int_equal(answers, 1);
    assert_true(get_check(fx, "a", 1, "1", 1));

    Lsmkv__V1__DeleteRequest del_req = LSMKV__V1__DELETE_REQUEST__INIT;
    del_req.key = (ProtobufCBinaryData){1, (uint8_t *)"a"};
    del_req.sync = LSMKV__V1__SYNC_MODE__SYNC_NONE;
    assert_int_equal(try_call(fx, KV("Delete"), &del_req.base, &answers), OK);
    assert_int_equal(answers, 1);
    assert_false(get_check(fx, "a", 1, NULL, 0));

    Lsmkv__V1__BatchOp op = LSMKV__V1__BATCH_OP__INIT;
    op.type = LSMKV__V1__OP_TYPE__OP_TYPE_PUT;
    op.key = (ProtobufCBinaryData){1, (uint8_t *)"b"};
    op.value = (ProtobufCBinaryData){1, (uint8_t *)"2"};
    Lsmkv__V1__BatchOp *batch_ops[] = {&op};
    Lsmkv__V1__BatchRequest batch_req = LSMKV__V1__BATCH_REQUEST__INIT;
    batch_req.n_ops = 1;
    batch_req.ops = batch_ops;
    batch_req.sync = LSMKV__V1__SYNC_MODE__SYNC_NONE;
    assert_int_equal(try_call(fx, KV("Batch"), &batch_req.base, &answers), OK);
    assert_int_equal(answers, 1);
    assert_true(get_check(fx, "b", 1, "2", 1));
}

static void
test_try_handle_leaves_waiting_work_untouched(void **state)
{
    fixture *fx = *state;
    int answers;
    /* A sync write (the store's default) waits for its fsync: not done, not answered. */
    Lsmkv__V1__PutRequest put_req = LSMKV__V1__PUT_REQUEST__INIT;
    put_req.key = (ProtobufCBinaryData){1, (uint8_t *)"s"};
    put_req.value = (ProtobufCBinaryData){1, (uint8_t *)"v"};
    assert_int_equal(try_call(fx, KV("Put"), &put_req.base, &answers), RPC_WOULD_BLOCK);
    assert_int_equal(answers, 0);
    put_req.sync = LSMKV__V1__SYNC_MODE__SYNC_ALWAYS;
    assert_int_equal(try_call(fx, KV("Put"), &put_req.base, &answers), RPC_WOULD_BLOCK);
    assert_int_equal(answers, 0);
    assert_false(get_check(fx, "s", 1, NULL, 0));
    /* A Get from the memtable needs no disk: answered (the key is absent). */
    Lsmkv__V1__GetRequest get_req = LSMKV__V1__GET_REQUEST__INIT;
    get_req.key = (ProtobufCBinaryData){1, (uint8_t *)"s"};
    assert_int_equal(try_call(fx, KV("Get"), &get_req.base, &answers), OK);
    assert_int_equal(answers, 1);
    /* Scans, flushes, compactions and stats always go to a thread that may block. */
    Lsmkv__V1__ScanRequest scan_req = LSMKV__V1__SCAN_REQUEST__INIT;
    scan_req.limit = 10;
    assert_int_equal(try_call(fx, KV("Scan"), &scan_req.base, &answers), RPC_WOULD_BLOCK);
    assert_int_equal(answers, 0);
    Lsmkv__V1__FlushRequest flush_req = LSMKV__V1__FLUSH_REQUEST__INIT;
    assert_int_equal(try_call(fx, KV("Flush"), &flush_req.base, &answers), RPC_WOULD_BLOCK);
    assert_int_equal(answers, 0);
    Lsmkv__V1__StatsRequest stats_req = LSMKV__V1__STATS_REQUEST__INIT;
    assert_int_equal(try_call(fx, KV("Stats"), &stats_req.base, &answers), RPC_WOULD_BLOCK);
    assert_int_equal(answers, 0);
    /* Requested again by the worker, the sync write is done. */
    put_req.key = (ProtobufCBinaryData){1, (uint8_t *)"s"};
    answer a = call(fx, KV("Put"), &put_req.base);
    assert_int_equal(a.code, OK);
    answer_fini(&a);
    assert_true(get_check(fx, "s", 1, "v", 1));
}

static void
test_try_handle_answers_bad_input_at_once(void **state)
{
    fixture *fx = *state;
    int answers;
    Lsmkv__V1__PutRequest put_req = LSMKV__V1__PUT_REQUEST__INIT; /* empty key */
    assert_int_equal(try_call(fx, KV("Put"), &put_req.base, &answers), INVALID_ARGUMENT);
    assert_int_equal(answers, 1);
    assert_int_equal(try_call(fx, KV("Nope"), NULL, &answers), UNIMPLEMENTED);
    assert_int_equal(answers, 1);
    sink snk = {0};
    rpc_reply reply = {.reserve = sink_reserve, .ctx = &snk};
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    assert_int_equal(rpc_try_handle(fx->r, garbage, sizeof(garbage), rpc_clock_ns(), &reply),
                     INVALID_ARGUMENT);
    assert_int_equal(snk.calls, 1);
    free(snk.bytes);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_then_get_binary_key_and_value),
        T(test_put_returns_increasing_sequences),
        T(test_get_missing_key_is_ok_with_found_false),
        T(test_put_empty_value_is_found_empty),
        T(test_delete_hides_the_key_and_missing_delete_is_ok),
        T(test_put_and_delete_honour_sync_modes),
        T(test_largest_key_and_value_are_accepted),
        T(test_flush_answers_the_table_written),
        T(test_compact_answers_inputs_and_outputs),
        T(test_stats_reports_store_and_server_counters),
        T(test_empty_message_is_invalid_argument),
        T(test_garbage_bytes_are_invalid_argument),
        T(test_truncated_envelope_is_invalid_argument),
        T(test_wrongly_typed_envelope_is_invalid_argument),
        T(test_truncated_payload_is_invalid_argument),
        T(test_wrongly_typed_payload_is_invalid_argument),
        T(test_unknown_or_malformed_method),
        T(test_empty_key_is_invalid_argument),
        T(test_oversize_key_or_value_is_invalid_argument),
        T(test_unknown_sync_mode_is_invalid_argument),
        T(test_deadline_already_passed_is_not_executed),
        T(test_wal_io_error_is_unavailable_then_read_only),
        T(test_no_space_is_resource_exhausted),
        T(test_corruption_is_data_loss),
        T(test_write_stalled_past_deadline_is_resource_exhausted),
        T(test_scan_pages_through_memtable_and_tables_in_order),
        T(test_scan_page_carries_values_and_resume_key),
        T(test_scan_of_an_empty_store_or_range_is_ok_and_empty),
        T(test_scan_prefix_start_and_end_intersect_on_binary_keys),
        T(test_scan_bad_requests),
        T(test_scan_huge_limit_is_capped),
        T(test_scan_pages_are_cut_to_the_message_size),
        T(test_scan_resume_key_too_long_for_the_page_is_shortened),
        T(test_scan_pair_larger_than_a_message_is_resource_exhausted),
        T(test_batch_applies_puts_and_deletes),
        T(test_empty_batch_is_ok_and_writes_nothing),
        T(test_batch_with_a_bad_op_applies_nothing),
        T(test_batch_over_the_batch_limit_is_invalid_argument),
        T(test_multi_get_answers_each_key_in_order),
        T(test_multi_get_bad_keys_and_too_many_keys),
        T(test_multi_get_over_the_message_size_is_resource_exhausted),
        T(test_stats_count_scans_batches_and_multi_gets),
        T(test_truncated_scan_batch_and_multi_get_payloads_never_crash),
        T(test_try_handle_answers_writes_that_need_no_wait),
        T(test_try_handle_leaves_waiting_work_untouched),
        T(test_try_handle_answers_bad_input_at_once),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
