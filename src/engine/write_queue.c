#include "write_queue.h"

#include <assert.h>

/* A group's byte budget: large enough to amortise an fsync over many writes,
 * small enough that a small write is not held up by a huge group. */
#define GROUP_MAX_BYTES   (1u << 20)
#define GROUP_SMALL_BYTES (128u << 10)

void
write_queue_init(write_queue *q)
{
    pthread_mutex_init(&q->mutex, NULL);
    q->head = q->tail = NULL;
    q->may_block = 0;
}

void
write_queue_fini(write_queue *q)
{
    pthread_mutex_destroy(&q->mutex);
}

/* Appends e and waits for its turn. Requires mutex; returns with it released. */
static bool
join_locked(write_queue *q, write_queue_entry *e)
{
    pthread_cond_init(&e->cond, NULL);
    e->done = false;
    e->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = e;
    } else {
        q->head = e;
    }
    q->tail = e;
    q->may_block += !e->no_wait;
    while (!e->done && e != q->head) {
        pthread_cond_wait(&e->cond, &q->mutex);
    }
    bool leader = !e->done;
    pthread_mutex_unlock(&q->mutex);
    if (!leader) {
        pthread_cond_destroy(&e->cond);
    }
    return leader;
}

bool
write_queue_join(write_queue *q, write_queue_entry *e)
{
    pthread_mutex_lock(&q->mutex);
    return join_locked(q, e);
}

bool
write_queue_join_no_wait(write_queue *q, write_queue_entry *e, bool *leader)
{
    assert(e->no_wait);
    pthread_mutex_lock(&q->mutex);
    if (q->may_block > 0) {
        pthread_mutex_unlock(&q->mutex);
        return false;
    }
    *leader = join_locked(q, e);
    return true;
}

write_queue_entry *
write_queue_group(write_queue *q, write_queue_entry *leader)
{
    pthread_mutex_lock(&q->mutex);
    size_t bytes = write_batch_contents(leader->batch).len;
    size_t limit = bytes < GROUP_SMALL_BYTES ? bytes + GROUP_SMALL_BYTES : GROUP_MAX_BYTES;
    write_queue_entry *last = leader;
    for (write_queue_entry *e = leader->next; e != NULL; e = e->next) {
        if (e->batch == NULL || (e->sync && !leader->sync)) {
            break;
        }
        bytes += write_batch_contents(e->batch).len;
        if (bytes > limit) {
            break;
        }
        last = e;
    }
    pthread_mutex_unlock(&q->mutex);
    return last;
}

void
write_queue_finish(write_queue *q, write_queue_entry *leader, write_queue_entry *last, int rc,
                   const lsmkv_error *err)
{
    pthread_mutex_lock(&q->mutex);
    for (;;) {
        write_queue_entry *e = q->head;
        q->head = e->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        q->may_block -= !e->no_wait;
        e->rc = rc;
        if (rc != LSMKV_OK) {
            e->err = *err;
        }
        e->done = true;
        if (e != leader) {
            pthread_cond_signal(&e->cond);
        }
        if (e == last) {
            break;
        }
    }
    if (q->head != NULL) {
        pthread_cond_signal(&q->head->cond); /* the next leader */
    }
    pthread_mutex_unlock(&q->mutex);
    pthread_cond_destroy(&leader->cond);
}
