#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block.h"
#include "checksum.h"
#include "coding.h"
#include "file.h"
#include "internal_key.h"
#include "sstable_builder.h"
#include "sstable_reader.h"
#include "test_support.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------ */

typedef struct fixture {
    char *dir;
    char path[4096];
} fixture;

/* The format version the tests' tables are written in (main runs both). */
static uint32_t format_under_test;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("sstable");
    snprintf(f->path, sizeof(f->path), "%s/000012.sst", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static sstable_builder *
open_builder(const char *path, size_t block_bytes, int bloom_bits)
{
    sstable_builder_options options = {.block_bytes = block_bytes,
                                       .bloom_bits_per_key = bloom_bits,
                                       .format_version = format_under_test};
    sstable_builder *b = NULL;
    lsmkv_error err = {0};
    assert_int_equal(sstable_builder_open(path, &options, &b, &err), LSMKV_OK);
    return b;
}

static void
add_entry(sstable_builder *b, slice user_key, uint64_t seq, value_type type, slice value)
{
    buffer key;
    buffer_init(&key);
    internal_key_append(&key, user_key, seq, type);
    assert_int_equal(sstable_builder_add(b, buffer_slice(&key), value, NULL), LSMKV_OK);
    buffer_fini(&key);
}

static slice
numbered_user_key(char *buf, int i)
{
    return slice_make(buf, (size_t)sprintf(buf, "user%08d", i));
}

/* Deterministic value of key i, of varying length (some empty). */
static void
numbered_value(buffer *out, int i)
{
    buffer_clear(out);
    for (int j = 0; j < (i * 7) % 200; j++) {
        uint8_t c = (uint8_t)(i * 31 + j);
        buffer_append(out, &c, 1);
    }
}

/* n numbered keys at sequence i + 1; every 10th is a tombstone. */
static void
build_numbered(const char *path, int n, size_t block_bytes, int bloom_bits,
               sstable_properties *props)
{
    sstable_builder *b = open_builder(path, block_bytes, bloom_bits);
    buffer value;
    buffer_init(&value);
    char user[32];
    for (int i = 0; i < n; i++) {
        numbered_value(&value, i);
        bool tomb = i % 10 == 9;
        add_entry(b, numbered_user_key(user, i), (uint64_t)i + 1,
                  tomb ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE,
                  tomb ? slice_make(NULL, 0) : buffer_slice(&value));
    }
    assert_int_equal(sstable_builder_entries(b), (uint64_t)n);
    assert_int_equal(sstable_builder_finish(b, props, NULL), LSMKV_OK);
    buffer_fini(&value);
}

static sstable_reader *
open_reader(const char *path)
{
    sstable_reader *r = NULL;
    lsmkv_error err = {0};
    int rc = sstable_reader_open(path, &r, &err);
    if (rc != LSMKV_OK) {
        fail_msg("open %s: %s", path, err.message);
    }
    return r;
}

static int
get(sstable_reader *r, slice user_key, uint64_t snapshot, lookup_result *res, lsmkv_error *err)
{
    return sstable_reader_get(r, user_key, hash64(user_key.data, user_key.len), snapshot, res, err);
}

/* Checks that key i reads back as build_numbered wrote it. */
static void
check_numbered_get(sstable_reader *r, int i, lookup_result *res)
{
    char user[32];
    buffer value;
    buffer_init(&value);
    numbered_value(&value, i);
    assert_int_equal(get(r, numbered_user_key(user, i), SEQUENCE_MAX, res, NULL), LSMKV_OK);
    assert_true(res->found);
    assert_int_equal(res->sequence, (uint64_t)i + 1);
    if (i % 10 == 9) {
        assert_int_equal(res->type, VALUE_TYPE_DELETION);
        assert_int_equal(res->value.len, 0);
    } else {
        assert_int_equal(res->type, VALUE_TYPE_VALUE);
        assert_true(slice_equal(buffer_slice(&res->value), buffer_slice(&value)));
    }
    buffer_fini(&value);
}

static void
check_iterates_numbered(sstable_reader *r, int n)
{
    iterator *it = sstable_reader_iterator_new(r);
    int i = 0;
    char user[32];
    buffer value;
    buffer_init(&value);
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), i++) {
        parsed_internal_key k;
        assert_true(internal_key_parse(iterator_key(it), &k));
        assert_true(slice_equal(k.user_key, numbered_user_key(user, i)));
        assert_int_equal(k.sequence, (uint64_t)i + 1);
        numbered_value(&value, i);
        if (i % 10 != 9) {
            assert_true(slice_equal(iterator_value(it), buffer_slice(&value)));
        }
    }
    assert_int_equal(i, n);
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    buffer_fini(&value);
    iterator_free(it);
}

static uint64_t
file_size_of(const char *path)
{
    long long size = test_file_size(path);
    assert_true(size >= 0);
    return (uint64_t)size;
}

