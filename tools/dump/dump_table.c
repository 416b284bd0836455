/*
 * Block-by-block table scan. The engine's table iterator stops at the first
 * bad block, which is right for reads but not for an inspection tool: here
 * the index is walked on its own (sstable_reader_index_iterator_new) and each
 * block read and verified separately (sstable_reader_read_block), so one
 * flipped bit is reported with its offset and the other blocks still get
 * checked.
 */
#include "dump_table.h"

#include "block.h"
#include "compression.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct scan {
    sstable_reader *reader;
    const char *path;
    dump_table *t;
    dump_entry_fn fn;
    void *ctx;
    buffer prev_key; /* the last entry's internal key, from any block */
    bool have_prev;
    buffer contents; /* the block being read */
} scan;

void
dump_table_init(dump_table *t)
{
    memset(t, 0, sizeof(*t));
    buffer_init(&t->min_key);
    buffer_init(&t->max_key);
    dump_issues_init(&t->issues);
    t->complete = true;
}

void
dump_table_fini(dump_table *t)
{
    for (size_t i = 0; i < t->block_count; i++) {
        buffer_fini(&t->blocks[i].last_key);
    }
    free(t->blocks);
    buffer_fini(&t->min_key);
    buffer_fini(&t->max_key);
    dump_issues_fini(&t->issues);
}

/* Describes an internal key for a message: "\"user\" @ sequence". */
static const char *
describe_key(slice internal_key, char *buf, size_t cap)
{
    parsed_internal_key k;
    char escaped[160];
    if (!internal_key_parse(internal_key, &k)) {
        snprintf(buf, cap, "malformed key \"%s\"",
                 dump_escape(internal_key, 40, escaped, sizeof(escaped)));
    } else {
        snprintf(buf, cap, "\"%s\" @ %" PRIu64,
                 dump_escape(k.user_key, 40, escaped, sizeof(escaped)), k.sequence);
    }
    return buf;
}

static void
add_block(dump_table *t, sstable_handle h, slice last_key)
{
    t->blocks = xrealloc(t->blocks, (t->block_count + 1) * sizeof(*t->blocks));
    dump_block *b = &t->blocks[t->block_count++];
    b->handle = h;
    b->compression = -1;
    buffer_init(&b->last_key);
    buffer_set(&b->last_key, last_key.data, last_key.len);
    b->entries = 0;
    b->ok = false;
    t->data_bytes += h.size + SSTABLE_BLOCK_TRAILER;
}

/*
 * Collects the index's entries. A handle that does not decode makes the
 * rest of the index untrustworthy, so the walk stops there. Data blocks must
 * follow each other from the start of the file up to the bloom block.
 */
static void
read_index(scan *s)
{
    dump_table *t = s->t;
    iterator *it = sstable_reader_index_iterator_new(s->reader);
    uint64_t expected = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        sstable_handle h;
        if (!sstable_handle_decode(iterator_value(it), &h)) {
            dump_issues_add(&t->issues, DUMP_ERROR, "%s: index entry %zu: malformed block handle",
                            s->path, t->block_count);
            break;
        }
        if (h.offset != expected) {
            dump_issues_add(&t->issues, DUMP_ERROR,
                            "%s: data block %zu at offset %" PRIu64 ", expected at %" PRIu64
                            " (blocks must follow each other)",
                            s->path, t->block_count, h.offset, expected);
        }
        expected = h.offset + h.size + SSTABLE_BLOCK_TRAILER;
        add_block(t, h, iterator_key(it));
    }
    lsmkv_error err;
    if (iterator_status(it, &err) != LSMKV_OK) {
        dump_issues_add(&t->issues, DUMP_ERROR, "%s: index: %s", s->path, err.message);
    }
    iterator_free(it);
    uint64_t data_end = sstable_reader_footer(s->reader)->bloom.offset;
    if (t->block_count > 0 && expected != data_end) {
        dump_issues_add(&t->issues, DUMP_ERROR,
                        "%s: data blocks end at offset %" PRIu64
                        " but the next block starts at %" PRIu64,
                        s->path, expected, data_end);
    }
}

/* Counts one well-formed entry and checks that it follows the previous one. */
static void
take_entry(scan *s, const dump_block *b, slice key, const parsed_internal_key *k)
{
    dump_table *t = s->t;
    if (s->have_prev && internal_key_compare(buffer_slice(&s->prev_key), key) >= 0) {
        char before[256], after[256];
        dump_issues_add(&t->issues, DUMP_ERROR,
                        "%s: data block at offset %" PRIu64 ": entry %s does not sort after %s",
                        s->path, b->handle.offset, describe_key(key, after, sizeof(after)),
                        describe_key(buffer_slice(&s->prev_key), before, sizeof(before)));
    }
    bool new_key = !s->have_prev ||
                   !slice_equal(k->user_key, internal_key_user_key(buffer_slice(&s->prev_key)));
    if (t->entries == 0) {
        buffer_set(&t->min_key, k->user_key.data, k->user_key.len);
        t->min_sequence = t->max_sequence = k->sequence;
    }
    t->entries++;
    t->tombstones += k->type == VALUE_TYPE_DELETION;
    t->min_sequence = k->sequence < t->min_sequence ? k->sequence : t->min_sequence;
    t->max_sequence = k->sequence > t->max_sequence ? k->sequence : t->max_sequence;
    if (new_key) {
        t->distinct_keys++;
        buffer_set(&t->max_key, k->user_key.data, k->user_key.len);
    }
    buffer_set(&s->prev_key, key.data, key.len);
    s->have_prev = true;
}

