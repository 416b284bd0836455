/*
 * Compaction scheduler: the background thread that keeps the SSTable levels
 * in shape, and the throttle that holds writers back while level 0 piles up.
 *
 * The SSTable manager calls compaction_scheduler_notify whenever its table
 * set changes; the thread then asks it to run one compaction at a time
 * (compact_once) until none is due (compaction_due). A failed compaction is
 * retried after a pause that doubles from 100 ms to 5 s; while compactions
 * fail, writers stopped by the throttle get the error instead of waiting.
 *
 * Lock order: the scheduler's mutex, then whatever the callbacks take (the
 * manager's mutex); the manager calls notify without holding its own.
 */
#ifndef LSMKV_ENGINE_COMPACTION_SCHEDULER_H
#define LSMKV_ENGINE_COMPACTION_SCHEDULER_H

#include "log.h"
#include "lsmkv/lsmkv.h"

#include <time.h>

typedef struct compaction_scheduler_options {
    /* Runs one compaction if one is due; *did_work says whether one ran. */
    int (*compact_once)(void *ctx, bool *did_work, lsmkv_error *err);
    bool (*compaction_due)(void *ctx);
    size_t (*level0_tables)(void *ctx);
    void *ctx;
    int level0_slowdown_trigger; /* writes are delayed 1 ms from here */
    int level0_stop_trigger;     /* writes wait from here */
    const logger *log;
} compaction_scheduler_options;

typedef struct compaction_scheduler compaction_scheduler;

/* Starts the thread. */
int compaction_scheduler_start(const compaction_scheduler_options *options,
                               compaction_scheduler **out, lsmkv_error *err);

/* Stops the thread (after the compaction under way, if any) and frees. NULL is a no-op. */
void compaction_scheduler_stop(compaction_scheduler *cs);

/* The table set changed: a compaction may be due, a stall may be over. */
void compaction_scheduler_notify(compaction_scheduler *cs);

/*
 * Back-pressure before a write group: returns at once below the slowdown
 * trigger, after a 1 ms pause below the stop trigger, and otherwise waits for
 * compaction to bring level 0 down — or returns the failing compaction's
 * error, or LSMKV_TIMED_OUT past the deadline (CLOCK_MONOTONIC; NULL: none).
 */
/* Whether compaction_scheduler_throttle would pause or wait now (level 0 at
 * the slowdown trigger or beyond); false for NULL. */
bool compaction_scheduler_would_throttle(compaction_scheduler *cs);

int compaction_scheduler_throttle(compaction_scheduler *cs, const struct timespec *deadline,
                                  lsmkv_error *err);

/* Adds the throttle's slowdowns, stalls and stall time to *stats. */
void compaction_scheduler_stats(compaction_scheduler *cs, lsmkv_stats *stats);

#endif
