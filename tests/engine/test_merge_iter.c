#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buffer.h"
#include "internal_key.h"
#include "iterator.h"
#include "merge_iter.h"
#include "status.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a vector iterator over a sorted array of entries ------------------------------ */

typedef struct entry {
    buffer key; /* internal key */
    buffer value;
} entry;

typedef struct entry_list {
    entry *items;
    size_t count;
} entry_list;

static void
list_add(entry_list *l, const void *user_key, size_t user_len, uint64_t seq, value_type type,
         const void *value, size_t value_len)
{
    l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
    entry *e = &l->items[l->count++];
    buffer_init(&e->key);
    buffer_init(&e->value);
    internal_key_append(&e->key, slice_make(user_key, user_len), seq, type);
    buffer_append(&e->value, value, value_len);
}

/* Adds a string key and value. */
static void
list_add_str(entry_list *l, const char *user_key, uint64_t seq, const char *value)
{
    list_add(l, user_key, strlen(user_key), seq, VALUE_TYPE_VALUE, value, strlen(value));
}

static void
list_fini(entry_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        buffer_fini(&l->items[i].key);
        buffer_fini(&l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int
entry_compare(const void *a, const void *b)
{
    return internal_key_compare(buffer_slice(&((const entry *)a)->key),
                                buffer_slice(&((const entry *)b)->key));
}

static void
list_sort(entry_list *l)
{
    if (l->count > 0) { /* qsort's array may not be NULL, even when empty */
        qsort(l->items, l->count, sizeof(entry), entry_compare);
    }
}

typedef struct vector_iterator {
    iterator base;
    const entry_list *list; /* borrowed, sorted */
    size_t pos;
    size_t fail_at; /* reaching this position fails the iterator; SIZE_MAX: never */
    lsmkv_error error;
    int id;
    int *freed; /* incremented on free */
} vector_iterator;

static vector_iterator *
as_vector(iterator *it)
{
    return (vector_iterator *)it;
}

/* Moves to pos, failing with CORRUPTION if that is the failure point. */
static void
vector_move(vector_iterator *v, size_t pos)
{
    v->pos = pos;
    if (pos >= v->fail_at && pos < v->list->count) {
        status_set(&v->error, LSMKV_CORRUPTION, "child %d: bad block at entry %zu", v->id, pos);
    }
}

static bool
vector_valid(iterator *it)
{
    vector_iterator *v = as_vector(it);
    return v->error.code == LSMKV_OK && v->pos < v->list->count;
}

static void
vector_seek_to_first(iterator *it)
{
    vector_move(as_vector(it), 0);
}

static void
vector_seek(iterator *it, slice target)
{
    vector_iterator *v = as_vector(it);
    size_t i = 0;
    while (i < v->list->count &&
           internal_key_compare(buffer_slice(&v->list->items[i].key), target) < 0) {
        i++;
    }
    vector_move(v, i);
}

static void
vector_next(iterator *it)
{
    if (!vector_valid(it)) {
        fail_msg("next() on an invalid child");
    }
    vector_move(as_vector(it), as_vector(it)->pos + 1);
}

static slice
vector_key(iterator *it)
{
    if (!vector_valid(it)) {
        fail_msg("key() on an invalid child");
    }
    return buffer_slice(&as_vector(it)->list->items[as_vector(it)->pos].key);
}

static slice
vector_value(iterator *it)
{
    if (!vector_valid(it)) {
        fail_msg("value() on an invalid child");
    }
    return buffer_slice(&as_vector(it)->list->items[as_vector(it)->pos].value);
}

static int
vector_status(iterator *it, lsmkv_error *err)
{
    vector_iterator *v = as_vector(it);
    if (v->error.code != LSMKV_OK && err != NULL) {
        *err = v->error;
    }
    return v->error.code;
}

static void
vector_free(iterator *it)
{
    vector_iterator *v = as_vector(it);
    if (v->freed != NULL) {
        (*v->freed)++;
    }
    free(v);
}

static const iterator_ops vector_ops = {
    .valid = vector_valid,
    .seek_to_first = vector_seek_to_first,
    .seek = vector_seek,
    .next = vector_next,
    .key = vector_key,
    .value = vector_value,
    .status = vector_status,
    .free = vector_free,
};

/* An iterator over list (which must be sorted and outlive it) that fails with
 * LSMKV_CORRUPTION on reaching entry fail_at (SIZE_MAX: never). */
static iterator *
vector_new(const entry_list *list, int id, size_t fail_at, int *freed)
{
    vector_iterator *v = xcalloc(1, sizeof(*v));
    v->base.ops = &vector_ops;
    v->list = list;
    v->pos = list->count; /* unpositioned: invalid */
    v->fail_at = fail_at;
    v->id = id;
    v->freed = freed;
    return &v->base;
}

/* ---- helpers ----------------------------------------------------------------------- */

/* Collects everything it yields from the current position on. */
static void
drain(iterator *it, entry_list *out)
{
    while (iterator_valid(it)) {
        slice k = iterator_key(it);
        slice v = iterator_value(it);
        out->items = xrealloc(out->items, (out->count + 1) * sizeof(*out->items));
        entry *e = &out->items[out->count++];
        buffer_init(&e->key);
        buffer_init(&e->value);
        buffer_append_slice(&e->key, k);
        buffer_append_slice(&e->value, v);
        iterator_next(it);
    }
}

static void
assert_entries_equal(const entry *got, const entry *want, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!slice_equal(buffer_slice(&got[i].key), buffer_slice(&want[i].key)) ||
            !slice_equal(buffer_slice(&got[i].value), buffer_slice(&want[i].value))) {
            fail_msg("entry %zu differs", i);
        }
    }
}

