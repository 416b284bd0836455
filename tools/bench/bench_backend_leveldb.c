/*
 * bench_backend_leveldb — LevelDB through its C API (<leveldb/c.h>), set up
 * like lsmkv: the given write buffer, a bloom filter of the given bits per
 * key, no compression, the default block cache, writes unsynced unless
 * --sync=always or fillsync. Any error prints LevelDB's message and exits 1.
 */
#include "bench_backend.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "bench_dir.h"

typedef struct leveldb_handle {
    leveldb_t *db;
    leveldb_options_t *options;
    leveldb_filterpolicy_t *filter; /* NULL when bloom_bits is 0 */
    leveldb_readoptions_t *read;
    leveldb_writeoptions_t *write;      /* the run's default (sync per --sync) */
    leveldb_writeoptions_t *write_sync; /* fillsync */
} leveldb_handle;

/* LevelDB reports errors as a malloc'd string through its last argument. */
static void
check(char *error, const char *what)
{
    if (error == NULL) {
        return;
    }
    fprintf(stderr, "lsmkv-bench: %s: %s\n", what, error);
    leveldb_free(error);
    exit(1);
}

static const char *
backend_version(void *db)
{
    static char buf[64];

    snprintf(buf, sizeof(buf), "leveldb %d.%d", leveldb_major_version(), leveldb_minor_version());
    return buf;
}

static void *
backend_open(const bench_config *cfg, const char *dir)
{
    leveldb_handle *h = calloc(1, sizeof(*h));
    char *error = NULL;

    if (h == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    h->options = leveldb_options_create();
    leveldb_options_set_create_if_missing(h->options, 1);
    leveldb_options_set_write_buffer_size(h->options, cfg->write_buffer_size);
    leveldb_options_set_compression(h->options, leveldb_no_compression);
    if (cfg->bloom_bits > 0) {
        /* The options only point at the policy: it must outlive the db. */
        h->filter = leveldb_filterpolicy_create_bloom(cfg->bloom_bits);
        leveldb_options_set_filter_policy(h->options, h->filter);
    }
    h->read = leveldb_readoptions_create();
    h->write = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->write, cfg->sync_always);
    h->write_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(h->write_sync, 1);
    h->db = leveldb_open(h->options, dir, &error);
    check(error, "leveldb_open");
    return h;
}

static void
backend_close(void *db)
{
    leveldb_handle *h = db;

    leveldb_close(h->db);
    leveldb_writeoptions_destroy(h->write_sync);
    leveldb_writeoptions_destroy(h->write);
    leveldb_readoptions_destroy(h->read);
    leveldb_options_destroy(h->options);
    if (h->filter != NULL) {
        leveldb_filterpolicy_destroy(h->filter);
    }
    free(h);
}

static void
backend_put(void *db, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
            bool sync)
{
    leveldb_handle *h = db;
    char *error = NULL;

    leveldb_put(h->db, sync ? h->write_sync : h->write, (const char *)key, key_len,
                (const char *)value, value_len, &error);
    check(error, "leveldb_put");
}

static void
backend_del(void *db, const uint8_t *key, size_t key_len)
{
    leveldb_handle *h = db;
    char *error = NULL;

    leveldb_delete(h->db, h->write, (const char *)key, key_len, &error);
    check(error, "leveldb_delete");
}

static bool
backend_get(void *db, const uint8_t *key, size_t key_len, size_t *value_len)
{
    leveldb_handle *h = db;
    char *error = NULL;
    size_t len = 0;
    char *value = leveldb_get(h->db, h->read, (const char *)key, key_len, &len, &error);

    check(error, "leveldb_get");
    if (value == NULL) {
        return false;
    }
    *value_len = len;
    leveldb_free(value);
    return true;
}

static void *
backend_iter_new(void *db)
{
    leveldb_handle *h = db;
    leveldb_iterator_t *it = leveldb_create_iterator(h->db, h->read);

    leveldb_iter_seek_to_first(it);
    return it;
}

static bool
backend_iter_next(void *iter, size_t *entry_bytes)
{
    leveldb_iterator_t *it = iter;
    size_t key_len;
    size_t value_len;
    char *error = NULL;

    if (!leveldb_iter_valid(it)) {
        leveldb_iter_get_error(it, &error); /* the end, or a failed read? */
        check(error, "leveldb iterator");
        return false;
    }
    (void)leveldb_iter_key(it, &key_len);
    (void)leveldb_iter_value(it, &value_len);
    *entry_bytes = key_len + value_len;
    leveldb_iter_next(it);
    return true;
}

static void
backend_iter_free(void *iter)
{
    leveldb_iter_destroy(iter);
}

static void
backend_compact(void *db)
{
    leveldb_handle *h = db;

    /* NULL bounds: the whole key range, as db_bench's compact. */
    leveldb_compact_range(h->db, NULL, 0, NULL, 0);
}

static void
backend_print_stats(void *db, FILE *out)
{
    leveldb_handle *h = db;
    char *stats = leveldb_property_value(h->db, "leveldb.stats");

    if (stats == NULL) {
        fprintf(out, "leveldb.stats: (not available)\n");
        return;
    }
    fprintf(out, "leveldb.stats:\n%s", stats);
    leveldb_free(stats);
}

/*
 * LevelDB does not say whether a compaction is due or running, so this waits
 * until it stops changing anything: its directory's files (a flush or a
 * compaction writes 64 KiB at a time, deletes its inputs when done) and its
 * compaction statistics stay the same over QUIET_MS. The wait therefore
 * includes that last quiet window.
 */
#define QUIET_MS 250

/* What LevelDB has done so far: its directory's fingerprint and its statistics (malloc'd). */
typedef struct activity {
    uint64_t files;
    char *stats;
} activity;

static activity
activity_now(leveldb_handle *h, const char *dir)
{
    return (activity){bench_dir_fingerprint(dir), leveldb_property_value(h->db, "leveldb.stats")};
}

static bool
activity_same(const activity *a, const activity *b)
{
    return a->files == b->files && a->stats != NULL && b->stats != NULL &&
           strcmp(a->stats, b->stats) == 0;
}

static void
backend_wait_idle(void *db, const char *dir)
{
    leveldb_handle *h = db;
    activity before = activity_now(h, dir);

    for (;;) {
        bench_sleep_ms(QUIET_MS);
        activity now = activity_now(h, dir);
        bool same = activity_same(&before, &now);
        leveldb_free(before.stats);
        before = now;
        if (same) {
            break;
        }
    }
    leveldb_free(before.stats);
}

const bench_backend bench_backend_leveldb = {
    .name = "leveldb",
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
