#include "user_iter.h"

#include "buffer.h"
#include "internal_key.h"
#include "status.h"

#include <assert.h>
#include <stdlib.h>

typedef struct user_iterator {
    iterator base;
    iterator *internal;
    uint64_t snapshot;
    bool valid;
    /* The entry found, while valid: read once, as a scan asks for both. */
    slice key;
    slice value;
    buffer skip_key; /* versions of this user key are hidden or already shown */
    buffer seek_key;
    lsmkv_error error;
} user_iterator;

/*
 * Keeps a copy of the user key just decided, to pass over its older versions.
 * This runs once per entry of a scan: a plain copy, as the key never lies
 * inside skip_key (what buffer_set checks for).
 */
static void
remember_key(user_iterator *u, slice user_key)
{
    buffer_clear(&u->skip_key);
    if (user_key.len > u->skip_key.cap) {
        buffer_reserve(&u->skip_key, user_key.len);
    }
    if (user_key.len > 0) {
        memcpy(u->skip_key.data, user_key.data, user_key.len);
    }
    u->skip_key.len = user_key.len;
}

/*
 * Moves `internal` to the newest visible version of the next user key that
 * is not deleted. skipping: versions of skip_key are to be passed over.
 */
static void
user_iterator_find(user_iterator *u, bool skipping)
{
    u->valid = false;
    for (; iterator_valid(u->internal); iterator_next(u->internal)) {
        parsed_internal_key key;
        if (!internal_key_parse(iterator_key(u->internal), &key)) {
            status_set(&u->error, LSMKV_CORRUPTION, "malformed internal key while iterating");
            return;
        }
        if (key.sequence > u->snapshot) {
            continue; /* written after the snapshot */
        }
        if (skipping && slice_equal(key.user_key, buffer_slice(&u->skip_key))) {
            continue; /* an older version of a key already decided */
        }
        remember_key(u, key.user_key);
        skipping = true;
        if (key.type == VALUE_TYPE_VALUE) {
            u->valid = true;
            u->key = key.user_key;
            u->value = iterator_value(u->internal);
            return;
        }
    }
    iterator_status(u->internal, &u->error);
}

static bool
user_valid(iterator *it)
{
    user_iterator *u = (user_iterator *)it;
    return u->valid && u->error.code == LSMKV_OK;
}

static void
user_seek_to_first(iterator *it)
{
    user_iterator *u = (user_iterator *)it;
    iterator_seek_to_first(u->internal);
    user_iterator_find(u, false);
}

static void
user_seek(iterator *it, slice target)
{
    user_iterator *u = (user_iterator *)it;
    buffer_clear(&u->seek_key);
    internal_key_append(&u->seek_key, target, u->snapshot, VALUE_TYPE_FOR_SEEK);
    iterator_seek(u->internal, buffer_slice(&u->seek_key));
    user_iterator_find(u, false);
}

static void
user_next(iterator *it)
{
    user_iterator *u = (user_iterator *)it;
    iterator_next(u->internal);
    user_iterator_find(u, true);
}

static slice
user_key(iterator *it)
{
    return ((user_iterator *)it)->key;
}

static slice
user_value(iterator *it)
{
    return ((user_iterator *)it)->value;
}

static int
user_status(iterator *it, lsmkv_error *err)
{
    user_iterator *u = (user_iterator *)it;
    return u->error.code == LSMKV_OK ? LSMKV_OK : status_copy(err, &u->error);
}

static void
user_free(iterator *it)
{
    user_iterator *u = (user_iterator *)it;
    iterator_free(u->internal);
    buffer_fini(&u->skip_key);
    buffer_fini(&u->seek_key);
    free(u);
}

static const iterator_ops user_ops = {
    .valid = user_valid,
    .seek_to_first = user_seek_to_first,
    .seek = user_seek,
    .next = user_next,
    .key = user_key,
    .value = user_value,
    .status = user_status,
    .free = user_free,
};

iterator *
user_iterator_new(iterator *internal, uint64_t snapshot)
{
    user_iterator *u = xcalloc(1, sizeof(*u));
    u->base.ops = &user_ops;
    u->internal = internal;
    u->snapshot = snapshot > SEQUENCE_MAX ? SEQUENCE_MAX : snapshot;
    buffer_init(&u->skip_key);
    buffer_init(&u->seek_key);
    return &u->base;
}

/* ---- the public face: lsmkv_iterator (lsmkv.h) ---------------------------------- */

struct lsmkv_iterator {
    iterator *it;
};

lsmkv_iterator *
user_iterator_handle(iterator *it)
{
    assert(it->ops == &user_ops);
    lsmkv_iterator *handle = xmalloc(sizeof(*handle));
    handle->it = it;
    return handle;
}

void
lsmkv_iterator_free(lsmkv_iterator *it)
{
    if (it != NULL) {
        iterator_free(it->it);
        free(it);
    }
}

void
lsmkv_iterator_seek_to_first(lsmkv_iterator *it)
{
    iterator_seek_to_first(it->it);
}

void
lsmkv_iterator_seek(lsmkv_iterator *it, const uint8_t *key, size_t key_len)
{
    iterator_seek(it->it, slice_make(key, key_len));
}

/* The handle holds a user iterator (user_iterator_handle), so the calls of a
 * scan's loop go straight to its functions. */
bool
lsmkv_iterator_valid(const lsmkv_iterator *it)
{
    return user_valid(it->it);
}

void
lsmkv_iterator_next(lsmkv_iterator *it)
{
    user_next(it->it);
}

const uint8_t *
lsmkv_iterator_key(const lsmkv_iterator *it, size_t *len)
{
    slice key = user_key(it->it);
    *len = key.len;
    return key.data;
}

const uint8_t *
lsmkv_iterator_value(const lsmkv_iterator *it, size_t *len)
{
    slice value = user_value(it->it);
    *len = value.len;
    return value.data;
}

int
lsmkv_iterator_status(const lsmkv_iterator *it, lsmkv_error *err)
{
    return iterator_status(it->it, err);
}