static void
assert_lists_equal(const entry_list *got, const entry_list *want)
{
    assert_int_equal(got->count, want->count);
    assert_entries_equal(got->items, want->items, got->count);
}

/* A seek target: user key at sequence, typed for seeking. */
static void
seek_key(buffer *b, const char *user_key, uint64_t seq)
{
    buffer_clear(b);
    internal_key_append(b, slice_make(user_key, strlen(user_key)), seq, VALUE_TYPE_FOR_SEEK);
}

static void
assert_at(iterator *it, const char *user_key, uint64_t seq, const char *value)
{
    assert_true(iterator_valid(it));
    parsed_internal_key p;
    assert_true(internal_key_parse(iterator_key(it), &p));
    assert_true(slice_equal(p.user_key, slice_make(user_key, strlen(user_key))));
    assert_int_equal(p.sequence, seq);
    assert_true(slice_equal(iterator_value(it), slice_make(value, strlen(value))));
}

/* ---- empty iterator ---------------------------------------------------------------- */

static void
test_empty_iterator_without_error(void **state)
{
    iterator *it = iterator_new_empty(NULL);
    assert_false(iterator_valid(it));
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    buffer target;
    buffer_init(&target);
    seek_key(&target, "k", 1);
    iterator_seek(it, buffer_slice(&target));
    assert_false(iterator_valid(it));
    lsmkv_error err = {.code = -1, .message = "untouched"};
    assert_int_equal(iterator_status(it, &err), LSMKV_OK);
    assert_int_equal(err.code, -1);
    assert_string_equal(err.message, "untouched");
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    iterator_free(NULL);
    buffer_fini(&target);

    lsmkv_error ok = {0};
    it = iterator_new_empty(&ok);
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
}

static void
test_empty_iterator_with_error(void **state)
{
    lsmkv_error error;
    status_set(&error, LSMKV_IO_ERROR, "read 000009.sst: Input/output error");
    iterator *it = iterator_new_empty(&error);
    memset(&error, 0, sizeof(error)); /* the iterator keeps its own copy */
    iterator_seek_to_first(it);
    assert_false(iterator_valid(it));
    lsmkv_error err;
    assert_int_equal(iterator_status(it, &err), LSMKV_IO_ERROR);
    assert_int_equal(err.code, LSMKV_IO_ERROR);
    assert_string_equal(err.message, "read 000009.sst: Input/output error");
    assert_int_equal(iterator_status(it, NULL), LSMKV_IO_ERROR);
    iterator_free(it);
}

