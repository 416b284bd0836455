#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "block.h"
#include "index_search.h"
#include "internal_key.h"
#include "sstable_format.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_NAME "/dir/000012.sst"

/* An index under construction: internal keys in order, each naming a block. */
typedef struct index_fixture {
    block_builder builder;
    buffer contents;
    size_t count;
} index_fixture;

static void
index_begin(index_fixture *x, int restart_interval)
{
    block_builder_init(&x->builder, restart_interval, BLOCK_KEYS_WHOLE);
    buffer_init(&x->contents);
    x->count = 0;
}

static void
index_add(index_fixture *x, const void *user, size_t len, uint64_t seq)
{
    buffer key, value;
    buffer_init(&key);
    buffer_init(&value);
    internal_key_append(&key, slice_make(user, len), seq, VALUE_TYPE_VALUE);
    sstable_handle h = {.offset = 1000 * (uint64_t)x->count, .size = 900};
    sstable_handle_encode(&value, h);
    block_builder_add(&x->builder, buffer_slice(&key), buffer_slice(&value));
    x->count++;
    buffer_fini(&key);
    buffer_fini(&value);
}

static slice
index_finish(index_fixture *x)
{
    buffer_append_slice(&x->contents, block_builder_finish(&x->builder));
    return buffer_slice(&x->contents);
}

static void
index_end(index_fixture *x)
{
    block_builder_fini(&x->builder);
    buffer_fini(&x->contents);
}

/* The index_search answer for target matches a cursor's seek over the block. */
static void
expect_same_as_cursor(const index_search *s, slice contents, slice user, uint64_t seq)
{
    buffer target;
    buffer_init(&target);
    internal_key_append(&target, user, seq, VALUE_TYPE_VALUE);
    block_cursor want, c;
    assert_int_equal(block_cursor_init(&want, contents, BLOCK_KEYS_WHOLE, FILE_NAME, 0, NULL),
                     LSMKV_OK);
    assert_int_equal(block_cursor_init(&c, contents, BLOCK_KEYS_WHOLE, FILE_NAME, 0, NULL),
                     LSMKV_OK);
    block_cursor_seek(&want, buffer_slice(&target));
    index_search_entry e;
    bool found = index_search_find(s, &c, buffer_slice(&target), &e);
    assert_int_equal(block_cursor_status(&c, NULL), LSMKV_OK);
    assert_int_equal(found, block_cursor_valid(&want));
    if (found) {
        sstable_handle h;
        assert_true(sstable_handle_decode(block_cursor_value(&want), &h));
        assert_int_equal(e.handle.offset, h.offset);
        assert_int_equal(e.handle.size, h.size);
        assert_int_equal(e.entry_offset, block_cursor_entry_offset(&want));
    }
    block_cursor_fini(&want);
    block_cursor_fini(&c);
    buffer_fini(&target);
}

static void
test_finds_what_a_cursor_finds(void **state)
{
    (void)state;
    index_fixture x;
    index_begin(&x, 1);
    char key[32];
    for (int i = 0; i < 500; i++) { /* a long shared prefix, as in a table of a narrow range */
        snprintf(key, sizeof(key), "user:0000000%05d", i * 3);
        index_add(&x, key, strlen(key), 7);
    }
    slice contents = index_finish(&x);
    index_search *s = index_search_new(contents, FILE_NAME, 0);
    assert_non_null(s);
    for (int i = -2; i < 1510; i++) {
        snprintf(key, sizeof(key), "user:0000000%05d", i < 0 ? 0 : i);
        for (uint64_t seq = 6; seq <= 8; seq++) {
            expect_same_as_cursor(s, contents, slice_make(key, strlen(key)), seq);
        }
    }
    const char *outside[] = {"", "a", "user:", "user:0", "user:00000009", "user:1", "z"};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        expect_same_as_cursor(s, contents, slice_make(outside[i], strlen(outside[i])), 7);
    }
    index_search_free(s);
    index_end(&x);
}

/* Keys equal in their eight bytes after the prefix, or shorter than that, or
 * with NUL bytes, and one user key over several entries (its versions). */