static sstable_footer
read_footer(const char *path)
{
    buffer bytes;
    buffer_init(&bytes);
    assert_int_equal(file_read_all(path, &bytes, NULL), LSMKV_OK);
    sstable_footer footer;
    uint64_t at = bytes.len - SSTABLE_FOOTER_BYTES;
    assert_int_equal(sstable_footer_decode(bytes.data + at, path, at, &footer, NULL), LSMKV_OK);
    buffer_fini(&bytes);
    return footer;
}

static void
assert_open_corrupt(const char *path)
{
    sstable_reader *r = NULL;
    lsmkv_error err = {0};
    assert_int_equal(sstable_reader_open(path, &r, &err), LSMKV_CORRUPTION);
    assert_null(r);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, path));
}

/* ---- round trips -------------------------------------------------------------- */

static void
test_build_and_read_back(void **state)
{
    fixture *f = *state;
    const int n = 5000;
    sstable_properties built;
    sstable_properties_init(&built);
    build_numbered(f->path, n, 4096, 10, &built);
    assert_int_equal(built.file_size, file_size_of(f->path));

    sstable_reader *r = open_reader(f->path);
    check_iterates_numbered(r, n);
    lookup_result res;
    lookup_result_init(&res);
    for (int i = 0; i < n; i++) {
        check_numbered_get(r, i, &res);
    }
    /* Missing keys: before, between and after the table's keys. */
    char user[32];
    const char *missing[] = {"a", "user", "user00000000\x01", "user00002500x", "zzz"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        res.found = true;
        assert_int_equal(
            get(r, slice_make(missing[i], strlen(missing[i])), SEQUENCE_MAX, &res, NULL), LSMKV_OK);
        assert_false(res.found);
    }
    for (int i = n; i < n + 1000; i++) {
        assert_int_equal(get(r, numbered_user_key(user, i), SEQUENCE_MAX, &res, NULL), LSMKV_OK);
        assert_false(res.found);
    }
    lookup_result_fini(&res);
    sstable_reader_free(r);
    sstable_properties_fini(&built);
}

static void
test_properties_round_trip(void **state)
{
    fixture *f = *state;
    sstable_properties built;
    sstable_properties_init(&built);
    build_numbered(f->path, 1000, 1024, 10, &built);
    assert_int_equal(built.entries, 1000);
    assert_int_equal(built.tombstones, 100);
    assert_int_equal(built.min_sequence, 1);
    assert_int_equal(built.max_sequence, 1000);
    assert_true(built.data_blocks > 10);
    assert_true(built.data_bytes > 0 && built.data_bytes < built.file_size);
    assert_true(slice_equal(buffer_slice(&built.min_key), slice_make("user00000000", 12)));
    assert_true(slice_equal(buffer_slice(&built.max_key), slice_make("user00000999", 12)));

    sstable_reader *r = open_reader(f->path);
    const sstable_properties *p = sstable_reader_properties(r);
    assert_int_equal(p->entries, built.entries);
    assert_int_equal(p->tombstones, built.tombstones);
    assert_int_equal(p->min_sequence, built.min_sequence);
    assert_int_equal(p->max_sequence, built.max_sequence);
    assert_int_equal(p->data_blocks, built.data_blocks);
    assert_int_equal(p->data_bytes, built.data_bytes);
    assert_int_equal(p->file_size, built.file_size);
    assert_true(slice_equal(buffer_slice(&p->min_key), buffer_slice(&built.min_key)));
    assert_true(slice_equal(buffer_slice(&p->max_key), buffer_slice(&built.max_key)));
    assert_string_equal(sstable_reader_path(r), f->path);
    sstable_reader_free(r);
    sstable_properties_fini(&built);
}

