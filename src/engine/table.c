#include "table.h"

#include "buffer.h"
#include "filename.h"
#include "sstable_reader.h"
#include "status.h"
#include "table_info.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct table_cache {
    char *dir;
    block_cache *blocks;
    size_t max_open;
    bool mmap;
    /* Advances each time a table opens; a use stamps the table with it. A
     * plain load per use keeps reads from contending on one counter. */
    atomic_uint_fast64_t clock;
    /* Set when an open left more than max_open tables open because the
     * others were pinned: then releasing an iterator's pin closes tables. */
    atomic_bool over_bound;
    pthread_mutex_t mutex; /* guards the list of open tables */
    table **open;
    size_t open_count;
    size_t open_capacity;
};

struct table {
    atomic_int refs;
    lsmkv_table_info info;
    table_cache *cache;
    atomic_uint_fast64_t last_used;
    pthread_mutex_t mutex;  /* guards reader and pins */
    sstable_reader *reader; /* NULL while closed */
    int pins;               /* reads using the reader now */
};

/* ---- the cache ---------------------------------------------------------------- */

table_cache *
table_cache_new(const char *dir, block_cache *blocks, size_t max_open, bool mmap)
{
    table_cache *c = xcalloc(1, sizeof(*c));
    c->mmap = mmap;
    c->dir = xstrdup(dir);
    c->blocks = blocks;
    c->max_open = max_open > 0 ? max_open : 1;
    pthread_mutex_init(&c->mutex, NULL);
    return c;
}

void
table_cache_free(table_cache *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_destroy(&c->mutex);
    free(c->open);
    free(c->dir);
    free(c);
}

size_t
table_cache_open_count(table_cache *c)
{
    pthread_mutex_lock(&c->mutex);
    size_t n = c->open_count;
    pthread_mutex_unlock(&c->mutex);
    return n;
}

static void
open_list_remove(table_cache *c, size_t i)
{
    c->open[i] = c->open[--c->open_count];
}

/* Closes the least recently used table nobody reads. Caller holds c->mutex. */
static bool
close_least_recent(table_cache *c, const table *keep)
{
    size_t victim = c->open_count;
    for (size_t i = 0; i < c->open_count; i++) {
        table *t = c->open[i];
        if (t != keep && (victim == c->open_count ||
                          atomic_load(&t->last_used) < atomic_load(&c->open[victim]->last_used))) {
            pthread_mutex_lock(&t->mutex);
            bool idle = t->pins == 0;
            pthread_mutex_unlock(&t->mutex);
            victim = idle ? i : victim;
        }
    }
    if (victim == c->open_count) {
        return false; /* every open table is in use: run over the bound for now */
    }
    table *t = c->open[victim];
    pthread_mutex_lock(&t->mutex);
    bool closed = t->pins == 0;
    if (closed) {
        sstable_reader_free(t->reader);
        t->reader = NULL;
        open_list_remove(c, victim);
    }
    pthread_mutex_unlock(&t->mutex);
    return closed;
}

/* Records that t opened its file, closing others past the bound. */
static void
table_cache_register(table_cache *c, table *t)
{
    pthread_mutex_lock(&c->mutex);
    atomic_fetch_add_explicit(&c->clock, 1, memory_order_relaxed);
    if (c->open_count == c->open_capacity) {
        c->open_capacity = c->open_capacity ? c->open_capacity * 2 : 16;
        c->open = xrealloc(c->open, c->open_capacity * sizeof(*c->open));
    }
    c->open[c->open_count++] = t;
    while (c->open_count > c->max_open && close_least_recent(c, t)) {
    }
    atomic_store_explicit(&c->over_bound, c->open_count > c->max_open, memory_order_relaxed);
    pthread_mutex_unlock(&c->mutex);
}

/*
 * Closes idle tables past the bound. Without this, a cache that a scan pushed
 * far past its bound (every table it pinned stayed open) would stay there
 * until the next table opens, which a read-only workload may never do.
 */
static void
table_cache_shrink(table_cache *c)
{
    pthread_mutex_lock(&c->mutex);
    while (c->open_count > c->max_open && close_least_recent(c, NULL)) {
    }
    atomic_store_explicit(&c->over_bound, c->open_count > c->max_open, memory_order_relaxed);
    pthread_mutex_unlock(&c->mutex);
}

static void
table_cache_forget(table_cache *c, const table *t)
{
    pthread_mutex_lock(&c->mutex);
    for (size_t i = 0; i < c->open_count; i++) {
        if (c->open[i] == t) {
            open_list_remove(c, i);
            break;
        }
    }
    pthread_mutex_unlock(&c->mutex);
}

/* ---- one table ------------------------------------------------------------------ */