/* ---- merge ------------------------------------------------------------------------- */

static void
test_merge_of_no_children(void **state)
{
    iterator *m = merge_iterator_new(NULL, 0);
    assert_false(iterator_valid(m));
    iterator_seek_to_first(m);
    assert_false(iterator_valid(m));
    buffer target;
    buffer_init(&target);
    seek_key(&target, "a", SEQUENCE_MAX);
    iterator_seek(m, buffer_slice(&target));
    assert_false(iterator_valid(m));
    assert_int_equal(iterator_status(m, NULL), LSMKV_OK);
    iterator_free(m);
    buffer_fini(&target);
}

static void
test_merge_of_empty_children(void **state)
{
    entry_list none = {0};
    iterator *children[3] = {iterator_new_empty(NULL), vector_new(&none, 1, SIZE_MAX, NULL),
                             iterator_new_empty(NULL)};
    iterator *m = merge_iterator_new(children, 3);
    iterator_seek_to_first(m);
    assert_false(iterator_valid(m));
    assert_int_equal(iterator_status(m, NULL), LSMKV_OK);
    iterator_free(m);
}

static void
test_merge_of_one_child(void **state)
{
    entry_list l = {0};
    list_add_str(&l, "a", 3, "a3");
    list_add_str(&l, "a", 1, "a1");
    list_add(&l, "b\0c", 3, 2, VALUE_TYPE_DELETION, "", 0);
    list_add(&l, "d", 1, 5, VALUE_TYPE_VALUE, "\0\xff\0", 3);
    int freed = 0;
    iterator *child = vector_new(&l, 0, SIZE_MAX, &freed);
    iterator *m = merge_iterator_new(&child, 1);
    child = NULL; /* the merge owns it now, not the array */
    iterator_seek_to_first(m);
    entry_list got = {0};
    drain(m, &got);
    assert_lists_equal(&got, &l);
    assert_int_equal(iterator_status(m, NULL), LSMKV_OK);

    /* Again from the start. */
    list_fini(&got);
    iterator_seek_to_first(m);
    drain(m, &got);
    assert_lists_equal(&got, &l);

    assert_int_equal(freed, 0);
    iterator_free(m);
    assert_int_equal(freed, 1);
    list_fini(&got);
    list_fini(&l);
}

static void
test_merge_many_children_is_sorted_union(void **state)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    enum { CHILDREN = 7 };
    entry_list lists[CHILDREN] = {{0}};
    entry_list all = {0};
    for (int round = 0; round < 600; round++) {
        int c = (int)test_rng_below(&rng, CHILDREN - 1); /* the last child stays empty */
        uint8_t user[3];
        size_t len = (size_t)test_rng_below(&rng, 4);
        for (size_t i = 0; i < len; i++) {
            user[i] = (uint8_t)test_rng_below(&rng, 4); /* NUL bytes and collisions */
        }
        /* Sequences are unique, so the expected order is total. */
        uint64_t seq = (uint64_t)round + 1;
        value_type type = (value_type)test_rng_below(&rng, 2);
        char value[32];
        int vlen = snprintf(value, sizeof(value), "c%d-r%d", c, round);
        list_add(&lists[c], user, len, seq, type, value, (size_t)vlen);
        list_add(&all, user, len, seq, type, value, (size_t)vlen);
    }
    iterator *children[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        list_sort(&lists[c]);
        children[c] = vector_new(&lists[c], c, SIZE_MAX, NULL);
    }
    list_sort(&all);

    iterator *m = merge_iterator_new(children, CHILDREN);
    iterator_seek_to_first(m);
    entry_list got = {0};
    drain(m, &got);
    assert_lists_equal(&got, &all);
    assert_int_equal(iterator_status(m, NULL), LSMKV_OK);
    iterator_free(m);
    list_fini(&got);
    list_fini(&all);
    for (int c = 0; c < CHILDREN; c++) {
        list_fini(&lists[c]);
    }
}