static void
test_versions_across_block_boundary(void **state)
{
    fixture *f = *state;
    /* Tiny blocks: the 50 versions of "b" spread over many blocks. */
    sstable_builder *b = open_builder(f->path, 32, 10);
    add_entry(b, slice_make("a", 1), 100, VALUE_TYPE_VALUE, slice_make("a100", 4));
    for (uint64_t seq = 50; seq >= 1; seq--) {
        char value[16];
        int len = sprintf(value, "b%llu", (unsigned long long)seq);
        value_type type = seq % 7 == 0 ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE;
        add_entry(b, slice_make("b", 1), seq, type,
                  type == VALUE_TYPE_VALUE ? slice_make(value, (size_t)len) : slice_make(NULL, 0));
    }
    add_entry(b, slice_make("c", 1), 1, VALUE_TYPE_VALUE, slice_make("c1", 2));
    sstable_properties props;
    sstable_properties_init(&props);
    assert_int_equal(sstable_builder_finish(b, &props, NULL), LSMKV_OK);
    assert_true(props.data_blocks > 10);
    sstable_properties_fini(&props);

    sstable_reader *r = open_reader(f->path);
    lookup_result res;
    lookup_result_init(&res);
    for (uint64_t snapshot = 0; snapshot <= 60; snapshot++) {
        assert_int_equal(get(r, slice_make("b", 1), snapshot, &res, NULL), LSMKV_OK);
        if (snapshot == 0) {
            assert_false(res.found);
            continue;
        }
        uint64_t want = snapshot > 50 ? 50 : snapshot;
        assert_true(res.found);
        assert_int_equal(res.sequence, want);
        if (want % 7 == 0) {
            assert_int_equal(res.type, VALUE_TYPE_DELETION);
        } else {
            char value[16];
            int len = sprintf(value, "b%llu", (unsigned long long)want);
            assert_int_equal(res.type, VALUE_TYPE_VALUE);
            assert_true(slice_equal(buffer_slice(&res.value), slice_make(value, (size_t)len)));
        }
    }
    assert_int_equal(get(r, slice_make("a", 1), 99, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    assert_int_equal(get(r, slice_make("a", 1), 100, &res, NULL), LSMKV_OK);
    assert_true(res.found);
    assert_int_equal(get(r, slice_make("c", 1), 1, &res, NULL), LSMKV_OK);
    assert_true(res.found && slice_equal(buffer_slice(&res.value), slice_make("c1", 2)));
    assert_int_equal(get(r, slice_make("bb", 2), SEQUENCE_MAX, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    lookup_result_fini(&res);
    sstable_reader_free(r);
}

static void
test_tombstones(void **state)
{
    fixture *f = *state;
    sstable_builder *b = open_builder(f->path, 4096, 10);
    add_entry(b, slice_make("k", 1), 5, VALUE_TYPE_DELETION, slice_make(NULL, 0));
    add_entry(b, slice_make("k", 1), 3, VALUE_TYPE_VALUE, slice_make("old", 3));
    add_entry(b, slice_make("only-tombstone", 14), 9, VALUE_TYPE_DELETION, slice_make(NULL, 0));
    sstable_properties props;
    sstable_properties_init(&props);
    assert_int_equal(sstable_builder_finish(b, &props, NULL), LSMKV_OK);
    assert_int_equal(props.entries, 3);
    assert_int_equal(props.tombstones, 2);
    assert_int_equal(props.min_sequence, 3);
    assert_int_equal(props.max_sequence, 9);
    sstable_properties_fini(&props);

    sstable_reader *r = open_reader(f->path);
    lookup_result res;
    lookup_result_init(&res);
    assert_int_equal(get(r, slice_make("k", 1), 10, &res, NULL), LSMKV_OK);
    assert_true(res.found);
    assert_int_equal(res.type, VALUE_TYPE_DELETION);
    assert_int_equal(res.sequence, 5);
    assert_int_equal(get(r, slice_make("k", 1), 4, &res, NULL), LSMKV_OK);
    assert_true(res.found);
    assert_int_equal(res.type, VALUE_TYPE_VALUE);
    assert_true(slice_equal(buffer_slice(&res.value), slice_make("old", 3)));
    assert_int_equal(get(r, slice_make("only-tombstone", 14), 9, &res, NULL), LSMKV_OK);
    assert_true(res.found);
    assert_int_equal(res.type, VALUE_TYPE_DELETION);
    assert_int_equal(get(r, slice_make("only-tombstone", 14), 8, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    lookup_result_fini(&res);
    sstable_reader_free(r);
}

static void
test_one_entry_table(void **state)
{
    fixture *f = *state;
    sstable_builder *b = open_builder(f->path, 4096, 10);
    add_entry(b, slice_make("x", 1), 42, VALUE_TYPE_VALUE, slice_make("y", 1));
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_OK);

    sstable_reader *r = open_reader(f->path);
    const sstable_properties *p = sstable_reader_properties(r);
    assert_int_equal(p->entries, 1);
    assert_int_equal(p->data_blocks, 1);
    assert_true(slice_equal(buffer_slice(&p->min_key), slice_make("x", 1)));
    assert_true(slice_equal(buffer_slice(&p->max_key), slice_make("x", 1)));
    lookup_result res;
    lookup_result_init(&res);
    assert_int_equal(get(r, slice_make("x", 1), 100, &res, NULL), LSMKV_OK);
    assert_true(res.found && res.sequence == 42);
    assert_true(slice_equal(buffer_slice(&res.value), slice_make("y", 1)));
    assert_int_equal(get(r, slice_make("w", 1), 100, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    assert_int_equal(get(r, slice_make("z", 1), 100, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    iterator *it = sstable_reader_iterator_new(r);
    iterator_seek_to_first(it);
    assert_true(iterator_valid(it));
    iterator_next(it);
    assert_false(iterator_valid(it));
    iterator_free(it);
    lookup_result_fini(&res);
    sstable_reader_free(r);
}

static void
test_binary_keys_with_nul_bytes(void **state)
{
    fixture *f = *state;
    /* Keys that differ only after a NUL, a key that is a prefix of another,
     * and keys longer than the stack buffers used for lookups. */
    static uint8_t long_key[1000];
    memset(long_key, 0, sizeof(long_key));
    long_key[999] = 0xff;
    const slice keys[] = {
        slice_make("\0", 1),       slice_make("\0\0", 2),      slice_make("\0\x01", 2),
        slice_make("a\0b", 3),     slice_make("a\0c", 3),      slice_make("a\xff", 2),
        slice_make(long_key, 999), slice_make(long_key, 1000),
    };
    size_t n = sizeof(keys) / sizeof(keys[0]);
    /* keys[] is in bytewise order except the long keys, which sort after "\0\x01". */
    const size_t order[] = {0, 1, 6, 7, 2, 3, 4, 5};
    sstable_builder *b = open_builder(f->path, 32, 10);
    for (size_t i = 0; i < n; i++) {
        slice k = keys[order[i]];
        add_entry(b, k, 1, VALUE_TYPE_VALUE, slice_make(&order[i], sizeof(order[i])));
    }
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_OK);

    sstable_reader *r = open_reader(f->path);
    lookup_result res;
    lookup_result_init(&res);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(get(r, keys[i], 1, &res, NULL), LSMKV_OK);
        assert_true(res.found);
        assert_int_equal(res.value.len, sizeof(size_t));
        size_t v;
        memcpy(&v, res.value.data, sizeof(v));
        assert_int_equal(v, i);
    }
    assert_int_equal(get(r, slice_make("a\0", 2), 1, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    assert_int_equal(get(r, slice_make(long_key, 998), 1, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    lookup_result_fini(&res);
    sstable_reader_free(r);
}

static void
test_value_bigger_than_a_block(void **state)
{
    fixture *f = *state;
    size_t big = 1 << 20;
    uint8_t *value = malloc(big);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, value, big);
    sstable_builder *b = open_builder(f->path, 4096, 10);
    add_entry(b, slice_make("a", 1), 1, VALUE_TYPE_VALUE, slice_make("small", 5));
    add_entry(b, slice_make("big", 3), 2, VALUE_TYPE_VALUE, slice_make(value, big));
    add_entry(b, slice_make("c", 1), 3, VALUE_TYPE_VALUE, slice_make("small", 5));
    assert_true(sstable_builder_estimated_size(b) > big);
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_OK);
    assert_true(file_size_of(f->path) > big);

    sstable_reader *r = open_reader(f->path);
    lookup_result res;
    lookup_result_init(&res);
    assert_int_equal(get(r, slice_make("big", 3), 10, &res, NULL), LSMKV_OK);
    assert_true(res.found);
    assert_int_equal(res.value.len, big);
    assert_memory_equal(res.value.data, value, big);
    assert_int_equal(get(r, slice_make("c", 1), 10, &res, NULL), LSMKV_OK);
    assert_true(res.found);
    iterator *it = sstable_reader_iterator_new(r);
    iterator_seek_to_first(it);
    iterator_next(it);
    assert_true(iterator_valid(it));
    assert_int_equal(iterator_value(it).len, big);
    assert_memory_equal(iterator_value(it).data, value, big);
    iterator_next(it);
    assert_true(iterator_valid(it));
    iterator_next(it);
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    lookup_result_fini(&res);
    sstable_reader_free(r);
    free(value);
}

static void
test_table_without_bloom(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 500, 4096, 0, NULL);
    sstable_footer footer = read_footer(f->path);
    assert_int_equal(footer.bloom.size, 0);

    sstable_reader *r = open_reader(f->path);
    for (uint64_t h = 0; h < 100; h++) {
        assert_true(sstable_reader_may_contain(r, h * 0x9e3779b97f4a7c15ull));
    }
    lookup_result res;
    lookup_result_init(&res);
    for (int i = 0; i < 500; i++) {
        check_numbered_get(r, i, &res);
    }
    char user[32];
    assert_int_equal(get(r, numbered_user_key(user, 500), SEQUENCE_MAX, &res, NULL), LSMKV_OK);
    assert_false(res.found);
    lookup_result_fini(&res);
    sstable_reader_free(r);
}

static void
test_bloom_skips_missing_keys(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 2000, 4096, 10, NULL);
    sstable_reader *r = open_reader(f->path);
    char user[32];
    int passed = 0;
    for (int i = 0; i < 2000; i++) {
        slice k = numbered_user_key(user, i);
        assert_true(sstable_reader_may_contain(r, hash64(k.data, k.len)));
        k = numbered_user_key(user, 100000 + i);
        passed += sstable_reader_may_contain(r, hash64(k.data, k.len));
    }
    assert_true(passed < 100); /* about 1% expected */
    sstable_reader_free(r);
}

static void
test_iterator_seek(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 3000, 512, 10, NULL);
    sstable_reader *r = open_reader(f->path);
    iterator *it = sstable_reader_iterator_new(r);
    char user[32];
    buffer target;
    buffer_init(&target);
    for (int i = 0; i < 3000; i += 7) {
        buffer_clear(&target);
        internal_key_append(&target, numbered_user_key(user, i), SEQUENCE_MAX, VALUE_TYPE_VALUE);
        iterator_seek(it, buffer_slice(&target));
        assert_true(iterator_valid(it));
        assert_true(
            slice_equal(internal_key_user_key(iterator_key(it)), numbered_user_key(user, i)));
        /* An older snapshot than the key's only version: the next key. */
        buffer_clear(&target);
        internal_key_append(&target, numbered_user_key(user, i), (uint64_t)i, VALUE_TYPE_VALUE);
        iterator_seek(it, buffer_slice(&target));
        if (i + 1 < 3000) {
            assert_true(iterator_valid(it));
            assert_true(slice_equal(internal_key_user_key(iterator_key(it)),
                                    numbered_user_key(user, i + 1)));
        } else {
            assert_false(iterator_valid(it));
        }
    }
    buffer_clear(&target);
    internal_key_append(&target, slice_make("zzz", 3), 1, VALUE_TYPE_VALUE);
    iterator_seek(it, buffer_slice(&target));
    assert_false(iterator_valid(it));
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    buffer_fini(&target);
    iterator_free(it);
    sstable_reader_free(r);
}

/* ---- damage ------------------------------------------------------------------- */

static void
test_flipped_bit_in_data_block(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 1000, 4096, 10, NULL);
    test_flip_bit(f->path, 10, 3); /* inside the first data block */

    sstable_reader *r = open_reader(f->path);
    lookup_result res;
    lookup_result_init(&res);
    lsmkv_error err = {0};
    char user[32];
    assert_int_equal(get(r, numbered_user_key(user, 0), SEQUENCE_MAX, &res, &err),
                     LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, f->path));
    assert_non_null(strstr(err.message, "checksum mismatch in block at offset 0"));
    /* Keys in other blocks still read fine, and so does the damaged one's
     * neighbour after the failure: the reader stays usable. */
    for (int i = 900; i < 1000; i++) {
        check_numbered_get(r, i, &res);
    }
    assert_int_equal(get(r, numbered_user_key(user, 1), SEQUENCE_MAX, &res, NULL),
                     LSMKV_CORRUPTION);

    iterator *it = sstable_reader_iterator_new(r);
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    memset(&err, 0, sizeof(err));
    assert_int_equal(iterator_status(it, &err), LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, f->path));
    iterator_free(it);
    lookup_result_fini(&res);
    sstable_reader_free(r);
}

static void
test_damaged_footer(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 100, 4096, 10, NULL);
    long long size = test_file_size(f->path);
    /* A handle, the version, the checksum and the magic. */
    const int offsets[] = {1, 17, 40, 48, 53, 60};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        long long at = size - SSTABLE_FOOTER_BYTES + offsets[i];
        test_flip_bit(f->path, at, 0);
        assert_open_corrupt(f->path);
        test_flip_bit(f->path, at, 0); /* repair */
    }
    sstable_reader_free(open_reader(f->path));
}

static void
test_truncated_file(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 100, 4096, 10, NULL);
    uint64_t size = file_size_of(f->path);
    const uint64_t sizes[] = {size - 1, size / 2, SSTABLE_FOOTER_BYTES, SSTABLE_FOOTER_BYTES - 1,
                              1,        0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(truncate(f->path, (off_t)sizes[i]), 0);
        assert_open_corrupt(f->path);
    }
}

