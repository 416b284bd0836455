/*
 * Block builder, cursor and iterator (layout in block.h).
 *
 * Every byte of a block may come from a damaged disk, so the cursor checks
 * each varint and length against the end of the entries before using it, and
 * every restart offset against the restart array's start. A malformed entry
 * stops the cursor (not valid) and records why, which status() reports as
 * LSMKV_CORRUPTION; nothing is ever read outside the contents.
 */
#include "block.h"

#include "coding.h"
#include "internal_key.h"
#include "status.h"

#include <assert.h>
#include <stdlib.h>

/* ---- builder ---------------------------------------------------------------- */

void
block_builder_init(block_builder *b, int restart_interval, block_keys keys)
{
    assert(restart_interval >= 1);
    buffer_init(&b->data);
    buffer_init(&b->restarts);
    buffer_init(&b->last_key);
    b->restart_interval = restart_interval;
    b->keys = keys;
    block_builder_reset(b);
}

void
block_builder_fini(block_builder *b)
{
    buffer_fini(&b->data);
    buffer_fini(&b->restarts);
    buffer_fini(&b->last_key);
}

void
block_builder_reset(block_builder *b)
{
    buffer_clear(&b->data);
    buffer_clear(&b->restarts);
    buffer_clear(&b->last_key);
    put_fixed32(&b->restarts, 0); /* the first entry is always a restart point */
    b->since_restart = 0;
    b->entries = 0;
    b->finished = false;
}

void
block_builder_add(block_builder *b, slice key, slice value)
{
    assert(!b->finished);
    assert(key.len >= INTERNAL_KEY_TRAILER && key.len <= UINT32_MAX && value.len <= UINT32_MAX);
    /* SPLIT compresses the user key only; last_key holds what is compressed. */
    slice stored = b->keys == BLOCK_KEYS_SPLIT ? internal_key_user_key(key) : key;
    assert(b->entries == 0 || (b->keys == BLOCK_KEYS_SPLIT
                                   ? slice_compare(stored, buffer_slice(&b->last_key)) >= 0
                                   : internal_key_compare(key, buffer_slice(&b->last_key)) > 0));
    size_t shared = 0;
    if (b->since_restart < b->restart_interval) {
        shared = slice_shared_prefix(stored, buffer_slice(&b->last_key));
    } else {
        put_fixed32(&b->restarts, (uint32_t)b->data.len);
        b->since_restart = 0;
    }
    size_t unshared = stored.len - shared;
    put_varint64(&b->data, shared);
    put_varint64(&b->data, unshared);
    put_varint64(&b->data, value.len);
    buffer_append(&b->data, stored.data + shared, unshared);
    if (b->keys == BLOCK_KEYS_SPLIT) {
        put_varint64(&b->data, decode_fixed64(key.data + stored.len));
    }
    buffer_append(&b->data, value.data, value.len);
    assert(b->data.len < UINT32_MAX); /* offsets in the restart array are 32-bit */
    b->last_key.len = shared;
    buffer_append(&b->last_key, stored.data + shared, unshared);
    b->since_restart++;
    b->entries++;
}

slice
block_builder_finish(block_builder *b)
{
    assert(!b->finished);
    buffer_append(&b->data, b->restarts.data, b->restarts.len);
    put_fixed32(&b->data, (uint32_t)(b->restarts.len / 4));
    b->finished = true;
    return buffer_slice(&b->data);
}

size_t
block_builder_size_estimate(const block_builder *b)
{
    return b->finished ? b->data.len : b->data.len + b->restarts.len + 4;
}

/* ---- cursor ----------------------------------------------------------------- */

/* Splits contents into entries [0, limit) and a restart array that must fit after them. */
static bool
parse_restart_array(slice contents, uint32_t *limit, uint32_t *num_restarts)
{
    if (contents.len < 4 || contents.len > UINT32_MAX) {
        return false;
    }
    uint32_t n = decode_fixed32(contents.data + contents.len - 4);
    if (n > (contents.len - 4) / 4) {
        return false;
    }
    uint32_t entries_end = (uint32_t)(contents.len - 4 - 4 * (size_t)n);
    if (n == 0 && entries_end > 0) {
        return false; /* entries that no restart point reaches */
    }
    *limit = entries_end;
    *num_restarts = n;
    return true;
}