static void
test_merge_interleaved_children(void **state)
{
    /* Three children taking turns; the merge must alternate between them. */
    entry_list lists[3] = {{0}};
    entry_list all = {0};
    for (int i = 0; i < 30; i++) {
        char key[8], value[8];
        snprintf(key, sizeof(key), "k%02d", i);
        snprintf(value, sizeof(value), "v%d", i);
        list_add_str(&lists[i % 3], key, 1, value);
        list_add_str(&all, key, 1, value);
    }
    iterator *children[3];
    for (int c = 0; c < 3; c++) {
        children[c] = vector_new(&lists[c], c, SIZE_MAX, NULL);
    }
    iterator *m = merge_iterator_new(children, 3);
    iterator_seek_to_first(m);
    entry_list got = {0};
    drain(m, &got);
    assert_lists_equal(&got, &all);
    iterator_free(m);
    list_fini(&got);
    list_fini(&all);
    for (int c = 0; c < 3; c++) {
        list_fini(&lists[c]);
    }
}

static void
test_merge_duplicates_come_from_lower_child_first(void **state)
{
    /* The same internal keys ("dup", 6) and ("dup", 5) in four children, plus
     * neighbours; each value names the child it came from. */
    enum { CHILDREN = 4 };
    entry_list lists[CHILDREN] = {{0}};
    for (int c = 0; c < CHILDREN; c++) {
        char six[8], five[8];
        snprintf(six, sizeof(six), "six%d", c);
        snprintf(five, sizeof(five), "five%d", c);
        if (c == 2) {
            list_add_str(&lists[c], "a", 9, "a-from2");
        }
        list_add_str(&lists[c], "dup", 6, six);
        list_add_str(&lists[c], "dup", 5, five);
        if (c == 1) {
            list_add_str(&lists[c], "z", 1, "z-from1");
        }
    }
    /* Child c of the merge is lists[CHILDREN - 1 - c], so the array index, not
     * the order the lists were built in, must decide. */
    iterator *children[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        children[c] = vector_new(&lists[CHILDREN - 1 - c], c, SIZE_MAX, NULL);
    }
    iterator *m = merge_iterator_new(children, CHILDREN);
    iterator_seek_to_first(m);
    assert_at(m, "a", 9, "a-from2");
    for (int c = CHILDREN - 1; c >= 0; c--) {
        char six[8];
        snprintf(six, sizeof(six), "six%d", c);
        iterator_next(m);
        assert_at(m, "dup", 6, six);
    }
    for (int c = CHILDREN - 1; c >= 0; c--) {
        char five[8];
        snprintf(five, sizeof(five), "five%d", c);
        iterator_next(m);
        assert_at(m, "dup", 5, five);
    }
    iterator_next(m);
    assert_at(m, "z", 1, "z-from1");
    iterator_next(m);
    assert_false(iterator_valid(m));
    assert_int_equal(iterator_status(m, NULL), LSMKV_OK);
    iterator_free(m);
    for (int c = 0; c < CHILDREN; c++) {
        list_fini(&lists[c]);
    }
}

static void
test_merge_equal_keys_in_many_children_keep_index_order(void **state)
{
    /* Many children each holding the same three keys: for each key the
     * children must appear in index order 0..N-1. */
    enum { CHILDREN = 13 };
    entry_list lists[CHILDREN] = {{0}};
    iterator *children[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        char value[8];
        snprintf(value, sizeof(value), "%d", c);
        list_add_str(&lists[c], "k1", 1, value);
        list_add_str(&lists[c], "k2", 7, value);
        list_add_str(&lists[c], "k2", 1, value);
        children[c] = vector_new(&lists[c], c, SIZE_MAX, NULL);
    }
    iterator *m = merge_iterator_new(children, CHILDREN);
    iterator_seek_to_first(m);
    const struct {
        const char *key;
        uint64_t seq;
    } order[] = {{"k1", 1}, {"k2", 7}, {"k2", 1}};
    for (size_t k = 0; k < 3; k++) {
        for (int c = 0; c < CHILDREN; c++) {
            char value[8];
            snprintf(value, sizeof(value), "%d", c);
            assert_at(m, order[k].key, order[k].seq, value);
            iterator_next(m);
        }
    }
    assert_false(iterator_valid(m));
    iterator_free(m);
    for (int c = 0; c < CHILDREN; c++) {
        list_fini(&lists[c]);
    }
}