static void
test_damaged_metadata_blocks(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 1000, 4096, 10, NULL);
    sstable_footer footer = read_footer(f->path);
    const sstable_handle handles[] = {footer.bloom, footer.index, footer.properties};
    for (size_t i = 0; i < 3; i++) {
        long long at = (long long)(handles[i].offset + handles[i].size / 2);
        test_flip_bit(f->path, at, 5);
        assert_open_corrupt(f->path);
        test_flip_bit(f->path, at, 5);
        /* The trailer's checksum is covered too. */
        at = (long long)(handles[i].offset + handles[i].size + 2);
        test_flip_bit(f->path, at, 1);
        assert_open_corrupt(f->path);
        test_flip_bit(f->path, at, 1);
    }
    sstable_reader_free(open_reader(f->path));
}

/*
 * An index whose checksum holds but whose handles overlap (a writer bug, a
 * crafted file) is refused at open: otherwise a block cached under one
 * offset would answer reads meant for another block (found by fuzzing).
 */
static void
test_overlapping_index_handles_are_corruption(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 100, 256, 10, NULL);
    sstable_footer footer = read_footer(f->path);
    buffer file;
    buffer_init(&file);
    assert_int_equal(file_read_all(f->path, &file, NULL), LSMKV_OK);
    uint8_t *index = file.data + footer.index.offset;
    block_cursor c;
    assert_int_equal(block_cursor_init(&c, slice_make(index, (size_t)footer.index.size),
                                       BLOCK_KEYS_WHOLE, f->path, footer.index.offset, NULL),
                     LSMKV_OK);
    block_cursor_seek_to_first(&c);
    sstable_handle first, second;
    assert_true(sstable_handle_decode(block_cursor_value(&c), &first));
    block_cursor_next(&c);
    assert_true(block_cursor_valid(&c));
    size_t at = (size_t)(block_cursor_value(&c).data - file.data);
    assert_true(sstable_handle_decode(block_cursor_value(&c), &second));
    block_cursor_fini(&c);
    /* The second handle's offset becomes 128 (the same two varint bytes
     * long): inside the first block. The index's own checksum is made to match. */
    assert_true(second.offset >= 128 && second.offset < 16384 && first.size > 128);
    file.data[at] = 0x80;
    file.data[at + 1] = 0x01;
    encode_fixed32(index + footer.index.size + 1,
                   sstable_block_checksum(index, (size_t)footer.index.size + 1));
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(file.data, 1, file.len, fp), file.len);
    fclose(fp);
    buffer_fini(&file);

    assert_open_corrupt(f->path);
    sstable_reader *r = NULL;
    lsmkv_error err = {0};
    assert_int_equal(sstable_reader_open(f->path, &r, &err), LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, "inside the block before it"));
}

