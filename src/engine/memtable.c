/*
 * Memtable: a skiplist whose nodes live in an arena.
 *
 * Node layout (one arena allocation, 8-aligned):
 *
 *   uint32 key_len | uint8 height | pad | next[height] | internal key | varint value_len | value
 *
 * The entry sits right behind the links, so a search step usually touches a
 * single cache line for both the link and the key it compares. key_len is a
 * plain field rather than a varint because every comparison needs it.
 *
 * Concurrency: one writer (callers serialise memtable_add), lock-free
 * readers. The writer builds a node completely, including its own next
 * pointers, before publishing it with a release store into each predecessor;
 * readers follow links with acquire loads, so everything written before the
 * release is visible to them. Nodes are never unlinked or changed once
 * published, and the arena frees nothing until the memtable dies. max_height
 * is relaxed: a reader that sees a larger height before the head links at
 * that level are set merely finds NULL there and descends.
 */
#include "memtable.h"

#include "arena.h"
#include "coding.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MEMTABLE_MAX_HEIGHT 12
/* A node reaches level i+1 with probability 1/MEMTABLE_BRANCHING. */
#define MEMTABLE_BRANCHING 4

typedef struct node {
    uint32_t key_len; /* internal key length */
    uint8_t height;
    _Atomic(struct node *) next[];
} node;

struct memtable {
    _Atomic uint32_t refs;
    _Atomic int max_height; /* levels in use, 1..MEMTABLE_MAX_HEIGHT */
    _Atomic uint64_t entries;
    _Atomic uint64_t max_sequence;
    arena *arena;
    node *head;   /* sentinel with MEMTABLE_MAX_HEIGHT links and no entry */
    uint64_t rng; /* writer only: xorshift state for node heights */
};

/* A lookup target split into user key and trailer, so no key is assembled. */
typedef struct search_key {
    slice user_key;
    uint64_t trailer;
} search_key;

static inline const uint8_t *
node_key(const node *n)
{
    return (const uint8_t *)&n->next[n->height];
}

static inline node *
node_next(node *n, int level)
{
    return atomic_load_explicit(&n->next[level], memory_order_acquire);
}

static inline slice
node_value(const node *n)
{
    const uint8_t *p = node_key(n) + n->key_len;
    uint64_t len = 0;
    /* Written by memtable_add itself, so the varint is well formed. */
    p = get_varint64(p, p + VARINT64_MAX_BYTES, &len);
    assert(p != NULL);
    return slice_make(p, (size_t)len);
}

/* Internal-key order of n against k: user key ascending, trailer descending. */
static inline int
node_compare(const node *n, const search_key *k)
{
    const uint8_t *key = node_key(n);
    size_t user_len = n->key_len - INTERNAL_KEY_TRAILER;
    int c = slice_compare(slice_make(key, user_len), k->user_key);
    if (c != 0) {
        return c;
    }
    uint64_t trailer = decode_fixed64(key + user_len);
    return trailer > k->trailer ? -1 : (trailer < k->trailer ? 1 : 0);
}

/*
 * The first node >= k, or NULL. If prev is not NULL, prev[i] receives the
 * last node < k at each level below the current height (the splice points
 * for an insert).
 */
static node *
find_greater_or_equal(memtable *m, const search_key *k, node **prev)
{
    node *x = m->head;
    int level = atomic_load_explicit(&m->max_height, memory_order_relaxed) - 1;
    node *known_ge = NULL; /* already compared >= k: skip re-comparing it */
    for (;;) {
        node *next = node_next(x, level);
        if (level > 0) {
            /*
             * If next turns out >= k, the search goes on with x's successor
             * one level down: fetch it now so that cache miss overlaps the
             * one for next (measured ~20% faster at 1M random keys).
             */
            __builtin_prefetch(atomic_load_explicit(&x->next[level - 1], memory_order_relaxed));
        }
        if (next != NULL && next != known_ge && node_compare(next, k) < 0) {
            x = next;
            continue;
        }
        known_ge = next;
        if (prev != NULL) {
            prev[level] = x;
        }
        if (level == 0) {
            return next;
        }
        level--;
    }
}

