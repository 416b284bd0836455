/*
 * bench_backend_lsmkv — lsmkv through its public API (lsmkv/lsmkv.h) only.
 *
 * Every call's status is checked: a failure prints the status name and the
 * engine's message and exits 1. The store's default sync mode comes from
 * --sync (db_bench writes unsynced); fillsync asks for LSMKV_SYNC_ALWAYS per
 * write. readseq and scan use the public iterator (scan's pages are runs of
 * page_size steps), batchput lsmkv_write, multiget lsmkv_multi_get; compact
 * is lsmkv_flush and lsmkv_compact; the statistics are a compact table drawn
 * from lsmkv_get_stats.
 */
#include "bench_backend.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/lsmkv.h"

static void
check(int rc, const char *what, const lsmkv_error *err)
{
    if (rc == LSMKV_OK) {
        return;
    }
    fprintf(stderr, "lsmkv-bench: %s: %s: %s\n", what, lsmkv_status_name(rc),
            err != NULL && err->message[0] != '\0' ? err->message : lsmkv_status_str(rc));
    exit(1);
}

static const char *
backend_version(void *db)
{
    static char buf[64];

    snprintf(buf, sizeof(buf), "lsmkv %s", lsmkv_version());
    return buf;
}

static void *
backend_open(const bench_config *cfg, const char *dir)
{
    lsmkv_options options;
    lsmkv_error err = {0};
    lsmkv *db = NULL;

    lsmkv_options_init(&options);
    options.create_if_missing = true;
    options.sync = cfg->sync_always ? LSMKV_SYNC_ALWAYS : LSMKV_SYNC_NONE;
    options.memtable_bytes = cfg->write_buffer_size;
    options.bloom_bits_per_key = cfg->bloom_bits;
    if (options.max_value_bytes < cfg->value_size) {
        options.max_value_bytes = cfg->value_size;
    }
    check(lsmkv_open(dir, &options, &db, &err), "lsmkv_open", &err);
    return db;
}

static void
backend_close(void *db)
{
    check(lsmkv_close(db), "lsmkv_close", NULL);
}

static void
backend_put(void *db, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
            bool sync)
{
    static const lsmkv_write_options synced = {.sync = LSMKV_SYNC_ALWAYS};
    lsmkv_error err = {0};

    check(lsmkv_put(db, sync ? &synced : NULL, key, key_len, value, value_len, &err), "lsmkv_put",
          &err);
}

static void
backend_del(void *db, const uint8_t *key, size_t key_len)
{
    lsmkv_error err = {0};

    check(lsmkv_delete(db, NULL, key, key_len, &err), "lsmkv_delete", &err);
}

static bool
backend_get(void *db, const uint8_t *key, size_t key_len, size_t *value_len)
{
    lsmkv_error err = {0};
    uint8_t *value = NULL;
    size_t len = 0;
    bool found = false;

    check(lsmkv_get(db, key, key_len, &value, &len, &found, &err), "lsmkv_get", &err);
    if (found) {
        *value_len = len;
        lsmkv_free(value);
    }
    return found;
}

static void *
backend_iter_new(void *db)
{
    lsmkv_error err = {0};
    lsmkv_iterator *it = NULL;

    check(lsmkv_iterator_new(db, &it, &err), "lsmkv_iterator_new", &err);
    lsmkv_iterator_seek_to_first(it);
    return it;
}

static bool
backend_iter_next(void *iter, size_t *entry_bytes)
{
    lsmkv_iterator *it = iter;
    size_t key_len;
    size_t value_len;

    if (!lsmkv_iterator_valid(it)) {
        lsmkv_error err = {0};
        check(lsmkv_iterator_status(it, &err), "lsmkv iterator", &err);
        return false;
    }
    (void)lsmkv_iterator_key(it, &key_len);
    (void)lsmkv_iterator_value(it, &value_len);
    *entry_bytes = key_len + value_len;
    lsmkv_iterator_next(it);
    return true;
}

static void
backend_iter_free(void *iter)
{
    lsmkv_iterator_free(iter);
}

