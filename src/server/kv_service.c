/*
 * The KV service's handlers. Each one checks everything it can about its
 * request before calling the store, so a bad request never reaches the store
 * half-done; the store's own checks stay as a second line. Responses are built
 * on the stack and handed to the closure, which packs them before the handler
 * frees what they point to.
 *
 * Scan and MultiGet answer with many keys and values at once, so they measure
 * their response as they build it (wire_size.h) and keep it within
 * max_response_bytes: a Scan page is cut short (scan_page.c), a MultiGet whose
 * values do not fit is refused.
 */
#include "kv_service.h"

#include "buffer.h"
#include "scan_page.h"
#include "slice.h"
#include "status.h"
#include "wire_size.h"

#include "lsmkv/v1/kv.pb-c.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct kv_service {
    Lsmkv__V1__KV_Service base; /* first: the generated invoke casts back to it */
    lsmkv *db;
    kv_service_options options;
    struct timespec started; /* CLOCK_MONOTONIC, for uptime */
    _Atomic uint64_t requests;
    _Atomic uint64_t request_errors;
    _Atomic uint64_t scans; /* answered OK, like the two below */
    _Atomic uint64_t batches;
    _Atomic uint64_t multi_gets;
};

static kv_service *
service_of(Lsmkv__V1__KV_Service *base)
{
    return (kv_service *)base;
}

/* ---- validation ---------------------------------------------------------------------- */

static int
check_key(const kv_service *svc, const ProtobufCBinaryData *key, lsmkv_error *err)
{
    if (key->len == 0) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the key is empty");
    }
    if (key->len > svc->options.max_key_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the key is %zu bytes; the limit is %zu",
                          key->len, svc->options.max_key_bytes);
    }
    return LSMKV_OK;
}

static int
check_value(const kv_service *svc, const ProtobufCBinaryData *value, lsmkv_error *err)
{
    if (value->len > svc->options.max_value_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the value is %zu bytes; the limit is %zu",
                          value->len, svc->options.max_value_bytes);
    }
    return LSMKV_OK;
}

/* The write options of one Put, Delete or Batch: its sync choice and the time left. */
static int
write_options(Lsmkv__V1__SyncMode sync, const kv_call *call, lsmkv_write_options *wo,
              lsmkv_error *err)
{
    switch (sync) {
    case LSMKV__V1__SYNC_MODE__SYNC_DEFAULT:
        wo->sync = LSMKV_SYNC_DEFAULT;
        break;
    case LSMKV__V1__SYNC_MODE__SYNC_ALWAYS:
        wo->sync = LSMKV_SYNC_ALWAYS;
        break;
    case LSMKV__V1__SYNC_MODE__SYNC_NONE:
        wo->sync = LSMKV_SYNC_NONE;
        break;
    default: /* proto3 enums are open: any number may arrive */
        return status_set(err, LSMKV_INVALID_ARGUMENT, "sync mode %d is not one of 0, 1, 2",
                          (int)sync);
    }
    wo->timeout_ms = call->timeout_ms;
    wo->no_wait = call->no_wait;
    return LSMKV_OK;
}

/* The store's last sequence number (the write's own, unless others followed it). */
static uint64_t
last_sequence(kv_service *svc)
{
    lsmkv_stats stats;
    lsmkv_get_stats(svc->db, &stats);
    return stats.last_sequence;
}

/* ---- Put, Get, Delete -------------------------------------------------------------- */