static void
test_orders_keys_eight_bytes_do_not_tell_apart(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        size_t len;
        uint64_t seq;
    } entries[] = {
        {"p", 1, 5},           {"p\0", 2, 5},         {"p\0\0", 3, 5},       {"pa", 2, 5},
        {"pabcdefghA", 10, 5}, {"pabcdefghB", 10, 9}, {"pabcdefghB", 10, 8}, {"pabcdefghB", 10, 3},
        {"pabcdefghC", 10, 5}, {"pb", 2, 5},
    };
    size_t n = sizeof(entries) / sizeof(entries[0]);
    index_fixture x;
    index_begin(&x, 1);
    for (size_t i = 0; i < n; i++) {
        index_add(&x, entries[i].key, entries[i].len, entries[i].seq);
    }
    slice contents = index_finish(&x);
    index_search *s = index_search_new(contents, FILE_NAME, 0);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        for (uint64_t seq = 1; seq <= 10; seq++) {
            expect_same_as_cursor(s, contents, slice_make(entries[i].key, entries[i].len), seq);
        }
    }
    const char *others[] = {"", "o", "p\0\0\0", "pabcdefgh", "pabcdefghBB", "pab", "q"};
    size_t lens[] = {0, 1, 4, 9, 11, 3, 1};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        expect_same_as_cursor(s, contents, slice_make(others[i], lens[i]), 5);
    }
    index_search_free(s);
    index_end(&x);
}

static void
test_one_entry(void **state)
{
    (void)state;
    index_fixture x;
    index_begin(&x, 1);
    index_add(&x, "only", 4, 1);
    slice contents = index_finish(&x);
    index_search *s = index_search_new(contents, FILE_NAME, 0);
    assert_non_null(s);
    const char *targets[] = {"", "a", "only", "onlz", "z"};
    for (size_t i = 0; i < 5; i++) {
        expect_same_as_cursor(s, contents, slice_make(targets[i], strlen(targets[i])), 1);
        expect_same_as_cursor(s, contents, slice_make(targets[i], strlen(targets[i])), 0);
    }
    index_search_free(s);
    index_end(&x);
}

/* Without a restart point per entry (or with no entry) there is no array. */
static void
test_refuses_other_shapes(void **state)
{
    (void)state;
    index_fixture x;
    index_begin(&x, 2);
    index_add(&x, "a", 1, 1);
    index_add(&x, "b", 1, 1);
    index_add(&x, "c", 1, 1);
    assert_null(index_search_new(index_finish(&x), FILE_NAME, 0));
    index_end(&x);

    index_begin(&x, 1);
    assert_null(index_search_new(index_finish(&x), FILE_NAME, 0));
    index_end(&x);
    index_search_free(NULL);
}

/* Damaged contents are refused, never read out of bounds. */
static void
test_refuses_damaged_indexes(void **state)
{
    (void)state;
    index_fixture x;
    index_begin(&x, 1);
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key%04d", i);
        index_add(&x, key, strlen(key), 1);
    }
    slice good = index_finish(&x);
    uint8_t *bytes = malloc(good.len);
    for (size_t at = 0; at < good.len; at++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(bytes, good.data, good.len);
            bytes[at] ^= (uint8_t)(1u << bit);
            index_search *s = index_search_new(slice_make(bytes, good.len), FILE_NAME, 0);
            if (s != NULL) { /* still well-formed: it must agree with a cursor */
                expect_same_as_cursor(s, slice_make(bytes, good.len), slice_make("key0017", 7), 1);
                index_search_free(s);
            }
        }
    }
    /* A handle that does not decode. */
    free(bytes);
    index_end(&x);
    index_begin(&x, 1);
    buffer key;
    buffer_init(&key);
    internal_key_append(&key, slice_make("k", 1), 1, VALUE_TYPE_VALUE);
    block_builder_add(&x.builder, buffer_slice(&key), slice_make("\xff", 1));
    assert_null(index_search_new(index_finish(&x), FILE_NAME, 0));
    buffer_fini(&key);
    index_end(&x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finds_what_a_cursor_finds),
        cmocka_unit_test(test_orders_keys_eight_bytes_do_not_tell_apart),
        cmocka_unit_test(test_one_entry),
        cmocka_unit_test(test_refuses_other_shapes),
        cmocka_unit_test(test_refuses_damaged_indexes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