/* Random damage anywhere in the file: every call answers, none crashes. */
static void
test_random_damage_never_crashes(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 300, 256, 10, NULL);
    buffer original;
    buffer_init(&original);
    assert_int_equal(file_read_all(f->path, &original, NULL), LSMKV_OK);
    test_rng rng;
    test_rng_init(&rng, test_seed() ^ 0x5eed);
    lookup_result res;
    lookup_result_init(&res);
    char user[32];
    for (int round = 0; round < 300; round++) {
        size_t pos = (size_t)test_rng_below(&rng, original.len);
        uint8_t saved = original.data[pos];
        original.data[pos] ^= (uint8_t)(1 + test_rng_below(&rng, 255));
        FILE *out = fopen(f->path, "wb");
        assert_non_null(out);
        assert_int_equal(fwrite(original.data, 1, original.len, out), original.len);
        assert_int_equal(fclose(out), 0);
        original.data[pos] = saved;
        sstable_reader *r = NULL;
        int rc = sstable_reader_open(f->path, &r, NULL);
        assert_true(rc == LSMKV_OK || rc == LSMKV_CORRUPTION);
        if (rc != LSMKV_OK) {
            continue;
        }
        for (int i = 0; i < 300; i += 13) {
            rc = get(r, numbered_user_key(user, i), SEQUENCE_MAX, &res, NULL);
            assert_true(rc == LSMKV_OK || rc == LSMKV_CORRUPTION);
        }
        iterator *it = sstable_reader_iterator_new(r);
        for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        }
        rc = iterator_status(it, NULL);
        assert_true(rc == LSMKV_OK || rc == LSMKV_CORRUPTION);
        iterator_free(it);
        sstable_reader_free(r);
    }
    lookup_result_fini(&res);
    buffer_fini(&original);
}

