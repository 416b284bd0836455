#include "block_cache.h"

#include "checksum.h"

#include <pthread.h>
#include <stdlib.h>

#define SHARD_BITS 4
#define SHARDS     (1 << SHARD_BITS)

struct block_cache_handle {
    uint64_t file;
    uint64_t offset;
    uint64_t hash;
    buffer contents;
    int refs; /* the cache's own reference while cached, plus one per pin */
    block_cache_handle *hash_next;
    block_cache_handle *newer, *older; /* LRU list: head is the newest */
};

typedef struct shard {
    pthread_mutex_t mutex;
    block_cache_handle **buckets;
    size_t bucket_count; /* a power of two */
    size_t entries;
    size_t usage;
    size_t capacity;
    block_cache_handle *newest, *oldest;
    uint64_t hits, misses;
} shard;

struct block_cache {
    shard shards[SHARDS];
    size_t capacity;
};

static uint64_t
entry_hash(uint64_t file, uint64_t offset)
{
    uint64_t key[2] = {file, offset};
    return hash64(key, sizeof(key));
}

static shard *
shard_for(block_cache *c, uint64_t hash)
{
    return &c->shards[hash >> (64 - SHARD_BITS)];
}

block_cache *
block_cache_new(size_t capacity)
{
    block_cache *c = xcalloc(1, sizeof(*c));
    c->capacity = capacity;
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_init(&s->mutex, NULL);
        s->bucket_count = 64;
        s->buckets = xcalloc(s->bucket_count, sizeof(*s->buckets));
        s->capacity = capacity / SHARDS;
    }
    return c;
}

static void
entry_free(block_cache_handle *e)
{
    buffer_fini(&e->contents);
    free(e);
}

void
block_cache_free(block_cache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        for (block_cache_handle *e = s->newest, *next; e != NULL; e = next) {
            next = e->older;
            entry_free(e);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mutex);
    }
    free(c);
}

/* ---- one shard (caller holds its mutex) ------------------------------------------ */

static block_cache_handle **
bucket_slot(shard *s, uint64_t hash, uint64_t file, uint64_t offset)
{
    block_cache_handle **slot = &s->buckets[hash & (s->bucket_count - 1)];
    while (*slot != NULL && ((*slot)->file != file || (*slot)->offset != offset)) {
        slot = &(*slot)->hash_next;
    }
    return slot;
}

static void
lru_unlink(shard *s, block_cache_handle *e)
{
    *(e->newer ? &e->newer->older : &s->newest) = e->older;
    *(e->older ? &e->older->newer : &s->oldest) = e->newer;
    e->newer = e->older = NULL;
}

static void
lru_push_newest(shard *s, block_cache_handle *e)
{
    e->older = s->newest;
    e->newer = NULL;
    *(s->newest ? &s->newest->newer : &s->oldest) = e;
    s->newest = e;
}

static void
grow_buckets(shard *s)
{
    size_t count = s->bucket_count * 2;
    block_cache_handle **buckets = xcalloc(count, sizeof(*buckets));
    for (size_t i = 0; i < s->bucket_count; i++) {
        for (block_cache_handle *e = s->buckets[i], *next; e != NULL; e = next) {
            next = e->hash_next;
            e->hash_next = buckets[e->hash & (count - 1)];
            buckets[e->hash & (count - 1)] = e;
        }
    }
    free(s->buckets);
    s->buckets = buckets;
    s->bucket_count = count;
}

/* Drops unpinned entries, oldest first, until the shard fits its budget. */
static void
evict(shard *s)
{
    block_cache_handle *e = s->oldest;
    while (s->usage > s->capacity && e != NULL) {
        block_cache_handle *newer = e->newer;
        if (e->refs == 1) {
            *bucket_slot(s, e->hash, e->file, e->offset) = e->hash_next;
            lru_unlink(s, e);
            s->usage -= e->contents.len;
            s->entries--;
            entry_free(e);
        }
        e = newer;
    }
}

/* ---- public ------------------------------------------------------------------------- */

block_cache_handle *
block_cache_lookup(block_cache *c, uint64_t file, uint64_t offset)
{
    uint64_t hash = entry_hash(file, offset);
    shard *s = shard_for(c, hash);
    pthread_mutex_lock(&s->mutex);
    block_cache_handle *e = *bucket_slot(s, hash, file, offset);
    if (e != NULL) {
        e->refs++;
        lru_unlink(s, e);
        lru_push_newest(s, e);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mutex);
    return e;
}

block_cache_handle *
block_cache_insert(block_cache *c, uint64_t file, uint64_t offset, buffer *contents)
{
    uint64_t hash = entry_hash(file, offset);
    shard *s = shard_for(c, hash);
    pthread_mutex_lock(&s->mutex);
    block_cache_handle **slot = bucket_slot(s, hash, file, offset);
    block_cache_handle *e = *slot;
    if (e != NULL) { /* another reader was quicker */
        e->refs++;
        buffer_fini(contents);
    } else {
        e = xcalloc(1, sizeof(*e));
        e->file = file;
        e->offset = offset;
        e->hash = hash;
        e->contents = *contents;
        buffer_init(contents);
        e->refs = 2; /* the cache's and the caller's */
        *slot = e;
        lru_push_newest(s, e);
        s->usage += e->contents.len;
        if (++s->entries > s->bucket_count) {
            grow_buckets(s);
        }
        evict(s);
    }
    pthread_mutex_unlock(&s->mutex);
    return e;
}

slice
block_cache_contents(const block_cache_handle *h)
{
    return buffer_slice(&h->contents);
}

void
block_cache_release(block_cache *c, block_cache_handle *h)
{
    shard *s = shard_for(c, h->hash);
    pthread_mutex_lock(&s->mutex);
    h->refs--;
    evict(s); /* it may have been kept over budget only because it was pinned */
    pthread_mutex_unlock(&s->mutex);
}

void
block_cache_get_stats(block_cache *c, block_cache_stats *stats)
{
    *stats = (block_cache_stats){.capacity = c->capacity};
    for (int i = 0; i < SHARDS; i++) {
        shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mutex);
        stats->usage += s->usage;
        stats->entries += s->entries;
        stats->hits += s->hits;
        stats->misses += s->misses;
        pthread_mutex_unlock(&s->mutex);
    }
}