static void
kv_put(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__PutRequest *in,
       Lsmkv__V1__PutResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    lsmkv_write_options wo;
    if (check_key(svc, &in->key, &call->err) != LSMKV_OK ||
        check_value(svc, &in->value, &call->err) != LSMKV_OK ||
        write_options(in->sync, call, &wo, &call->err) != LSMKV_OK ||
        lsmkv_put(svc->db, &wo, in->key.data, in->key.len, in->value.data, in->value.len,
                  &call->err) != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    Lsmkv__V1__PutResponse out = LSMKV__V1__PUT_RESPONSE__INIT;
    out.sequence = last_sequence(svc);
    done(&out, data);
}

static void
kv_get(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__GetRequest *in,
       Lsmkv__V1__GetResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    uint8_t *value = NULL;
    size_t value_len = 0;
    bool found = false;
    int (*get)(lsmkv *, const uint8_t *, size_t, uint8_t **, size_t *, bool *, lsmkv_error *) =
        call->no_wait ? lsmkv_get_no_wait : lsmkv_get;
    if (check_key(svc, &in->key, &call->err) != LSMKV_OK ||
        get(svc->db, in->key.data, in->key.len, &value, &value_len, &found, &call->err) !=
            LSMKV_OK) {
        done(NULL, data);
        return;
    }
    Lsmkv__V1__GetResponse out = LSMKV__V1__GET_RESPONSE__INIT;
    out.found = found;
    if (found) {
        out.value.data = value;
        out.value.len = value_len;
    }
    done(&out, data);
    lsmkv_free(value);
}

static void
kv_delete(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__DeleteRequest *in,
          Lsmkv__V1__DeleteResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    lsmkv_write_options wo;
    if (check_key(svc, &in->key, &call->err) != LSMKV_OK ||
        write_options(in->sync, call, &wo, &call->err) != LSMKV_OK ||
        lsmkv_delete(svc->db, &wo, in->key.data, in->key.len, &call->err) != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    Lsmkv__V1__DeleteResponse out = LSMKV__V1__DELETE_RESPONSE__INIT;
    out.sequence = last_sequence(svc);
    done(&out, data);
}

/* ---- Flush, Compact ---------------------------------------------------------------- */

static void
table_info_to_proto(const lsmkv_table_info *t, Lsmkv__V1__TableInfo *out)
{
    lsmkv__v1__table_info__init(out);
    out->id = t->id;
    out->level = t->level;
    out->size_bytes = t->size_bytes;
    out->entries = t->entries;
    out->tombstones = t->tombstones;
    out->max_sequence = t->max_sequence;
    out->min_key.data = t->min_key;
    out->min_key.len = t->min_key_len;
    out->max_key.data = t->max_key;
    out->max_key.len = t->max_key_len;
}

/* Points *out at count TableInfo messages (xmalloc'd; free with free_tables). */
static Lsmkv__V1__TableInfo **
tables_to_proto(const lsmkv_table_list *list)
{
    if (list->count == 0) {
        return NULL;
    }
    Lsmkv__V1__TableInfo *infos = xcalloc(list->count, sizeof(*infos));
    Lsmkv__V1__TableInfo **ptrs = xcalloc(list->count, sizeof(*ptrs));
    for (size_t i = 0; i < list->count; i++) {
        table_info_to_proto(&list->tables[i], &infos[i]);
        ptrs[i] = &infos[i];
    }
    return ptrs;
}

static void
free_tables(Lsmkv__V1__TableInfo **ptrs)
{
    if (ptrs != NULL) {
        free(ptrs[0]); /* the array of messages */
        free(ptrs);
    }
}

static void
kv_flush(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__FlushRequest *in,
         Lsmkv__V1__FlushResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    lsmkv_table_list written = {0};
    if (lsmkv_flush(svc->db, &written, &call->err) != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    log_info(svc->options.log, "Flush RPC: wrote %zu table(s)", written.count);
    Lsmkv__V1__FlushResponse out = LSMKV__V1__FLUSH_RESPONSE__INIT;
    out.n_tables = written.count;
    out.tables = tables_to_proto(&written);
    done(&out, data);
    free_tables(out.tables);
    lsmkv_table_list_fini(&written);
}

static void
kv_compact(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__CompactRequest *in,
           Lsmkv__V1__CompactResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    lsmkv_compaction_result result = {0};
    if (lsmkv_compact(svc->db, &result, &call->err) != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    log_info(svc->options.log,
             "Compact RPC: %" PRIu32 " table(s), %" PRIu64 " bytes in; %zu table(s), %" PRIu64
             " bytes out; %" PRIu64 " entries dropped",
             result.input_tables, result.input_bytes, result.outputs.count, result.output_bytes,
             result.dropped_entries);
    Lsmkv__V1__CompactResponse out = LSMKV__V1__COMPACT_RESPONSE__INIT;
    out.input_tables = result.input_tables;
    out.input_bytes = result.input_bytes;
    out.output_bytes = result.output_bytes;
    out.dropped_entries = result.dropped_entries;
    out.n_tables = result.outputs.count;
    out.tables = tables_to_proto(&result.outputs);
    done(&out, data);
    free_tables(out.tables);
    lsmkv_compaction_result_fini(&result);
}

/* ---- Stats --------------------------------------------------------------------------- */

static void
stats_levels(const lsmkv_stats *s, Lsmkv__V1__LevelStats *levels, Lsmkv__V1__LevelStats **ptrs)
{
    for (uint32_t i = 0; i < LSMKV_MAX_LEVELS; i++) {
        const lsmkv_level_stats *l = &s->levels[i];
        lsmkv__v1__level_stats__init(&levels[i]);
        levels[i].level = i;
        levels[i].tables = l->tables;
        levels[i].bytes = l->bytes;
        levels[i].target_bytes = l->target_bytes;
        levels[i].compactions = l->compactions;
        levels[i].bytes_read = l->bytes_read;
        levels[i].bytes_written = l->bytes_written;
        levels[i].bytes_moved = l->bytes_moved;
        ptrs[i] = &levels[i];
    }
}

static void
stats_store(const lsmkv_stats *s, Lsmkv__V1__StatsResponse *out)
{
    out->memtable_entries = s->memtable_entries;
    out->memtable_bytes = s->memtable_bytes;
    out->immutable_memtables = s->immutable_memtables;
    out->immutable_bytes = s->immutable_bytes;
    out->sstables = s->sstables;
    out->sstable_bytes = s->sstable_bytes;
    out->puts = s->puts;
    out->gets = s->gets;
    out->deletes = s->deletes;
    out->flushes = s->flushes;
    out->compactions = s->compactions;
    out->user_bytes_written = s->user_bytes_written;
    out->wal_bytes_written = s->wal_bytes_written;
    out->flush_bytes_written = s->flush_bytes_written;
    out->compaction_bytes_read = s->compaction_bytes_read;
    out->compaction_bytes_written = s->compaction_bytes_written;
    out->wal_syncs = s->wal_syncs;
    out->write_slowdowns = s->write_slowdowns;
    out->write_stalls = s->write_stalls;
    out->stall_micros = s->stall_micros;
    out->pending_compaction_bytes = s->pending_compaction_bytes;
    out->corruptions = s->corruptions;
    out->last_sequence = s->last_sequence;
    out->open_tables = s->open_tables;
    out->block_cache_capacity = s->block_cache_capacity;
    out->block_cache_usage = s->block_cache_usage;
    out->block_cache_hits = s->block_cache_hits;
    out->block_cache_misses = s->block_cache_misses;
}

static uint64_t
uptime_seconds(const kv_service *svc)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - svc->started.tv_sec);
}

static void
kv_stats(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__StatsRequest *in,
         Lsmkv__V1__StatsResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    lsmkv_stats stats;
    lsmkv_get_stats(svc->db, &stats);
    Lsmkv__V1__LevelStats levels[LSMKV_MAX_LEVELS];
    Lsmkv__V1__LevelStats *ptrs[LSMKV_MAX_LEVELS];
    stats_levels(&stats, levels, ptrs);
    Lsmkv__V1__StatsResponse out = LSMKV__V1__STATS_RESPONSE__INIT;
    stats_store(&stats, &out);
    out.n_levels = LSMKV_MAX_LEVELS;
    out.levels = ptrs;
    out.uptime_seconds = uptime_seconds(svc);
    out.server_version = (char *)lsmkv_version();
    out.requests = atomic_load_explicit(&svc->requests, memory_order_relaxed);
    out.request_errors = atomic_load_explicit(&svc->request_errors, memory_order_relaxed);
    out.scans = atomic_load_explicit(&svc->scans, memory_order_relaxed);
    out.batches = atomic_load_explicit(&svc->batches, memory_order_relaxed);
    out.multi_gets = atomic_load_explicit(&svc->multi_gets, memory_order_relaxed);
    done(&out, data);
}

static void
count(_Atomic uint64_t *counter)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* Whether a response of `size` bytes may be sent. */
static bool
response_fits(const kv_service *svc, size_t size)
{
    return svc->options.max_response_bytes == 0 || size <= svc->options.max_response_bytes;
}

static slice
bytes_slice(const ProtobufCBinaryData *b)
{
    return slice_make(b->data, b->len);
}

static ProtobufCBinaryData
slice_bytes(slice s)
{
    return (ProtobufCBinaryData){.len = s.len, .data = (uint8_t *)s.data};
}

/* ---- Scan ---------------------------------------------------------------------------------- */

static int
scan_check(const Lsmkv__V1__ScanRequest *in, lsmkv_error *err)
{
    if (in->reverse) {
        return status_set(err, LSMKV_NOT_SUPPORTED,
                          "reverse scans are not supported yet (the store's iterators only go "
                          "forward); scan forward instead");
    }
    if (in->limit == 0) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "the limit is 0; ask for 1 to %u pairs per page", KV_SCAN_MAX_PAIRS);
    }
    if (in->start.len > 0 && in->end.len > 0 &&
        slice_compare(bytes_slice(&in->start), bytes_slice(&in->end)) > 0) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "start (%zu bytes) sorts after end (%zu bytes); the range [start, end) "
                          "needs start <= end",
                          in->start.len, in->end.len);
    }
    return LSMKV_OK;
}