/* ---- builder lifecycle -------------------------------------------------------- */

static void
test_builder_refuses_existing_file(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 10, 4096, 10, NULL);
    sstable_builder_options options = {.block_bytes = 4096, .bloom_bits_per_key = 10};
    sstable_builder *b = NULL;
    assert_int_not_equal(sstable_builder_open(f->path, &options, &b, NULL), LSMKV_OK);
    assert_null(b);
    sstable_reader_free(open_reader(f->path)); /* untouched */
}

static void
test_abandon_removes_file(void **state)
{
    fixture *f = *state;
    sstable_builder *b = open_builder(f->path, 4096, 10);
    add_entry(b, slice_make("k", 1), 1, VALUE_TYPE_VALUE, slice_make("v", 1));
    assert_true(file_exists(f->path));
    sstable_builder_abandon(b);
    assert_false(file_exists(f->path));
    sstable_builder_abandon(NULL);
}

static void
test_finish_without_entries_fails(void **state)
{
    fixture *f = *state;
    sstable_builder *b = open_builder(f->path, 4096, 10);
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_INVALID_ARGUMENT);
    assert_false(file_exists(f->path));
}

static int
fail_sync(void *ctx, file_op op, const char *path)
{
    return op == FILE_OP_SYNC ? EIO : 0;
}

