#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "table_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lsmkv_table_info
make_info(uint64_t id, const void *min_key, size_t min_len, const void *max_key, size_t max_len)
{
    lsmkv_table_info info;
    memset(&info, 0, sizeof(info));
    info.id = id;
    info.level = (uint32_t)(id % LSMKV_MAX_LEVELS);
    info.size_bytes = 1000 * id + 1;
    info.entries = 10 * id + 2;
    info.tombstones = id + 3;
    info.max_sequence = UINT64_C(1) << 55 | id;
    table_info_set_keys(&info, slice_make(min_key, min_len), slice_make(max_key, max_len));
    return info;
}

static void
assert_info_equal(const lsmkv_table_info *a, const lsmkv_table_info *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->level, b->level);
    assert_int_equal(a->size_bytes, b->size_bytes);
    assert_int_equal(a->entries, b->entries);
    assert_int_equal(a->tombstones, b->tombstones);
    assert_int_equal(a->max_sequence, b->max_sequence);
    assert_true(slice_equal(table_info_min_key(a), table_info_min_key(b)));
    assert_true(slice_equal(table_info_max_key(a), table_info_max_key(b)));
}

static void
test_set_keys_copies_binary_keys(void **state)
{
    uint8_t min[] = {0, 'a', 0};
    uint8_t max[] = {'z', 0, 0xff, 0};
    lsmkv_table_info info = make_info(1, min, sizeof(min), max, sizeof(max));
    assert_ptr_not_equal(info.min_key, min);
    assert_ptr_not_equal(info.max_key, max);
    /* The caller's bytes may change or go away afterwards. */
    memset(min, 'X', sizeof(min));
    memset(max, 'Y', sizeof(max));
    const uint8_t want_min[] = {0, 'a', 0};
    const uint8_t want_max[] = {'z', 0, 0xff, 0};
    assert_true(slice_equal(table_info_min_key(&info), slice_make(want_min, 3)));
    assert_true(slice_equal(table_info_max_key(&info), slice_make(want_max, 4)));
    table_info_fini(&info);
}

static void
test_set_keys_replaces_previous_keys(void **state)
{
    lsmkv_table_info info = make_info(2, "aaaa", 4, "zzzz", 4);
    table_info_set_keys(&info, slice_make("b", 1), slice_make("y", 1));
    assert_true(slice_equal(table_info_min_key(&info), slice_make("b", 1)));
    assert_true(slice_equal(table_info_max_key(&info), slice_make("y", 1)));
    /* Empty keys. */
    table_info_set_keys(&info, slice_make(NULL, 0), slice_make("", 0));
    assert_int_equal(info.min_key_len, 0);
    assert_int_equal(info.max_key_len, 0);
    assert_int_equal(info.id, 2); /* other fields untouched */
    table_info_fini(&info);
}

static void
test_set_keys_large_keys(void **state)
{
    size_t len = 64 * 1024;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++) {
        big[i] = (uint8_t)i;
    }
    lsmkv_table_info info = make_info(3, big, len, big, len);
    assert_ptr_not_equal(info.min_key, info.max_key); /* two separate copies */
    assert_int_equal(info.min_key_len, len);
    assert_memory_equal(info.max_key, big, len);
    free(big);
    table_info_fini(&info);
}

static void
test_copy_is_deep(void **state)
{
    lsmkv_table_info src = make_info(7, "\0min", 4, "max\0", 4);
    lsmkv_table_info dst;
    memset(&dst, 0xee, sizeof(dst)); /* overwritten, not freed */
    table_info_copy(&dst, &src);
    assert_info_equal(&dst, &src);
    assert_ptr_not_equal(dst.min_key, src.min_key);
    assert_ptr_not_equal(dst.max_key, src.max_key);
    /* Freeing the source leaves the copy intact. */
    table_info_fini(&src);
    assert_memory_equal(dst.min_key, "\0min", 4);
    assert_memory_equal(dst.max_key, "max\0", 4);
    table_info_fini(&dst);
}

static void
test_copy_with_empty_keys(void **state)
{
    lsmkv_table_info src;
    memset(&src, 0, sizeof(src));
    src.id = 9;
    lsmkv_table_info dst;
    table_info_copy(&dst, &src);
    assert_int_equal(dst.id, 9);
    assert_int_equal(dst.min_key_len, 0);
    assert_int_equal(dst.max_key_len, 0);
    table_info_fini(&dst);
}

