/* ctest-labels: concurrency */
/*
 * One writer adds to a memtable while readers get and iterate, with no lock:
 * the memtable's contract. Run it under ThreadSanitizer too
 * (-DLSMKV_SANITIZE=thread). Reader threads cannot use cmocka's asserts (they
 * jump back into the main thread's test), so they count failures and the
 * main thread checks the counts after joining.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "memtable.h"
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#define WRITES  20000
#define READERS 3

typedef struct shared {
    memtable *m;
    uint64_t seed;              /* test_seed() is not thread-safe: read it once */
    _Atomic uint64_t published; /* entries 1..published are in the memtable */
    _Atomic int readers_started;
    _Atomic bool writer_done;
    _Atomic uint64_t failures;
    _Atomic uint64_t reader_checks;
} shared;

/*
 * Write number i (sequence i + 1) goes to key index i, except every fourth
 * write, which overwrites the key of write i / 2: so keys have several
 * versions and snapshots matter.
 */
static uint32_t
key_index(uint64_t i)
{
    return (uint32_t)(i % 4 == 3 ? i / 2 : i);
}

static size_t
make_key(uint32_t index, uint8_t *out)
{
    /* Multiplying by an odd constant permutes: keys arrive in random order. */
    return (size_t)snprintf((char *)out, 16, "k%08x", index * 2654435761u);
}

/* The value of write i: its number, then filler whose length varies. */
static size_t
make_value(uint64_t i, uint8_t *out)
{
    encode_fixed32(out, (uint32_t)i);
    size_t len = 4 + (size_t)(i % 61);
    memset(out + 4, (int)('a' + i % 26), len - 4);
    return len;
}

static void *
writer_main(void *arg)
{
    shared *sh = arg;
    while (atomic_load(&sh->readers_started) < READERS) {
        sched_yield(); /* wait for the readers so the runs overlap */
    }
    uint8_t key[16], value[80];
    for (uint64_t i = 0; i < WRITES; i++) {
        size_t klen = make_key(key_index(i), key);
        size_t vlen = make_value(i, value);
        memtable_add(sh->m, i + 1, VALUE_TYPE_VALUE, slice_make(key, klen),
                     slice_make(value, vlen));
        atomic_store_explicit(&sh->published, i + 1, memory_order_release);
    }
    atomic_store(&sh->writer_done, true);
    return NULL;
}

static void
check(shared *sh, bool ok)
{
    atomic_fetch_add_explicit(&sh->reader_checks, 1, memory_order_relaxed);
    if (!ok) {
        atomic_fetch_add_explicit(&sh->failures, 1, memory_order_relaxed);
    }
}

/* Does the entry (user key, seq) -> value have the shape write seq - 1 made? */
static bool
entry_ok(slice user_key, uint64_t seq, slice value)
{
    uint8_t key[16], want[80];
    if (seq == 0 || seq > WRITES) {
        return false;
    }
    size_t klen = make_key(key_index(seq - 1), key);
    size_t vlen = make_value(seq - 1, want);
    return slice_equal(user_key, slice_make(key, klen)) &&
           slice_equal(value, slice_make(want, vlen));
}

static void
reader_gets(shared *sh, test_rng *rng, lookup_result *r)
{
    uint64_t published = atomic_load_explicit(&sh->published, memory_order_acquire);
    if (published == 0) {
        return;
    }
    uint64_t i = test_rng_below(rng, published);
    uint8_t key[16];
    slice k = slice_make(key, make_key(key_index(i), key));
    /* At snapshot i + 1 write i is the newest visible version of its key. */
    bool found = memtable_get(sh->m, k, i + 1, r);
    check(sh, found && r->sequence == i + 1 && r->type == VALUE_TYPE_VALUE &&
                  entry_ok(k, r->sequence, buffer_slice(&r->value)));
    /* The newest version of all is write i or a later one of the same key. */
    found = memtable_get(sh->m, k, SEQUENCE_MAX, r);
    check(sh, found && r->sequence >= i + 1 && entry_ok(k, r->sequence, buffer_slice(&r->value)));
}

static void
reader_scan(shared *sh)
{
    uint64_t published = atomic_load_explicit(&sh->published, memory_order_acquire);
    iterator *it = memtable_iterator_new(sh->m);
    uint64_t count = 0;
    uint8_t prev[32];
    size_t prev_len = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        slice ikey = iterator_key(it);
        parsed_internal_key p;
        bool ok = internal_key_parse(ikey, &p) && ikey.len <= sizeof(prev);
        ok = ok && entry_ok(p.user_key, p.sequence, iterator_value(it));
        ok = ok && (count == 0 || internal_key_compare(slice_make(prev, prev_len), ikey) < 0);
        check(sh, ok);
        if (!ok) {
            break;
        }
        memcpy(prev, ikey.data, ikey.len);
        prev_len = ikey.len;
        count++;
    }
    /* Everything published before the iterator was made must be seen. */
    check(sh, count >= published && count <= WRITES);
    iterator_free(it);
}

static void *
reader_main(void *arg)
{
    shared *sh = arg;
    test_rng rng;
    test_rng_init(&rng, sh->seed + (uint64_t)atomic_fetch_add(&sh->readers_started, 1));
    lookup_result r;
    lookup_result_init(&r);
    bool last_round = false;
    while (!last_round) {
        /* One more round after the writer is done, so the end state is checked. */
        last_round = atomic_load(&sh->writer_done);
        for (int i = 0; i < 500; i++) {
            reader_gets(sh, &rng, &r);
        }
        reader_scan(sh);
    }
    lookup_result_fini(&r);
    return NULL;
}

static void
test_concurrent_writer_and_readers(void **state)
{
    shared sh = {.m = memtable_new(), .seed = test_seed()};
    pthread_t readers[READERS], writer;
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &sh), 0);
    }
    assert_int_equal(pthread_create(&writer, NULL, writer_main, &sh), 0);
    assert_int_equal(pthread_join(writer, NULL), 0);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(readers[i], NULL), 0);
    }
    assert_int_equal(atomic_load(&sh.failures), 0);
    /* Each reader made at least one full round of gets and a scan. */
    assert_true(atomic_load(&sh.reader_checks) >= READERS * 1001);
    assert_int_equal(memtable_entries(sh.m), WRITES);
    assert_int_equal(memtable_max_sequence(sh.m), WRITES);
    memtable_unref(sh.m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_writer_and_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