int
block_cursor_init(block_cursor *c, slice contents, block_keys keys, const char *file,
                  uint64_t offset, lsmkv_error *err)
{
    memset(c, 0, offsetof(block_cursor, key_inline));
    c->key = c->key_inline;
    c->key_cap = sizeof(c->key_inline);
    c->keys = keys;
    c->data = contents.data;
    c->file = file;
    c->offset = offset;
    if (!parse_restart_array(contents, &c->limit, &c->num_restarts)) {
        c->limit = 0;
        c->num_restarts = 0;
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: bad restart array in block at offset %llu (%zu bytes)", file,
                          (unsigned long long)offset, contents.len);
    }
    c->current = c->limit;
    return LSMKV_OK;
}

void
block_cursor_fini(block_cursor *c)
{
    if (c->key != c->key_inline) {
        free(c->key);
    }
    c->key = c->key_inline;
}

int
block_cursor_status(const block_cursor *c, lsmkv_error *err)
{
    if (c->problem == NULL) {
        return LSMKV_OK;
    }
    return status_set(err, LSMKV_CORRUPTION, "%s: %s at byte %u of block at offset %llu", c->file,
                      c->problem, c->problem_at, (unsigned long long)c->offset);
}

static void
cursor_corrupt(block_cursor *c, const char *problem, uint32_t at)
{
    c->problem = problem;
    c->problem_at = at;
    c->current = c->limit;
}

typedef struct entry {
    uint32_t shared;
    uint32_t unshared;
    const uint8_t *delta; /* the key bytes after the shared prefix */
    uint64_t tag;         /* SPLIT: the trailer stored after them; 0 for WHOLE */
    slice value;
    uint32_t next; /* offset of the following entry */
} entry;

/* SPLIT: the varint tag at *p, one byte in the usual bottom-level case. */
static inline const uint8_t *
decode_tag(const uint8_t *p, const uint8_t *limit, uint64_t *tag)
{
    if (p < limit && *p < 0x80) {
        *tag = *p;
        return p + 1;
    }
    return get_varint64(p, limit, tag);
}

static inline bool
decode_entry(const block_cursor *c, uint32_t offset, entry *e)
{
    const uint8_t *p = c->data + offset, *limit = c->data + c->limit;
    uint32_t value_len;
    e->tag = 0;
    if (limit - p >= 3 && (p[0] | p[1] | p[2]) < 0x80) {
        /* The usual entry: all three lengths below 128, one byte each. */
        e->shared = p[0];
        e->unshared = p[1];
        value_len = p[2];
        p += 3;
    } else if ((p = get_varint32(p, limit, &e->shared)) == NULL ||
               (p = get_varint32(p, limit, &e->unshared)) == NULL ||
               (p = get_varint32(p, limit, &value_len)) == NULL) {
        return false;
    }
    if (e->unshared > (uint64_t)(limit - p)) {
        return false;
    }
    e->delta = p;
    p += e->unshared;
    if (c->keys == BLOCK_KEYS_SPLIT && (p = decode_tag(p, limit, &e->tag)) == NULL) {
        return false;
    }
    if (value_len > (uint64_t)(limit - p)) {
        return false;
    }
    e->value = slice_make(p, value_len);
    e->next = (uint32_t)(p - c->data) + value_len;
    return true;
}

/* Bytes of the key the next entry's shared prefix may reach into. */
static inline size_t
shareable_len(const block_cursor *c)
{
    return c->keys == BLOCK_KEYS_SPLIT && c->key_len >= INTERNAL_KEY_TRAILER
               ? c->key_len - INTERNAL_KEY_TRAILER
               : c->key_len;
}

