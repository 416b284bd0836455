#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block.h"
#include "block_cache.h"
#include "checksum.h"
#include "compression.h"
#include "file.h"
#include "internal_key.h"
#include "sstable_builder.h"
#include "sstable_reader.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The same table contents must read back identically whichever way a data
 * block reaches the reader: compressed or not (none/lz4/zstd), by pread or
 * from a memory map, through a block cache or not.
 */

static const int compressions[] = {COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_ZSTD};

typedef struct read_path {
    bool mmap;
    bool cache;
} read_path;

static const read_path paths[] = {{false, false}, {false, true}, {true, false}, {true, true}};

#define N_COMPRESSIONS 3
#define N_PATHS        4
#define BIG_KEY        777 /* its value is a 256 KiB block of its own */

/* ---- the table contents -------------------------------------------------------------- */

typedef struct entry {
    buffer ikey; /* internal key */
    buffer value;
    int user; /* number of its user key */
    uint64_t sequence;
    bool tombstone;
} entry;

typedef struct model {
    entry *entries; /* in internal-key order */
    size_t count;
    int users;
} model;

/* User key i: "key%06d", every 7th followed by a NUL and a 0x01 byte. */
static slice
user_key(char *buf, int i)
{
    int n = sprintf(buf, "key%06d", i);
    if (i % 7 == 0) {
        buf[n++] = '\0';
        buf[n++] = 1;
    }
    return slice_make(buf, (size_t)n);
}

static void
text_value(buffer *out, size_t len, test_rng *rng)
{
    static const char *words[] = {"read ", "path ", "block ", "cache ", "map ", "zstd "};
    buffer_clear(out);
    while (out->len < len) {
        const char *w = words[test_rng_below(rng, 6)];
        size_t n = strlen(w) < len - out->len ? strlen(w) : len - out->len;
        buffer_append(out, w, n);
    }
}

static void
add_entry(model *m, int user, uint64_t seq, bool tombstone, const buffer *value)
{
    char buf[32];
    entry *e = &m->entries[m->count++];
    buffer_init(&e->ikey);
    buffer_init(&e->value);
    internal_key_append(&e->ikey, user_key(buf, user), seq,
                        tombstone ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE);
    if (!tombstone) {
        buffer_append_slice(&e->value, buffer_slice(value));
    }
    e->user = user;
    e->sequence = seq;
    e->tombstone = tombstone;
}

/*
 * users keys: every 10th a tombstone, every 50th with an older version too,
 * values of 0..299 bytes (some empty), key BIG_KEY with 256 KiB. random:
 * values are random bytes (they do not compress) instead of text.
 */
static void
model_build(model *m, int users, bool random)
{
    m->entries = calloc((size_t)users * 2, sizeof(*m->entries));
    m->count = 0;
    m->users = users;
    test_rng rng;
    test_rng_init(&rng, test_seed());
    buffer value;
    buffer_init(&value);
    for (int i = 0; i < users; i++) {
        size_t len = i == BIG_KEY ? 256u << 10 : (size_t)(i * 37) % 300;
        if (random) {
            buffer_clear(&value);
            buffer_reserve(&value, len);
            test_rng_bytes(&rng, value.data, len);
            value.len = len;
        } else {
            text_value(&value, len, &rng);
        }
        add_entry(m, i, 3 * (uint64_t)i + 2, i % 10 == 9, &value);
        if (i % 50 == 0) {
            buffer_append(&value, "-old", 4);
            add_entry(m, i, 3 * (uint64_t)i + 1, false, &value);
        }
    }
    buffer_fini(&value);
}

static void
model_free(model *m)
{
    for (size_t i = 0; i < m->count; i++) {
        buffer_fini(&m->entries[i].ikey);
        buffer_fini(&m->entries[i].value);
    }
    free(m->entries);
}

/* The model entry a get of user at snapshot finds: its first entry with
 * sequence <= snapshot, or -1. */
static long
model_find(const model *m, int user, uint64_t snapshot)
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->entries[i].user == user && m->entries[i].sequence <= snapshot) {
            return (long)i;
        }
    }
    return -1;
}

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    model text;
    model random;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("read_paths");
    model_build(&f->text, 1500, false);
    model_build(&f->random, 600, true);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    model_free(&f->text);
    model_free(&f->random);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static const char *