/* Answers with the page (see scan_page.h for how it was cut). */
static void
scan_answer(kv_service *svc, const scan_page *page, Lsmkv__V1__ScanResponse_Closure done,
            void *data)
{
    size_t n = scan_page_count(page);
    Lsmkv__V1__KeyValue *pairs = xcalloc(n, sizeof(*pairs));
    Lsmkv__V1__KeyValue **ptrs = xcalloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        slice key, value;
        scan_page_pair(page, i, &key, &value);
        lsmkv__v1__key_value__init(&pairs[i]);
        pairs[i].key = slice_bytes(key);
        pairs[i].value = slice_bytes(value);
        ptrs[i] = &pairs[i];
    }
    Lsmkv__V1__ScanResponse out = LSMKV__V1__SCAN_RESPONSE__INIT;
    out.n_pairs = n;
    out.pairs = ptrs;
    out.resume_key = slice_bytes(scan_page_resume_key(page));
    assert(protobuf_c_message_get_packed_size(&out.base) == scan_page_packed_size(page));
    assert(response_fits(svc, scan_page_packed_size(page)));
    count(&svc->scans);
    done(&out, data);
    free(ptrs);
    free(pairs);
}

static void
kv_scan(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__ScanRequest *in,
        Lsmkv__V1__ScanResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    scan_request req = {
        .start = bytes_slice(&in->start),
        .end = bytes_slice(&in->end),
        .prefix = bytes_slice(&in->prefix),
        .limit = in->limit < KV_SCAN_MAX_PAIRS ? in->limit : KV_SCAN_MAX_PAIRS,
        .keys_only = in->keys_only,
        .budget = svc->options.max_response_bytes,
    };
    scan_page *page;
    if (scan_check(in, &call->err) != LSMKV_OK ||
        scan_page_read(svc->db, &req, &page, &call->err) != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    scan_answer(svc, page, done, data);
    scan_page_free(page);
}

/* ---- Batch ----------------------------------------------------------------------------- */

static int
batch_check_op(const kv_service *svc, const Lsmkv__V1__BatchOp *op, lsmkv_error *err)
{
    if (op->type != LSMKV__V1__OP_TYPE__OP_TYPE_PUT &&
        op->type != LSMKV__V1__OP_TYPE__OP_TYPE_DELETE) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "type %d is not OP_TYPE_PUT (1) or OP_TYPE_DELETE (2)", (int)op->type);
    }
    int rc = check_key(svc, &op->key, err);
    if (rc == LSMKV_OK && op->type == LSMKV__V1__OP_TYPE__OP_TYPE_PUT) {
        rc = check_value(svc, &op->value, err);
    }
    if (rc == LSMKV_OK && op->type == LSMKV__V1__OP_TYPE__OP_TYPE_DELETE && op->value.len > 0) {
        rc = status_set(err, LSMKV_INVALID_ARGUMENT,
                        "a delete carries no value (this one has %zu bytes)", op->value.len);
    }
    return rc;
}

