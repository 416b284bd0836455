#include "memtable_manager.h"

#include "buffer.h"
#include "deadline.h"
#include "status.h"
#include "table_info.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#define FLUSH_RETRY_FIRST_MS 100
#define FLUSH_RETRY_MAX_MS   5000
#define SLOWDOWN_MICROS      1000

/* A queued immutable memtable. Lives until the queue and every waiter let go. */
struct memtable_flush_ticket {
    memtable *mem;
    uint64_t wal_number;
    uint64_t next_wal_number;
    int refs;  /* mm->mutex */
    bool done; /* mm->mutex: flushed and installed */
    lsmkv_table_list written;
    memtable_flush_ticket *next; /* towards newer */
};

struct memtable_manager {
    size_t memtable_bytes;
    int max_immutables;
    memtable_flush_fn flush;
    void *flush_ctx;
    const logger *log;
    pthread_t thread;

    pthread_mutex_t mutex;  /* guards everything below */
    pthread_cond_t work;    /* flush thread: something queued, stop, or retry now */
    pthread_cond_t flushed; /* waiters and stalled writers: an attempt finished */
    memtable *active;
    uint64_t active_wal_number;
    memtable_flush_ticket *oldest, *newest; /* the flush queue */
    int queued;
    bool stopping;
    bool failing;      /* the last flush attempt failed */
    uint64_t attempts; /* flush attempts finished, successful or not */
    lsmkv_error last_error;
    uint64_t flushes, slowdowns, stalls, stall_micros;
};

/* ---- tickets ------------------------------------------------------------------ */

/* Caller holds mm->mutex. */
static void
ticket_release(memtable_flush_ticket *t)
{
    if (--t->refs > 0) {
        return;
    }
    memtable_unref(t->mem);
    lsmkv_table_list_fini(&t->written);
    free(t);
}

/* ---- the flush thread ---------------------------------------------------------- */

/* Records a finished attempt at the oldest memtable. Caller holds mm->mutex. */
static void
flush_finished(memtable_manager *mm, int rc, lsmkv_table_list *written, const lsmkv_error *e)
{
    mm->attempts++;
    if (rc == LSMKV_OK) {
        memtable_flush_ticket *t = mm->oldest;
        t->written = *written;
        t->done = true;
        mm->oldest = t->next;
        if (mm->oldest == NULL) {
            mm->newest = NULL;
        }
        mm->queued--;
        mm->flushes++;
        mm->failing = false;
        ticket_release(t);
    } else {
        mm->failing = true;
        mm->last_error = *e;
        lsmkv_table_list_fini(written);
    }
    pthread_cond_broadcast(&mm->flushed);
}