table_path(const fixture *f, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s.sst", f->dir, name);
    return path;
}

static void
build_table(const char *path, const model *m, int compression, sstable_properties *props)
{
    sstable_builder_options options = {
        .block_bytes = 4096, .bloom_bits_per_key = 10, .compression = compression};
    sstable_builder *b = NULL;
    lsmkv_error err = {0};
    assert_int_equal(sstable_builder_open(path, &options, &b, &err), LSMKV_OK);
    for (size_t i = 0; i < m->count; i++) {
        const entry *e = &m->entries[i];
        assert_int_equal(
            sstable_builder_add(b, buffer_slice(&e->ikey), buffer_slice(&e->value), &err),
            LSMKV_OK);
    }
    if (sstable_builder_finish(b, props, &err) != LSMKV_OK) {
        fail_msg("finish %s: %s", path, err.message);
    }
}

/* A reader over path by the given read path; *cache is a new cache or NULL. */
static sstable_reader *
open_by(const char *path, read_path p, block_cache **cache)
{
    sstable_reader *r = NULL;
    lsmkv_error err = {0};
    if (sstable_reader_open(path, &r, &err) != LSMKV_OK) {
        fail_msg("open %s: %s", path, err.message);
    }
    *cache = p.cache ? block_cache_new(64u << 20) : NULL;
    if (p.cache) {
        sstable_reader_set_cache(r, *cache, 42);
    }
    if (p.mmap && sstable_reader_map(r, &err) != LSMKV_OK) {
        fail_msg("map %s: %s", path, err.message);
    }
    return r;
}

static block_cache_stats
cache_stats(block_cache *c)
{
    block_cache_stats s = {0};
    if (c != NULL) {
        block_cache_get_stats(c, &s);
    }
    return s;
}

/* ---- the table's layout, read independently of the reader -------------------------- */

typedef struct layout {
    size_t blocks;
    sstable_handle handle[1024];
    buffer last_key[1024]; /* the index key: the block's last internal key */
    uint8_t compression[1024];
} layout;

static void
layout_read(const char *path, layout *l)
{
    buffer file;
    buffer_init(&file);
    assert_int_equal(file_read_all(path, &file, NULL), LSMKV_OK);
    sstable_footer footer;
    uint64_t at = file.len - SSTABLE_FOOTER_BYTES;
    assert_int_equal(sstable_footer_decode(file.data + at, path, at, &footer, NULL), LSMKV_OK);
    block_cursor c;
    assert_int_equal(block_cursor_init(
                         &c, slice_make(file.data + footer.index.offset, (size_t)footer.index.size),
                         BLOCK_KEYS_WHOLE, path, footer.index.offset, NULL),
                     LSMKV_OK);
    l->blocks = 0;
    for (block_cursor_seek_to_first(&c); block_cursor_valid(&c); block_cursor_next(&c)) {
        assert_true(l->blocks < 1024);
        assert_true(sstable_handle_decode(block_cursor_value(&c), &l->handle[l->blocks]));
        buffer_init(&l->last_key[l->blocks]);
        buffer_append_slice(&l->last_key[l->blocks], block_cursor_key(&c));
        l->compression[l->blocks] =
            file.data[l->handle[l->blocks].offset + l->handle[l->blocks].size];
        l->blocks++;
    }
    assert_int_equal(block_cursor_status(&c, NULL), LSMKV_OK);
    block_cursor_fini(&c);
    buffer_fini(&file);
}

static void
layout_fini(layout *l)
{
    for (size_t i = 0; i < l->blocks; i++) {
        buffer_fini(&l->last_key[i]);
    }
}

static size_t
layout_block_of(const layout *l, slice ikey)
{
    for (size_t b = 0; b < l->blocks; b++) {
        if (internal_key_compare(ikey, buffer_slice(&l->last_key[b])) <= 0) {
            return b;
        }
    }
    fail_msg("key past the last block");
    return 0;
}

static size_t
layout_count(const layout *l, int compression)
{
    size_t n = 0;
    for (size_t b = 0; b < l->blocks; b++) {
        n += l->compression[b] == compression;
    }
    return n;
}

/* ---- checks --------------------------------------------------------------------- */