static void
test_merge_seek(void **state)
{
    entry_list a = {0}, b = {0};
    list_add_str(&a, "b", 4, "b4");
    list_add_str(&a, "d", 2, "d2");
    list_add_str(&a, "f", 9, "f9");
    list_add_str(&b, "b", 7, "b7");
    list_add_str(&b, "b", 1, "b1");
    list_add_str(&b, "e", 3, "e3");
    iterator *children[2] = {vector_new(&a, 0, SIZE_MAX, NULL), vector_new(&b, 1, SIZE_MAX, NULL)};
    iterator *m = merge_iterator_new(children, 2);
    buffer target;
    buffer_init(&target);

    /* Present keys. */
    seek_key(&target, "d", 2);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "d", 2, "d2");
    iterator_next(m);
    assert_at(m, "e", 3, "e3");

    /* Before everything. */
    seek_key(&target, "", SEQUENCE_MAX);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "b", 7, "b7");

    /* A snapshot between versions of one key: the newest visible version. */
    seek_key(&target, "b", 5);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "b", 4, "b4");
    iterator_next(m);
    assert_at(m, "b", 1, "b1");
    iterator_next(m);
    assert_at(m, "d", 2, "d2");

    /* An absent key lands on the next one, in whichever child it is. */
    seek_key(&target, "c", SEQUENCE_MAX);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "d", 2, "d2");
    buffer_clear(&target);
    internal_key_append(&target, slice_make("d\0", 2), SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "e", 3, "e3");
    seek_key(&target, "dz", SEQUENCE_MAX);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "e", 3, "e3");
    /* A key older than every version of "d" skips to the next user key. */
    seek_key(&target, "d", 1);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "e", 3, "e3");

    /* Past the end. */
    seek_key(&target, "g", SEQUENCE_MAX);
    iterator_seek(m, buffer_slice(&target));
    assert_false(iterator_valid(m));
    assert_int_equal(iterator_status(m, NULL), LSMKV_OK);

    /* Seek works again after running off the end. */
    seek_key(&target, "f", 100);
    iterator_seek(m, buffer_slice(&target));
    assert_at(m, "f", 9, "f9");
    iterator_next(m);
    assert_false(iterator_valid(m));

    iterator_free(m);
    buffer_fini(&target);
    list_fini(&a);
    list_fini(&b);
}

static void
test_merge_seek_binary_keys(void **state)
{
    entry_list a = {0}, b = {0};
    list_add(&a, "\0", 1, 1, VALUE_TYPE_VALUE, "nul", 3);
    list_add(&a, "\0\0", 2, 1, VALUE_TYPE_VALUE, "nulnul", 6);
    list_add(&b, "", 0, 1, VALUE_TYPE_VALUE, "empty", 5);
    list_add(&b, "\0\x01", 2, 1, VALUE_TYPE_VALUE, "nul1", 4);
    iterator *children[2] = {vector_new(&a, 0, SIZE_MAX, NULL), vector_new(&b, 1, SIZE_MAX, NULL)};
    iterator *m = merge_iterator_new(children, 2);
    buffer target;
    buffer_init(&target);
    internal_key_append(&target, slice_make("\0", 1), SEQUENCE_MAX, VALUE_TYPE_FOR_SEEK);
    iterator_seek(m, buffer_slice(&target));
    const char *expect[] = {"nul", "nulnul", "nul1"};
    for (int i = 0; i < 3; i++) {
        assert_true(iterator_valid(m));
        assert_true(slice_equal(iterator_value(m), slice_make(expect[i], strlen(expect[i]))));
        iterator_next(m);
    }
    assert_false(iterator_valid(m));
    iterator_free(m);
    buffer_fini(&target);
    list_fini(&a);
    list_fini(&b);
}