static void
key_reserve(block_cursor *c, size_t need)
{
    if (need <= c->key_cap) {
        return;
    }
    size_t cap = c->key_cap * 2 > need ? c->key_cap * 2 : need;
    if (c->key == c->key_inline) {
        c->key = xmalloc(cap);
        memcpy(c->key, c->key_inline, c->key_len);
    } else {
        c->key = xrealloc(c->key, cap);
    }
    c->key_cap = cap;
}

/*
 * Copies the entry's key bytes after the shared prefix into the key. Most are
 * a few bytes, for which a call to memcpy costs more than the copy: when 16
 * bytes can be read at the delta (inside the entries) and written at its
 * place (inside the key's room), a fixed 16-byte copy, which compiles to two
 * moves, does it; the bytes past the delta are overwritten or unused.
 */
static inline void
copy_key_delta(block_cursor *c, const entry *e)
{
    enum { SHORT = 16 };
    if (e->unshared <= SHORT && (size_t)(c->data + c->limit - e->delta) >= SHORT &&
        c->key_cap - e->shared >= SHORT) {
        memcpy(c->key + e->shared, e->delta, SHORT);
    } else {
        memcpy(c->key + e->shared, e->delta, e->unshared);
    }
}

/* Makes the entry at offset current; its shared prefix comes from the key held now. */
static bool
cursor_take(block_cursor *c, uint32_t offset)
{
    entry e;
    bool split = c->keys == BLOCK_KEYS_SPLIT;
    if (offset >= c->limit || !decode_entry(c, offset, &e) || e.shared > shareable_len(c) ||
        (!split && (size_t)e.shared + e.unshared < INTERNAL_KEY_TRAILER)) {
        cursor_corrupt(c, "malformed entry", offset);
        return false;
    }
    size_t stored = (size_t)e.shared + e.unshared;
    key_reserve(c, stored + (split ? INTERNAL_KEY_TRAILER : 0));
    copy_key_delta(c, &e);
    if (split) {
        encode_fixed64(c->key + stored, e.tag);
        stored += INTERNAL_KEY_TRAILER;
    }
    c->key_len = stored;
    c->value = e.value;
    c->current = offset;
    c->next = e.next;
    return true;
}

void
block_cursor_seek_to_first(block_cursor *c)
{
    c->key_len = 0;
    c->current = c->limit;
    if (c->problem == NULL && c->limit > 0) {
        cursor_take(c, 0);
    }
}

void
block_cursor_next(block_cursor *c)
{
    assert(block_cursor_valid(c));
    if (c->next >= c->limit) {
        c->current = c->limit;
        return;
    }
    cursor_take(c, c->next);
}

static uint32_t
restart_offset(const block_cursor *c, uint32_t i)
{
    return decode_fixed32(c->data + c->limit + 4 * (size_t)i);
}

/*
 * Compares the key stored whole at restart point i with target, without
 * copying it (internal_key_compare's order); false if the entry is malformed.
 */
static bool
restart_compare(block_cursor *c, uint32_t i, slice target, int *cmp)
{
    uint32_t offset = restart_offset(c, i);
    entry e;
    bool split = c->keys == BLOCK_KEYS_SPLIT;
    if (offset >= c->limit || !decode_entry(c, offset, &e) || e.shared != 0 ||
        (!split && e.unshared < INTERNAL_KEY_TRAILER)) {
        cursor_corrupt(c, "malformed restart point", offset);
        return false;
    }
    if (!split) {
        *cmp = internal_key_compare(slice_make(e.delta, e.unshared), target);
        return true;
    }
    *cmp = slice_compare(slice_make(e.delta, e.unshared), internal_key_user_key(target));
    if (*cmp == 0) {
        *cmp = internal_key_trailer_compare(
            e.tag, decode_fixed64(target.data + target.len - INTERNAL_KEY_TRAILER));
    }
    return true;
}

void
block_cursor_seek_to_restart(block_cursor *c, uint32_t i)
{
    assert(i < c->num_restarts);
    c->current = c->limit;
    c->key_len = 0; /* so cursor_take refuses an entry that shares a prefix */
    if (c->problem == NULL) {
        cursor_take(c, restart_offset(c, i));
    }
}

