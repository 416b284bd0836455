#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* ctest-labels: concurrency (run under ThreadSanitizer by tools/dev.sh) */

/*
 * The memtable manager with a fake flush callback the test controls: it
 * records calls, can fail, and can hold the flush thread until released (by
 * condition variables, never sleeps).
 */

#include "internal_key.h"
#include "memtable_manager.h"
#include "status.h"
#include "table_info.h"
#include "test_support.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a flush callback the test controls --------------------------------------------- */

#define MAX_CALLS 64

typedef struct flush_call {
    uint64_t wal_number;
    uint64_t next_wal_number;
    uint64_t entries;
    bool succeeded;
} flush_call;

typedef struct fake_flush {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool hold;   /* calls wait in the callback until hold is cleared */
    int holding; /* calls waiting right now */
    bool fail;   /* calls fail with LSMKV_IO_ERROR */
    int calls;   /* every call, held, failed or not */
    flush_call log[MAX_CALLS];
} fake_flush;

static int
fake_flush_fn(void *ctx, memtable *mem, uint64_t wal_number, uint64_t next_wal_number,
              lsmkv_table_list *written, lsmkv_error *err)
{
    fake_flush *ff = ctx;
    pthread_mutex_lock(&ff->mutex);
    int call = ff->calls++;
    if (call >= MAX_CALLS) {
        abort(); /* not a cmocka assert: this runs on the flush thread */
    }
    ff->log[call] = (flush_call){wal_number, next_wal_number, memtable_entries(mem), false};
    ff->holding++;
    pthread_cond_broadcast(&ff->cond);
    while (ff->hold) {
        pthread_cond_wait(&ff->cond, &ff->mutex);
    }
    ff->holding--;
    /* Decided at the end, under the mutex: a call returning after the test
     * cleared `fail` succeeds. */
    bool fail = ff->fail;
    ff->log[call].succeeded = !fail;
    pthread_mutex_unlock(&ff->mutex);
    if (fail) {
        return status_set(err, LSMKV_IO_ERROR, "injected flush failure of segment %llu",
                          (unsigned long long)wal_number);
    }
    /* A made-up table named after the segment, so the test can match it. */
    lsmkv_table_info info = {.id = 1000 + wal_number, .entries = memtable_entries(mem)};
    table_info_set_keys(&info, slice_make("min", 3), slice_make("max", 3));
    table_list_append(written, &info);
    table_info_fini(&info);
    return LSMKV_OK;
}

static void
fake_set_hold(fake_flush *ff, bool hold)
{
    pthread_mutex_lock(&ff->mutex);
    ff->hold = hold;
    pthread_cond_broadcast(&ff->cond);
    pthread_mutex_unlock(&ff->mutex);
}

static void
fake_set_fail(fake_flush *ff, bool fail)
{
    pthread_mutex_lock(&ff->mutex);
    ff->fail = fail;
    pthread_mutex_unlock(&ff->mutex);
}

/* Waits until some call is held in the callback. */
static void
fake_wait_holding(fake_flush *ff)
{
    pthread_mutex_lock(&ff->mutex);
    while (ff->holding == 0) {
        pthread_cond_wait(&ff->cond, &ff->mutex);
    }
    pthread_mutex_unlock(&ff->mutex);
}

static int
fake_calls(fake_flush *ff)
{
    pthread_mutex_lock(&ff->mutex);
    int n = ff->calls;
    pthread_mutex_unlock(&ff->mutex);
    return n;
}

/* ---- fixture ---------------------------------------------------------------------------- */

typedef struct fixture {
    fake_flush ff;
    memtable_manager_options options;
    memtable_manager *mm;
    uint64_t seq;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->ff.mutex, NULL);
    pthread_cond_init(&f->ff.cond, NULL);
    f->options = (memtable_manager_options){
        .memtable_bytes = 16 << 10,
        .max_immutables = 4,
        .flush = fake_flush_fn,
        .flush_ctx = &f->ff,
        .log = NULL,
    };
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    /* Let any held or failing flush finish so free cannot wait forever. */
    fake_set_fail(&f->ff, false);
    fake_set_hold(&f->ff, false);
    memtable_manager_free(f->mm);
    pthread_mutex_destroy(&f->ff.mutex);
    pthread_cond_destroy(&f->ff.cond);
    free(f);
    return 0;
}

