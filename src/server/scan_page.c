/*
 * A page is filled from an iterator that seeks to the range's first key and
 * walks forward; pairs are copied into one buffer as they come (the
 * iterator's bytes last only until it moves), and the page is measured as it
 * grows, so it never has to be packed to find out whether it fits.
 */
#include "scan_page.h"

#include "buffer.h"
#include "status.h"
#include "wire_size.h"

#include <stdlib.h>
#include <string.h>

typedef struct scan_span {
    size_t key_off; /* into bytes */
    size_t key_len;
    size_t value_off;
    size_t value_len;
} scan_span;

struct scan_page {
    const scan_request *req; /* while reading */
    buffer bytes;            /* the keys and values taken, back to back */
    scan_span *spans;
    size_t count;
    size_t cap;
    size_t size;   /* packed size of the pairs taken */
    buffer resume; /* empty: the range is exhausted */
};

/* ---- the range -------------------------------------------------------------------------- */

/* The first key of the range: the greater of start and prefix. */
static slice
first_key(const scan_request *req)
{
    return slice_compare(req->start, req->prefix) >= 0 ? req->start : req->prefix;
}

/* Whether key, met in order at or after the first key, is still in the range. */
static bool
in_range(const scan_request *req, slice key)
{
    if (req->end.len > 0 && slice_compare(key, req->end) >= 0) {
        return false;
    }
    /* The keys with a prefix are contiguous and begin at the prefix itself, at
     * or before the first key: the first key without it is past them all. */
    return req->prefix.len == 0 ||
           (key.len >= req->prefix.len && memcmp(key.data, req->prefix.data, req->prefix.len) == 0);
}

/* ---- filling -------------------------------------------------------------------------------- */

/* Packed size of one pair as a field of ScanResponse. */
static size_t
pair_bytes(size_t key_len, size_t value_len)
{
    return wire_size_field(wire_size_bytes(key_len) + wire_size_bytes(value_len));
}

static bool
has_room(const scan_page *p, size_t bytes)
{
    return p->req->budget == 0 || p->size + bytes <= p->req->budget;
}

/*
 * The length of the shortest key after `last` and at or before `next`, a key
 * after it: `next` cut just past the first byte where the two differ (or just
 * past the end of `last`, when that is a prefix of `next`). It is never
 * longer than `last` plus one byte.
 */
static size_t
separator_len(slice last, slice next)
{
    size_t p = 0;
    while (p < last.len && p < next.len && last.data[p] == next.data[p]) {
        p++;
    }
    return p + 1;
}

/*
 * Ends the page before `key`, which is in the range but not taken. The resume
 * key is `key` itself if it fits, else the shortest key between the page's
 * last key and it, which stands for it (no key lies between them). Room for
 * that is kept with every pair taken but a first one, which is taken when it
 * fits at all: only then can there be no room for a resume key.
 */
static int
stop_before(scan_page *p, slice key, lsmkv_error *err)
{
    const scan_span *last = &p->spans[p->count - 1];
    size_t len = key.len;
    if (!has_room(p, wire_size_bytes(len))) {
        len = separator_len(slice_make(p->bytes.data + last->key_off, last->key_len), key);
    }
    if (!has_room(p, wire_size_bytes(len))) {
        return status_set(err, LSMKV_NO_SPACE,
                          "the scan's first pair (a %zu-byte key, a %zu-byte value) leaves no room "
                          "for the key to resume at in a response of at most %zu bytes; raise the "
                          "server's --max-message-size, or scan with keys_only",
                          last->key_len, last->value_len, p->req->budget);
    }
    buffer_set(&p->resume, key.data, len);
    return LSMKV_OK;
}

static void
take(scan_page *p, slice key, slice value, size_t bytes)
{
    if (p->count == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->spans = xrealloc(p->spans, p->cap * sizeof(*p->spans));
    }
    scan_span *span = &p->spans[p->count++];
    span->key_off = p->bytes.len;
    span->key_len = key.len;
    buffer_append_slice(&p->bytes, key);
    span->value_off = p->bytes.len;
    span->value_len = value.len;
    buffer_append_slice(&p->bytes, value);
    p->size += bytes;
}

/* Takes the pair, or ends the page before it (*full). */
static int
offer(scan_page *p, slice key, slice value, bool *full, lsmkv_error *err)
{
    if (p->req->keys_only) {
        value.len = 0;
    }
    size_t bytes = pair_bytes(key.len, value.len);
    bool room =
        p->count == 0 ? has_room(p, bytes) : has_room(p, bytes + wire_size_bytes(key.len + 1));
    if (p->count < p->req->limit && room) {
        take(p, key, value, bytes);
        return LSMKV_OK;
    }
    if (p->count == 0) {
        return status_set(err, LSMKV_NO_SPACE,
                          "the scan's first pair (a %zu-byte key, a %zu-byte value) does not fit "
                          "in one response of at most %zu bytes; raise the server's "
                          "--max-message-size, or scan with keys_only",
                          key.len, value.len, p->req->budget);
    }
    *full = true;
    return stop_before(p, key, err);
}

static int
fill(lsmkv *db, scan_page *p, lsmkv_error *err)
{
    lsmkv_iterator *it;
    int rc = lsmkv_iterator_new(db, &it, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    slice first = first_key(p->req);
    if (first.len > 0) {
        lsmkv_iterator_seek(it, first.data, first.len);
    } else {
        lsmkv_iterator_seek_to_first(it);
    }
    bool full = false;
    while (rc == LSMKV_OK && !full && lsmkv_iterator_valid(it)) {
        slice key, value;
        key.data = lsmkv_iterator_key(it, &key.len);
        if (!in_range(p->req, key)) {
            break;
        }
        value.data = lsmkv_iterator_value(it, &value.len);
        rc = offer(p, key, value, &full, err);
        if (rc == LSMKV_OK && !full) {
            lsmkv_iterator_next(it);
        }
    }
    if (rc == LSMKV_OK) {
        rc = lsmkv_iterator_status(it, err); /* a damaged block ends the walk early */
    }
    lsmkv_iterator_free(it);
    return rc;
}

/* ---- the page -------------------------------------------------------------------------------- */

int
scan_page_read(lsmkv *db, const scan_request *req, scan_page **out, lsmkv_error *err)
{
    scan_page *p = xcalloc(1, sizeof(*p));
    buffer_init(&p->bytes);
    buffer_init(&p->resume);
    p->req = req;
    int rc = fill(db, p, err);
    p->req = NULL;
    if (rc != LSMKV_OK) {
        scan_page_free(p);
        return rc;
    }
    *out = p;
    return LSMKV_OK;
}

void
scan_page_free(scan_page *page)
{
    if (page != NULL) {
        buffer_fini(&page->bytes);
        buffer_fini(&page->resume);
        free(page->spans);
        free(page);
    }
}

size_t
scan_page_count(const scan_page *page)
{
    return page->count;
}

void
scan_page_pair(const scan_page *page, size_t i, slice *key, slice *value)
{
    const scan_span *span = &page->spans[i];
    *key = slice_make(page->bytes.data + span->key_off, span->key_len);
    *value = slice_make(page->bytes.data + span->value_off, span->value_len);
}

slice
scan_page_resume_key(const scan_page *page)
{
    return buffer_slice(&page->resume);
}

size_t
scan_page_packed_size(const scan_page *page)
{
    return page->size + wire_size_bytes(page->resume.len);
}