void
block_cursor_seek(block_cursor *c, slice target)
{
    c->current = c->limit;
    if (c->problem != NULL || c->limit == 0) {
        return; /* an empty block (its one restart point names no entry) */
    }
    /* Find the last restart point whose key is < target; the answer is in
     * its run of entries or, if it is the run's last, the next run's first. */
    uint32_t lo = 0, hi = c->num_restarts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        int cmp;
        if (!restart_compare(c, mid, target, &cmp)) {
            return;
        }
        if (cmp < 0) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    c->key_len = 0;
    if (!cursor_take(c, restart_offset(c, lo))) {
        return;
    }
    while (internal_key_compare(block_cursor_key(c), target) < 0) {
        block_cursor_next(c);
        if (!block_cursor_valid(c)) {
            return;
        }
    }
}

/* ---- block and iterator ----------------------------------------------------- */

struct block {
    buffer contents;
    block_keys keys;
    const char *file;
    uint64_t offset;
};

int
block_new(buffer *contents, block_keys keys, const char *file, uint64_t offset, block **out,
          lsmkv_error *err)
{
    uint32_t limit, num_restarts;
    if (!parse_restart_array(buffer_slice(contents), &limit, &num_restarts)) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: bad restart array in block at offset %llu (%zu bytes)", file,
                          (unsigned long long)offset, contents->len);
    }
    block *b = xmalloc(sizeof(*b));
    b->contents = *contents;
    b->keys = keys;
    b->file = file;
    b->offset = offset;
    buffer_init(contents);
    *out = b;
    return LSMKV_OK;
}

void
block_free(block *b)
{
    if (b != NULL) {
        buffer_fini(&b->contents);
        free(b);
    }
}

size_t
block_size(const block *b)
{
    return b->contents.len;
}

slice
block_contents(const block *b)
{
    return buffer_slice(&b->contents);
}

typedef struct block_iterator {
    iterator base;
    block *block;
    bool owns_block;
    block_cursor cursor;
} block_iterator;

static bool
bi_valid(iterator *it)
{
    return block_cursor_valid(&((block_iterator *)it)->cursor);
}

static void
bi_seek_to_first(iterator *it)
{
    block_cursor_seek_to_first(&((block_iterator *)it)->cursor);
}

static void
bi_seek(iterator *it, slice target)
{
    block_cursor_seek(&((block_iterator *)it)->cursor, target);
}

static void
bi_next(iterator *it)
{
    block_cursor_next(&((block_iterator *)it)->cursor);
}

static slice
bi_key(iterator *it)
{
    return block_cursor_key(&((block_iterator *)it)->cursor);
}

static slice
bi_value(iterator *it)
{
    return block_cursor_value(&((block_iterator *)it)->cursor);
}

static int
bi_status(iterator *it, lsmkv_error *err)
{
    return block_cursor_status(&((block_iterator *)it)->cursor, err);
}

static void
bi_free(iterator *it)
{
    block_iterator *bi = (block_iterator *)it;
    block_cursor_fini(&bi->cursor);
    if (bi->owns_block) {
        block_free(bi->block);
    }
    free(bi);
}

static const iterator_ops block_iterator_ops = {
    .valid = bi_valid,
    .seek_to_first = bi_seek_to_first,
    .seek = bi_seek,
    .next = bi_next,
    .key = bi_key,
    .value = bi_value,
    .status = bi_status,
    .free = bi_free,
};

iterator *
block_iterator_new(block *b, bool owns_block)
{
    block_iterator *bi = xcalloc(1, sizeof(*bi));
    bi->base.ops = &block_iterator_ops;
    bi->block = b;
    bi->owns_block = owns_block;
    /* block_new checked the restart array, so this cannot fail. */
    int rc = block_cursor_init(&bi->cursor, block_contents(b), b->keys, b->file, b->offset, NULL);
    assert(rc == LSMKV_OK);
    (void)rc;
    return &bi->base;
}
