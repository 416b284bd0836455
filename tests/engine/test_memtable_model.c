/*
 * Random versions of random binary keys, checked against a sorted array:
 * scan order, seeks and gets at random snapshots must all agree with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "memtable.h"
#include "test_support.h"

#include <stdlib.h>

/* One entry of the model: an internal key and its value, both malloc'd. */
typedef struct model_entry {
    buffer ikey;
    buffer value;
} model_entry;

static int
model_compare(const void *a, const void *b)
{
    const model_entry *x = a, *y = b;
    return internal_key_compare(buffer_slice(&x->ikey), buffer_slice(&y->ikey));
}

/* The newest model version of key at snapshot, or NULL. Model is sorted. */
static const model_entry *
model_get(const model_entry *model, size_t n, slice key, uint64_t snapshot)
{
    for (size_t i = 0; i < n; i++) {
        parsed_internal_key p;
        assert_true(internal_key_parse(buffer_slice(&model[i].ikey), &p));
        if (slice_equal(p.user_key, key) && p.sequence <= snapshot) {
            return &model[i];
        }
    }
    return NULL;
}

static void
test_random_entries_match_model(void **state)
{
    enum { N = 3000 };
    test_rng rng;
    test_rng_init(&rng, test_seed());
    model_entry *model = calloc(N, sizeof(*model));
    assert_non_null(model);
    memtable *m = memtable_new();
    for (size_t i = 0; i < N; i++) {
        /* Short keys over a tiny alphabet (NUL included) force many versions. */
        uint8_t key[4], value[64];
        size_t klen = 1 + (size_t)test_rng_below(&rng, 4);
        for (size_t j = 0; j < klen; j++) {
            key[j] = (uint8_t)test_rng_below(&rng, 3);
        }
        size_t vlen = (size_t)test_rng_below(&rng, sizeof(value));
        test_rng_bytes(&rng, value, vlen);
        value_type type = test_rng_below(&rng, 5) == 0 ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE;
        /* Sequences are distinct but arrive in random order. */
        uint64_t seq = (i * 7919) % N + 1;
        if (type == VALUE_TYPE_DELETION) {
            vlen = 0;
        }
        memtable_add(m, seq, type, slice_make(key, klen), slice_make(value, vlen));
        buffer_init(&model[i].ikey);
        buffer_init(&model[i].value);
        internal_key_append(&model[i].ikey, slice_make(key, klen), seq, type);
        buffer_append(&model[i].value, value, vlen);
    }
    qsort(model, N, sizeof(*model), model_compare);

    iterator *it = memtable_iterator_new(m);
    iterator_seek_to_first(it);
    for (size_t i = 0; i < N; i++) {
        assert_true(iterator_valid(it));
        assert_true(slice_equal(iterator_key(it), buffer_slice(&model[i].ikey)));
        assert_true(slice_equal(iterator_value(it), buffer_slice(&model[i].value)));
        iterator_next(it);
    }
    assert_false(iterator_valid(it));
    /* A seek to each model key lands exactly on it. */
    for (size_t i = 0; i < N; i += 17) {
        iterator_seek(it, buffer_slice(&model[i].ikey));
        assert_true(iterator_valid(it));
        assert_true(slice_equal(iterator_key(it), buffer_slice(&model[i].ikey)));
    }
    iterator_free(it);

    lookup_result r;
    lookup_result_init(&r);
    for (int probe = 0; probe < 2000; probe++) {
        uint8_t key[4];
        size_t klen = 1 + (size_t)test_rng_below(&rng, 4);
        for (size_t j = 0; j < klen; j++) {
            key[j] = (uint8_t)test_rng_below(&rng, 3);
        }
        uint64_t snap = test_rng_below(&rng, N + 2);
        const model_entry *want = model_get(model, N, slice_make(key, klen), snap);
        bool found = memtable_get(m, slice_make(key, klen), snap, &r);
        assert_int_equal(found, want != NULL);
        assert_int_equal(r.found, want != NULL);
        if (want != NULL) {
            parsed_internal_key p;
            assert_true(internal_key_parse(buffer_slice(&want->ikey), &p));
            assert_int_equal(r.sequence, p.sequence);
            assert_int_equal(r.type, p.type);
            assert_true(slice_equal(buffer_slice(&r.value), buffer_slice(&want->value)));
        }
    }
    lookup_result_fini(&r);
    assert_int_equal(memtable_entries(m), N);
    assert_int_equal(memtable_max_sequence(m), N);
    for (size_t i = 0; i < N; i++) {
        buffer_fini(&model[i].ikey);
        buffer_fini(&model[i].value);
    }
    free(model);
    memtable_unref(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_entries_match_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