static void
start(fixture *f, uint64_t wal_number)
{
    lsmkv_error err = {0};
    if (memtable_manager_new(&f->options, wal_number, &f->mm, &err) != LSMKV_OK) {
        fail_msg("memtable_manager_new: %s", err.message);
    }
}

/* Adds key = value to the active memtable with the next sequence. */
static void
put(fixture *f, const char *key, const char *value)
{
    memtable_add(memtable_manager_active(f->mm), ++f->seq, VALUE_TYPE_VALUE,
                 slice_make(key, strlen(key)), slice_make(value, strlen(value)));
}

/* Fills the active memtable until it is full. */
static void
fill_active(fixture *f)
{
    char key[32], value[200];
    memset(value, 'x', sizeof(value));
    for (int i = 0; !memtable_manager_active_is_full(f->mm); i++) {
        snprintf(key, sizeof(key), "fill%06llu", (unsigned long long)f->seq);
        memtable_add(memtable_manager_active(f->mm), ++f->seq, VALUE_TYPE_VALUE,
                     slice_make(key, strlen(key)), slice_make(value, sizeof(value)));
        assert_true(i < 100000);
    }
}

/* value NULL: expect not found. */
static void
expect_get(fixture *f, const char *key, uint64_t snapshot, const char *value)
{
    lookup_result r;
    lookup_result_init(&r);
    bool found = memtable_manager_get(f->mm, slice_make(key, strlen(key)), snapshot, &r);
    if (value == NULL) {
        assert_false(found);
    } else {
        if (!found) {
            fail_msg("%s not found at %llu", key, (unsigned long long)snapshot);
        }
        assert_true(r.found);
        assert_true(slice_equal(buffer_slice(&r.value), slice_make(value, strlen(value))));
    }
    lookup_result_fini(&r);
}

static lsmkv_stats
get_stats(fixture *f)
{
    lsmkv_stats s;
    memset(&s, 0, sizeof(s));
    memtable_manager_stats(f->mm, &s);
    return s;
}

/* ---- write path and reads ----------------------------------------------------------------- */

static void
test_new_manager_is_empty(void **state)
{
    fixture *f = *state;
    start(f, 5);
    assert_int_equal(memtable_manager_active_wal_number(f->mm), 5);
    assert_false(memtable_manager_active_is_full(f->mm));
    assert_int_equal(memtable_entries(memtable_manager_active(f->mm)), 0);
    expect_get(f, "a", SEQUENCE_MAX, NULL);
    lsmkv_stats s = get_stats(f);
    assert_int_equal(s.memtable_entries, 0);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(s.flushes, 0);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);
    assert_int_equal(fake_calls(&f->ff), 0);
}

static void
test_get_searches_active_then_queued_newest_first(void **state)
{
    fixture *f = *state;
    start(f, 1);
    fake_set_hold(&f->ff, true); /* keep rotated memtables in the queue */
    put(f, "k", "v1");           /* seq 1 */
    put(f, "old", "o1");         /* seq 2 */
    memtable_manager_rotate(f->mm, 2, NULL);
    put(f, "k", "v2");   /* seq 3 */
    put(f, "mid", "m3"); /* seq 4 */
    memtable_manager_rotate(f->mm, 3, NULL);
    put(f, "k", "v3"); /* seq 5 */
    assert_int_equal(memtable_manager_active_wal_number(f->mm), 3);

    expect_get(f, "k", SEQUENCE_MAX, "v3"); /* active */
    expect_get(f, "k", 4, "v2");            /* newer queued memtable */
    expect_get(f, "k", 2, "v1");            /* oldest queued memtable */
    expect_get(f, "k", 0, NULL);
    expect_get(f, "old", SEQUENCE_MAX, "o1");
    expect_get(f, "mid", SEQUENCE_MAX, "m3");
    expect_get(f, "none", SEQUENCE_MAX, NULL);

    memtable *mems[MEMTABLE_MANAGER_MAX_IMMUTABLES + 1];
    size_t count = 0;
    memtable_manager_snapshot(f->mm, mems, &count);
    assert_int_equal(count, 3);
    assert_int_equal(memtable_max_sequence(mems[0]), 5);
    assert_int_equal(memtable_max_sequence(mems[1]), 4);
    assert_int_equal(memtable_max_sequence(mems[2]), 2);
    for (size_t i = 0; i < count; i++) {
        memtable_unref(mems[i]);
    }
    lsmkv_stats s = get_stats(f);
    assert_int_equal(s.immutable_memtables, 2);
    assert_int_equal(s.memtable_entries, 1);
    assert_true(s.immutable_bytes > 0);

    /* Once flushed, the memtables leave (the fake keeps nothing): only the active remains. */
    fake_set_hold(&f->ff, false);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);
    expect_get(f, "k", SEQUENCE_MAX, "v3");
    expect_get(f, "old", SEQUENCE_MAX, NULL);
    expect_get(f, "k", 4, NULL);
}