static int
fail_write(void *ctx, file_op op, const char *path)
{
    return op == FILE_OP_WRITE ? ENOSPC : 0;
}

static void
test_failed_finish_removes_file(void **state)
{
    fixture *f = *state;
    sstable_properties props;
    sstable_properties_init(&props);
    sstable_builder *b = open_builder(f->path, 4096, 10);
    add_entry(b, slice_make("k", 1), 1, VALUE_TYPE_VALUE, slice_make("v", 1));
    file_set_fault_hook(fail_sync, NULL);
    lsmkv_error err = {0};
    assert_int_equal(sstable_builder_finish(b, &props, &err), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    assert_non_null(strstr(err.message, f->path));
    assert_false(file_exists(f->path));
    assert_int_equal(props.entries, 0); /* not filled on failure */
    sstable_properties_fini(&props);
}

static void
test_failed_write_stops_builder(void **state)
{
    fixture *f = *state;
    sstable_builder *b = open_builder(f->path, 4096, 10);
    uint8_t value[10000] = {0};
    file_set_fault_hook(fail_write, NULL);
    int rc = LSMKV_OK;
    char user[32];
    /* Blocks leave the builder as they fill; the file writer hands them to
     * the OS once its buffer is full, and that write fails. */
    for (int i = 0; i < 100 && rc == LSMKV_OK; i++) {
        buffer key;
        buffer_init(&key);
        internal_key_append(&key, numbered_user_key(user, i), 1, VALUE_TYPE_VALUE);
        rc = sstable_builder_add(b, buffer_slice(&key), slice_make(value, sizeof(value)), NULL);
        buffer_fini(&key);
    }
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(rc, LSMKV_NO_SPACE);
    buffer key;
    buffer_init(&key);
    internal_key_append(&key, slice_make("zzz", 3), 1, VALUE_TYPE_VALUE);
    assert_int_equal(sstable_builder_add(b, buffer_slice(&key), slice_make("v", 1), NULL),
                     LSMKV_NO_SPACE);
    buffer_fini(&key);
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_NO_SPACE);
    assert_false(file_exists(f->path));
}

static void
test_estimated_size_tracks_file(void **state)
{
    fixture *f = *state;
    sstable_builder *b = open_builder(f->path, 4096, 10);
    buffer value;
    buffer_init(&value);
    char user[32];
    uint64_t previous = 0;
    for (int i = 0; i < 2000; i++) {
        numbered_value(&value, i);
        add_entry(b, numbered_user_key(user, i), 1, VALUE_TYPE_VALUE, buffer_slice(&value));
        uint64_t estimate = sstable_builder_estimated_size(b);
        assert_true(estimate >= previous);
        previous = estimate;
    }
    buffer_fini(&value);
    assert_int_equal(sstable_builder_finish(b, NULL, NULL), LSMKV_OK);
    uint64_t size = file_size_of(f->path);
    assert_true(previous > size * 9 / 10 && previous < size * 11 / 10);
}

/* ---- concurrency -------------------------------------------------------------- */

typedef struct reader_thread {
    sstable_reader *reader;
    int first;
    int failures;
} reader_thread;

static void *
read_all(void *arg)
{
    reader_thread *t = arg;
    lookup_result res;
    lookup_result_init(&res);
    buffer value;
    buffer_init(&value);
    char user[32];
    for (int n = 0; n < 3000; n++) {
        int i = (t->first + n * 7) % 3000;
        numbered_value(&value, i);
        if (get(t->reader, numbered_user_key(user, i), SEQUENCE_MAX, &res, NULL) != LSMKV_OK ||
            !res.found || res.sequence != (uint64_t)i + 1 ||
            (i % 10 != 9 && !slice_equal(buffer_slice(&res.value), buffer_slice(&value)))) {
            t->failures++;
        }
    }
    iterator *it = sstable_reader_iterator_new(t->reader);
    int count = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        count++;
    }
    t->failures += count != 3000 || iterator_status(it, NULL) != LSMKV_OK;
    iterator_free(it);
    buffer_fini(&value);
    lookup_result_fini(&res);
    return NULL;
}