/* Checks every op and copies it into batch; on failure err names the first bad op. */
static int
batch_build(const kv_service *svc, const Lsmkv__V1__BatchRequest *in, lsmkv_batch *batch,
            lsmkv_error *err)
{
    for (size_t i = 0; i < in->n_ops; i++) {
        const Lsmkv__V1__BatchOp *op = in->ops[i];
        lsmkv_error why;
        int rc = batch_check_op(svc, op, &why);
        if (rc != LSMKV_OK) {
            return status_set(err, rc, "op %zu: %s", i, why.message);
        }
        if (op->type == LSMKV__V1__OP_TYPE__OP_TYPE_PUT) {
            lsmkv_batch_put(batch, op->key.data, op->key.len, op->value.data, op->value.len);
        } else {
            lsmkv_batch_delete(batch, op->key.data, op->key.len);
        }
    }
    size_t size = lsmkv_batch_size(batch);
    if (svc->options.max_batch_bytes > 0 && size > svc->options.max_batch_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "the batch of %zu ops is %zu bytes; the limit is %zu", in->n_ops, size,
                          svc->options.max_batch_bytes);
    }
    return LSMKV_OK;
}

static void
kv_batch(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__BatchRequest *in,
         Lsmkv__V1__BatchResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    lsmkv_write_options wo;
    lsmkv_batch *batch = lsmkv_batch_new();
    int rc = write_options(in->sync, call, &wo, &call->err);
    if (rc == LSMKV_OK) {
        rc = batch_build(svc, in, batch, &call->err);
    }
    if (rc == LSMKV_OK) {
        rc = lsmkv_write(svc->db, &wo, batch, &call->err);
    }
    lsmkv_batch_free(batch);
    if (rc != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    Lsmkv__V1__BatchResponse out = LSMKV__V1__BATCH_RESPONSE__INIT;
    out.sequence = last_sequence(svc);
    count(&svc->batches);
    done(&out, data);
}

/* ---- MultiGet ---------------------------------------------------------------------------- */

static int
multi_get_check(const kv_service *svc, const Lsmkv__V1__MultiGetRequest *in, lsmkv_error *err)
{
    if (in->n_keys > KV_MULTI_GET_MAX_KEYS) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "%zu keys; a MultiGet takes at most %u",
                          in->n_keys, KV_MULTI_GET_MAX_KEYS);
    }
    for (size_t i = 0; i < in->n_keys; i++) {
        lsmkv_error why;
        if (check_key(svc, &in->keys[i], &why) != LSMKV_OK) {
            return status_set(err, why.code, "key %zu: %s", i, why.message);
        }
    }
    return LSMKV_OK;
}