static void
test_flush_receives_memtables_oldest_first(void **state)
{
    fixture *f = *state;
    start(f, 10);
    fake_set_hold(&f->ff, true);
    put(f, "a", "1");
    memtable_manager_rotate(f->mm, 11, NULL);
    fake_wait_holding(&f->ff); /* the first flush has started */
    put(f, "b", "2");
    put(f, "c", "3");
    memtable_manager_rotate(f->mm, 12, NULL);
    put(f, "d", "4");
    put(f, "e", "5");
    put(f, "f", "6");
    memtable_manager_rotate(f->mm, 15, NULL); /* numbers need not be consecutive */
    fake_set_hold(&f->ff, false);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);

    assert_int_equal(f->ff.calls, 3);
    const flush_call expected[] = {{10, 11, 1, true}, {11, 12, 2, true}, {12, 15, 3, true}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->ff.log[i].wal_number, expected[i].wal_number);
        assert_int_equal(f->ff.log[i].next_wal_number, expected[i].next_wal_number);
        assert_int_equal(f->ff.log[i].entries, expected[i].entries);
        assert_true(f->ff.log[i].succeeded);
    }
    lsmkv_stats s = get_stats(f);
    assert_int_equal(s.flushes, 3);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(s.immutable_bytes, 0);
    assert_int_equal(memtable_manager_active_wal_number(f->mm), 15);
}

static void
test_wait_flushed_returns_written_tables(void **state)
{
    fixture *f = *state;
    start(f, 1);
    fake_set_hold(&f->ff, true);
    put(f, "a", "1");
    memtable_flush_ticket *first, *second;
    memtable_manager_rotate(f->mm, 2, &first);
    put(f, "b", "2");
    put(f, "c", "3");
    memtable_manager_rotate(f->mm, 3, &second);
    fake_set_hold(&f->ff, false);

    /* Waiting on the newer ticket covers the older memtable too. */
    lsmkv_table_list written = {0};
    assert_int_equal(memtable_manager_wait_flushed(f->mm, second, &written, NULL), LSMKV_OK);
    assert_int_equal(f->ff.calls, 2);
    assert_int_equal(written.count, 1);
    assert_int_equal(written.tables[0].id, 1002);
    assert_int_equal(written.tables[0].entries, 2);
    lsmkv_table_list_fini(&written);

    /* The older ticket is done already and still knows its own table. */
    assert_int_equal(memtable_manager_wait_flushed(f->mm, first, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 1);
    assert_int_equal(written.tables[0].id, 1001);
    assert_int_equal(written.tables[0].entries, 1);
    assert_true(slice_equal(table_info_min_key(&written.tables[0]), slice_make("min", 3)));
    lsmkv_table_list_fini(&written);
}

static void
test_wait_flushed_without_list(void **state)
{
    fixture *f = *state;
    start(f, 1);
    put(f, "a", "1");
    memtable_flush_ticket *ticket;
    memtable_manager_rotate(f->mm, 2, &ticket);
    assert_int_equal(memtable_manager_wait_flushed(f->mm, ticket, NULL, NULL), LSMKV_OK);
    assert_int_equal(fake_calls(&f->ff), 1);
}

static void
test_wait_idle_waits_for_every_queued(void **state)
{
    fixture *f = *state;
    start(f, 1);
    fake_set_hold(&f->ff, true);
    for (uint64_t i = 0; i < 4; i++) {
        put(f, "k", "v");
        memtable_manager_rotate(f->mm, i + 2, NULL);
    }
    fake_set_hold(&f->ff, false);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);
    assert_int_equal(fake_calls(&f->ff), 4);
    assert_int_equal(get_stats(f).immutable_memtables, 0);
    assert_int_equal(get_stats(f).flushes, 4);
}