/* Three children over a..i, the middle one failing on reaching entry fail_at. */
static iterator *
failing_merge(entry_list lists[3], size_t fail_at, entry_list *all)
{
    const char *keys = "abcdefghi";
    for (int i = 0; i < 9; i++) {
        char key[2] = {keys[i], 0};
        list_add_str(&lists[i % 3], key, 1, key);
        list_add_str(all, key, 1, key);
    }
    iterator *children[3] = {vector_new(&lists[0], 0, SIZE_MAX, NULL),
                             vector_new(&lists[1], 1, fail_at, NULL),
                             vector_new(&lists[2], 2, SIZE_MAX, NULL)};
    return merge_iterator_new(children, 3);
}

static void
test_merge_stops_at_child_error(void **state)
{
    entry_list lists[3] = {{0}}, all = {0};
    iterator *m = failing_merge(lists, 2, &all); /* child 1 holds b, e, h: fails moving to h */
    iterator_seek_to_first(m);
    entry_list got = {0};
    drain(m, &got);
    /* Everything before the damaged entry came out in order, then the merge stopped
     * instead of carrying on with the healthy children. */
    assert_in_range(got.count, 5, 7); /* a..e at least, never h or what follows */
    assert_entries_equal(got.items, all.items, got.count);
    assert_false(iterator_valid(m));
    lsmkv_error err;
    assert_int_equal(iterator_status(m, &err), LSMKV_CORRUPTION);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    assert_string_equal(err.message, "child 1: bad block at entry 2");
    assert_int_equal(iterator_status(m, NULL), LSMKV_CORRUPTION);
    iterator_free(m);
    list_fini(&got);
    list_fini(&all);
    for (int c = 0; c < 3; c++) {
        list_fini(&lists[c]);
    }
}

static void
test_merge_child_error_at_start(void **state)
{
    entry_list lists[3] = {{0}}, all = {0};
    iterator *m = failing_merge(lists, 0, &all);
    iterator_seek_to_first(m);
    assert_false(iterator_valid(m));
    lsmkv_error err;
    assert_int_equal(iterator_status(m, &err), LSMKV_CORRUPTION);
    assert_string_equal(err.message, "child 1: bad block at entry 0");
    iterator_free(m);

    /* An error met by a seek stops the merge too. */
    list_fini(&all);
    for (int c = 0; c < 3; c++) {
        list_fini(&lists[c]);
    }
    m = failing_merge(lists, 1, &all); /* child 1 fails at "e" */
    buffer target;
    buffer_init(&target);
    seek_key(&target, "c", SEQUENCE_MAX);
    iterator_seek(m, buffer_slice(&target));
    assert_false(iterator_valid(m));
    assert_int_equal(iterator_status(m, &err), LSMKV_CORRUPTION);
    assert_string_equal(err.message, "child 1: bad block at entry 1");
    iterator_free(m);
    buffer_fini(&target);
    list_fini(&all);
    for (int c = 0; c < 3; c++) {
        list_fini(&lists[c]);
    }
}

static void
test_merge_with_failed_empty_child(void **state)
{
    entry_list l = {0};
    list_add_str(&l, "a", 1, "a");
    lsmkv_error error;
    status_set(&error, LSMKV_IO_ERROR, "open 000004.sst: No such file or directory");
    iterator *children[2] = {vector_new(&l, 0, SIZE_MAX, NULL), iterator_new_empty(&error)};
    iterator *m = merge_iterator_new(children, 2);
    iterator_seek_to_first(m);
    assert_false(iterator_valid(m));
    lsmkv_error err;
    assert_int_equal(iterator_status(m, &err), LSMKV_IO_ERROR);
    assert_string_equal(err.message, "open 000004.sst: No such file or directory");
    iterator_free(m);
    list_fini(&l);
}