/* Walks the entries of a verified block; false if one is malformed. */
static bool
read_entries(scan *s, dump_block *b)
{
    block_cursor c;
    lsmkv_error err;
    block_keys keys = sstable_data_block_keys(sstable_reader_footer(s->reader)->version);
    int rc =
        block_cursor_init(&c, buffer_slice(&s->contents), keys, s->path, b->handle.offset, &err);
    bool ok = rc == LSMKV_OK;
    for (block_cursor_seek_to_first(&c); ok && block_cursor_valid(&c); block_cursor_next(&c)) {
        parsed_internal_key k;
        if (!internal_key_parse(block_cursor_key(&c), &k)) {
            dump_issues_add(&s->t->issues, DUMP_ERROR,
                            "%s: data block at offset %" PRIu64 ": entry %" PRIu64
                            " has a malformed internal key",
                            s->path, b->handle.offset, b->entries);
            ok = false;
            break;
        }
        take_entry(s, b, block_cursor_key(&c), &k);
        b->entries++;
        if (s->fn != NULL && s->t->complete && !s->fn(s->ctx, &k, block_cursor_value(&c))) {
            s->t->complete = false;
        }
    }
    if (ok) {
        rc = block_cursor_status(&c, &err);
        ok = rc == LSMKV_OK;
    }
    if (rc != LSMKV_OK) {
        dump_issues_add(&s->t->issues, DUMP_ERROR, "%s", err.message);
    }
    block_cursor_fini(&c);
    return ok;
}

static void
read_block(scan *s, dump_block *b)
{
    lsmkv_error err;
    int compression;
    if (sstable_reader_read_block(s->reader, b->handle, &s->contents, &compression, &err) !=
        LSMKV_OK) {
        dump_issues_add(&s->t->issues, DUMP_ERROR, "%s", err.message);
        s->t->bad_blocks++;
        return;
    }
    b->compression = compression;
    if (!read_entries(s, b)) {
        s->t->bad_blocks++;
        return;
    }
    b->ok = true;
    if (b->entries == 0) {
        dump_issues_add(&s->t->issues, DUMP_ERROR, "%s: data block at offset %" PRIu64 " is empty",
                        s->path, b->handle.offset);
    } else if (!slice_equal(buffer_slice(&b->last_key), buffer_slice(&s->prev_key))) {
        char index_key[256], last[256];
        dump_issues_add(
            &s->t->issues, DUMP_ERROR,
            "%s: the index names %s as the last key of the block at offset %" PRIu64
            ", which ends with %s",
            s->path, describe_key(buffer_slice(&b->last_key), index_key, sizeof(index_key)),
            b->handle.offset, describe_key(buffer_slice(&s->prev_key), last, sizeof(last)));
    }
}

static void
compare_count(scan *s, const char *what, uint64_t stored, uint64_t counted)
{
    if (stored != counted) {
        dump_issues_add(&s->t->issues, DUMP_ERROR,
                        "%s: the properties block says %s %" PRIu64
                        ", the data blocks hold %" PRIu64,
                        s->path, what, stored, counted);
    }
}

static void
compare_key(scan *s, const char *what, const buffer *stored, const buffer *counted)
{
    if (!slice_equal(buffer_slice(stored), buffer_slice(counted))) {
        char a[160], b[160];
        dump_issues_add(&s->t->issues, DUMP_ERROR,
                        "%s: the properties block says %s \"%s\", the data blocks hold \"%s\"",
                        s->path, what, dump_escape(buffer_slice(stored), 40, a, sizeof(a)),
                        dump_escape(buffer_slice(counted), 40, b, sizeof(b)));
    }
}

/* What the index and the entries add up to against the properties block. */
static void
check_properties(scan *s)
{
    const sstable_properties *p = sstable_reader_properties(s->reader);
    dump_table *t = s->t;
    compare_count(s, "data_blocks", p->data_blocks, t->block_count);
    compare_count(s, "data_bytes", p->data_bytes, t->data_bytes);
    if (t->bad_blocks > 0 || !t->complete) {
        return; /* the counts are partial */
    }
    compare_count(s, "entries", p->entries, t->entries);
    compare_count(s, "tombstones", p->tombstones, t->tombstones);
    if (t->entries > 0) {
        compare_count(s, "min_sequence", p->min_sequence, t->min_sequence);
        compare_count(s, "max_sequence", p->max_sequence, t->max_sequence);
        compare_key(s, "min_key", &p->min_key, &t->min_key);
        compare_key(s, "max_key", &p->max_key, &t->max_key);
    }
}

void
dump_table_scan(sstable_reader *r, dump_entry_fn fn, void *ctx, dump_table *t)
{
    scan s = {.reader = r, .path = sstable_reader_path(r), .t = t, .fn = fn, .ctx = ctx};
    buffer_init(&s.prev_key);
    buffer_init(&s.contents);
    read_index(&s);
    for (size_t i = 0; i < t->block_count && t->complete; i++) {
        read_block(&s, &t->blocks[i]);
    }
    check_properties(&s);
    buffer_fini(&s.prev_key);
    buffer_fini(&s.contents);
}