static int
get_at(sstable_reader *r, int user, uint64_t snapshot, lookup_result *res, lsmkv_error *err)
{
    char buf[32];
    slice k = user_key(buf, user);
    return sstable_reader_get(r, k, hash64(k.data, k.len), snapshot, res, err);
}

static void
expect_entry(const lookup_result *res, const entry *e)
{
    assert_true(res->found);
    assert_int_equal(res->sequence, e->sequence);
    assert_int_equal(res->type, e->tombstone ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE);
    assert_true(slice_equal(buffer_slice(&res->value), buffer_slice(&e->value)));
}

/* Every key at the newest snapshot, older versions at theirs, and misses. */
static void
check_gets(sstable_reader *r, const model *m)
{
    lookup_result res;
    lookup_result_init(&res);
    for (size_t i = 0; i < m->count; i++) {
        const entry *e = &m->entries[i];
        bool newest = i == 0 || m->entries[i - 1].user != e->user;
        lsmkv_error err = {0};
        if (get_at(r, e->user, newest ? SEQUENCE_MAX : e->sequence, &res, &err) != LSMKV_OK) {
            fail_msg("get of user key %d: %s", e->user, err.message);
        }
        expect_entry(&res, e);
    }
    /* Before the oldest version of key 0, and keys that are not there. */
    assert_int_equal(get_at(r, 0, 0, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    assert_int_equal(get_at(r, m->users, SEQUENCE_MAX, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    char buf[32];
    slice k = user_key(buf, 3);
    k.len--; /* "key00000" */
    assert_int_equal(sstable_reader_get(r, k, hash64(k.data, k.len), SEQUENCE_MAX, &res, NULL),
                     LSMKV_OK);
    assert_false(res.found);
    lookup_result_fini(&res);
}

static void
check_iteration(iterator *it, const model *m)
{
    size_t i = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), i++) {
        assert_true(i < m->count);
        assert_true(slice_equal(iterator_key(it), buffer_slice(&m->entries[i].ikey)));
        assert_true(slice_equal(iterator_value(it), buffer_slice(&m->entries[i].value)));
    }
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    assert_int_equal(i, m->count);
}

static void
check_seeks(sstable_reader *r, const model *m)
{
    iterator *it = sstable_reader_iterator_new(r);
    buffer target;
    buffer_init(&target);
    char buf[32];
    /* Each entry's own key, from the last to the first (backwards jumps). */
    for (size_t i = m->count; i-- > 0;) {
        iterator_seek(it, buffer_slice(&m->entries[i].ikey));
        assert_true(iterator_valid(it));
        assert_true(slice_equal(iterator_key(it), buffer_slice(&m->entries[i].ikey)));
        assert_true(slice_equal(iterator_value(it), buffer_slice(&m->entries[i].value)));
    }
    /* A user key at the newest snapshot lands on its newest version; one
     * just after it (three NUL bytes longer) on the next user key's. */
    for (int u = 0; u + 1 < m->users; u += 97) {
        slice k = user_key(buf, u);
        buffer_clear(&target);
        internal_key_append(&target, k, SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
        iterator_seek(it, buffer_slice(&target));
        assert_true(iterator_valid(it));
        long want = model_find(m, u, SEQUENCE_MAX);
        assert_true(slice_equal(iterator_key(it), buffer_slice(&m->entries[want].ikey)));
        memcpy(buf + k.len, "\0\0\0", 3);
        buffer_clear(&target);
        internal_key_append(&target, slice_make(buf, k.len + 3), SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
        iterator_seek(it, buffer_slice(&target));
        assert_true(iterator_valid(it));
        want = model_find(m, u + 1, SEQUENCE_MAX);
        assert_true(slice_equal(iterator_key(it), buffer_slice(&m->entries[want].ikey)));
    }
    /* Past the end. */
    buffer_clear(&target);
    internal_key_append(&target, slice_make("zzz", 3), SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
    iterator_seek(it, buffer_slice(&target));
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    buffer_fini(&target);
    iterator_free(it);
}

/* Everything through every read path. */
static void
check_all_paths(const char *path, const model *m)
{
    for (size_t p = 0; p < N_PATHS; p++) {
        block_cache *cache;
        sstable_reader *r = open_by(path, paths[p], &cache);
        check_gets(r, m);
        for (int pass = 0; pass < 2; pass++) { /* the second from the cache */
            iterator *it = sstable_reader_iterator_new(r);
            check_iteration(it, m);
            iterator_free(it);
        }
        iterator *scan = sstable_reader_scan_iterator_new(r);
        check_iteration(scan, m);
        iterator_free(scan);
        check_seeks(r, m);
        check_gets(r, m);
        sstable_reader_free(r);
        block_cache_free(cache);
    }
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_same_contents_every_read_path(void **state)
{
    fixture *f = *state;
    uint64_t size[N_COMPRESSIONS];
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        sstable_properties props;
        sstable_properties_init(&props);
        build_table(path, &f->text, compressions[c], &props);
        assert_int_equal(props.compression, (uint64_t)compressions[c]);
        assert_int_equal(props.entries, f->text.count);
        size[c] = props.file_size;
        sstable_properties_fini(&props);
        check_all_paths(path, &f->text);
    }
    /* Text compresses: both libraries make the file much smaller. */
    assert_true(size[1] < size[0] / 2);
    assert_true(size[2] < size[0] / 2);
}

static void
test_properties_record_compression(void **state)
{
    fixture *f = *state;
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        build_table(path, &f->text, compressions[c], NULL);
        sstable_reader *r = NULL;
        assert_int_equal(sstable_reader_open(path, &r, NULL), LSMKV_OK);
        const sstable_properties *props = sstable_reader_properties(r);
        assert_int_equal(props->compression, (uint64_t)compressions[c]);
        assert_int_equal(props->entries, f->text.count);
        layout l;
        layout_read(path, &l);
        assert_int_equal(props->data_blocks, l.blocks);
        /* Text blocks pay for compression (a tiny last block may not); an
         * uncompressed table has none. */
        for (size_t b = 0; b < l.blocks; b++) {
            if (l.handle[b].size >= 256 || compressions[c] == COMPRESSION_NONE) {
                assert_int_equal(l.compression[b], compressions[c]);
            } else {
                assert_true(l.compression[b] == compressions[c] ||
                            l.compression[b] == COMPRESSION_NONE);
            }
        }
        assert_true(layout_count(&l, compressions[c]) >= l.blocks - 1);
        layout_fini(&l);
        sstable_reader_free(r);
    }
}

static void
test_random_data_stays_uncompressed(void **state)
{
    fixture *f = *state;
    uint64_t size[N_COMPRESSIONS];
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        sstable_properties props;
        sstable_properties_init(&props);
        build_table(path, &f->random, compressions[c], &props);
        assert_int_equal(props.compression, (uint64_t)compressions[c]);
        size[c] = props.file_size;
        sstable_properties_fini(&props);
        layout l;
        layout_read(path, &l);
        assert_true(l.blocks > 10);
        assert_int_equal(layout_count(&l, COMPRESSION_NONE), l.blocks);
        layout_fini(&l);
        check_all_paths(path, &f->random);
    }
    /* Block for block the same bytes: only the properties' setting differs
     * (one varint byte either way). */
    assert_int_equal(size[1], size[0]);
    assert_int_equal(size[2], size[0]);
}

static void
test_repeated_gets_hit_the_cache(void **state)
{
    fixture *f = *state;
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        build_table(path, &f->text, compressions[c], NULL);
        layout l;
        layout_read(path, &l);
        for (size_t p = 0; p < N_PATHS; p++) {
            if (!paths[p].cache) {
                continue;
            }
            /* A mapped uncompressed block is used in place: no cache. */
            bool cached = !(paths[p].mmap && compressions[c] == COMPRESSION_NONE);
            block_cache *cache;
            sstable_reader *r = open_by(path, paths[p], &cache);
            lookup_result res;
            lookup_result_init(&res);
            for (int u = 6; u < 10; u++) {
                long a = model_find(&f->text, u, SEQUENCE_MAX);
                long b = model_find(&f->text, 5, SEQUENCE_MAX);
                assert_int_equal(layout_block_of(&l, buffer_slice(&f->text.entries[a].ikey)),
                                 layout_block_of(&l, buffer_slice(&f->text.entries[b].ikey)));
            }
            assert_int_equal(get_at(r, 5, SEQUENCE_MAX, &res, NULL), LSMKV_OK);
            block_cache_stats first = cache_stats(cache);
            assert_int_equal(first.entries, cached ? 1 : 0);
            assert_int_equal(first.misses, cached ? 1 : 0);
            assert_int_equal(first.hits, 0);
            for (int i = 0; i < 5; i++) {
                assert_int_equal(get_at(r, 5 + i, SEQUENCE_MAX, &res, NULL), LSMKV_OK);
                assert_true(res.found);
            }
            block_cache_stats later = cache_stats(cache);
            assert_int_equal(later.hits, cached ? 5 : 0); /* keys 5..9 share a block */
            assert_int_equal(later.misses, first.misses);
            assert_int_equal(later.entries, first.entries);
            lookup_result_fini(&res);
            sstable_reader_free(r);
            block_cache_free(cache);
        }
        layout_fini(&l);
    }
}

static void
test_scan_iterators_do_not_fill_the_cache(void **state)
{
    fixture *f = *state;
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        build_table(path, &f->text, compressions[c], NULL);
        layout l;
        layout_read(path, &l);
        for (size_t p = 0; p < N_PATHS; p++) {
            if (!paths[p].cache) {
                continue;
            }
            size_t cacheable =
                paths[p].mmap ? l.blocks - layout_count(&l, COMPRESSION_NONE) : l.blocks;
            block_cache *cache;
            sstable_reader *r = open_by(path, paths[p], &cache);
            iterator *scan = sstable_reader_scan_iterator_new(r);
            check_iteration(scan, &f->text);
            iterator_free(scan);
            block_cache_stats s = cache_stats(cache);
            assert_int_equal(s.entries, 0);
            assert_int_equal(s.usage, 0);
            /* A normal iterator fills it with every block that goes through it. */
            iterator *it = sstable_reader_iterator_new(r);
            check_iteration(it, &f->text);
            iterator_free(it);
            s = cache_stats(cache);
            assert_int_equal(s.entries, cacheable);
            /* A scan still uses what is cached. */
            uint64_t hits = s.hits;
            scan = sstable_reader_scan_iterator_new(r);
            check_iteration(scan, &f->text);
            iterator_free(scan);
            s = cache_stats(cache);
            assert_int_equal(s.hits - hits, cacheable);
            assert_int_equal(s.entries, cacheable);
            sstable_reader_free(r);
            block_cache_free(cache);
        }
        layout_fini(&l);
    }
}

/*
 * Reads through a table whose block `bad` is damaged: the reads that need it
 * fail with CORRUPTION naming the file, every other read works.
 */
static void
check_damaged_block(const char *path, const model *m, const layout *l, size_t bad)
{
    bool *in_bad = calloc(m->count, sizeof(*in_bad));
    for (size_t i = 0; i < m->count; i++) {
        in_bad[i] = layout_block_of(l, buffer_slice(&m->entries[i].ikey)) == bad;
    }
    for (size_t p = 0; p < N_PATHS; p++) {
        block_cache *cache;
        sstable_reader *r = open_by(path, paths[p], &cache); /* mapped after the damage */
        lookup_result res;
        lookup_result_init(&res);
        size_t failed = 0;
        for (int round = 0; round < 2; round++) { /* a failed block is not cached */
            for (size_t i = 0; i < m->count; i++) {
                const entry *e = &m->entries[i];
                bool newest = i == 0 || m->entries[i - 1].user != e->user;
                lsmkv_error err = {0};
                int rc = get_at(r, e->user, newest ? SEQUENCE_MAX : e->sequence, &res, &err);
                if (in_bad[i]) {
                    assert_int_equal(rc, LSMKV_CORRUPTION);
                    assert_non_null(strstr(err.message, path));
                    failed++;
                } else {
                    assert_int_equal(rc, LSMKV_OK);
                    expect_entry(&res, e);
                }
            }
        }
        assert_true(failed > 0);
        /* Every good block that goes through the cache is there; the bad one
         * never got in. */
        size_t cacheable = 0;
        for (size_t b = 0; b < l->blocks; b++) {
            cacheable += b != bad && (!paths[p].mmap || l->compression[b] != COMPRESSION_NONE);
        }
        assert_int_equal(cache_stats(cache).entries, paths[p].cache ? cacheable : 0);
        /* Iteration stops at the damaged block with its error. */
        iterator *it = sstable_reader_iterator_new(r);
        size_t i = 0;
        for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), i++) {
            assert_true(slice_equal(iterator_key(it), buffer_slice(&m->entries[i].ikey)));
        }
        assert_int_equal(iterator_status(it, NULL), LSMKV_CORRUPTION);
        assert_true(in_bad[i]);
        iterator_free(it);
        /* A seek past it (to the last entry) still works. */
        it = sstable_reader_scan_iterator_new(r);
        iterator_seek(it, buffer_slice(&m->entries[m->count - 1].ikey));
        assert_true(iterator_valid(it));
        assert_true(slice_equal(iterator_value(it), buffer_slice(&m->entries[m->count - 1].value)));
        iterator_free(it);
        lookup_result_fini(&res);
        sstable_reader_free(r);
        block_cache_free(cache);
    }
    free(in_bad);
}