static void
test_merge_error_reported_when_last_child_fails(void **state)
{
    /* The failing child is the only one left: its error must still surface. */
    entry_list a = {0}, b = {0};
    list_add_str(&a, "a", 1, "a");
    list_add_str(&b, "b", 1, "b");
    list_add_str(&b, "c", 1, "c");
    iterator *children[2] = {vector_new(&a, 0, SIZE_MAX, NULL), vector_new(&b, 1, 1, NULL)};
    iterator *m = merge_iterator_new(children, 2);
    iterator_seek_to_first(m);
    assert_at(m, "a", 1, "a");
    iterator_next(m);
    assert_at(m, "b", 1, "b");
    iterator_next(m);
    assert_false(iterator_valid(m));
    lsmkv_error err;
    assert_int_equal(iterator_status(m, &err), LSMKV_CORRUPTION);
    assert_string_equal(err.message, "child 1: bad block at entry 1");
    iterator_free(m);
    list_fini(&a);
    list_fini(&b);
}

static void
test_merge_frees_children_not_array(void **state)
{
    entry_list l = {0};
    list_add_str(&l, "k", 1, "v");
    int freed = 0;
    enum { N = 5 };
    iterator **children = xcalloc(N, sizeof(*children));
    for (int c = 0; c < N; c++) {
        children[c] = vector_new(&l, c, SIZE_MAX, &freed);
    }
    iterator *m = merge_iterator_new(children, N);
    free(children); /* the merge copied the array */
    iterator_seek_to_first(m);
    for (int c = 0; c < N; c++) {
        assert_at(m, "k", 1, "v");
        iterator_next(m);
    }
    assert_false(iterator_valid(m));
    iterator_free(m);
    assert_int_equal(freed, N);
    list_fini(&l);
}

static void
test_merge_of_merges(void **state)
{
    entry_list lists[4] = {{0}};
    entry_list all = {0};
    for (int i = 0; i < 40; i++) {
        char key[8];
        snprintf(key, sizeof(key), "%02d", (i * 17) % 40);
        list_add_str(&all, key, 1, key);
    }
    list_sort(&all);
    for (size_t i = 0; i < all.count; i++) {
        entry_list *dst = &lists[(i * 7) % 4];
        parsed_internal_key p;
        assert_true(internal_key_parse(buffer_slice(&all.items[i].key), &p));
        list_add(dst, p.user_key.data, p.user_key.len, p.sequence, p.type, all.items[i].value.data,
                 all.items[i].value.len);
    }
    iterator *left[2] = {vector_new(&lists[0], 0, SIZE_MAX, NULL),
                         vector_new(&lists[1], 1, SIZE_MAX, NULL)};
    iterator *right[2] = {vector_new(&lists[2], 2, SIZE_MAX, NULL),
                          vector_new(&lists[3], 3, SIZE_MAX, NULL)};
    iterator *top[2] = {merge_iterator_new(left, 2), merge_iterator_new(right, 2)};
    iterator *m = merge_iterator_new(top, 2);
    iterator_seek_to_first(m);
    entry_list got = {0};
    drain(m, &got);
    assert_lists_equal(&got, &all);
    iterator_free(m);
    list_fini(&got);
    list_fini(&all);
    for (int c = 0; c < 4; c++) {
        list_fini(&lists[c]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_iterator_without_error),
        cmocka_unit_test(test_empty_iterator_with_error),
        cmocka_unit_test(test_merge_of_no_children),
        cmocka_unit_test(test_merge_of_empty_children),
        cmocka_unit_test(test_merge_of_one_child),
        cmocka_unit_test(test_merge_many_children_is_sorted_union),
        cmocka_unit_test(test_merge_interleaved_children),
        cmocka_unit_test(test_merge_duplicates_come_from_lower_child_first),
        cmocka_unit_test(test_merge_equal_keys_in_many_children_keep_index_order),
        cmocka_unit_test(test_merge_seek),
        cmocka_unit_test(test_merge_seek_binary_keys),
        cmocka_unit_test(test_merge_stops_at_child_error),
        cmocka_unit_test(test_merge_child_error_at_start),
        cmocka_unit_test(test_merge_with_failed_empty_child),
        cmocka_unit_test(test_merge_error_reported_when_last_child_fails),
        cmocka_unit_test(test_merge_frees_children_not_array),
        cmocka_unit_test(test_merge_of_merges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