static int
open_reader(table *t, lsmkv_error *err)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, t->cache->dir, t->info.id);
    int rc = sstable_reader_open(path, &t->reader, err);
    if (rc == LSMKV_OK && t->cache->mmap) {
        rc = sstable_reader_map(t->reader, err);
    }
    if (rc != LSMKV_OK) {
        sstable_reader_free(t->reader);
        t->reader = NULL;
        return rc;
    }
    if (t->cache->blocks != NULL) {
        sstable_reader_set_cache(t->reader, t->cache->blocks, t->info.id);
    }
    return LSMKV_OK;
}

/* Pins the reader for one read if it is open; LSMKV_WOULD_BLOCK otherwise
 * (opening it reads the file). */
static int
table_pin_if_open(table *t, sstable_reader **out, lsmkv_error *err)
{
    pthread_mutex_lock(&t->mutex);
    bool open = t->reader != NULL;
    if (open) {
        t->pins++;
        *out = t->reader;
    }
    pthread_mutex_unlock(&t->mutex);
    if (!open) {
        return status_set(err, LSMKV_WOULD_BLOCK, "table %" PRIu64 " is not open",
                          table_info(t)->id);
    }
    atomic_store_explicit(&t->last_used,
                          atomic_load_explicit(&t->cache->clock, memory_order_relaxed),
                          memory_order_relaxed);
    return LSMKV_OK;
}

/* Pins the reader (opening it if closed) for one read. */
static int
table_pin(table *t, sstable_reader **out, lsmkv_error *err)
{
    atomic_store_explicit(&t->last_used,
                          atomic_load_explicit(&t->cache->clock, memory_order_relaxed),
                          memory_order_relaxed);
    pthread_mutex_lock(&t->mutex);
    bool opened = t->reader == NULL;
    int rc = opened ? open_reader(t, err) : LSMKV_OK;
    if (rc == LSMKV_OK) {
        t->pins++;
        *out = t->reader;
    }
    pthread_mutex_unlock(&t->mutex);
    if (rc == LSMKV_OK && opened) {
        table_cache_register(t->cache, t);
    }
    return rc;
}

static void
table_unpin(table *t)
{
    pthread_mutex_lock(&t->mutex);
    t->pins--;
    pthread_mutex_unlock(&t->mutex);
}

int
table_open(table_cache *c, const lsmkv_table_info *info, table **out, lsmkv_error *err)
{
    table *t = xcalloc(1, sizeof(*t));
    atomic_init(&t->refs, 1);
    table_info_copy(&t->info, info);
    t->cache = c;
    pthread_mutex_init(&t->mutex, NULL);
    sstable_reader *reader;
    int rc = table_pin(t, &reader, err);
    if (rc != LSMKV_OK) {
        table_info_fini(&t->info);
        pthread_mutex_destroy(&t->mutex);
        free(t);
        return rc;
    }
    table_unpin(t);
    *out = t;
    return LSMKV_OK;
}

void
table_ref(table *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void
table_unref(table *t)
{
    if (t == NULL || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    table_cache_forget(t->cache, t);
    sstable_reader_free(t->reader);
    table_info_fini(&t->info);
    pthread_mutex_destroy(&t->mutex);
    free(t);
}

const lsmkv_table_info *
table_info(const table *t)
{
    return &t->info;
}

int
table_get(table *t, slice user_key, uint64_t user_key_hash, uint64_t snapshot,
          lookup_result *result, lsmkv_error *err)
{
    sstable_reader *reader;
    int rc = result->memory_only ? table_pin_if_open(t, &reader, err) : table_pin(t, &reader, err);
    if (rc == LSMKV_OK) {
        rc = sstable_reader_get(reader, user_key, user_key_hash, snapshot, result, err);
        table_unpin(t);
    }
    return rc;
}

/* An iterator's end: the reader it used may close, the table may go. */
static void
table_iterator_done(void *arg)
{
    table *t = arg;
    table_unpin(t);
    /* Iterators are the long pins that make the cache run over its bound;
     * gets pin for one read and the next open catches up with them. */
    if (atomic_load_explicit(&t->cache->over_bound, memory_order_relaxed)) {
        table_cache_shrink(t->cache);
    }
    table_unref(t);
}

iterator *
table_iterator_new(table *t, bool for_scan)
{
    sstable_reader *reader;
    lsmkv_error err = {0};
    if (table_pin(t, &reader, &err) != LSMKV_OK) {
        return iterator_new_empty(&err);
    }
    iterator *it =
        for_scan ? sstable_reader_scan_iterator_new(reader) : sstable_reader_iterator_new(reader);
    table_ref(t);
    iterator_on_free(it, table_iterator_done, t);
    return it;
}
