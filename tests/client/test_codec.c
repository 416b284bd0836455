#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lsmkv/client.h"
#include "test_support.h"
#include "test_wire.h"

/* ---- helpers ----------------------------------------------------------------------- */

/* Splits an RpcRequest into method, payload and timeout. */
static void
open_request(const codec_bytes *req, char *method, size_t method_size, const uint8_t **payload,
             size_t *payload_len, uint64_t *timeout_ms)
{
    const uint8_t *m = NULL;
    size_t m_len = 0;
    assert_true(test_wire_find(req->data, req->len, 1, NULL, &m, &m_len));
    assert_true(m_len < method_size);
    memcpy(method, m, m_len);
    method[m_len] = '\0';
    *payload = NULL;
    *payload_len = 0;
    test_wire_find(req->data, req->len, 2, NULL, payload, payload_len);
    *timeout_ms = 0;
    test_wire_find(req->data, req->len, 3, timeout_ms, NULL, NULL);
}

/* An RpcResponse with an optional status (code < 0: none) and payload. */
static void
make_response(test_wire *out, int code, const char *message, const test_wire *payload)
{
    memset(out, 0, sizeof(*out));
    if (code >= 0) {
        test_wire status = {0};
        if (code > 0) {
            test_wire_uint(&status, 1, (uint64_t)code);
        }
        if (message != NULL) {
            test_wire_bytes(&status, 2, message, strlen(message));
        }
        test_wire_message(out, 1, &status);
        test_wire_free(&status);
    }
    if (payload != NULL) {
        test_wire_message(out, 2, payload);
    }
}

/* ---- descriptors: the tables cannot drift from the .proto files ---------------------- */

static void
test_method_names_match_the_service(void **state)
{
    assert_int_equal(codec_service_method_count(), CODEC_METHOD_COUNT);
    for (int m = 0; m < CODEC_METHOD_COUNT; m++) {
        bool in_service = false;
        for (size_t i = 0; i < codec_service_method_count(); i++) {
            in_service |= strcmp(codec_service_method_name(i), codec_method_name(m)) == 0;
        }
        assert_true(in_service);
        char path[64];
        snprintf(path, sizeof(path), "/lsmkv.v1.KV/%s", codec_method_name(m));
        assert_string_equal(codec_method_path(m), path);
    }
}

static void
test_status_table_matches_wire_codes(void **state)
{
    assert_int_equal(codec_wire_code_count(), 17);
    for (size_t i = 0; i < codec_wire_code_count(); i++) {
        const char *name;
        int value = codec_wire_code(i, &name);
        assert_string_equal(lsmkv_client_status_name(value), name);
    }
    assert_string_equal(lsmkv_client_status_name(99), "UNKNOWN");
    assert_string_equal(lsmkv_client_status_str(LSMKV_CLIENT_INVALID_ARGUMENT), "invalid argument");
    assert_string_equal(lsmkv_client_status_str(-1), "unknown error");
}

/* ---- requests ----------------------------------------------------------------------- */

static void
test_encode_put_carries_binary_key_value_sync_and_deadline(void **state)
{
    static const uint8_t key[] = {'k', 0, 'e', 0xff};
    static const uint8_t value[] = {0, 0, 'v', 0};
    codec_bytes req;
    codec_encode_put(key, sizeof(key), value, sizeof(value), LSMKV_CLIENT_SYNC_ALWAYS, 1234, &req);
    char method[64];
    const uint8_t *payload;
    size_t payload_len;
    uint64_t timeout;
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/Put");
    assert_int_equal(timeout, 1234);
    const uint8_t *b;
    size_t n;
    assert_true(test_wire_find(payload, payload_len, 1, NULL, &b, &n));
    assert_int_equal(n, sizeof(key));
    assert_memory_equal(b, key, n);
    assert_true(test_wire_find(payload, payload_len, 2, NULL, &b, &n));
    assert_int_equal(n, sizeof(value));
    assert_memory_equal(b, value, n);
    uint64_t sync;
    assert_true(test_wire_find(payload, payload_len, 3, &sync, NULL, NULL));
    assert_int_equal(sync, 1);
    free(req.data);
}