/* Packed size of one result (a GetResponse) as a field of MultiGetResponse. */
static size_t
multi_get_result_bytes(const lsmkv_value *v)
{
    size_t found = v->found ? 2 : 0; /* a tag and a one-byte varint; false is left out */
    return wire_size_field(found + wire_size_bytes(v->value_len));
}

/* Answers with values[0..n), whose packed size is `size`. */
static void
multi_get_answer(kv_service *svc, const lsmkv_value *values, size_t n, size_t size,
                 Lsmkv__V1__MultiGetResponse_Closure done, void *data)
{
    Lsmkv__V1__GetResponse *results = xcalloc(n, sizeof(*results));
    Lsmkv__V1__GetResponse **ptrs = xcalloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        lsmkv__v1__get_response__init(&results[i]);
        results[i].found = values[i].found;
        results[i].value = (ProtobufCBinaryData){values[i].value_len, values[i].value};
        ptrs[i] = &results[i];
    }
    Lsmkv__V1__MultiGetResponse out = LSMKV__V1__MULTI_GET_RESPONSE__INIT;
    out.n_results = n;
    out.results = ptrs;
    assert(protobuf_c_message_get_packed_size(&out.base) == size);
    (void)size;
    count(&svc->multi_gets);
    done(&out, data);
    free(ptrs);
    free(results);
}