/* ---- failing flushes ---------------------------------------------------------------------- */

/*
 * Clears the failure and waits until the queue drains. One attempt may have
 * decided to fail just before the switch and report after wait_idle began;
 * it is the only one, so a second wait must succeed.
 */
static void
recover_and_wait_idle(fixture *f)
{
    fake_set_fail(&f->ff, false);
    int rc = memtable_manager_wait_idle(f->mm, NULL);
    if (rc != LSMKV_OK) {
        assert_int_equal(rc, LSMKV_IO_ERROR);
        assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);
    }
}

static void
test_failing_flush_is_reported_and_retried(void **state)
{
    fixture *f = *state;
    start(f, 7);
    fake_set_fail(&f->ff, true);
    put(f, "k", "v");
    memtable_flush_ticket *ticket;
    memtable_manager_rotate(f->mm, 8, &ticket);
    lsmkv_table_list written = {0};
    lsmkv_error err = {0};
    assert_int_equal(memtable_manager_wait_flushed(f->mm, ticket, &written, &err), LSMKV_IO_ERROR);
    assert_int_equal(err.code, LSMKV_IO_ERROR);
    assert_non_null(strstr(err.message, "injected flush failure of segment 7"));
    assert_int_equal(written.count, 0);

    /* wait_idle reports the failure too (after an attempt it saw fail). */
    assert_int_equal(memtable_manager_wait_idle(f->mm, &err), LSMKV_IO_ERROR);
    assert_true(fake_calls(&f->ff) >= 2);

    /* The memtable stays queued and readable meanwhile. */
    expect_get(f, "k", SEQUENCE_MAX, "v");
    lsmkv_stats s = get_stats(f);
    assert_int_equal(s.flushes, 0);
    assert_int_equal(s.immutable_memtables, 1);

    recover_and_wait_idle(f);
    s = get_stats(f);
    assert_int_equal(s.flushes, 1);
    assert_int_equal(s.immutable_memtables, 0);
    int n = fake_calls(&f->ff);
    assert_true(n >= 3);
    assert_true(f->ff.log[n - 1].succeeded);
    for (int i = 0; i < n; i++) {
        assert_int_equal(f->ff.log[i].wal_number, 7); /* the same memtable every time */
    }
}

static void
test_flushing_recovers_for_later_memtables(void **state)
{
    fixture *f = *state;
    start(f, 1);
    fake_set_fail(&f->ff, true);
    put(f, "a", "1");
    memtable_flush_ticket *ticket;
    memtable_manager_rotate(f->mm, 2, &ticket);
    assert_int_equal(memtable_manager_wait_flushed(f->mm, ticket, NULL, NULL), LSMKV_IO_ERROR);
    recover_and_wait_idle(f);
    put(f, "b", "2");
    memtable_manager_rotate(f->mm, 3, &ticket);
    lsmkv_table_list written = {0};
    assert_int_equal(memtable_manager_wait_flushed(f->mm, ticket, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 1);
    assert_int_equal(written.tables[0].id, 1002);
    lsmkv_table_list_fini(&written);
}

/* ---- back-pressure --------------------------------------------------------------------------- */

static struct timespec
now_plus_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void
test_make_room_with_room(void **state)
{
    fixture *f = *state;
    f->options.max_immutables = 1;
    start(f, 1);
    fill_active(f);
    /* Nothing queued: a full memtable is simply rotated. */
    struct timespec past = now_plus_ms(0);
    assert_int_equal(memtable_manager_make_room(f->mm, false, &past, NULL), LSMKV_OK);
    assert_int_equal(memtable_manager_make_room(f->mm, true, NULL, NULL), LSMKV_OK);
    assert_int_equal(get_stats(f).write_stalls, 0);
}

/* Queues max_immutables memtables behind a held flush and fills the active one. */
static void
jam(fixture *f)
{
    fake_set_hold(&f->ff, true);
    for (int i = 0; i < f->options.max_immutables; i++) {
        put(f, "jam", "x");
        memtable_manager_rotate(f->mm, memtable_manager_active_wal_number(f->mm) + 1, NULL);
    }
    fake_wait_holding(&f->ff);
    fill_active(f);
}

static void
test_make_room_times_out(void **state)
{
    fixture *f = *state;
    f->options.max_immutables = 2;
    start(f, 1);
    jam(f);
    struct timespec deadline = now_plus_ms(0); /* already due: no waiting */
    lsmkv_error err = {0};
    assert_int_equal(memtable_manager_make_room(f->mm, false, &deadline, &err), LSMKV_TIMED_OUT);
    assert_int_equal(err.code, LSMKV_TIMED_OUT);
    assert_non_null(strstr(err.message, "deadline"));
    /* A manual flush's rotation waits for the queue whatever the memtable's size. */
    assert_int_equal(memtable_manager_make_room(f->mm, true, &deadline, NULL), LSMKV_TIMED_OUT);
    lsmkv_stats s = get_stats(f);
    assert_int_equal(s.write_stalls, 2);
    assert_int_equal(s.immutable_memtables, 2);
    fake_set_hold(&f->ff, false);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);
    assert_int_equal(memtable_manager_make_room(f->mm, false, &deadline, NULL), LSMKV_OK);
}