static int
random_height(memtable *m)
{
    int height = 1;
    while (height < MEMTABLE_MAX_HEIGHT) {
        /* xorshift64: the writer is the only user of m->rng. */
        m->rng ^= m->rng << 13;
        m->rng ^= m->rng >> 7;
        m->rng ^= m->rng << 17;
        if (m->rng % MEMTABLE_BRANCHING != 0) {
            break;
        }
        height++;
    }
    return height;
}

static node *
node_alloc(arena *a, int height, size_t entry_len)
{
    size_t links = (size_t)height * sizeof(_Atomic(node *));
    node *n = arena_alloc(a, sizeof(node) + links + entry_len);
    n->height = (uint8_t)height;
    for (int i = 0; i < height; i++) {
        atomic_init(&n->next[i], NULL);
    }
    return n;
}

memtable *
memtable_new(void)
{
    memtable *m = xcalloc(1, sizeof(*m));
    atomic_init(&m->refs, 1);
    atomic_init(&m->max_height, 1);
    atomic_init(&m->entries, 0);
    atomic_init(&m->max_sequence, 0);
    m->arena = arena_new();
    m->head = node_alloc(m->arena, MEMTABLE_MAX_HEIGHT, 0);
    m->head->key_len = 0;
    m->rng = UINT64_C(0x9e3779b97f4a7c15);
    return m;
}

void
memtable_ref(memtable *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void
memtable_unref(memtable *m)
{
    if (m == NULL) {
        return;
    }
    /* acq_rel: every holder's reads happen before the last one frees. */
    uint32_t old = atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel);
    assert(old > 0);
    if (old == 1) {
        arena_free(m->arena);
        free(m);
    }
}

void
memtable_add(memtable *m, uint64_t sequence, value_type type, slice user_key, slice value)
{
    assert(sequence <= SEQUENCE_MAX);
    assert(user_key.len <= UINT32_MAX - INTERNAL_KEY_TRAILER);
    if (type == VALUE_TYPE_DELETION) {
        value = slice_make(NULL, 0);
    }
    search_key k = {user_key, (sequence << 8) | (uint64_t)type};
    node *prev[MEMTABLE_MAX_HEIGHT];
    node *found = find_greater_or_equal(m, &k, prev);
    assert(found == NULL || node_compare(found, &k) != 0);
    (void)found;

    int height = random_height(m);
    int max_height = atomic_load_explicit(&m->max_height, memory_order_relaxed);
    if (height > max_height) {
        for (int i = max_height; i < height; i++) {
            prev[i] = m->head;
        }
        atomic_store_explicit(&m->max_height, height, memory_order_relaxed);
    }

    size_t key_len = user_key.len + INTERNAL_KEY_TRAILER;
    node *n = node_alloc(m->arena, height, key_len + varint_length(value.len) + value.len);
    n->key_len = (uint32_t)key_len;
    uint8_t *p = (uint8_t *)node_key(n);
    if (user_key.len > 0) {
        memcpy(p, user_key.data, user_key.len);
    }
    encode_fixed64(p + user_key.len, k.trailer);
    p += key_len;
    p += encode_varint64(p, value.len);
    if (value.len > 0) {
        memcpy(p, value.data, value.len);
    }

    for (int i = 0; i < height; i++) {
        /* n is not yet reachable, so its own links need no ordering. */
        node *succ = atomic_load_explicit(&prev[i]->next[i], memory_order_relaxed);
        atomic_store_explicit(&n->next[i], succ, memory_order_relaxed);
        atomic_store_explicit(&prev[i]->next[i], n, memory_order_release);
    }
    atomic_fetch_add_explicit(&m->entries, 1, memory_order_relaxed);
    if (sequence > atomic_load_explicit(&m->max_sequence, memory_order_relaxed)) {
        atomic_store_explicit(&m->max_sequence, sequence, memory_order_relaxed);
    }
}