static void
test_encode_get_and_delete(void **state)
{
    codec_bytes req;
    char method[64];
    const uint8_t *payload, *b;
    size_t payload_len, n;
    uint64_t timeout, sync;

    codec_encode_get((const uint8_t *)"a\0b", 3, 0, &req);
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/Get");
    assert_int_equal(timeout, 0);
    assert_true(test_wire_find(payload, payload_len, 1, NULL, &b, &n));
    assert_int_equal(n, 3);
    assert_memory_equal(b, "a\0b", 3);
    free(req.data);

    codec_encode_delete((const uint8_t *)"k", 1, LSMKV_CLIENT_SYNC_NONE, 7, &req);
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/Delete");
    assert_int_equal(timeout, 7);
    assert_true(test_wire_find(payload, payload_len, 2, &sync, NULL, NULL));
    assert_int_equal(sync, 2);
    free(req.data);
}

static void
test_encode_empty_requests(void **state)
{
    static const codec_method methods[] = {CODEC_FLUSH, CODEC_COMPACT, CODEC_STATS};
    static const char *const paths[] = {"/lsmkv.v1.KV/Flush", "/lsmkv.v1.KV/Compact",
                                        "/lsmkv.v1.KV/Stats"};
    for (int i = 0; i < 3; i++) {
        codec_bytes req;
        codec_encode_empty(methods[i], 5000, &req);
        char method[64];
        const uint8_t *payload;
        size_t payload_len;
        uint64_t timeout;
        open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
        assert_string_equal(method, paths[i]);
        assert_int_equal(payload_len, 0);
        assert_int_equal(timeout, 5000);
        free(req.data);
    }
}

static void
test_encode_empty_key_is_sent_for_the_server_to_judge(void **state)
{
    codec_bytes req;
    codec_encode_put(NULL, 0, NULL, 0, LSMKV_CLIENT_SYNC_DEFAULT, 10, &req);
    char method[64];
    const uint8_t *payload;
    size_t payload_len;
    uint64_t timeout;
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/Put");
    assert_int_equal(payload_len, 0); /* proto3 leaves out empty fields */
    free(req.data);
}

/* ---- responses ----------------------------------------------------------------------- */

static void
test_decode_put_sequence(void **state)
{
    test_wire payload = {0}, resp;
    test_wire_uint(&payload, 1, 42);
    make_response(&resp, 0, NULL, &payload);
    uint64_t seq = 0;
    lsmkv_client_error err;
    assert_int_equal(codec_decode_put(resp.data, resp.len, &seq, &err), LSMKV_CLIENT_OK);
    assert_int_equal(seq, 42);
    test_wire_free(&resp);

    /* A missing Status is proto3's default: OK. */
    make_response(&resp, -1, NULL, &payload);
    assert_int_equal(codec_decode_delete(resp.data, resp.len, &seq, &err), LSMKV_CLIENT_OK);
    assert_int_equal(seq, 42);
    assert_int_equal(codec_decode_put(resp.data, resp.len, NULL, &err), LSMKV_CLIENT_OK);
    test_wire_free(&resp);
    test_wire_free(&payload);
}