static void *
flush_thread_main(void *arg)
{
    memtable_manager *mm = arg;
    long retry_ms = FLUSH_RETRY_FIRST_MS;
    pthread_mutex_lock(&mm->mutex);
    for (;;) {
        while (!mm->stopping && mm->oldest == NULL) {
            pthread_cond_wait(&mm->work, &mm->mutex);
        }
        /* At close, drain the queue unless flushing is failing: the data is in
         * the WAL either way, and a failing disk should not hang close. */
        if (mm->oldest == NULL || (mm->stopping && mm->failing)) {
            break;
        }
        memtable_flush_ticket *t = mm->oldest;
        pthread_mutex_unlock(&mm->mutex);
        lsmkv_table_list written = {0};
        lsmkv_error e = {0};
        int rc = mm->flush(mm->flush_ctx, t->mem, t->wal_number, t->next_wal_number, &written, &e);
        if (rc != LSMKV_OK) {
            log_error(mm->log, "flush of WAL segment %" PRIu64 " failed (retrying): %s",
                      t->wal_number, e.message);
        }
        pthread_mutex_lock(&mm->mutex);
        flush_finished(mm, rc, &written, &e);
        if (rc == LSMKV_OK) {
            retry_ms = FLUSH_RETRY_FIRST_MS;
        } else if (!mm->stopping) {
            struct timespec pause;
            deadline_in_ms(&pause, (uint64_t)retry_ms);
            pthread_cond_timedwait(&mm->work, &mm->mutex, &pause);
            retry_ms = retry_ms * 2 > FLUSH_RETRY_MAX_MS ? FLUSH_RETRY_MAX_MS : retry_ms * 2;
        }
    }
    pthread_mutex_unlock(&mm->mutex);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int
memtable_manager_new(const memtable_manager_options *options, uint64_t wal_number,
                     memtable_manager **out, lsmkv_error *err)
{
    memtable_manager *mm = xcalloc(1, sizeof(*mm));
    mm->memtable_bytes = options->memtable_bytes;
    mm->max_immutables = options->max_immutables;
    mm->flush = options->flush;
    mm->flush_ctx = options->flush_ctx;
    mm->log = options->log;
    mm->active = memtable_new();
    mm->active_wal_number = wal_number;

    pthread_mutex_init(&mm->mutex, NULL);
    deadline_cond_init(&mm->work);
    deadline_cond_init(&mm->flushed);

    int e = pthread_create(&mm->thread, NULL, flush_thread_main, mm);
    if (e != 0) {
        memtable_unref(mm->active);
        free(mm);
        return status_set_errno(err, e, "start the flush thread");
    }
    *out = mm;
    return LSMKV_OK;
}

void
memtable_manager_free(memtable_manager *mm)
{
    if (mm == NULL) {
        return;
    }
    pthread_mutex_lock(&mm->mutex);
    mm->stopping = true;
    pthread_cond_signal(&mm->work);
    pthread_mutex_unlock(&mm->mutex);
    pthread_join(mm->thread, NULL);

    while (mm->oldest != NULL) { /* left when flushing failed; their WAL stays */
        memtable_flush_ticket *t = mm->oldest;
        mm->oldest = t->next;
        ticket_release(t);
    }
    memtable_unref(mm->active);
    pthread_cond_destroy(&mm->work);
    pthread_cond_destroy(&mm->flushed);
    pthread_mutex_destroy(&mm->mutex);
    free(mm);
}

/* ---- write path ------------------------------------------------------------------ */

memtable *
memtable_manager_active(memtable_manager *mm)
{
    return mm->active; /* only the write leader changes it */
}

uint64_t
memtable_manager_active_wal_number(memtable_manager *mm)
{
    return mm->active_wal_number;
}

bool
memtable_manager_active_is_full(memtable_manager *mm)
{
    return memtable_approximate_bytes(mm->active) >= mm->memtable_bytes;
}

/*
 * Waits while the queue is full and a rotation is due. While flushing fails,
 * a writer gets the error at once; a manual flush (for_rotation) first asks
 * the thread to retry now, as waiting for a flush does, and fails only if
 * that attempt fails too. Caller holds mutex.
 */
static int
stall_until_room(memtable_manager *mm, bool for_rotation, const struct timespec *deadline,
                 lsmkv_error *err)
{
    struct timespec start;
    bool counted = false, retry_asked = false;
    uint64_t attempts_at_ask = 0;
    int rc = LSMKV_OK;
    while (rc == LSMKV_OK && mm->queued >= mm->max_immutables &&
           (for_rotation || memtable_manager_active_is_full(mm))) {
        if (mm->failing && (!for_rotation || (retry_asked && mm->attempts > attempts_at_ask))) {
            rc = status_copy(err, &mm->last_error);
            break;
        }
        if (mm->failing && !retry_asked) {
            retry_asked = true;
            attempts_at_ask = mm->attempts;
            pthread_cond_signal(&mm->work);
        }
        if (!counted) {
            deadline_now(&start);
            mm->stalls++;
            counted = true;
        }
        if (deadline == NULL) {
            pthread_cond_wait(&mm->flushed, &mm->mutex);
        } else if (pthread_cond_timedwait(&mm->flushed, &mm->mutex, deadline) == ETIMEDOUT) {
            rc = status_set(err, LSMKV_TIMED_OUT,
                            "write stalled past its deadline: %d memtables waiting for flush",
                            mm->queued);
        }
    }
    if (counted) {
        mm->stall_micros += deadline_micros_since(&start);
    }
    return rc;
}

/* Writers are slowed once the flush queue is full and the active memtable
 * half full. Caller holds mutex. */
static bool
slowdown_due(memtable_manager *mm)
{
    return mm->queued >= mm->max_immutables &&
           memtable_approximate_bytes(mm->active) >= mm->memtable_bytes / 2;
}

bool
memtable_manager_would_wait(memtable_manager *mm)
{
    pthread_mutex_lock(&mm->mutex);
    bool wait = memtable_manager_active_is_full(mm) || slowdown_due(mm);
    pthread_mutex_unlock(&mm->mutex);
    return wait;
}

int
memtable_manager_make_room(memtable_manager *mm, bool for_rotation, const struct timespec *deadline,
                           lsmkv_error *err)
{
    pthread_mutex_lock(&mm->mutex);
    bool slow = !for_rotation && slowdown_due(mm) && !memtable_manager_active_is_full(mm);
    if (slow) {
        /* Give the flush thread the CPU a little before writers must stop. */
        mm->slowdowns++;
        pthread_mutex_unlock(&mm->mutex);
        struct timespec pause = {0, SLOWDOWN_MICROS * 1000L};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&mm->mutex);
    }
    int rc = stall_until_room(mm, for_rotation, deadline, err);
    pthread_mutex_unlock(&mm->mutex);
    return rc;
}

