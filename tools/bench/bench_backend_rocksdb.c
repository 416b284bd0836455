/*
 * bench_backend_rocksdb — RocksDB through its C API (<rocksdb/c.h>), set up
 * like lsmkv: the given write buffer, a bloom filter of the given bits per
 * key, no compression, the default block cache and otherwise RocksDB's
 * defaults, writes unsynced unless --sync=always or fillsync. Any error
 * prints RocksDB's message and exits 1.
 */
#include "bench_backend.h"

#include <stdio.h>
#include <stdlib.h>

#include <rocksdb/c.h>

/* The C API has no version call; CMake passes what find_package saw. */
#ifndef LSMKV_BENCH_ROCKSDB_VERSION
#define LSMKV_BENCH_ROCKSDB_VERSION "(version unknown)"
#endif

typedef struct rocksdb_handle {
    rocksdb_t *db;
    rocksdb_readoptions_t *read;
    rocksdb_writeoptions_t *write;      /* the run's default (sync per --sync) */
    rocksdb_writeoptions_t *write_sync; /* fillsync */
} rocksdb_handle;

/* RocksDB reports errors as a malloc'd string through its last argument. */
static void
check(char *error, const char *what)
{
    if (error == NULL) {
        return;
    }
    fprintf(stderr, "lsmkv-bench: %s: %s\n", what, error);
    rocksdb_free(error);
    exit(1);
}

static const char *
backend_version(void *db)
{
    return "rocksdb " LSMKV_BENCH_ROCKSDB_VERSION;
}

static rocksdb_options_t *
make_options(const bench_config *cfg)
{
    rocksdb_options_t *options = rocksdb_options_create();
    rocksdb_block_based_table_options_t *table = rocksdb_block_based_options_create();

    rocksdb_options_set_create_if_missing(options, 1);
    rocksdb_options_set_write_buffer_size(options, cfg->write_buffer_size);
    rocksdb_options_set_compression(options, rocksdb_no_compression);
    if (cfg->bloom_bits > 0) {
        /* The table options take ownership of the policy. */
        rocksdb_block_based_options_set_filter_policy(
            table, rocksdb_filterpolicy_create_bloom(cfg->bloom_bits));
    }
    /* The factory copies the table options, so they can go right away. */
    rocksdb_options_set_block_based_table_factory(options, table);
    rocksdb_block_based_options_destroy(table);
    return options;
}

static void *
backend_open(const bench_config *cfg, const char *dir)
{
    rocksdb_handle *h = calloc(1, sizeof(*h));
    rocksdb_options_t *options;
    char *error = NULL;

    if (h == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    options = make_options(cfg);
    h->db = rocksdb_open(options, dir, &error);
    rocksdb_options_destroy(options); /* the db keeps its own copy */
    check(error, "rocksdb_open");
    h->read = rocksdb_readoptions_create();
    h->write = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->write, cfg->sync_always);
    h->write_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(h->write_sync, 1);
    return h;
}

static void
backend_close(void *db)
{
    rocksdb_handle *h = db;

    rocksdb_close(h->db);
    rocksdb_writeoptions_destroy(h->write_sync);
    rocksdb_writeoptions_destroy(h->write);
    rocksdb_readoptions_destroy(h->read);
    free(h);
}

static void
backend_put(void *db, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
            bool sync)
{
    rocksdb_handle *h = db;
    char *error = NULL;

    rocksdb_put(h->db, sync ? h->write_sync : h->write, (const char *)key, key_len,
                (const char *)value, value_len, &error);
    check(error, "rocksdb_put");
}

static void
backend_del(void *db, const uint8_t *key, size_t key_len)
{
    rocksdb_handle *h = db;
    char *error = NULL;

    rocksdb_delete(h->db, h->write, (const char *)key, key_len, &error);
    check(error, "rocksdb_delete");
}

static bool
backend_get(void *db, const uint8_t *key, size_t key_len, size_t *value_len)
{
    rocksdb_handle *h = db;
    char *error = NULL;
    size_t len = 0;
    char *value = rocksdb_get(h->db, h->read, (const char *)key, key_len, &len, &error);

    check(error, "rocksdb_get");
    if (value == NULL) {
        return false;
    }
    *value_len = len;
    rocksdb_free(value);
    return true;
}

static void *
backend_iter_new(void *db)
{
    rocksdb_handle *h = db;
    rocksdb_iterator_t *it = rocksdb_create_iterator(h->db, h->read);

    rocksdb_iter_seek_to_first(it);
    return it;
}

static bool
backend_iter_next(void *iter, size_t *entry_bytes)
{
    rocksdb_iterator_t *it = iter;
    size_t key_len;
    size_t value_len;
    char *error = NULL;

    if (!rocksdb_iter_valid(it)) {
        rocksdb_iter_get_error(it, &error); /* the end, or a failed read? */
        check(error, "rocksdb iterator");
        return false;
    }
    (void)rocksdb_iter_key(it, &key_len);
    (void)rocksdb_iter_value(it, &value_len);
    *entry_bytes = key_len + value_len;
    rocksdb_iter_next(it);
    return true;
}

static void
backend_iter_free(void *iter)
{
    rocksdb_iter_destroy(iter);
}

static void
backend_compact(void *db)
{
    rocksdb_handle *h = db;

    /* NULL bounds: the whole key range, as db_bench's compact. */
    rocksdb_compact_range(h->db, NULL, 0, NULL, 0);
}

static uint64_t
property(rocksdb_handle *h, const char *name)
{
    uint64_t value = 0;

    if (rocksdb_property_int(h->db, name, &value) != 0) {
        fprintf(stderr, "lsmkv-bench: rocksdb property %s is not available\n", name);
        exit(1);
    }
    return value;
}

/* RocksDB says when a flush or compaction is pending or running. */
static void
backend_wait_idle(void *db, const char *dir)
{
    rocksdb_handle *h = db;

    while (property(h, "rocksdb.mem-table-flush-pending") +
               property(h, "rocksdb.num-running-flushes") +
               property(h, "rocksdb.compaction-pending") +
               property(h, "rocksdb.num-running-compactions") >
           0) {
        bench_sleep_ms(5);
    }
}

static void
backend_print_stats(void *db, FILE *out)
{
    rocksdb_handle *h = db;
    char *stats = rocksdb_property_value(h->db, "rocksdb.stats");

    if (stats == NULL) {
        fprintf(out, "rocksdb.stats: (not available)\n");
        return;
    }
    fprintf(out, "rocksdb.stats:\n%s", stats);
    rocksdb_free(stats);
}

const bench_backend bench_backend_rocksdb = {
    .name = "rocksdb",
    .version = backend_version,
    .open = backend_open,
    .close = backend_close,
    .put = backend_put,
    .del = backend_del,
    .get = backend_get,
    .iter_new = backend_iter_new,
    .iter_next = backend_iter_next,
    .iter_free = backend_iter_free,
    .compact = backend_compact,
    .wait_idle = backend_wait_idle,
    .print_stats = backend_print_stats,
};
