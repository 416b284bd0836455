/*
 * SSTable reader (format in sstable_format.h).
 *
 * Open verifies the footer and every metadata block and keeps the index,
 * bloom filter and properties in memory; after that the reader is never
 * written, so any number of threads may get and iterate at once without a
 * lock. Data blocks are read with one pread each into memory owned by the
 * caller's stack frame or iterator and verified on every read: a damaged
 * block fails only the reads that need it.
 *
 * A mapped block is used in place and verified the first time the reader
 * uses it, then trusted, as a cached block is: hashing a whole block for
 * every get would otherwise cost more than the rest of the lookup.
 */
#include "sstable_reader.h"

#include "block.h"
#include "block_cache.h"
#include "bloom.h"
#include "compression.h"
#include "index_search.h"
#include "coding.h"
#include "file.h"
#include "status.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

struct sstable_reader {
    file_reader *file;
    block_cache *cache;   /* NULL: every read goes to the file */
    const uint8_t *map;   /* the whole file, once sstable_reader_map succeeded */
    uint64_t file_number; /* the cache key's file part */
    const char *path;     /* owned by file */
    uint64_t blocks_end;  /* where the footer starts: every block ends before it */
    uint64_t index_offset;
    sstable_footer footer;
    sstable_properties props;
    block *index;
    index_search *search; /* NULL: gets seek the index block with a cursor */
    buffer bloom;         /* empty: no filter */
    /* With a map: bit i is set once the block named by the index entry at
     * byte i of the index has passed its checksum (a byte offset names one
     * entry, so no block count is needed). Set by any reader thread; a race
     * only verifies a block twice. */
    _Atomic uint8_t *verified;
};

static block_keys
data_block_keys(const sstable_reader *r)
{
    return sstable_data_block_keys(r->footer.version);
}

static bool
block_verified(const sstable_reader *r, uint32_t index_entry)
{
    return (atomic_load_explicit(&r->verified[index_entry / 8], memory_order_relaxed) >>
            (index_entry % 8)) &
           1;
}

static void
mark_verified(const sstable_reader *r, uint32_t index_entry)
{
    atomic_fetch_or_explicit(&r->verified[index_entry / 8], (uint8_t)(1u << (index_entry % 8)),
                             memory_order_relaxed);
}

/*
 * Asks for a mapped block's cache lines before the search needs them. A seek
 * into a block that is not in the CPU cache otherwise waits for one miss
 * after another (the restart array, a restart point, each entry of the run);
 * requested together they arrive in about the time of one. The restart array
 * at the end is needed first, so it is asked for first.
 */
static void
prefetch_block(const uint8_t *stored, size_t size)
{
    if (size == 0) {
        return;
    }
    __builtin_prefetch(stored + size - 1);
    for (size_t i = 0; i < size; i += 64) {
        __builtin_prefetch(stored + i);
    }
}

/* A handle comes from disk: it must lie inside the file, trailer included. */
static int
check_handle(const sstable_reader *r, sstable_handle h, lsmkv_error *err)
{
    uint64_t end = r->blocks_end;
    if (h.offset > end || h.size > end - h.offset ||
        end - h.offset - h.size < SSTABLE_BLOCK_TRAILER) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: block at offset %llu of %llu bytes lies outside the file", r->path,
                          (unsigned long long)h.offset, (unsigned long long)h.size);
    }
    return LSMKV_OK;
}

/*
 * Verifies a stored block (contents and trailer at `stored`) and sets
 * *contents: a view of `stored` when it is not compressed, else the block
 * decompressed into *scratch.
 */
static int
verify_block(const sstable_reader *r, sstable_handle h, const uint8_t *stored, buffer *scratch,
             slice *contents, lsmkv_error *err)
{
    const uint8_t *trailer = stored + h.size;
    if (decode_fixed32(trailer + 1) != sstable_block_checksum(stored, (size_t)h.size + 1)) {
        return status_set(err, LSMKV_CORRUPTION, "%s: checksum mismatch in block at offset %llu",
                          r->path, (unsigned long long)h.offset);
    }
    if (trailer[0] == SSTABLE_COMPRESSION_NONE) {
        *contents = slice_make(stored, (size_t)h.size);
        return LSMKV_OK;
    }
    if (compression_decompress(trailer[0], slice_make(stored, (size_t)h.size), scratch) !=
        LSMKV_OK) {
        return status_set(err, LSMKV_CORRUPTION, "%s: %s block at offset %llu does not decompress",
                          r->path, compression_name(trailer[0]), (unsigned long long)h.offset);
    }
    *contents = buffer_slice(scratch);
    return LSMKV_OK;
}

