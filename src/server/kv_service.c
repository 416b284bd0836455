/*
 * The KV service's handlers. Each one checks everything it can about its
 * request before calling the store, so a bad request never reaches the store
 * half-done; the store's own checks stay as a second line. Responses are built
 * on the stack and handed to the closure, which packs them before the handler
 * frees what they point to.
 */
#include "kv_service.h"

#include "buffer.h"
#include "status.h"

#include "lsmkv/v1/kv.pb-c.h"

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

/* The write options of one Put or Delete: its sync choice and the time left. */
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
    if (check_key(svc, &in->key, &call->err) != LSMKV_OK ||
        lsmkv_get(svc->db, in->key.data, in->key.len, &value, &value_len, &found, &call->err) !=
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
    done(&out, data);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

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