static void
test_decode_error_status_keeps_the_server_message(void **state)
{
    test_wire resp;
    make_response(&resp, LSMKV_CLIENT_INVALID_ARGUMENT, "the key is empty", NULL);
    uint64_t seq = 99;
    lsmkv_client_error err;
    assert_int_equal(codec_decode_put(resp.data, resp.len, &seq, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(err.code, LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_string_equal(err.message, "the key is empty");
    assert_int_equal(seq, 99); /* untouched on failure */
    test_wire_free(&resp);

    make_response(&resp, LSMKV_CLIENT_DATA_LOSS, NULL, NULL);
    assert_int_equal(codec_decode_put(resp.data, resp.len, &seq, &err), LSMKV_CLIENT_DATA_LOSS);
    assert_string_equal(err.message, "data loss");
    test_wire_free(&resp);

    /* err may be NULL. */
    make_response(&resp, LSMKV_CLIENT_UNAVAILABLE, "shutting down", NULL);
    assert_int_equal(codec_decode_put(resp.data, resp.len, &seq, NULL), LSMKV_CLIENT_UNAVAILABLE);
    test_wire_free(&resp);
}

static void
test_decode_unknown_status_code(void **state)
{
    test_wire resp;
    make_response(&resp, 99, "from the future", NULL);
    lsmkv_client_error err;
    assert_int_equal(codec_decode_put(resp.data, resp.len, NULL, &err), LSMKV_CLIENT_UNKNOWN);
    assert_non_null(strstr(err.message, "99"));
    assert_non_null(strstr(err.message, "from the future"));
    test_wire_free(&resp);
}

static void
test_decode_garbage_is_internal_error(void **state)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
    lsmkv_client_error err;
    uint64_t seq = 5;
    assert_int_equal(codec_decode_put(garbage, sizeof(garbage), &seq, &err), LSMKV_CLIENT_INTERNAL);
    assert_non_null(strstr(err.message, "not an RpcResponse"));
    assert_non_null(strstr(err.message, "/lsmkv.v1.KV/Put"));
    assert_int_equal(seq, 5);
}

static void
test_decode_bad_payload_is_internal_error(void **state)
{
    test_wire payload = {0}, resp;
    test_wire_raw(&payload, "\x0a\x7f", 2); /* field 1, 127 bytes, none follow */
    make_response(&resp, 0, NULL, &payload);
    uint8_t *value = (uint8_t *)"untouched";
    size_t len = 9;
    bool found = true;
    lsmkv_client_error err;
    assert_int_equal(codec_decode_get(resp.data, resp.len, &value, &len, &found, &err),
                     LSMKV_CLIENT_INTERNAL);
    assert_non_null(strstr(err.message, "GetResponse"));
    assert_string_equal((char *)value, "untouched");
    test_wire_free(&resp);
    test_wire_free(&payload);
}

static void
test_decode_truncated_answers_never_crash(void **state)
{
    test_wire table = {0}, payload = {0}, resp;
    test_wire_uint(&table, 1, 7);
    test_wire_bytes(&table, 7, "a\0", 2);
    test_wire_bytes(&table, 8, "z\xff", 2);
    test_wire_message(&payload, 1, &table);
    test_wire_message(&payload, 1, &table);
    make_response(&resp, 0, "", &payload);
    for (size_t cut = 0; cut <= resp.len; cut++) {
        lsmkv_client_table_list tables = {0};
        lsmkv_client_error err;
        int rc = codec_decode_flush(resp.data, cut, &tables, &err);
        assert_true(rc == LSMKV_CLIENT_OK || rc == LSMKV_CLIENT_INTERNAL);
        if (cut == resp.len) {
            assert_int_equal(rc, LSMKV_CLIENT_OK);
            assert_int_equal(tables.count, 2);
        }
        lsmkv_client_table_list_fini(&tables);
    }
    test_wire_free(&resp);
    test_wire_free(&payload);
    test_wire_free(&table);
}

static void
test_decode_get_found_missing_and_empty(void **state)
{
    static const uint8_t v[] = {0, 1, 0, 2};
    test_wire payload = {0}, resp;
    test_wire_uint(&payload, 1, 1);
    test_wire_bytes(&payload, 2, v, sizeof(v));
    make_response(&resp, 0, NULL, &payload);
    uint8_t *value;
    size_t len;
    bool found;
    assert_int_equal(codec_decode_get(resp.data, resp.len, &value, &len, &found, NULL),
                     LSMKV_CLIENT_OK);
    assert_true(found);
    assert_int_equal(len, sizeof(v));
    assert_memory_equal(value, v, len);
    free(value);
    test_wire_free(&resp);
    test_wire_free(&payload);

    /* found with an empty value: a non-NULL pointer, length 0 */
    test_wire_uint(&payload, 1, 1);
    make_response(&resp, 0, NULL, &payload);
    assert_int_equal(codec_decode_get(resp.data, resp.len, &value, &len, &found, NULL),
                     LSMKV_CLIENT_OK);
    assert_true(found);
    assert_non_null(value);
    assert_int_equal(len, 0);
    free(value);
    test_wire_free(&resp);
    test_wire_free(&payload);

    /* missing: OK with found = false */
    make_response(&resp, 0, NULL, NULL);
    assert_int_equal(codec_decode_get(resp.data, resp.len, &value, &len, &found, NULL),
                     LSMKV_CLIENT_OK);
    assert_false(found);
    assert_null(value);
    assert_int_equal(len, 0);
    test_wire_free(&resp);
}

static void
add_table(test_wire *msg, int field, uint64_t id, const char *min, size_t min_len, const char *max,
          size_t max_len)
{
    test_wire t = {0};
    test_wire_uint(&t, 1, id);
    test_wire_uint(&t, 2, 1);
    test_wire_uint(&t, 3, 4096);
    test_wire_uint(&t, 4, 10);
    test_wire_uint(&t, 5, 2);
    test_wire_uint(&t, 6, 77);
    test_wire_bytes(&t, 7, min, min_len);
    test_wire_bytes(&t, 8, max, max_len);
    test_wire_message(msg, field, &t);
    test_wire_free(&t);
}

static void
test_decode_flush_and_compact_tables(void **state)
{
    test_wire payload = {0}, resp;
    add_table(&payload, 1, 5, "\0a", 2, "z\0", 2);
    make_response(&resp, 0, NULL, &payload);
    lsmkv_client_table_list tables;
    assert_int_equal(codec_decode_flush(resp.data, resp.len, &tables, NULL), LSMKV_CLIENT_OK);
    assert_int_equal(tables.count, 1);
    const lsmkv_client_table_info *t = &tables.tables[0];
    assert_int_equal(t->id, 5);
    assert_int_equal(t->level, 1);
    assert_int_equal(t->size_bytes, 4096);
    assert_int_equal(t->entries, 10);
    assert_int_equal(t->tombstones, 2);
    assert_int_equal(t->max_sequence, 77);
    assert_int_equal(t->min_key_len, 2);
    assert_memory_equal(t->min_key, "\0a", 2);
    assert_memory_equal(t->max_key, "z\0", 2);
    lsmkv_client_table_list_fini(&tables);
    assert_int_equal(tables.count, 0);
    /* A NULL result is allowed. */
    assert_int_equal(codec_decode_flush(resp.data, resp.len, NULL, NULL), LSMKV_CLIENT_OK);
    test_wire_free(&resp);
    test_wire_free(&payload);

    test_wire_uint(&payload, 1, 3);
    test_wire_uint(&payload, 2, 3000);
    test_wire_uint(&payload, 3, 2000);
    test_wire_uint(&payload, 4, 12);
    add_table(&payload, 5, 8, "a", 1, "m", 1);
    add_table(&payload, 5, 9, "n", 1, "z", 1);
    make_response(&resp, 0, NULL, &payload);
    lsmkv_client_compaction_result result;
    assert_int_equal(codec_decode_compact(resp.data, resp.len, &result, NULL), LSMKV_CLIENT_OK);
    assert_int_equal(result.input_tables, 3);
    assert_int_equal(result.input_bytes, 3000);
    assert_int_equal(result.output_bytes, 2000);
    assert_int_equal(result.dropped_entries, 12);
    assert_int_equal(result.outputs.count, 2);
    assert_int_equal(result.outputs.tables[1].id, 9);
    lsmkv_client_compaction_result_fini(&result);
    test_wire_free(&resp);
    test_wire_free(&payload);
}

static void
test_decode_stats_every_field(void **state)
{
    test_wire payload = {0}, resp, level = {0};
    /* Fields 1..36 of StatsResponse; 7 is levels, 31 the version string. */
    for (int f = 1; f <= 36; f++) {
        if (f != 7 && f != 31) {
            test_wire_uint(&payload, f, 1000 + (uint64_t)f);
        }
    }
    for (int f = 1; f <= 8; f++) {
        test_wire_uint(&level, f, 10 + (uint64_t)f);
    }
    test_wire_message(&payload, 7, &level);
    test_wire_message(&payload, 7, &level);
    test_wire_bytes(&payload, 31, "9.9.9", 5);
    make_response(&resp, 0, NULL, &payload);
    lsmkv_client_stats s;
    assert_int_equal(codec_decode_stats(resp.data, resp.len, &s, NULL), LSMKV_CLIENT_OK);
    const uint64_t expected[] = {
        s.memtable_entries,
        s.memtable_bytes,
        s.immutable_memtables,
        s.immutable_bytes,
        s.sstables,
        s.sstable_bytes,
        0,
        s.puts,
        s.gets,
        s.deletes,
        s.flushes,
        s.compactions,
        s.user_bytes_written,
        s.wal_bytes_written,
        s.flush_bytes_written,
        s.compaction_bytes_read,
        s.compaction_bytes_written,
        s.wal_syncs,
        s.write_slowdowns,
        s.write_stalls,
        s.stall_micros,
        s.pending_compaction_bytes,
        s.corruptions,
        s.last_sequence,
        s.open_tables,
        s.block_cache_capacity,
        s.block_cache_usage,
        s.block_cache_hits,
        s.block_cache_misses,
        s.uptime_seconds,
        0,
        s.requests,
        s.request_errors,
        s.scans,
        s.batches,
        s.multi_gets,
    };
    for (int f = 1; f <= 36; f++) {
        if (f != 7 && f != 31) {
            assert_int_equal(expected[f - 1], 1000 + (uint64_t)f);
        }
    }
    assert_int_equal(s.level_count, 2);
    const lsmkv_client_level_stats *l = &s.levels[1];
    assert_int_equal(l->level, 11);
    assert_int_equal(l->tables, 12);
    assert_int_equal(l->bytes, 13);
    assert_int_equal(l->target_bytes, 14);
    assert_int_equal(l->compactions, 15);
    assert_int_equal(l->bytes_read, 16);
    assert_int_equal(l->bytes_written, 17);
    assert_int_equal(l->bytes_moved, 18);
    assert_string_equal(s.server_version, "9.9.9");
    lsmkv_client_stats_fini(&s);
    assert_null(s.levels);
    test_wire_free(&resp);
    test_wire_free(&payload);
    test_wire_free(&level);
}

static void
test_decode_random_bytes_never_crash(void **state)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    uint8_t buf[64];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)test_rng_below(&rng, sizeof(buf) + 1);
        test_rng_bytes(&rng, buf, len);
        lsmkv_client_stats s;
        if (codec_decode_stats(buf, len, &s, NULL) == LSMKV_CLIENT_OK) {
            lsmkv_client_stats_fini(&s);
        }
        lsmkv_client_compaction_result r;
        if (codec_decode_compact(buf, len, &r, NULL) == LSMKV_CLIENT_OK) {
            lsmkv_client_compaction_result_fini(&r);
        }
        uint8_t *value;
        size_t vlen;
        bool found;
        if (codec_decode_get(buf, len, &value, &vlen, &found, NULL) == LSMKV_CLIENT_OK) {
            free(value);
        }
    }
}

