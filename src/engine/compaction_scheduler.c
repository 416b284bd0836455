#include "compaction_scheduler.h"

#include "buffer.h"
#include "deadline.h"
#include "status.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define RETRY_FIRST_MS  100
#define RETRY_MAX_MS    5000
#define SLOWDOWN_MICROS 1000

struct compaction_scheduler {
    compaction_scheduler_options options;
    pthread_t thread;
    pthread_mutex_t mutex;  /* guards everything below */
    pthread_cond_t changed; /* the table set changed, a compaction failed, or stop */
    bool stopping;
    bool failing; /* the last compaction attempt failed */
    lsmkv_error error;
    uint64_t slowdowns, stalls, stall_micros;
};

/* ---- the thread ------------------------------------------------------------------ */

/* Pauses for ms (caller holds mutex); only stopping cuts the pause short. */
static void
pause_ms(compaction_scheduler *cs, long ms)
{
    struct timespec deadline;
    deadline_in_ms(&deadline, (uint64_t)ms);
    while (!cs->stopping &&
           pthread_cond_timedwait(&cs->changed, &cs->mutex, &deadline) != ETIMEDOUT) {
    }
}

/* Records an attempt's outcome (caller holds mutex); a failure pauses the thread. */
static void
attempt_finished(compaction_scheduler *cs, int rc, const lsmkv_error *e, long *retry_ms)
{
    if (rc == LSMKV_OK || cs->stopping) {
        cs->failing = false;
        *retry_ms = RETRY_FIRST_MS;
        return;
    }
    cs->failing = true;
    cs->error = *e;
    pthread_cond_broadcast(&cs->changed); /* stalled writers get the error */
    log_error(cs->options.log, "background compaction failed (retrying): %s", e->message);
    pause_ms(cs, *retry_ms);
    *retry_ms = *retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : *retry_ms * 2;
}

static void *
scheduler_main(void *arg)
{
    compaction_scheduler *cs = arg;
    const compaction_scheduler_options *o = &cs->options;
    long retry_ms = RETRY_FIRST_MS;
    pthread_mutex_lock(&cs->mutex);
    while (!cs->stopping) {
        if (!o->compaction_due(o->ctx)) {
            cs->failing = false; /* nothing left to fail at */
            pthread_cond_wait(&cs->changed, &cs->mutex);
            continue;
        }
        pthread_mutex_unlock(&cs->mutex);
        lsmkv_error e = {0};
        bool did_work;
        int rc = o->compact_once(o->ctx, &did_work, &e);
        pthread_mutex_lock(&cs->mutex);
        attempt_finished(cs, rc, &e, &retry_ms);
    }
    pthread_mutex_unlock(&cs->mutex);
    return NULL;
}

int
compaction_scheduler_start(const compaction_scheduler_options *options, compaction_scheduler **out,
                           lsmkv_error *err)
{
    compaction_scheduler *cs = xcalloc(1, sizeof(*cs));
    cs->options = *options;
    pthread_mutex_init(&cs->mutex, NULL);
    deadline_cond_init(&cs->changed);
    int e = pthread_create(&cs->thread, NULL, scheduler_main, cs);
    if (e != 0) {
        pthread_cond_destroy(&cs->changed);
        pthread_mutex_destroy(&cs->mutex);
        free(cs);
        return status_set_errno(err, e, "start the compaction thread");
    }
    *out = cs;
    return LSMKV_OK;
}

void
compaction_scheduler_stop(compaction_scheduler *cs)
{
    if (cs == NULL) {
        return;
    }
    pthread_mutex_lock(&cs->mutex);
    cs->stopping = true;
    pthread_cond_broadcast(&cs->changed);
    pthread_mutex_unlock(&cs->mutex);
    pthread_join(cs->thread, NULL);
    pthread_cond_destroy(&cs->changed);
    pthread_mutex_destroy(&cs->mutex);
    free(cs);
}

void
compaction_scheduler_notify(compaction_scheduler *cs)
{
    if (cs == NULL) {
        return;
    }
    pthread_mutex_lock(&cs->mutex);
    pthread_cond_broadcast(&cs->changed);
    pthread_mutex_unlock(&cs->mutex);
}

/* ---- the throttle ------------------------------------------------------------------ */

/* Waits while level 0 is at the stop trigger. Caller holds mutex. */
static int
stall(compaction_scheduler *cs, const struct timespec *deadline, lsmkv_error *err)
{
    const compaction_scheduler_options *o = &cs->options;
    struct timespec start;
    bool counted = false;
    int rc = LSMKV_OK;
    size_t level0;
    while (rc == LSMKV_OK && !cs->stopping &&
           (level0 = o->level0_tables(o->ctx)) >= (size_t)o->level0_stop_trigger) {
        if (cs->failing) {
            rc = status_copy(err, &cs->error);
            break;
        }
        if (!counted) {
            deadline_now(&start);
            cs->stalls++;
            counted = true;
        }
        if (deadline == NULL) {
            pthread_cond_wait(&cs->changed, &cs->mutex);
        } else if (pthread_cond_timedwait(&cs->changed, &cs->mutex, deadline) == ETIMEDOUT) {
            rc = status_set(err, LSMKV_TIMED_OUT,
                            "write stalled past its deadline: %zu level-0 tables await compaction",
                            level0);
        }
    }
    if (counted) {
        cs->stall_micros += deadline_micros_since(&start);
    }
    return rc;
}

bool
compaction_scheduler_would_throttle(compaction_scheduler *cs)
{
    if (cs == NULL) {
        return false;
    }
    const compaction_scheduler_options *o = &cs->options;
    pthread_mutex_lock(&cs->mutex);
    bool slowed = o->level0_tables(o->ctx) >= (size_t)o->level0_slowdown_trigger;
    pthread_mutex_unlock(&cs->mutex);
    return slowed;
}

int
compaction_scheduler_throttle(compaction_scheduler *cs, const struct timespec *deadline,
                              lsmkv_error *err)
{
    if (cs == NULL) {
        return LSMKV_OK;
    }
    const compaction_scheduler_options *o = &cs->options;
    pthread_mutex_lock(&cs->mutex);
    size_t level0 = o->level0_tables(o->ctx);
    if (level0 >= (size_t)o->level0_slowdown_trigger && level0 < (size_t)o->level0_stop_trigger) {
        /* Give compaction the CPU a little before writers must stop. */
        cs->slowdowns++;
        pthread_mutex_unlock(&cs->mutex);
        struct timespec pause = {0, SLOWDOWN_MICROS * 1000L};
        nanosleep(&pause, NULL);
        return LSMKV_OK;
    }
    int rc = stall(cs, deadline, err);
    pthread_mutex_unlock(&cs->mutex);
    return rc;
}

void
compaction_scheduler_stats(compaction_scheduler *cs, lsmkv_stats *stats)
{
    if (cs == NULL) {
        return;
    }
    pthread_mutex_lock(&cs->mutex);
    stats->write_slowdowns += cs->slowdowns;
    stats->write_stalls += cs->stalls;
    stats->stall_micros += cs->stall_micros;
    pthread_mutex_unlock(&cs->mutex);
}