static void
test_fini_clears_and_tolerates_null(void **state)
{
    lsmkv_table_info info = make_info(4, "a", 1, "b", 1);
    table_info_fini(&info);
    assert_null(info.min_key);
    assert_null(info.max_key);
    assert_int_equal(info.min_key_len, 0);
    assert_int_equal(info.max_key_len, 0);
    table_info_fini(&info); /* a second fini is harmless */
    table_info_fini(NULL);
}

static void
test_list_append_deep_copies(void **state)
{
    lsmkv_table_list list = {0, NULL};
    enum { N = 20 };
    for (uint64_t i = 0; i < N; i++) {
        char min[16], max[16];
        size_t min_len = (size_t)snprintf(min, sizeof(min), "k%02u", (unsigned)i);
        size_t max_len = (size_t)snprintf(max, sizeof(max), "k%02u\xff", (unsigned)i);
        lsmkv_table_info info = make_info(i + 100, min, min_len, max, max_len);
        table_list_append(&list, &info);
        table_info_fini(&info); /* the list has its own copy */
        assert_int_equal(list.count, i + 1);
    }
    for (uint64_t i = 0; i < N; i++) {
        char min[16], max[16];
        size_t min_len = (size_t)snprintf(min, sizeof(min), "k%02u", (unsigned)i);
        size_t max_len = (size_t)snprintf(max, sizeof(max), "k%02u\xff", (unsigned)i);
        lsmkv_table_info want = make_info(i + 100, min, min_len, max, max_len);
        assert_info_equal(&list.tables[i], &want);
        table_info_fini(&want);
    }
    lsmkv_table_list_fini(&list);
    assert_int_equal(list.count, 0);
    assert_null(list.tables);
}

static void
test_list_fini_empty_and_null(void **state)
{
    lsmkv_table_list list = {0, NULL};
    lsmkv_table_list_fini(&list);
    assert_int_equal(list.count, 0);
    assert_null(list.tables);
    lsmkv_table_list_fini(&list);
    lsmkv_table_list_fini(NULL);

    /* A filled list can be reused after fini. */
    lsmkv_table_info info = make_info(1, "a", 1, "b", 1);
    table_list_append(&list, &info);
    lsmkv_table_list_fini(&list);
    table_list_append(&list, &info);
    assert_int_equal(list.count, 1);
    assert_info_equal(&list.tables[0], &info);
    lsmkv_table_list_fini(&list);
    table_info_fini(&info);
}

static void
test_compaction_result_fini(void **state)
{
    lsmkv_compaction_result empty;
    memset(&empty, 0, sizeof(empty));
    lsmkv_compaction_result_fini(&empty);
    assert_int_equal(empty.outputs.count, 0);
    lsmkv_compaction_result_fini(NULL);

    lsmkv_compaction_result result;
    memset(&result, 0, sizeof(result));
    result.input_tables = 3;
    result.dropped_entries = 17;
    for (uint64_t i = 0; i < 3; i++) {
        lsmkv_table_info info = make_info(i, "\0", 1, "\xff", 1);
        table_list_append(&result.outputs, &info);
        table_info_fini(&info);
    }
    assert_int_equal(result.outputs.count, 3);
    lsmkv_compaction_result_fini(&result); /* ASan's leak check verifies the keys went */
    assert_int_equal(result.outputs.count, 0);
    assert_null(result.outputs.tables);
    lsmkv_compaction_result_fini(&result);
}

/* table_info_set_keys frees the old keys before copying the new ones, so
 * passing (part of) the info's own key is a use-after-free. */
static void
test_set_keys_with_own_key(void **state)
{
    lsmkv_table_info info;
    memset(&info, 0, sizeof(info));
    table_info_set_keys(&info, slice_make("apple", 5), slice_make("mango", 5));
    table_info_set_keys(&info, table_info_min_key(&info), slice_make("kiwi", 4));
    assert_true(slice_equal(table_info_min_key(&info), slice_make("apple", 5)));
    table_info_fini(&info);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_keys_with_own_key),
        cmocka_unit_test(test_set_keys_copies_binary_keys),
        cmocka_unit_test(test_set_keys_replaces_previous_keys),
        cmocka_unit_test(test_set_keys_large_keys),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_copy_with_empty_keys),
        cmocka_unit_test(test_fini_clears_and_tolerates_null),
        cmocka_unit_test(test_list_append_deep_copies),
        cmocka_unit_test(test_list_fini_empty_and_null),
        cmocka_unit_test(test_compaction_result_fini),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
