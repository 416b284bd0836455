/*
 * bench_backend_rpc — a running lsmkv-server (--target=URL) through the C
 * client library (lsmkv/client.h) only: the `rpc` engine.
 *
 * Each thread has its own lsmkv_client (session_open), so N threads are N
 * connections, as N client processes would be. Calls have --timeout_ms as
 * their deadline; any failure prints the status name and the server's (or
 * the client's) message and exits 1. Writes ask for the server's own --sync
 * setting unless --sync was given; fillsync asks for SYNC_ALWAYS. The server
 * cannot be emptied over RPC, so fill* write into whatever it holds, and no
 * space line is printed (remote). compact is Flush then Compact on a client
 * of its own with a long deadline; the statistics come from the Stats RPC.
 * batchput is the Batch RPC (puts only), multiget MultiGet, scan pages with
 * the Scan RPC, each page starting at the resume key of the one before.
 * There is no iterator: readseq reads by points in key order.
 */
#include "bench_backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/client.h"

/* A whole-store compaction of a big store takes minutes, not seconds. */
#define COMPACT_TIMEOUT_MS (3600u * 1000u)

typedef struct rpc_db {
    const bench_config *cfg;
    lsmkv_client_sync write_sync; /* what every write but fillsync's asks for */
} rpc_db;

typedef struct rpc_session {
    const rpc_db *db;
    lsmkv_client *client;
    lsmkv_client_op *ops;       /* batch_put's requests, grown as needed */
    lsmkv_client_value *values; /* multi_get's answers */
    size_t capacity;            /* of both arrays */
} rpc_session;

static void
check(int rc, const char *what, const lsmkv_client_error *err)
{
    if (rc == LSMKV_CLIENT_OK) {
        return;
    }
    fprintf(stderr, "lsmkv-bench: %s: %s: %s\n", what, lsmkv_client_status_name(rc),
            err->message[0] != '\0' ? err->message : lsmkv_client_status_str(rc));
    exit(1);
}

static lsmkv_client *
client_open(const bench_config *cfg, uint32_t timeout_ms)
{
    lsmkv_client_options options;
    lsmkv_client_error err = {0};
    lsmkv_client *client = NULL;

    lsmkv_client_options_init(&options);
    options.timeout_ms = timeout_ms;
    check(lsmkv_client_open(cfg->target, &options, &client, &err), "lsmkv_client_open", &err);
    return client;
}

static const char *
backend_version(void *session)
{
    static char buf[320];
    rpc_session *s = session;
    lsmkv_client_stats st = {0};
    lsmkv_client_error err = {0};

    if (lsmkv_client_get_stats(s->client, &st, &err) != LSMKV_CLIENT_OK) {
        snprintf(buf, sizeof(buf), "lsmkv-server at %s (no Stats answer: %.200s), client %s",
                 s->db->cfg->target, err.message, lsmkv_client_version());
        return buf;
    }
    snprintf(buf, sizeof(buf), "lsmkv-server %.64s at %s over RPC, client %s",
             st.server_version != NULL ? st.server_version : "?", s->db->cfg->target,
             lsmkv_client_version());
    lsmkv_client_stats_fini(&st);
    return buf;
}