typedef struct staller {
    memtable_manager *mm;
    bool for_rotation;
    int rc;
    lsmkv_error err;
} staller;

static void *
staller_main(void *arg)
{
    staller *s = arg;
    s->rc = memtable_manager_make_room(s->mm, s->for_rotation, NULL, &s->err);
    return NULL;
}

/* Waits (yielding, no sleep) until the manager counts `stalls` stalls. */
static void
wait_for_stalls(fixture *f, uint64_t stalls)
{
    while (get_stats(f).write_stalls < stalls) {
        sched_yield();
    }
}

static void
test_stall_released_by_flush(void **state)
{
    fixture *f = *state;
    f->options.max_immutables = 1;
    start(f, 1);
    jam(f);
    staller s = {.mm = f->mm, .rc = -1};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, staller_main, &s), 0);
    wait_for_stalls(f, 1);
    /* The staller cannot get past while the only flush is held. */
    assert_int_equal(get_stats(f).immutable_memtables, 1);
    fake_set_hold(&f->ff, false);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(s.rc, LSMKV_OK);
    lsmkv_stats st = get_stats(f);
    assert_int_equal(st.write_stalls, 1);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.immutable_memtables, 0);
    assert_true(memtable_manager_active_is_full(f->mm)); /* the caller rotates next */
}

static void
test_stalled_rotation_released_by_flush(void **state)
{
    fixture *f = *state;
    f->options.max_immutables = 2;
    start(f, 1);
    jam(f);
    staller s = {.mm = f->mm, .for_rotation = true, .rc = -1};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, staller_main, &s), 0);
    wait_for_stalls(f, 1);
    fake_set_hold(&f->ff, false);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(s.rc, LSMKV_OK);
    assert_true(get_stats(f).immutable_memtables < 2);
}

static void
test_make_room_returns_flush_error(void **state)
{
    fixture *f = *state;
    f->options.max_immutables = 1;
    start(f, 3);
    fake_set_fail(&f->ff, true);
    put(f, "a", "1");
    memtable_flush_ticket *ticket;
    memtable_manager_rotate(f->mm, 4, &ticket);
    assert_int_equal(memtable_manager_wait_flushed(f->mm, ticket, NULL, NULL), LSMKV_IO_ERROR);
    fill_active(f);
    lsmkv_error err = {0};
    assert_int_equal(memtable_manager_make_room(f->mm, false, NULL, &err), LSMKV_IO_ERROR);
    assert_non_null(strstr(err.message, "injected flush failure"));
    assert_int_equal(memtable_manager_make_room(f->mm, true, NULL, NULL), LSMKV_IO_ERROR);

    recover_and_wait_idle(f);
    assert_int_equal(memtable_manager_make_room(f->mm, false, NULL, NULL), LSMKV_OK);
}

static void
test_stalled_writer_gets_flush_error(void **state)
{
    fixture *f = *state;
    f->options.max_immutables = 1;
    start(f, 1);
    jam(f); /* the held flush will fail when released */
    fake_set_fail(&f->ff, true);
    staller s = {.mm = f->mm, .rc = -1};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, staller_main, &s), 0);
    wait_for_stalls(f, 1);
    fake_set_hold(&f->ff, false);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(s.rc, LSMKV_IO_ERROR);
    assert_non_null(strstr(s.err.message, "injected flush failure"));
    recover_and_wait_idle(f);
}

