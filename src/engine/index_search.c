#include "index_search.h"

#include "buffer.h"
#include "internal_key.h"

#include <stdlib.h>

/* Together, so that the search's last steps bring the handle into the cache. */
typedef struct search_entry {
    uint64_t bits; /* the eight bytes after the prefix */
    index_search_entry entry;
} search_entry;

struct index_search {
    uint32_t count;
    uint8_t *prefix; /* shared by every user key in the index */
    size_t prefix_len;
    search_entry *entries; /* [count] */
};

/* Monotone: a user key that sorts before another never gets a larger value. */
static uint64_t
key_bits(slice user_key, size_t prefix_len)
{
    if (user_key.len >= prefix_len + 8) { /* the usual case, as one load */
        return slice_word_(user_key.data + prefix_len);
    }
    uint64_t bits = 0;
    for (size_t i = prefix_len; i < prefix_len + 8; i++) {
        bits = bits << 8 | (i < user_key.len ? user_key.data[i] : 0);
    }
    return bits;
}

/*
 * Checks that restart point i is the i-th entry for every i, and that keys
 * strictly increase; *first receives the first (internal) key, *last the last.
 */
static bool
check_shape(block_cursor *c, buffer *first, buffer *last)
{
    uint32_t n = block_cursor_restart_count(c);
    uint32_t expected = 0; /* where the entry after the previous restart starts */
    for (uint32_t i = 0; i < n; i++) {
        block_cursor_seek_to_restart(c, i);
        if (!block_cursor_valid(c) || block_cursor_entry_offset(c) != expected ||
            (i > 0 && internal_key_compare(block_cursor_key(c), buffer_slice(last)) <= 0)) {
            return false;
        }
        buffer_set(last, block_cursor_key(c).data, block_cursor_key(c).len);
        if (i == 0) {
            buffer_set(first, last->data, last->len);
        }
        block_cursor_next(c);
        if (block_cursor_valid(c) ? i + 1 == n : block_cursor_status(c, NULL) != LSMKV_OK) {
            return false; /* an entry that is no restart point, or a malformed one */
        }
        expected = block_cursor_valid(c) ? block_cursor_entry_offset(c) : 0;
    }
    return n > 0;
}

static bool
fill_entries(index_search *s, block_cursor *c)
{
    for (uint32_t i = 0; i < s->count; i++) {
        search_entry *e = &s->entries[i];
        block_cursor_seek_to_restart(c, i); /* check_shape found it valid */
        if (!sstable_handle_decode(block_cursor_value(c), &e->entry.handle)) {
            return false;
        }
        e->bits = key_bits(internal_key_user_key(block_cursor_key(c)), s->prefix_len);
        e->entry.entry_offset = block_cursor_entry_offset(c);
    }
    return true;
}

index_search *
index_search_new(slice contents, const char *file, uint64_t offset)
{
    block_cursor c;
    buffer first, last;
    buffer_init(&first);
    buffer_init(&last);
    index_search *s = NULL;
    if (block_cursor_init(&c, contents, BLOCK_KEYS_WHOLE, file, offset, NULL) == LSMKV_OK &&
        check_shape(&c, &first, &last)) {
        s = xcalloc(1, sizeof(*s));
        s->count = block_cursor_restart_count(&c);
        slice first_user = internal_key_user_key(buffer_slice(&first));
        s->prefix_len = slice_shared_prefix(first_user, internal_key_user_key(buffer_slice(&last)));
        s->prefix = xmalloc(s->prefix_len + 1);
        memcpy(s->prefix, first_user.data, s->prefix_len);
        s->entries = xmalloc(s->count * sizeof(*s->entries));
        if (!fill_entries(s, &c)) {
            index_search_free(s);
            s = NULL;
        }
    }
    block_cursor_fini(&c);
    buffer_fini(&first);
    buffer_fini(&last);
    return s;
}

void
index_search_free(index_search *s)
{
    if (s != NULL) {
        free(s->prefix);
        free(s->entries);
        free(s);
    }
}

/* The first entry in [lo, hi) whose key is >= target, reading whole keys. */
static uint32_t
search_keys(block_cursor *c, uint32_t lo, uint32_t hi, slice target)
{
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        block_cursor_seek_to_restart(c, mid);
        if (!block_cursor_valid(c)) {
            return UINT32_MAX; /* malformed: the cursor holds the problem */
        }
        if (internal_key_compare(block_cursor_key(c), target) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The first entry in [lo, count) whose bits are >= (or, if above, >) bits. */
static uint32_t
search_bits(const index_search *s, uint32_t lo, uint64_t bits, bool above)
{
    uint32_t hi = s->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint64_t at = s->entries[mid].bits;
        if (at < bits || (above && at == bits)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool
index_search_find(const index_search *s, block_cursor *c, slice target, index_search_entry *out)
{
    slice user_key = internal_key_user_key(target);
    size_t n = user_key.len < s->prefix_len ? user_key.len : s->prefix_len;
    int order = n > 0 ? memcmp(user_key.data, s->prefix, n) : 0;
    uint32_t found = 0; /* a key that sorts before the prefix sorts before every entry */
    if (order > 0) {
        found = s->count;
    } else if (order == 0 && user_key.len >= s->prefix_len) {
        uint64_t bits = key_bits(user_key, s->prefix_len);
        uint32_t lo = search_bits(s, 0, bits, false);
        found = search_keys(c, lo, search_bits(s, lo, bits, true), target);
    }
    if (found >= s->count) {
        return false;
    }
    *out = s->entries[found].entry;
    return true;
}