/* Reads the keys of `in` into values[0..n) and checks that they fit one response. */
static int
multi_get_read(kv_service *svc, const Lsmkv__V1__MultiGetRequest *in, lsmkv_value *values,
               size_t *size, lsmkv_error *err)
{
    size_t n = in->n_keys;
    const uint8_t **keys = xcalloc(n, sizeof(*keys));
    size_t *lens = xcalloc(n, sizeof(*lens));
    for (size_t i = 0; i < n; i++) {
        keys[i] = in->keys[i].data;
        lens[i] = in->keys[i].len;
    }
    int rc = n > 0 ? lsmkv_multi_get(svc->db, n, keys, lens, values, err) : LSMKV_OK;
    free(lens);
    free(keys);
    *size = 0;
    for (size_t i = 0; rc == LSMKV_OK && i < n; i++) {
        *size += multi_get_result_bytes(&values[i]);
    }
    if (rc == LSMKV_OK && !response_fits(svc, *size)) {
        rc = status_set(err, LSMKV_NO_SPACE,
                        "the values of these %zu keys take %zu bytes, over the %zu a response "
                        "may carry (the server's --max-message-size); ask for fewer keys per call",
                        n, *size, svc->options.max_response_bytes);
    }
    return rc;
}

static void
kv_multi_get(Lsmkv__V1__KV_Service *base, const Lsmkv__V1__MultiGetRequest *in,
             Lsmkv__V1__MultiGetResponse_Closure done, void *data)
{
    kv_service *svc = service_of(base);
    kv_call *call = data;
    if (multi_get_check(svc, in, &call->err) != LSMKV_OK) {
        done(NULL, data);
        return;
    }
    size_t n = in->n_keys, size;
    lsmkv_value *values = xcalloc(n, sizeof(*values));
    if (multi_get_read(svc, in, values, &size, &call->err) == LSMKV_OK) {
        multi_get_answer(svc, values, n, size, done, data);
    } else {
        done(NULL, data);
    }
    for (size_t i = 0; i < n; i++) {
        lsmkv_free(values[i].value);
    }
    free(values);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

bool
kv_service_may_try_without_waiting(const ProtobufCMethodDescriptor *method)
{
    return method->input == &lsmkv__v1__get_request__descriptor ||
           method->input == &lsmkv__v1__put_request__descriptor ||
           method->input == &lsmkv__v1__delete_request__descriptor ||
           method->input == &lsmkv__v1__batch_request__descriptor;
}

kv_service *
kv_service_new(lsmkv *db, const kv_service_options *options)
{
    kv_service *svc = xcalloc(1, sizeof(*svc));
    /* The generated initializer binds each method of the descriptor to kv_<method>. */
    Lsmkv__V1__KV_Service handlers = LSMKV__V1__KV__INIT(kv_);
    svc->base = handlers;
    svc->db = db;
    svc->options = *options;
    clock_gettime(CLOCK_MONOTONIC, &svc->started);
    atomic_init(&svc->requests, 0);
    atomic_init(&svc->request_errors, 0);
    atomic_init(&svc->scans, 0);
    atomic_init(&svc->batches, 0);
    atomic_init(&svc->multi_gets, 0);
    return svc;
}

void
kv_service_free(kv_service *svc)
{
    free(svc);
}

ProtobufCService *
kv_service_base(kv_service *svc)
{
    return &svc->base.base;
}

void
kv_service_count_answer(kv_service *svc, bool ok)
{
    atomic_fetch_add_explicit(&svc->requests, 1, memory_order_relaxed);
    if (!ok) {
        atomic_fetch_add_explicit(&svc->request_errors, 1, memory_order_relaxed);
    }
}