static void
backend_batch_put(void *db, const bench_kv *kvs, size_t count, bool sync)
{
    static const lsmkv_write_options synced = {.sync = LSMKV_SYNC_ALWAYS};
    lsmkv_batch *batch = lsmkv_batch_new();
    lsmkv_error err = {0};

    for (size_t i = 0; i < count; i++) {
        lsmkv_batch_put(batch, kvs[i].key, kvs[i].key_len, kvs[i].value, kvs[i].value_len);
    }
    check(lsmkv_write(db, sync ? &synced : NULL, batch, &err), "lsmkv_write", &err);
    lsmkv_batch_free(batch);
}

static size_t
backend_multi_get(void *db, size_t count, const uint8_t *const *keys, const size_t *key_lens,
                  uint64_t *bytes)
{
    lsmkv_value *values = calloc(count, sizeof(*values));
    lsmkv_error err = {0};
    size_t found = 0;

    if (values == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    check(lsmkv_multi_get(db, count, keys, key_lens, values, &err), "lsmkv_multi_get", &err);
    for (size_t i = 0; i < count; i++) {
        if (values[i].found) {
            found++;
            *bytes += key_lens[i] + values[i].value_len;
            lsmkv_free(values[i].value);
        }
    }
    free(values);
    return found;
}

/* A range scan on the public iterator; a page is page_size steps of it. */
typedef struct lsmkv_scan {
    lsmkv_iterator *it;
    uint8_t *end; /* NULL: to the last key */
    size_t end_len;
    uint32_t page_size;
} lsmkv_scan;

static void *
backend_scan_new(void *db, const uint8_t *start, size_t start_len, const uint8_t *end,
                 size_t end_len, uint32_t page_size)
{
    lsmkv_scan *scan = calloc(1, sizeof(*scan));
    lsmkv_error err = {0};

    if (scan == NULL || (end != NULL && (scan->end = malloc(end_len + 1)) == NULL)) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    if (end != NULL) {
        memcpy(scan->end, end, end_len);
        scan->end_len = end_len;
    }
    scan->page_size = page_size;
    check(lsmkv_iterator_new(db, &scan->it, &err), "lsmkv_iterator_new", &err);
    if (start != NULL) {
        lsmkv_iterator_seek(scan->it, start, start_len);
    } else {
        lsmkv_iterator_seek_to_first(scan->it);
    }
    return scan;
}

/* Whether key sorts at or after the scan's end. */
static bool
past_end(const lsmkv_scan *scan, const uint8_t *key, size_t len)
{
    size_t n = len < scan->end_len ? len : scan->end_len;
    int c;

    if (scan->end == NULL) {
        return false;
    }
    c = memcmp(key, scan->end, n);
    return c > 0 || (c == 0 && len >= scan->end_len);
}

static bool
backend_scan_next(void *p, uint64_t *keys, uint64_t *bytes)
{
    lsmkv_scan *scan = p;
    uint32_t n = 0;

    while (n < scan->page_size && lsmkv_iterator_valid(scan->it)) {
        size_t key_len;
        size_t value_len;
        const uint8_t *key = lsmkv_iterator_key(scan->it, &key_len);

        if (past_end(scan, key, key_len)) {
            break;
        }
        (void)lsmkv_iterator_value(scan->it, &value_len);
        *bytes += key_len + value_len;
        n++;
        lsmkv_iterator_next(scan->it);
    }
    if (n == 0) {
        lsmkv_error err = {0};

        check(lsmkv_iterator_status(scan->it, &err), "lsmkv iterator", &err);
    }
    *keys += n;
    return n > 0;
}

static void
backend_scan_free(void *p)
{
    lsmkv_scan *scan = p;

    lsmkv_iterator_free(scan->it);
    free(scan->end);
    free(scan);
}

/*
 * LevelDB's and RocksDB's whole-range compactions flush the memtable first,
 * and lsmkv_compact merges SSTables only: flushing first does the same work
 * and leaves no tombstones or shadowed values behind in the memtable and WAL.
 */
static void
backend_compact(void *db)
{
    lsmkv_error err = {0};

    check(lsmkv_flush(db, NULL, &err), "lsmkv_flush", &err);
    check(lsmkv_compact(db, NULL, &err), "lsmkv_compact", &err);
}

/* Its own statistics say when nothing is left: no full memtable, no level over its target. */
static void
backend_wait_idle(void *db, const char *dir)
{
    for (;;) {
        lsmkv_stats st;
        lsmkv_get_stats(db, &st);
        if (st.immutable_memtables == 0 && st.pending_compaction_bytes == 0) {
            return;
        }
        bench_sleep_ms(5);
    }
}

static double
mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* One row per level that holds tables or ever received data, L0 always. */
static void
print_levels(const lsmkv_stats *st, FILE *out)
{
    fprintf(out, "  level  tables        MiB  target MiB  compactions   read MiB  written MiB"
                 "  moved MiB\n");
    for (int i = 0; i < LSMKV_MAX_LEVELS; i++) {
        const lsmkv_level_stats *l = &st->levels[i];
        char target[32] = "-";

        if (i > 0 && l->tables == 0 && l->compactions == 0 && l->bytes_moved == 0) {
            continue;
        }
        if (l->target_bytes > 0) {
            snprintf(target, sizeof(target), "%.1f", mib(l->target_bytes));
        }
        fprintf(out, "  L%-4d %7" PRIu64 " %10.1f %11s %12" PRIu64 " %10.1f %12.1f %10.1f\n", i,
                l->tables, mib(l->bytes), target, l->compactions, mib(l->bytes_read),
                mib(l->bytes_written), mib(l->bytes_moved));
    }
}

static void
backend_print_stats(void *db, FILE *out)
{
    lsmkv_stats st;
    uint64_t written;
    char amp[32] = "n/a";

    lsmkv_get_stats(db, &st);
    written = st.wal_bytes_written + st.flush_bytes_written + st.compaction_bytes_written;
    if (st.user_bytes_written > 0) {
        snprintf(amp, sizeof(amp), "%.2f", (double)written / (double)st.user_bytes_written);
    }
    fprintf(out, "lsmkv stats:\n");
    print_levels(&st, out);
    fprintf(out,
            "  tables %" PRIu64 " (%.1f MiB); memtable %.1f MiB, %" PRIu64
            " immutable (%.1f MiB); flushes %" PRIu64 ", compactions %" PRIu64 "\n",
            st.sstables, mib(st.sstable_bytes), mib(st.memtable_bytes), st.immutable_memtables,
            mib(st.immutable_bytes), st.flushes, st.compactions);
    fprintf(out,
            "  MiB written: user %.1f, wal %.1f, flush %.1f, compaction %.1f (read %.1f); "
            "write amplification %s\n",
            mib(st.user_bytes_written), mib(st.wal_bytes_written), mib(st.flush_bytes_written),
            mib(st.compaction_bytes_written), mib(st.compaction_bytes_read), amp);
    fprintf(out,
            "  write stalls %" PRIu64 ", slowdowns %" PRIu64 ", stall time %.3f s; "
            "pending compaction %.1f MiB; puts %" PRIu64 ", deletes %" PRIu64 ", gets %" PRIu64
            "\n",
            st.write_stalls, st.write_slowdowns, (double)st.stall_micros / 1e6,
            mib(st.pending_compaction_bytes), st.puts, st.deletes, st.gets);
}

const bench_backend bench_backend_lsmkv = {
    .name = "lsmkv",
    .version = backend_version,
    .open = backend_open,
    .close = backend_close,
    .put = backend_put,
    .del = backend_del,
    .get = backend_get,
    .iter_new = backend_iter_new,
    .iter_next = backend_iter_next,
    .iter_free = backend_iter_free,
    .batch_put = backend_batch_put,
    .multi_get = backend_multi_get,
    .scan_new = backend_scan_new,
    .scan_next = backend_scan_next,
    .scan_free = backend_scan_free,
    .compact = backend_compact,
    .wait_idle = backend_wait_idle,
    .print_stats = backend_print_stats,
};