/*
 * Reads, verifies and (if need be) decompresses the block at h into *out;
 * *compression (if not NULL) receives the trailer's compression byte.
 */
static int
read_block(const sstable_reader *r, sstable_handle h, buffer *out, int *compression,
           lsmkv_error *err)
{
    int rc = check_handle(r, h, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    size_t n = (size_t)h.size + SSTABLE_BLOCK_TRAILER;
    buffer_clear(out);
    buffer_reserve(out, n);
    rc = file_reader_read(r->file, h.offset, n, out->data, err);
    buffer raw;
    buffer_init(&raw);
    slice contents;
    if (rc == LSMKV_OK) {
        rc = verify_block(r, h, out->data, &raw, &contents, err);
    }
    if (rc == LSMKV_OK && compression != NULL) {
        *compression = out->data[h.size];
    }
    if (rc == LSMKV_OK && contents.data == raw.data) { /* it was compressed */
        buffer_fini(out);
        *out = raw;
        return LSMKV_OK;
    }
    buffer_fini(&raw);
    out->len = rc == LSMKV_OK ? (size_t)h.size : 0;
    return rc;
}

/* A data block in use: cached (pinned), or read for this use alone. */
typedef struct block_ref {
    slice contents;
    block_cache_handle *handle;
    buffer owned;
} block_ref;

static void
block_ref_init(block_ref *ref)
{
    ref->contents = slice_make(NULL, 0);
    ref->handle = NULL;
    buffer_init(&ref->owned);
}

static void
block_ref_release(const sstable_reader *r, block_ref *ref)
{
    if (ref->handle != NULL) {
        block_cache_release(r->cache, ref->handle);
        ref->handle = NULL;
    }
    ref->contents = slice_make(NULL, 0);
}

/*
 * The data block at h, named by the index entry at byte index_entry of the
 * index. From a memory map an uncompressed block is used in place (verified
 * on its first use). Otherwise it comes from the cache if it is there, or is
 * read (or decompressed) and added to the cache when fill_cache — one-pass
 * scans such as compactions leave the cache alone, so they do not push out
 * what reads use. memory_only: a block that would have to come from disk is
 * LSMKV_WOULD_BLOCK instead.
 */
static int
acquire_block(const sstable_reader *r, sstable_handle h, uint32_t index_entry, bool fill_cache,
              bool memory_only, block_ref *ref, lsmkv_error *err)
{
    block_ref_release(r, ref);
    int rc = check_handle(r, h, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    const uint8_t *stored = r->map != NULL ? r->map + h.offset : NULL;
    if (memory_only && stored != NULL &&
        !file_map_resident(stored, (size_t)h.size + SSTABLE_BLOCK_TRAILER)) {
        return status_set(err, LSMKV_WOULD_BLOCK, "%s: block at %" PRIu64 " is not in memory",
                          r->path, h.offset);
    }
    if (stored != NULL && block_verified(r, index_entry)) {
        prefetch_block(stored, (size_t)h.size);
        ref->contents = slice_make(stored, (size_t)h.size); /* only raw blocks are marked */
        return LSMKV_OK;
    }
    if (stored != NULL && stored[h.size] == SSTABLE_COMPRESSION_NONE) {
        rc = verify_block(r, h, stored, NULL, &ref->contents, err);
        if (rc == LSMKV_OK) {
            mark_verified(r, index_entry);
        }
        return rc;
    }
    if (r->cache != NULL) {
        ref->handle = block_cache_lookup(r->cache, r->file_number, h.offset);
        if (ref->handle != NULL) {
            ref->contents = block_cache_contents(ref->handle);
            return LSMKV_OK;
        }
    }
    if (memory_only && stored == NULL) {
        return status_set(err, LSMKV_WOULD_BLOCK, "%s: block at %" PRIu64 " is not cached", r->path,
                          h.offset);
    }
    rc = stored != NULL ? verify_block(r, h, stored, &ref->owned, &ref->contents, err)
                        : read_block(r, h, &ref->owned, NULL, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    if (r->cache != NULL && fill_cache) {
        ref->handle = block_cache_insert(r->cache, r->file_number, h.offset, &ref->owned);
        ref->contents = block_cache_contents(ref->handle);
    } else {
        ref->contents = buffer_slice(&ref->owned);
    }
    return LSMKV_OK;
}

static void
block_ref_fini(const sstable_reader *r, block_ref *ref)
{
    block_ref_release(r, ref);
    buffer_fini(&ref->owned);
}

static int check_index(const sstable_reader *r, lsmkv_error *err);

/* Footer, then properties, index and bloom blocks. */
static int
load_metadata(sstable_reader *r, lsmkv_error *err)
{
    uint64_t size = file_reader_size(r->file);
    if (size < SSTABLE_FOOTER_BYTES) {
        return status_set(err, LSMKV_CORRUPTION, "%s: file of %llu bytes is too short for a table",
                          r->path, (unsigned long long)size);
    }
    r->blocks_end = size - SSTABLE_FOOTER_BYTES;
    uint8_t bytes[SSTABLE_FOOTER_BYTES];
    sstable_footer footer;
    int rc = file_reader_read(r->file, r->blocks_end, sizeof(bytes), bytes, err);
    if (rc == LSMKV_OK) {
        rc = sstable_footer_decode(bytes, r->path, r->blocks_end, &footer, err);
    }
    buffer contents;
    buffer_init(&contents);
    if (rc == LSMKV_OK) {
        r->footer = footer;
        rc = read_block(r, footer.properties, &contents, NULL, err);
    }
    if (rc == LSMKV_OK) {
        rc = sstable_properties_decode(buffer_slice(&contents), r->path, footer.properties.offset,
                                       &r->props, err);
    }
    if (rc == LSMKV_OK) {
        rc = read_block(r, footer.index, &contents, NULL, err);
    }
    if (rc == LSMKV_OK) {
        rc = block_new(&contents, BLOCK_KEYS_WHOLE, r->path, footer.index.offset, &r->index, err);
        r->index_offset = footer.index.offset;
    }
    if (rc == LSMKV_OK) {
        rc = check_index(r, err);
    }
    if (rc == LSMKV_OK) {
        r->search = index_search_new(block_contents(r->index), r->path, r->index_offset);
    }
    if (rc == LSMKV_OK && footer.bloom.size > 0) {
        rc = read_block(r, footer.bloom, &r->bloom, NULL, err);
    }
    buffer_fini(&contents);
    r->props.file_size = size;
    return rc;
}

int
sstable_reader_open(const char *path, sstable_reader **out, lsmkv_error *err)
{
    file_reader *f;
    int rc = file_reader_open(path, &f, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    sstable_reader *r = xcalloc(1, sizeof(*r));
    r->file = f;
    r->path = file_reader_path(f);
    sstable_properties_init(&r->props);
    buffer_init(&r->bloom);
    rc = load_metadata(r, err);
    if (rc != LSMKV_OK) {
        sstable_reader_free(r);
        return rc;
    }
    *out = r;
    return LSMKV_OK;
}

void
sstable_reader_free(sstable_reader *r)
{
    if (r == NULL) {
        return;
    }
    index_search_free(r->search);
    block_free(r->index);
    free((void *)r->verified);
    buffer_fini(&r->bloom);
    sstable_properties_fini(&r->props);
    file_reader_close(r->file);
    free(r);
}

int
sstable_reader_map(sstable_reader *r, lsmkv_error *err)
{
    int rc = file_reader_map(r->file, &r->map, err);
    if (rc == LSMKV_OK) {
        size_t index_bytes = block_size(r->index);
        r->verified = xcalloc(index_bytes / 8 + 1, sizeof(*r->verified));
    }
    return rc;
}

void
sstable_reader_set_cache(sstable_reader *r, block_cache *cache, uint64_t file_number)
{
    r->cache = cache;
    r->file_number = file_number;
}

const sstable_properties *
sstable_reader_properties(const sstable_reader *r)
{
    return &r->props;
}

const char *
sstable_reader_path(const sstable_reader *r)
{
    return r->path;
}

bool
sstable_reader_may_contain(const sstable_reader *r, uint64_t user_key_hash)
{
    return r->bloom.len == 0 || bloom_may_contain(buffer_slice(&r->bloom), user_key_hash);
}

static int
decode_index_value(const sstable_reader *r, slice value, sstable_handle *h, lsmkv_error *err)
{
    if (!sstable_handle_decode(value, h)) {
        return status_set(err, LSMKV_CORRUPTION, "%s: malformed block handle in index", r->path);
    }
    return LSMKV_OK;
}

/*
 * The index must name its data blocks in file order, each inside the file and
 * none overlapping the one before: then an offset names exactly one block,
 * as the block cache (keyed by file and offset) assumes. An index that passed
 * its checksum but breaks this (a writer bug, a crafted file) would otherwise
 * let a cached block answer for another one: it is refused at open instead.
 */
static int
check_index(const sstable_reader *r, lsmkv_error *err)
{
    block_cursor c;
    int rc = block_cursor_init(&c, block_contents(r->index), BLOCK_KEYS_WHOLE, r->path,
                               r->index_offset, err);
    uint64_t previous_end = 0;
    if (rc == LSMKV_OK) {
        block_cursor_seek_to_first(&c);
    }
    while (rc == LSMKV_OK && block_cursor_valid(&c)) {
        sstable_handle h;
        rc = decode_index_value(r, block_cursor_value(&c), &h, err);
        if (rc == LSMKV_OK) {
            rc = check_handle(r, h, err);
        }
        if (rc == LSMKV_OK && h.offset < previous_end) {
            rc = status_set(err, LSMKV_CORRUPTION,
                            "%s: index names a block at offset %llu, inside the block before it",
                            r->path, (unsigned long long)h.offset);
        }
        previous_end = h.offset + h.size + SSTABLE_BLOCK_TRAILER;
        block_cursor_next(&c);
    }
    if (rc == LSMKV_OK) {
        rc = block_cursor_status(&c, err);
    }
    block_cursor_fini(&c);
    return rc;
}

/*
 * Index keys are the last key of each data block, so the first index entry
 * >= target names the only block that can hold the first entry >= target.
 * *found is false when target sorts after the whole table. *index_entry
 * receives where that entry lies in the index.
 */
static int
find_data_block(const sstable_reader *r, slice target, sstable_handle *h, uint32_t *index_entry,
                bool *found, lsmkv_error *err)
{
    block_cursor c;
    int rc = block_cursor_init(&c, block_contents(r->index), BLOCK_KEYS_WHOLE, r->path,
                               r->index_offset, err);
    index_search_entry e;
    bool in_table = false;
    if (rc == LSMKV_OK && r->search != NULL) {
        in_table = index_search_find(r->search, &c, target, &e);
        rc = block_cursor_status(&c, err);
    } else if (rc == LSMKV_OK) {
        block_cursor_seek(&c, target);
        rc = block_cursor_status(&c, err);
        in_table = rc == LSMKV_OK && block_cursor_valid(&c);
        if (in_table) {
            rc = decode_index_value(r, block_cursor_value(&c), &e.handle, err);
            e.entry_offset = block_cursor_entry_offset(&c);
        }
    }
    block_cursor_fini(&c);
    *found = rc == LSMKV_OK && in_table;
    if (*found) {
        *h = e.handle;
        *index_entry = e.entry_offset;
    }
    return rc;
}

/* Fills result from the entry the cursor is on, if it is a version of user_key. */
static int
take_entry(const sstable_reader *r, const block_cursor *c, slice user_key, uint64_t offset,
           lookup_result *result, lsmkv_error *err)
{
    parsed_internal_key k;
    if (block_cursor_valid(c) && !internal_key_parse(block_cursor_key(c), &k)) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: malformed internal key in block at offset %llu", r->path,
                          (unsigned long long)offset);
    }
    lookup_result_reset(result);
    if (block_cursor_valid(c) && slice_equal(k.user_key, user_key)) {
        result->found = true;
        result->type = k.type;
        result->sequence = k.sequence;
        buffer_append_slice(&result->value, block_cursor_value(c));
    }
    return LSMKV_OK;
}

static int
get_internal(sstable_reader *r, slice target, slice user_key, lookup_result *result,
             lsmkv_error *err)
{
    sstable_handle h;
    uint32_t index_entry;
    bool found;
    int rc = find_data_block(r, target, &h, &index_entry, &found, err);
    if (rc != LSMKV_OK || !found) {
        if (rc == LSMKV_OK) {
            lookup_result_reset(result);
        }
        return rc;
    }
    block_ref ref;
    block_ref_init(&ref);
    rc = acquire_block(r, h, index_entry, true, result->memory_only, &ref, err);
    block_cursor c;
    if (rc == LSMKV_OK) {
        rc = block_cursor_init(&c, ref.contents, data_block_keys(r), r->path, h.offset, err);
        if (rc == LSMKV_OK) {
            block_cursor_seek(&c, target);
            rc = block_cursor_status(&c, err);
        }
        if (rc == LSMKV_OK) {
            rc = take_entry(r, &c, user_key, h.offset, result, err);
        }
        block_cursor_fini(&c);
    }
    block_ref_fini(r, &ref);
    return rc;
}

int
sstable_reader_get(sstable_reader *r, slice user_key, uint64_t user_key_hash, uint64_t snapshot,
                   lookup_result *result, lsmkv_error *err)
{
    if (!sstable_reader_may_contain(r, user_key_hash)) {
        lookup_result_reset(result);
        return LSMKV_OK;
    }
    /* The lookup key sorts just before every version visible at snapshot. */
    uint8_t stack_key[256];
    size_t n = user_key.len + INTERNAL_KEY_TRAILER;
    uint8_t *target = n <= sizeof(stack_key) ? stack_key : xmalloc(n);
    if (user_key.len > 0) {
        memcpy(target, user_key.data, user_key.len);
    }
    uint64_t seq = snapshot < SEQUENCE_MAX ? snapshot : SEQUENCE_MAX;
    encode_fixed64(target + user_key.len, (seq << 8) | VALUE_TYPE_FOR_SEEK);
    int rc = get_internal(r, slice_make(target, n), user_key, result, err);
    if (target != stack_key) {
        free(target);
    }
    return rc;
}

/* ---- inspection -------------------------------------------------------------- */

const sstable_footer *
sstable_reader_footer(const sstable_reader *r)
{
    return &r->footer;
}

slice
sstable_reader_bloom(const sstable_reader *r)
{
    return buffer_slice(&r->bloom);
}

iterator *
sstable_reader_index_iterator_new(sstable_reader *r)
{
    return block_iterator_new(r->index, false);
}

int
sstable_reader_read_block(sstable_reader *r, sstable_handle h, buffer *contents, int *compression,
                          lsmkv_error *err)
{
    buffer read;
    buffer_init(&read);
    int type = 0;
    int rc = read_block(r, h, &read, &type, err);
    if (rc == LSMKV_OK) {
        buffer_fini(contents);
        *contents = read;
        *compression = type;
    } else {
        buffer_fini(&read);
    }
    return rc;
}

/* ---- iterator --------------------------------------------------------------- */

/*
 * Two levels: a cursor over the in-memory index and one over the current data
 * block, which is pinned in the cache or read into a buffer reused from block
 * to block.
 */
typedef struct table_iterator {
    iterator base;
    sstable_reader *reader;
    bool fill_cache;
    block_cursor index;
    block_cursor data;
    bool data_loaded;
    uint64_t data_offset; /* of the loaded block */
    block_ref block;
    lsmkv_error error; /* sticky: once set, the iterator stays invalid */
} table_iterator;

/* Loads the block the index cursor is on (none if it is not valid). */
static void
load_data_block(table_iterator *t)
{
    sstable_handle h;
    if (!block_cursor_valid(&t->index)) {
        block_cursor_status(&t->index, &t->error);
    } else if (decode_index_value(t->reader, block_cursor_value(&t->index), &h, &t->error) ==
               LSMKV_OK) {
        if (t->data_loaded && t->data_offset == h.offset) {
            return; /* already here: a seek within the current block */
        }
        block_cursor_fini(&t->data);
        t->data_loaded = false;
        if (acquire_block(t->reader, h, block_cursor_entry_offset(&t->index), t->fill_cache, false,
                          &t->block, &t->error) == LSMKV_OK &&
            block_cursor_init(&t->data, t->block.contents, data_block_keys(t->reader),
                              t->reader->path, h.offset, &t->error) == LSMKV_OK) {
            t->data_loaded = true;
            t->data_offset = h.offset;
            return;
        }
    }
    block_cursor_fini(&t->data);
    t->data_loaded = false;
}

/* Moves past exhausted blocks to the next entry, if any. */
static void
skip_exhausted_blocks(table_iterator *t)
{
    while (t->data_loaded && !block_cursor_valid(&t->data)) {
        if (block_cursor_status(&t->data, &t->error) != LSMKV_OK) {
            return;
        }
        block_cursor_next(&t->index);
        load_data_block(t);
        if (t->data_loaded) {
            block_cursor_seek_to_first(&t->data);
        }
    }
}

static bool
ti_valid(iterator *it)
{
    table_iterator *t = (table_iterator *)it;
    return t->error.code == LSMKV_OK && t->data_loaded && block_cursor_valid(&t->data);
}

static void
ti_seek_to_first(iterator *it)
{
    table_iterator *t = (table_iterator *)it;
    if (t->error.code != LSMKV_OK) {
        return;
    }
    block_cursor_seek_to_first(&t->index);
    load_data_block(t);
    if (t->data_loaded) {
        block_cursor_seek_to_first(&t->data);
    }
    skip_exhausted_blocks(t);
}

static void
ti_seek(iterator *it, slice target)
{
    table_iterator *t = (table_iterator *)it;
    if (t->error.code != LSMKV_OK) {
        return;
    }
    block_cursor_seek(&t->index, target);
    load_data_block(t);
    if (t->data_loaded) {
        block_cursor_seek(&t->data, target);
    }
    skip_exhausted_blocks(t);
}

static void
ti_next(iterator *it)
{
    table_iterator *t = (table_iterator *)it;
    block_cursor_next(&t->data);
    skip_exhausted_blocks(t);
}

static slice
ti_key(iterator *it)
{
    return block_cursor_key(&((table_iterator *)it)->data);
}

static slice
ti_value(iterator *it)
{
    return block_cursor_value(&((table_iterator *)it)->data);
}

static int
ti_status(iterator *it, lsmkv_error *err)
{
    table_iterator *t = (table_iterator *)it;
    return t->error.code == LSMKV_OK ? LSMKV_OK : status_copy(err, &t->error);
}

static void
ti_free(iterator *it)
{
    table_iterator *t = (table_iterator *)it;
    block_cursor_fini(&t->index);
    block_cursor_fini(&t->data);
    block_ref_fini(t->reader, &t->block);
    free(t);
}

static const iterator_ops table_iterator_ops = {
    .valid = ti_valid,
    .seek_to_first = ti_seek_to_first,
    .seek = ti_seek,
    .next = ti_next,
    .key = ti_key,
    .value = ti_value,
    .status = ti_status,
    .free = ti_free,
};

static iterator *
table_iterator_new(sstable_reader *r, bool fill_cache)
{
    table_iterator *t = xcalloc(1, sizeof(*t));
    t->base.ops = &table_iterator_ops;
    t->reader = r;
    t->fill_cache = fill_cache;
    block_ref_init(&t->block);
    /* The index passed block_new's checks at open, so this cannot fail. */
    block_cursor_init(&t->index, block_contents(r->index), BLOCK_KEYS_WHOLE, r->path,
                      r->index_offset, NULL);
    block_cursor_init(&t->data, slice_make(NULL, 0), data_block_keys(r), r->path, 0, NULL);
    return &t->base;
}

iterator *
sstable_reader_iterator_new(sstable_reader *r)
{
    return table_iterator_new(r, true);
}

iterator *
sstable_reader_scan_iterator_new(sstable_reader *r)
{
    return table_iterator_new(r, false);
}