static void
test_flipped_bit_in_data_block(void **state)
{
    fixture *f = *state;
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        build_table(path, &f->text, compressions[c], NULL);
        layout l;
        layout_read(path, &l);
        assert_true(l.blocks > 4);
        /* A bit in the middle of the second block's stored bytes. */
        sstable_handle h = l.handle[1];
        test_flip_bit(path, (long long)(h.offset + h.size / 2), 3);
        check_damaged_block(path, &f->text, &l, 1);
        test_flip_bit(path, (long long)(h.offset + h.size / 2), 3); /* repaired */
        /* The first byte of the first block, the checksum of the third. */
        test_flip_bit(path, 0, 0);
        check_damaged_block(path, &f->text, &l, 0);
        test_flip_bit(path, 0, 0);
        h = l.handle[2];
        test_flip_bit(path, (long long)(h.offset + h.size + 2), 7);
        check_damaged_block(path, &f->text, &l, 2);
        test_flip_bit(path, (long long)(h.offset + h.size + 2), 7);
        check_all_paths(path, &f->text); /* all good again */
        layout_fini(&l);
    }
}

static void
test_flipped_compression_byte(void **state)
{
    fixture *f = *state;
    /* The trailer's compression byte is under the checksum: turning a
     * compressed block into a "raw" one (or the other way) is caught, not
     * parsed as the wrong thing. */
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        build_table(path, &f->text, compressions[c], NULL);
        layout l;
        layout_read(path, &l);
        sstable_handle h = l.handle[3];
        test_flip_bit(path, (long long)(h.offset + h.size), 0); /* none<->lz4, zstd->3 */
        check_damaged_block(path, &f->text, &l, 3);
        layout_fini(&l);
    }
}