static void
test_concurrent_readers(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 3000, 1024, 10, NULL);
    sstable_reader *r = open_reader(f->path);
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    reader_thread args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (reader_thread){.reader = r, .first = i * 750};
        assert_int_equal(pthread_create(&threads[i], NULL, read_all, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    sstable_reader_free(r);
}

/* ---- inspection accessors (lsmkv-dump) ---------------------------------------------- */

/* The index walks every data block in file order; each reads back on its own. */
static void
test_index_iterator_and_read_block(void **state)
{
    fixture *f = *state;
    sstable_properties props;
    sstable_properties_init(&props);
    build_numbered(f->path, 500, 512, 10, &props);
    sstable_reader *r = open_reader(f->path);
    const sstable_footer *footer = sstable_reader_footer(r);
    assert_true(footer->bloom.size > 0);
    assert_int_equal(sstable_reader_bloom(r).len, footer->bloom.size);
    iterator *it = sstable_reader_index_iterator_new(r);
    buffer contents, last;
    buffer_init(&contents);
    buffer_init(&last);
    uint64_t blocks = 0, expected_offset = 0, entries = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        sstable_handle h;
        assert_true(sstable_handle_decode(iterator_value(it), &h));
        assert_int_equal(h.offset, expected_offset);
        expected_offset = h.offset + h.size + SSTABLE_BLOCK_TRAILER;
        int compression = -1;
        assert_int_equal(sstable_reader_read_block(r, h, &contents, &compression, NULL), LSMKV_OK);
        assert_int_equal(compression, SSTABLE_COMPRESSION_NONE);
        block_cursor c;
        assert_int_equal(block_cursor_init(&c, buffer_slice(&contents),
                                           sstable_data_block_keys(footer->version), f->path,
                                           h.offset, NULL),
                         LSMKV_OK);
        for (block_cursor_seek_to_first(&c); block_cursor_valid(&c); block_cursor_next(&c)) {
            entries++;
            buffer_set(&last, block_cursor_key(&c).data, block_cursor_key(&c).len);
        }
        block_cursor_fini(&c);
        /* The index key is the block's last key. */
        assert_true(slice_equal(buffer_slice(&last), iterator_key(it)));
        blocks++;
    }
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    assert_int_equal(blocks, props.data_blocks);
    assert_int_equal(entries, 500);
    assert_int_equal(expected_offset, footer->bloom.offset);
    iterator_free(it);
    buffer_fini(&contents);
    buffer_fini(&last);
    sstable_reader_free(r);
    sstable_properties_fini(&props);
}

/* A damaged block fails alone, with its offset; the contents buffer is left as it was. */
static void
test_read_block_reports_damage(void **state)
{
    fixture *f = *state;
    build_numbered(f->path, 500, 512, 0, NULL);
    sstable_reader *r = open_reader(f->path);
    assert_int_equal(sstable_reader_bloom(r).len, 0);
    iterator *it = sstable_reader_index_iterator_new(r);
    iterator_seek_to_first(it);
    iterator_next(it);
    sstable_handle second;
    assert_true(sstable_handle_decode(iterator_value(it), &second));
    iterator_free(it);
    test_flip_bit(f->path, (long long)(second.offset + second.size / 2), 3);

    buffer contents;
    buffer_init(&contents);
    buffer_set(&contents, "keep", 4);
    int compression = 42;
    lsmkv_error err = {0};
    assert_int_equal(sstable_reader_read_block(r, second, &contents, &compression, &err),
                     LSMKV_CORRUPTION);
    char expected[64];
    snprintf(expected, sizeof(expected), "offset %llu", (unsigned long long)second.offset);
    assert_non_null(strstr(err.message, expected));
    assert_int_equal(compression, 42);
    assert_memory_equal(contents.data, "keep", 4);
    sstable_handle outside = {.offset = 1u << 30, .size = 10};
    assert_int_equal(sstable_reader_read_block(r, outside, &contents, &compression, NULL),
                     LSMKV_CORRUPTION);
    buffer_fini(&contents);
    sstable_reader_free(r);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_build_and_read_back),
        T(test_properties_round_trip),
        T(test_versions_across_block_boundary),
        T(test_tombstones),
        T(test_one_entry_table),
        T(test_binary_keys_with_nul_bytes),
        T(test_value_bigger_than_a_block),
        T(test_table_without_bloom),
        T(test_bloom_skips_missing_keys),
        T(test_iterator_seek),
        T(test_flipped_bit_in_data_block),
        T(test_damaged_footer),
        T(test_truncated_file),
        T(test_damaged_metadata_blocks),
        T(test_overlapping_index_handles_are_corruption),
        T(test_random_damage_never_crashes),
        T(test_builder_refuses_existing_file),
        T(test_abandon_removes_file),
        T(test_finish_without_entries_fails),
        T(test_failed_finish_removes_file),
        T(test_failed_write_stops_builder),
        T(test_estimated_size_tracks_file),
        T(test_concurrent_readers),
        T(test_index_iterator_and_read_block),
        T(test_read_block_reports_damage),
    };
#undef T
    format_under_test = SSTABLE_FORMAT_VERSION;
    int failed = cmocka_run_group_tests_name("format 2 (written now)", tests, NULL, NULL);
    /* Stores written before format 2 hold format 1 tables: still read. */
    format_under_test = 1;
    return failed + cmocka_run_group_tests_name("format 1 (read only)", tests, NULL, NULL);
}
