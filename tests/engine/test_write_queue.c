/* ctest-labels: concurrency */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "write_queue.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

/*
 * The write queue's discipline: the first entry leads; entries queued behind
 * a leader are grouped with it or lead next; write_queue_try_lead joins only
 * an empty queue.
 */

static void
test_first_entry_leads(void **state)
{
    (void)state;
    write_queue q;
    write_queue_init(&q);
    write_queue_entry e;
    memset(&e, 0, sizeof(e));
    assert_true(write_queue_join(&q, &e));
    write_queue_finish(&q, &e, &e, LSMKV_OK, NULL);
    assert_int_equal(e.rc, LSMKV_OK);
    assert_true(e.done);
    write_queue_fini(&q);
}

static void
test_no_wait_entry_joins_only_behind_no_wait_entries(void **state)
{
    (void)state;
    write_queue q;
    write_queue_init(&q);
    write_queue_entry blocking, quick;
    memset(&blocking, 0, sizeof(blocking));
    memset(&quick, 0, sizeof(quick));
    quick.no_wait = true;
    bool leader = false;
    /* A leader that may wait (an fsync, a stall) is at work: refused. */
    assert_true(write_queue_join(&q, &blocking));
    assert_false(write_queue_join_no_wait(&q, &quick, &leader));
    assert_false(quick.done);
    write_queue_finish(&q, &blocking, &blocking, LSMKV_OK, NULL);
    /* An empty queue: it leads. */
    assert_true(write_queue_join_no_wait(&q, &quick, &leader));
    assert_true(leader);
    write_queue_finish(&q, &quick, &quick, LSMKV_OK, NULL);
    /* Every entry that may block has left the count (queuing behind no_wait
     * entries: test_a_failed_leader_passes_leadership_on). */
    assert_int_equal(q.may_block, 0);
    write_queue_fini(&q);
}

typedef struct follower {
    write_queue *q;
    write_queue_entry entry;
    bool led;
} follower;

static void *
follow(void *arg)
{
    follower *f = arg;
    bool joined = write_queue_join_no_wait(f->q, &f->entry, &f->led);
    assert_true(joined);
    if (f->led) {
        write_queue_finish(f->q, &f->entry, &f->entry, LSMKV_OK, NULL);
    }
    return NULL;
}

static void
test_a_failed_leader_passes_leadership_on(void **state)
{
    (void)state;
    write_queue q;
    write_queue_init(&q);
    write_queue_entry leader;
    memset(&leader, 0, sizeof(leader));
    leader.no_wait = true;
    bool led = false;
    assert_true(write_queue_join_no_wait(&q, &leader, &led));
    assert_true(led);
    follower f = {.q = &q};
    f.entry.no_wait = true; /* behind a no_wait leader, a no_wait entry may queue */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, follow, &f), 0);
    /* Wait until the follower is queued (no timing: poll the queue's tail). */
    for (;;) {
        pthread_mutex_lock(&q.mutex);
        bool queued = q.tail == &f.entry;
        pthread_mutex_unlock(&q.mutex);
        if (queued) {
            break;
        }
        sched_yield();
    }
    /* The leader gives up alone (as a write that would wait does)... */
    lsmkv_error err = {.code = LSMKV_WOULD_BLOCK, .message = "would wait"};
    write_queue_finish(&q, &leader, &leader, LSMKV_WOULD_BLOCK, &err);
    assert_int_equal(leader.rc, LSMKV_WOULD_BLOCK);
    /* ...and the follower leads its own write. */
    pthread_join(t, NULL);
    assert_true(f.led);
    assert_int_equal(f.entry.rc, LSMKV_OK);
    write_queue_fini(&q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_entry_leads),
        cmocka_unit_test(test_no_wait_entry_joins_only_behind_no_wait_entries),
        cmocka_unit_test(test_a_failed_leader_passes_leadership_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