static void
test_big_value_block(void **state)
{
    fixture *f = *state;
    /* Key BIG_KEY's 256 KiB value makes a block far over block_bytes; it is
     * read, cached and decompressed whole on every path. */
    long at = model_find(&f->text, BIG_KEY, SEQUENCE_MAX);
    assert_true(at >= 0);
    assert_int_equal(f->text.entries[at].value.len, 256u << 10);
    for (size_t c = 0; c < N_COMPRESSIONS; c++) {
        const char *path = table_path(f, compression_name(compressions[c]));
        build_table(path, &f->text, compressions[c], NULL);
        for (size_t p = 0; p < N_PATHS; p++) {
            block_cache *cache;
            sstable_reader *r = open_by(path, paths[p], &cache);
            lookup_result res;
            lookup_result_init(&res);
            for (int i = 0; i < 3; i++) {
                assert_int_equal(get_at(r, BIG_KEY, SEQUENCE_MAX, &res, NULL), LSMKV_OK);
                expect_entry(&res, &f->text.entries[at]);
            }
            lookup_result_fini(&res);
            sstable_reader_free(r);
            block_cache_free(cache);
        }
    }
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_same_contents_every_read_path),
        T(test_properties_record_compression),
        T(test_random_data_stays_uncompressed),
        T(test_repeated_gets_hit_the_cache),
        T(test_scan_iterators_do_not_fill_the_cache),
        T(test_flipped_bit_in_data_block),
        T(test_flipped_compression_byte),
        T(test_big_value_block),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