bool
memtable_get(memtable *m, slice user_key, uint64_t snapshot, lookup_result *result)
{
    if (snapshot > SEQUENCE_MAX) {
        snapshot = SEQUENCE_MAX;
    }
    search_key k = {user_key, (snapshot << 8) | (uint64_t)VALUE_TYPE_FOR_SEEK};
    node *n = find_greater_or_equal(m, &k, NULL);
    if (n != NULL) {
        const uint8_t *key = node_key(n);
        size_t user_len = n->key_len - INTERNAL_KEY_TRAILER;
        if (slice_equal(slice_make(key, user_len), user_key)) {
            uint64_t trailer = decode_fixed64(key + user_len);
            slice value = node_value(n);
            buffer_set(&result->value, value.data, value.len);
            result->found = true;
            result->type = (value_type)(trailer & 0xff);
            result->sequence = trailer >> 8;
            return true;
        }
    }
    result->found = false;
    return false;
}

size_t
memtable_approximate_bytes(const memtable *m)
{
    return arena_memory_usage(m->arena) + sizeof(*m);
}

uint64_t
memtable_entries(const memtable *m)
{
    return atomic_load_explicit(&m->entries, memory_order_relaxed);
}

uint64_t
memtable_max_sequence(const memtable *m)
{
    return atomic_load_explicit(&m->max_sequence, memory_order_relaxed);
}

/* ---- iterator ------------------------------------------------------------ */

typedef struct memtable_iterator {
    iterator base;
    memtable *m; /* referenced until the iterator is freed */
    node *cur;   /* NULL when not valid */
} memtable_iterator;

static bool
mi_valid(iterator *it)
{
    return ((memtable_iterator *)it)->cur != NULL;
}

static void
mi_seek_to_first(iterator *it)
{
    memtable_iterator *mi = (memtable_iterator *)it;
    mi->cur = node_next(mi->m->head, 0);
}

static void
mi_seek(iterator *it, slice target)
{
    memtable_iterator *mi = (memtable_iterator *)it;
    search_key k;
    if (target.len >= INTERNAL_KEY_TRAILER) {
        k.user_key = internal_key_user_key(target);
        k.trailer = decode_fixed64(target.data + k.user_key.len);
    } else {
        /* Not an internal key: treat it as a user key, before all its versions. */
        k.user_key = target;
        k.trailer = UINT64_MAX;
    }
    mi->cur = find_greater_or_equal(mi->m, &k, NULL);
}

/*
 * Nodes were allocated in insertion order, so with random keys each step of a
 * scan lands on a cold node: fetch the one after the new position now, so its
 * cache misses overlap the caller's work on this one (a flush spent about a
 * tenth of its time waiting for nodes).
 */
static inline void
prefetch_node(const node *n)
{
    if (n != NULL) {
        const char *p = (const char *)n;
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
        __builtin_prefetch(p + 128);
    }
}

static void
mi_next(iterator *it)
{
    memtable_iterator *mi = (memtable_iterator *)it;
    assert(mi->cur != NULL);
    mi->cur = node_next(mi->cur, 0);
    if (mi->cur != NULL) {
        prefetch_node(atomic_load_explicit(&mi->cur->next[0], memory_order_relaxed));
    }
}

static slice
mi_key(iterator *it)
{
    memtable_iterator *mi = (memtable_iterator *)it;
    assert(mi->cur != NULL);
    return slice_make(node_key(mi->cur), mi->cur->key_len);
}

static slice
mi_value(iterator *it)
{
    memtable_iterator *mi = (memtable_iterator *)it;
    assert(mi->cur != NULL);
    return node_value(mi->cur);
}

static int
mi_status(iterator *it, lsmkv_error *err)
{
    return LSMKV_OK;
}

static void
mi_free(iterator *it)
{
    memtable_iterator *mi = (memtable_iterator *)it;
    memtable_unref(mi->m);
    free(mi);
}

static const iterator_ops memtable_iterator_ops = {
    .valid = mi_valid,
    .seek_to_first = mi_seek_to_first,
    .seek = mi_seek,
    .next = mi_next,
    .key = mi_key,
    .value = mi_value,
    .status = mi_status,
    .free = mi_free,
};

iterator *
memtable_iterator_new(memtable *m)
{
    memtable_iterator *mi = xcalloc(1, sizeof(*mi));
    mi->base.ops = &memtable_iterator_ops;
    memtable_ref(m);
    mi->m = m;
    mi->cur = NULL;
    return &mi->base;
}