/* ---- stats and shutdown ------------------------------------------------------------------------
 */

static void
test_stats(void **state)
{
    fixture *f = *state;
    start(f, 1);
    put(f, "a", "1");
    put(f, "b", "2");
    lsmkv_stats s = get_stats(f);
    assert_int_equal(s.memtable_entries, 2);
    assert_true(s.memtable_bytes > 0);
    assert_int_equal(s.memtable_bytes, memtable_approximate_bytes(memtable_manager_active(f->mm)));
    fake_set_hold(&f->ff, true);
    memtable_manager_rotate(f->mm, 2, NULL);
    s = get_stats(f);
    assert_int_equal(s.memtable_entries, 0);
    assert_int_equal(s.immutable_memtables, 1);
    assert_true(s.immutable_bytes > 0);
    assert_int_equal(s.flushes, 0);
    fake_set_hold(&f->ff, false);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_OK);
    s = get_stats(f);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(s.immutable_bytes, 0);
    assert_int_equal(s.flushes, 1);
    assert_int_equal(s.write_stalls, 0);
}

typedef struct freer {
    memtable_manager *mm;
    pthread_mutex_t mutex;
    bool returned;
} freer;

static void *
freer_main(void *arg)
{
    freer *fr = arg;
    memtable_manager_free(fr->mm);
    pthread_mutex_lock(&fr->mutex);
    fr->returned = true;
    pthread_mutex_unlock(&fr->mutex);
    return NULL;
}

static void
test_free_waits_for_queued_flushes(void **state)
{
    fixture *f = *state;
    start(f, 1);
    fake_set_hold(&f->ff, true);
    for (uint64_t i = 0; i < 3; i++) {
        put(f, "k", "v");
        memtable_manager_rotate(f->mm, i + 2, NULL);
    }
    put(f, "left", "in the active memtable");
    fake_wait_holding(&f->ff);
    freer fr = {.mm = f->mm};
    pthread_mutex_init(&fr.mutex, NULL);
    f->mm = NULL;
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, freer_main, &fr), 0);
    /* It cannot return while a queued flush is held. */
    pthread_mutex_lock(&fr.mutex);
    assert_false(fr.returned);
    pthread_mutex_unlock(&fr.mutex);
    fake_set_hold(&f->ff, false);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(fr.returned);
    assert_int_equal(f->ff.calls, 3); /* every queued memtable, not the active one */
    for (int i = 0; i < 3; i++) {
        assert_true(f->ff.log[i].succeeded);
    }
    pthread_mutex_destroy(&fr.mutex);
}

static void
test_free_gives_up_when_flushing_fails(void **state)
{
    fixture *f = *state;
    start(f, 1);
    fake_set_fail(&f->ff, true);
    put(f, "k", "v");
    memtable_manager_rotate(f->mm, 2, NULL);
    assert_int_equal(memtable_manager_wait_idle(f->mm, NULL), LSMKV_IO_ERROR);
    /* Close must not hang on a failing disk: the data is still in its WAL. */
    memtable_manager_free(f->mm);
    f->mm = NULL;
    assert_true(fake_calls(&f->ff) >= 1);
}

static void
test_free_null_and_idle(void **state)
{
    fixture *f = *state;
    memtable_manager_free(NULL);
    start(f, 1);
    put(f, "k", "v"); /* stays in the active memtable: never flushed by free */
    memtable_manager_free(f->mm);
    f->mm = NULL;
    assert_int_equal(f->ff.calls, 0);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_new_manager_is_empty),
        T(test_get_searches_active_then_queued_newest_first),
        T(test_flush_receives_memtables_oldest_first),
        T(test_wait_flushed_returns_written_tables),
        T(test_wait_flushed_without_list),
        T(test_wait_idle_waits_for_every_queued),
        T(test_failing_flush_is_reported_and_retried),
        T(test_flushing_recovers_for_later_memtables),
        T(test_make_room_with_room),
        T(test_make_room_times_out),
        T(test_stall_released_by_flush),
        T(test_stalled_rotation_released_by_flush),
        T(test_make_room_returns_flush_error),
        T(test_stalled_writer_gets_flush_error),
        T(test_stats),
        T(test_free_waits_for_queued_flushes),
        T(test_free_gives_up_when_flushing_fails),
        T(test_free_null_and_idle),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