/* ---- Scan, Batch, MultiGet --------------------------------------------------------------- */

static void
test_encode_scan_carries_the_range(void **state)
{
    lsmkv_client_range range = {
        .start = (const uint8_t *)"a\0",
        .start_len = 2,
        .end = (const uint8_t *)"z",
        .end_len = 1,
        .prefix = (const uint8_t *)"\xff",
        .prefix_len = 1,
        .keys_only = true,
    };
    codec_bytes req;
    codec_encode_scan(&range, 77, 900, &req);
    char method[64];
    const uint8_t *payload, *b;
    size_t payload_len, n;
    uint64_t timeout, v;
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/Scan");
    assert_int_equal(timeout, 900);
    assert_true(test_wire_find(payload, payload_len, 1, NULL, &b, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(b, "a\0", 2);
    assert_true(test_wire_find(payload, payload_len, 2, NULL, &b, &n));
    assert_memory_equal(b, "z", 1);
    assert_true(test_wire_find(payload, payload_len, 3, NULL, &b, &n));
    assert_memory_equal(b, "\xff", 1);
    assert_true(test_wire_find(payload, payload_len, 4, &v, NULL, NULL));
    assert_int_equal(v, 77);
    assert_true(test_wire_find(payload, payload_len, 5, &v, NULL, NULL));
    assert_int_equal(v, 1);
    assert_false(test_wire_find(payload, payload_len, 6, &v, NULL, NULL)); /* never reverse */
    free(req.data);

    /* An open range: only the limit goes on the wire. */
    lsmkv_client_range all = {0};
    codec_encode_scan(&all, 1, 0, &req);
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_int_equal(payload_len, 2);
    free(req.data);
}

/* The n-th occurrence of length-delimited field `field` in msg. */
static bool
nth_field(const uint8_t *msg, size_t len, int field, size_t nth, const uint8_t **data,
          size_t *data_len)
{
    const uint8_t *p = msg, *end = msg + len;
    while (p < end) {
        uint64_t key, value;
        if (!test_wire_read_varint(&p, end, &key)) {
            return false;
        }
        if ((key & 7) == 0) {
            test_wire_read_varint(&p, end, &value);
            continue;
        }
        if (!test_wire_read_varint(&p, end, &value) || value > (uint64_t)(end - p)) {
            return false;
        }
        if ((int)(key >> 3) == field && nth-- == 0) {
            *data = p;
            *data_len = (size_t)value;
            return true;
        }
        p += value;
    }
    return false;
}

static void
test_encode_batch_and_multi_get(void **state)
{
    lsmkv_client_op ops[] = {
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"k\0", 2, (const uint8_t *)"v", 1},
        {LSMKV_CLIENT_OP_DELETE, (const uint8_t *)"gone", 4, NULL, 0},
    };
    codec_bytes req;
    codec_encode_batch(ops, 2, LSMKV_CLIENT_SYNC_ALWAYS, 5, &req);
    char method[64];
    const uint8_t *payload, *op, *b;
    size_t payload_len, op_len, n;
    uint64_t timeout, v;
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/Batch");
    assert_true(test_wire_find(payload, payload_len, 2, &v, NULL, NULL));
    assert_int_equal(v, 1); /* SYNC_ALWAYS */
    assert_true(nth_field(payload, payload_len, 1, 0, &op, &op_len));
    assert_true(test_wire_find(op, op_len, 1, &v, NULL, NULL));
    assert_int_equal(v, 1); /* OP_TYPE_PUT */
    assert_true(test_wire_find(op, op_len, 2, NULL, &b, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(b, "k\0", 2);
    assert_true(test_wire_find(op, op_len, 3, NULL, &b, &n));
    assert_memory_equal(b, "v", 1);
    assert_true(nth_field(payload, payload_len, 1, 1, &op, &op_len));
    assert_true(test_wire_find(op, op_len, 1, &v, NULL, NULL));
    assert_int_equal(v, 2); /* OP_TYPE_DELETE */
    assert_false(test_wire_find(op, op_len, 3, NULL, &b, &n));
    assert_false(nth_field(payload, payload_len, 1, 2, &op, &op_len));
    free(req.data);

    codec_encode_batch(NULL, 0, LSMKV_CLIENT_SYNC_DEFAULT, 0, &req);
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_int_equal(payload_len, 0); /* an empty batch */
    free(req.data);

    const uint8_t *keys[] = {(const uint8_t *)"a", (const uint8_t *)"\0b", (const uint8_t *)"a"};
    const size_t lens[] = {1, 2, 1};
    codec_encode_multi_get(3, keys, lens, 7, &req);
    open_request(&req, method, sizeof(method), &payload, &payload_len, &timeout);
    assert_string_equal(method, "/lsmkv.v1.KV/MultiGet");
    for (size_t i = 0; i < 3; i++) {
        assert_true(nth_field(payload, payload_len, 1, i, &b, &n));
        assert_int_equal(n, lens[i]);
        assert_memory_equal(b, keys[i], n);
    }
    free(req.data);
}

static void
add_pair(test_wire *msg, const void *key, size_t key_len, const void *value, size_t value_len)
{
    test_wire kv = {0};
    test_wire_bytes(&kv, 1, key, key_len);
    if (value_len > 0) {
        test_wire_bytes(&kv, 2, value, value_len);
    }
    test_wire_message(msg, 1, &kv);
    test_wire_free(&kv);
}

static void
test_decode_scan_page(void **state)
{
    test_wire payload = {0}, resp;
    add_pair(&payload, "a\0", 2, "1", 1);
    add_pair(&payload, "b", 1, NULL, 0); /* an empty value */
    test_wire_bytes(&payload, 2, "c\xff", 2);
    make_response(&resp, 0, NULL, &payload);
    lsmkv_client_scan_page page;
    assert_int_equal(codec_decode_scan(resp.data, resp.len, &page, NULL), LSMKV_CLIENT_OK);
    assert_int_equal(page.count, 2);
    assert_int_equal(page.pairs[0].key_len, 2);
    assert_memory_equal(page.pairs[0].key, "a\0", 2);
    assert_int_equal(page.pairs[0].value_len, 1);
    assert_memory_equal(page.pairs[0].value, "1", 1);
    assert_non_null(page.pairs[1].value); /* never NULL, even empty */
    assert_int_equal(page.pairs[1].value_len, 0);
    assert_int_equal(page.resume_key_len, 2);
    assert_memory_equal(page.resume_key, "c\xff", 2);
    lsmkv_client_scan_page_fini(&page);
    assert_null(page.pairs);
    assert_int_equal(page.count, 0);
    lsmkv_client_scan_page_fini(NULL);
    test_wire_free(&resp);
    test_wire_free(&payload);

    /* The end of the range: no pairs, no resume key. */
    make_response(&resp, 0, NULL, NULL);
    assert_int_equal(codec_decode_scan(resp.data, resp.len, &page, NULL), LSMKV_CLIENT_OK);
    assert_int_equal(page.count, 0);
    assert_null(page.resume_key);
    lsmkv_client_scan_page_fini(&page);
    test_wire_free(&resp);

    /* An error leaves the page untouched. */
    make_response(&resp, LSMKV_CLIENT_INVALID_ARGUMENT, "the limit is 0", NULL);
    page.count = 99;
    lsmkv_client_error err;
    assert_int_equal(codec_decode_scan(resp.data, resp.len, &page, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_string_equal(err.message, "the limit is 0");
    assert_int_equal(page.count, 99);
    test_wire_free(&resp);
}

static void
test_decode_batch_and_multi_get(void **state)
{
    test_wire payload = {0}, resp, one = {0};
    test_wire_uint(&payload, 1, 1234);
    make_response(&resp, 0, NULL, &payload);
    uint64_t seq = 0;
    assert_int_equal(codec_decode_batch(resp.data, resp.len, &seq, NULL), LSMKV_CLIENT_OK);
    assert_int_equal(seq, 1234);
    assert_int_equal(codec_decode_batch(resp.data, resp.len, NULL, NULL), LSMKV_CLIENT_OK);
    test_wire_free(&resp);
    test_wire_free(&payload);

    /* found "v\0", missing, found empty */
    test_wire_uint(&one, 1, 1);
    test_wire_bytes(&one, 2, "v\0", 2);
    test_wire_message(&payload, 1, &one);
    test_wire_bytes(&payload, 1, "", 0);
    test_wire_free(&one);
    test_wire_uint(&one, 1, 1);
    test_wire_message(&payload, 1, &one);
    make_response(&resp, 0, NULL, &payload);
    lsmkv_client_value values[3];
    assert_int_equal(codec_decode_multi_get(resp.data, resp.len, 3, values, NULL), LSMKV_CLIENT_OK);
    assert_true(values[0].found);
    assert_int_equal(values[0].value_len, 2);
    assert_memory_equal(values[0].value, "v\0", 2);
    assert_false(values[1].found);
    assert_null(values[1].value);
    assert_true(values[2].found);
    assert_non_null(values[2].value);
    assert_int_equal(values[2].value_len, 0);
    lsmkv_client_values_fini(values, 3);
    assert_null(values[0].value);

    /* A count that does not match the keys asked for is a malformed answer. */
    lsmkv_client_value untouched[4] = {{.found = true, .value_len = 77}};
    lsmkv_client_error err;
    assert_int_equal(codec_decode_multi_get(resp.data, resp.len, 4, untouched, &err),
                     LSMKV_CLIENT_INTERNAL);
    assert_non_null(strstr(err.message, "3 results for 4 keys"));
    assert_int_equal(untouched[0].value_len, 77);
    assert_int_equal(codec_decode_multi_get(resp.data, resp.len, 2, untouched, &err),
                     LSMKV_CLIENT_INTERNAL);
    test_wire_free(&resp);
    test_wire_free(&payload);
    test_wire_free(&one);

    make_response(&resp, 0, NULL, NULL);
    assert_int_equal(codec_decode_multi_get(resp.data, resp.len, 0, NULL, NULL), LSMKV_CLIENT_OK);
    test_wire_free(&resp);
}

static void
test_decode_truncated_scan_and_multi_get_never_crash(void **state)
{
    test_wire payload = {0}, resp, one = {0};
    add_pair(&payload, "key-1", 5, "value-1", 7);
    add_pair(&payload, "key-2", 5, "value-2", 7);
    test_wire_bytes(&payload, 2, "key-3", 5);
    make_response(&resp, 0, "", &payload);
    for (size_t cut = 0; cut <= resp.len; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exact size, so ASan sees any overread */
        memcpy(copy, resp.data, cut);
        lsmkv_client_scan_page page;
        int rc = codec_decode_scan(copy, cut, &page, NULL);
        assert_true(rc == LSMKV_CLIENT_OK || rc == LSMKV_CLIENT_INTERNAL);
        if (rc == LSMKV_CLIENT_OK) {
            lsmkv_client_scan_page_fini(&page);
        }
        lsmkv_client_value values[2];
        rc = codec_decode_multi_get(copy, cut, 2, values, NULL);
        if (rc == LSMKV_CLIENT_OK) {
            lsmkv_client_values_fini(values, 2);
        }
        free(copy);
    }
    test_wire_free(&resp);
    test_wire_free(&payload);
    test_wire_free(&one);

    test_rng rng;
    test_rng_init(&rng, test_seed());
    uint8_t buf[64];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)test_rng_below(&rng, sizeof(buf) + 1);
        test_rng_bytes(&rng, buf, len);
        lsmkv_client_scan_page page;
        if (codec_decode_scan(buf, len, &page, NULL) == LSMKV_CLIENT_OK) {
            lsmkv_client_scan_page_fini(&page);
        }
        lsmkv_client_value values[3];
        if (codec_decode_multi_get(buf, len, 3, values, NULL) == LSMKV_CLIENT_OK) {
            lsmkv_client_values_fini(values, 3);
        }
        codec_decode_batch(buf, len, NULL, NULL);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_names_match_the_service),
        cmocka_unit_test(test_status_table_matches_wire_codes),
        cmocka_unit_test(test_encode_put_carries_binary_key_value_sync_and_deadline),
        cmocka_unit_test(test_encode_get_and_delete),
        cmocka_unit_test(test_encode_empty_requests),
        cmocka_unit_test(test_encode_empty_key_is_sent_for_the_server_to_judge),
        cmocka_unit_test(test_decode_put_sequence),
        cmocka_unit_test(test_decode_error_status_keeps_the_server_message),
        cmocka_unit_test(test_decode_unknown_status_code),
        cmocka_unit_test(test_decode_garbage_is_internal_error),
        cmocka_unit_test(test_decode_bad_payload_is_internal_error),
        cmocka_unit_test(test_decode_truncated_answers_never_crash),
        cmocka_unit_test(test_decode_get_found_missing_and_empty),
        cmocka_unit_test(test_decode_flush_and_compact_tables),
        cmocka_unit_test(test_decode_stats_every_field),
        cmocka_unit_test(test_decode_random_bytes_never_crash),
        cmocka_unit_test(test_encode_scan_carries_the_range),
        cmocka_unit_test(test_encode_batch_and_multi_get),
        cmocka_unit_test(test_decode_scan_page),
        cmocka_unit_test(test_decode_batch_and_multi_get),
        cmocka_unit_test(test_decode_truncated_scan_and_multi_get_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