static void *
backend_open(const bench_config *cfg, const char *dir)
{
    rpc_db *db = calloc(1, sizeof(*db));

    if (db == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    db->cfg = cfg;
    db->write_sync = !cfg->sync_given   ? LSMKV_CLIENT_SYNC_DEFAULT
                     : cfg->sync_always ? LSMKV_CLIENT_SYNC_ALWAYS
                                        : LSMKV_CLIENT_SYNC_NONE;
    return db;
}

static void
backend_close(void *db)
{
    free(db);
}

static void *
backend_session_open(void *db, unsigned index)
{
    rpc_session *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    s->db = db;
    s->client = client_open(s->db->cfg, s->db->cfg->timeout_ms);
    return s;
}

static void
backend_session_close(void *session)
{
    rpc_session *s = session;

    lsmkv_client_close(s->client);
    free(s->ops);
    free(s->values);
    free(s);
}

/* Makes room for a request of `count` keys in the session's arrays. */
static void
session_reserve(rpc_session *s, size_t count)
{
    if (count <= s->capacity) {
        return;
    }
    free(s->ops);
    free(s->values);
    s->ops = calloc(count, sizeof(*s->ops));
    s->values = calloc(count, sizeof(*s->values));
    if (s->ops == NULL || s->values == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for a request of %zu keys\n", count);
        exit(1);
    }
    s->capacity = count;
}

/* A Get of a key no workload writes: connects, and changes nothing. */
static void
backend_warm_up(void *session)
{
    static const uint8_t key[] = "lsmkv-bench warm-up";
    rpc_session *s = session;
    lsmkv_client_error err = {0};
    uint8_t *value = NULL;
    size_t len = 0;
    bool found = false;

    check(lsmkv_client_get(s->client, key, sizeof(key) - 1, &value, &len, &found, &err),
          "lsmkv_client_get (warm-up)", &err);
    lsmkv_client_free(value);
}

static void
backend_put(void *session, const uint8_t *key, size_t key_len, const uint8_t *value,
            size_t value_len, bool sync)
{
    rpc_session *s = session;
    lsmkv_client_error err = {0};

    check(lsmkv_client_put(s->client, key, key_len, value, value_len,
                           sync ? LSMKV_CLIENT_SYNC_ALWAYS : s->db->write_sync, NULL, &err),
          "lsmkv_client_put", &err);
}

static void
backend_del(void *session, const uint8_t *key, size_t key_len)
{
    rpc_session *s = session;
    lsmkv_client_error err = {0};

    check(lsmkv_client_delete(s->client, key, key_len, s->db->write_sync, NULL, &err),
          "lsmkv_client_delete", &err);
}

static bool
backend_get(void *session, const uint8_t *key, size_t key_len, size_t *value_len)
{
    rpc_session *s = session;
    lsmkv_client_error err = {0};
    uint8_t *value = NULL;
    size_t len = 0;
    bool found = false;

    check(lsmkv_client_get(s->client, key, key_len, &value, &len, &found, &err), "lsmkv_client_get",
          &err);
    if (found) {
        *value_len = len;
        lsmkv_client_free(value);
    }
    return found;
}

/* count puts in one Batch RPC: applied atomically by the server. */
static void
backend_batch_put(void *session, const bench_kv *kvs, size_t count, bool sync)
{
    rpc_session *s = session;
    lsmkv_client_error err = {0};

    session_reserve(s, count);
    for (size_t i = 0; i < count; i++) {
        s->ops[i] = (lsmkv_client_op){LSMKV_CLIENT_OP_PUT, kvs[i].key, kvs[i].key_len, kvs[i].value,
                                      kvs[i].value_len};
    }
    check(lsmkv_client_batch(s->client, s->ops, count,
                             sync ? LSMKV_CLIENT_SYNC_ALWAYS : s->db->write_sync, NULL, &err),
          "lsmkv_client_batch", &err);
}

static size_t
backend_multi_get(void *session, size_t count, const uint8_t *const *keys, const size_t *key_lens,
                  uint64_t *bytes)
{
    rpc_session *s = session;
    lsmkv_client_error err = {0};
    size_t found = 0;

    session_reserve(s, count);
    check(lsmkv_client_multi_get(s->client, count, keys, key_lens, s->values, &err),
          "lsmkv_client_multi_get", &err);
    for (size_t i = 0; i < count; i++) {
        if (s->values[i].found) {
            found++;
            *bytes += key_lens[i] + s->values[i].value_len;
        }
    }
    lsmkv_client_values_fini(s->values, count);
    return found;
}

/* A range read page by page with the Scan RPC, resuming where the server says. */
typedef struct rpc_scan {
    rpc_session *session;
    uint8_t *next; /* where the next page starts; NULL: from the first key */
    size_t next_len;
    uint8_t *end; /* NULL: to the last key */
    size_t end_len;
    uint32_t page_size;
    bool done;
} rpc_scan;

static uint8_t *
copy_bytes(const uint8_t *bytes, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);

    if (p == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    memcpy(p, bytes, len);
    return p;
}

static void *
backend_scan_new(void *session, const uint8_t *start, size_t start_len, const uint8_t *end,
                 size_t end_len, uint32_t page_size)
{
    rpc_scan *scan = calloc(1, sizeof(*scan));

    if (scan == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    scan->session = session;
    scan->page_size = page_size;
    if (start != NULL) {
        scan->next = copy_bytes(start, start_len);
        scan->next_len = start_len;
    }
    if (end != NULL) {
        scan->end = copy_bytes(end, end_len);
        scan->end_len = end_len;
    }
    return scan;
}

static bool
backend_scan_next(void *p, uint64_t *keys, uint64_t *bytes)
{
    rpc_scan *scan = p;
    lsmkv_client_range range = {.start = scan->next,
                                .start_len = scan->next_len,
                                .end = scan->end,
                                .end_len = scan->end_len};
    lsmkv_client_scan_page page = {0};
    lsmkv_client_error err = {0};
    size_t count;

    if (scan->done) {
        return false;
    }
    check(lsmkv_client_scan(scan->session->client, &range, scan->page_size, &page, &err),
          "lsmkv_client_scan", &err);
    for (size_t i = 0; i < page.count; i++) {
        *bytes += page.pairs[i].key_len + page.pairs[i].value_len;
    }
    *keys += page.count;
    free(scan->next);
    scan->next = NULL;
    if (page.resume_key != NULL) {
        scan->next = copy_bytes(page.resume_key, page.resume_key_len);
        scan->next_len = page.resume_key_len;
    } else {
        scan->done = true;
    }
    count = page.count;
    lsmkv_client_scan_page_fini(&page);
    return count > 0 || !scan->done;
}

static void
backend_scan_free(void *p)
{
    rpc_scan *scan = p;

    free(scan->next);
    free(scan->end);
    free(scan);
}

/* As the lsmkv back end: flush first, then merge everything. */
static void
backend_compact(void *session)
{
    rpc_session *s = session;
    lsmkv_client *client = client_open(s->db->cfg, COMPACT_TIMEOUT_MS);
    lsmkv_client_error err = {0};

    check(lsmkv_client_flush(client, NULL, &err), "lsmkv_client_flush", &err);
    check(lsmkv_client_compact(client, NULL, &err), "lsmkv_client_compact", &err);
    lsmkv_client_close(client);
}

static double
mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void
print_levels(const lsmkv_client_stats *st, FILE *out)
{
    fprintf(out, "  level  tables        MiB  compactions   read MiB  written MiB  moved MiB\n");
    for (size_t i = 0; i < st->level_count; i++) {
        const lsmkv_client_level_stats *l = &st->levels[i];

        if (l->level > 0 && l->tables == 0 && l->compactions == 0 && l->bytes_moved == 0) {
            continue;
        }
        fprintf(out, "  L%-4" PRIu32 " %7" PRIu64 " %10.1f %12" PRIu64 " %10.1f %12.1f %10.1f\n",
                l->level, l->tables, mib(l->bytes), l->compactions, mib(l->bytes_read),
                mib(l->bytes_written), mib(l->bytes_moved));
    }
}

static void
backend_print_stats(void *session, FILE *out)
{
    rpc_session *s = session;
    lsmkv_client_stats st = {0};
    lsmkv_client_error err = {0};
    uint64_t written;
    char amp[32] = "n/a";

    check(lsmkv_client_get_stats(s->client, &st, &err), "lsmkv_client_get_stats", &err);
    written = st.wal_bytes_written + st.flush_bytes_written + st.compaction_bytes_written;
    if (st.user_bytes_written > 0) {
        snprintf(amp, sizeof(amp), "%.2f", (double)written / (double)st.user_bytes_written);
    }
    fprintf(out, "lsmkv-server stats:\n");
    print_levels(&st, out);
    fprintf(out,
            "  tables %" PRIu64 " (%.1f MiB); memtable %.1f MiB, %" PRIu64
            " immutable; flushes %" PRIu64 ", compactions %" PRIu64 "; write amplification %s\n",
            st.sstables, mib(st.sstable_bytes), mib(st.memtable_bytes), st.immutable_memtables,
            st.flushes, st.compactions, amp);
    fprintf(out,
            "  write stalls %" PRIu64 ", slowdowns %" PRIu64
            ", stall time %.3f s; WAL syncs %" PRIu64 "; requests %" PRIu64 " (%" PRIu64
            " failed); puts %" PRIu64 ", deletes %" PRIu64 ", gets %" PRIu64 "\n",
            st.write_stalls, st.write_slowdowns, (double)st.stall_micros / 1e6, st.wal_syncs,
            st.requests, st.request_errors, st.puts, st.deletes, st.gets);
    lsmkv_client_stats_fini(&st);
}

const bench_backend bench_backend_rpc = {
    .name = "rpc",
    .remote = true,
    .version = backend_version,
    .open = backend_open,
    .close = backend_close,
    .session_open = backend_session_open,
    .session_close = backend_session_close,
    .warm_up = backend_warm_up,
    .put = backend_put,
    .del = backend_del,
    .get = backend_get,
    .batch_put = backend_batch_put,
    .multi_get = backend_multi_get,
    .scan_new = backend_scan_new,
    .scan_next = backend_scan_next,
    .scan_free = backend_scan_free,
    .compact = backend_compact,
    .print_stats = backend_print_stats,
};