void
memtable_manager_rotate(memtable_manager *mm, uint64_t new_wal_number,
                        memtable_flush_ticket **ticket)
{
    memtable_flush_ticket *t = xcalloc(1, sizeof(*t));
    memtable *fresh = memtable_new();
    pthread_mutex_lock(&mm->mutex);
    t->mem = mm->active;
    t->wal_number = mm->active_wal_number;
    t->next_wal_number = new_wal_number;
    t->refs = ticket != NULL ? 2 : 1;
    if (mm->newest != NULL) {
        mm->newest->next = t;
    } else {
        mm->oldest = t;
    }
    mm->newest = t;
    mm->queued++;
    mm->active = fresh;
    mm->active_wal_number = new_wal_number;
    pthread_cond_signal(&mm->work);
    pthread_mutex_unlock(&mm->mutex);
    if (ticket != NULL) {
        *ticket = t;
    }
}

/* ---- waiting for flushes ---------------------------------------------------------- */

/*
 * Waits until done() holds or an attempt that started after this call fails.
 * When flushing is failing already, the thread is asked to retry now rather
 * than after its pause. Caller holds mutex.
 */
static int
wait_for(memtable_manager *mm, bool (*done)(memtable_manager *, void *), void *arg,
         lsmkv_error *err)
{
    uint64_t attempts_at_start = mm->attempts;
    if (mm->failing) {
        pthread_cond_signal(&mm->work);
    }
    while (!done(mm, arg)) {
        if (mm->failing && mm->attempts > attempts_at_start) {
            return status_copy(err, &mm->last_error);
        }
        pthread_cond_wait(&mm->flushed, &mm->mutex);
    }
    return LSMKV_OK;
}

static bool
ticket_done(memtable_manager *mm, void *arg)
{
    return ((memtable_flush_ticket *)arg)->done;
}

static bool
queue_empty(memtable_manager *mm, void *arg)
{
    return mm->oldest == NULL;
}

int
memtable_manager_wait_flushed(memtable_manager *mm, memtable_flush_ticket *ticket,
                              lsmkv_table_list *written, lsmkv_error *err)
{
    pthread_mutex_lock(&mm->mutex);
    int rc = wait_for(mm, ticket_done, ticket, err);
    for (size_t i = 0; rc == LSMKV_OK && written != NULL && i < ticket->written.count; i++) {
        table_list_append(written, &ticket->written.tables[i]);
    }
    ticket_release(ticket);
    pthread_mutex_unlock(&mm->mutex);
    return rc;
}

int
memtable_manager_wait_idle(memtable_manager *mm, lsmkv_error *err)
{
    pthread_mutex_lock(&mm->mutex);
    int rc = wait_for(mm, queue_empty, NULL, err);
    pthread_mutex_unlock(&mm->mutex);
    return rc;
}

/* ---- reads --------------------------------------------------------------------------- */

void
memtable_manager_snapshot(memtable_manager *mm, memtable **out, size_t *count)
{
    pthread_mutex_lock(&mm->mutex);
    size_t n = 0;
    out[n++] = mm->active;
    memtable_ref(mm->active);
    /* The queue runs oldest → newest; readers want newest first. */
    size_t first_queued = n;
    for (memtable_flush_ticket *t = mm->oldest; t != NULL; t = t->next) {
        out[n++] = t->mem;
        memtable_ref(t->mem);
    }
    pthread_mutex_unlock(&mm->mutex);
    for (size_t i = first_queued, j = n - 1; i < j; i++, j--) {
        memtable *tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
    *count = n;
}

bool
memtable_manager_get(memtable_manager *mm, slice user_key, uint64_t snapshot, lookup_result *result)
{
    memtable *mems[MEMTABLE_MANAGER_MAX_IMMUTABLES + 1];
    size_t count;
    memtable_manager_snapshot(mm, mems, &count);
    bool found = false;
    for (size_t i = 0; i < count && !found; i++) {
        found = memtable_get(mems[i], user_key, snapshot, result);
    }
    for (size_t i = 0; i < count; i++) {
        memtable_unref(mems[i]);
    }
    return found;
}

void
memtable_manager_stats(memtable_manager *mm, lsmkv_stats *stats)
{
    pthread_mutex_lock(&mm->mutex);
    stats->memtable_entries = memtable_entries(mm->active);
    stats->memtable_bytes = memtable_approximate_bytes(mm->active);
    stats->immutable_memtables = (uint64_t)mm->queued;
    stats->immutable_bytes = 0;
    for (memtable_flush_ticket *t = mm->oldest; t != NULL; t = t->next) {
        stats->immutable_bytes += memtable_approximate_bytes(t->mem);
    }
    stats->flushes = mm->flushes;
    stats->write_slowdowns = mm->slowdowns;
    stats->write_stalls = mm->stalls;
    stats->stall_micros = mm->stall_micros;
    pthread_mutex_unlock(&mm->mutex);
}
