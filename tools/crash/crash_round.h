/*
 * One round of lsmkv-crash, in two halves.
 *
 * crash_round_run: W writer threads put and delete keys of their own ranges
 * through the C client, now and then several at once in an atomic Batch call,
 * recording each operation (a batch is one) in the model before it is sent and
 * as acknowledged when the server answers OK; a maintenance thread calls Flush
 * (and now and then Compact) every few acknowledged operations.
 * When the kill_after-th operation is acknowledged, the writer that saw it
 * kills the server with SIGKILL on the spot, while the other writers and the
 * maintenance call are in the middle of theirs: the crash point is counted in
 * acknowledged operations, not timed with sleeps. Every thread then stops at
 * its next failed call, leaving at most one operation in flight per writer.
 *
 * crash_round_check: after the restart, W threads Get every key of their
 * writer and judge it with the model (crash_model_check), then judge the
 * writer's operation in flight as a whole (crash_model_end_round): a batch
 * must show all or none of its ops.
 */
#ifndef LSMKV_TOOLS_CRASH_ROUND_H
#define LSMKV_TOOLS_CRASH_ROUND_H

#include "crash_model.h"
#include "crash_server.h"

#include <stdint.h>

#define CRASH_MAX_REPORTED 10 /* losses, phantoms and torn batches described per check */

typedef struct crash_round_config {
    uint64_t seed;
    uint32_t round;           /* 1-based */
    uint64_t kill_after;      /* acknowledged operations before the kill */
    uint32_t flush_every;     /* mean acknowledged operations between Flush/Compact calls */
    uint32_t compact_percent; /* of those calls, the share that are Compact */
    uint32_t delete_percent;  /* of writes, the share that are deletes */
    uint32_t batch_every;     /* one write call in batch_every is a Batch (0: none) */
    uint32_t timeout_ms;      /* of every call */
    const crash_server *server;
} crash_round_config;

typedef struct crash_round_result {
    uint64_t puts; /* acknowledged single puts */
    uint64_t deletes;
    uint64_t batches;   /* acknowledged Batch calls ... */
    uint64_t batch_ops; /* ... and their puts and deletes */
    uint64_t flushes;
    uint64_t compactions;
    uint64_t in_flight;         /* writes sent and not answered when the server died */
    uint64_t batches_in_flight; /* of them, batches */
    bool maintenance_cut;       /* a Flush or Compact was running when the server died */
    uint64_t errors;            /* calls that failed before the kill */
    char first_error[600];
} crash_round_result;

/* Runs the writers until the server is killed (it is, when this returns; not yet reaped). */
void crash_round_run(crash_model *m, const crash_round_config *c, crash_round_result *r);

typedef struct crash_check_result {
    uint64_t keys;
    uint64_t losses;
    uint64_t phantoms;
    uint64_t applied;     /* writes in flight at the kill that turned out applied */
    uint64_t not_applied; /* ... and that did not (or could not tell) */
    uint64_t torn;        /* batches in flight with some ops applied and others not */
    uint64_t batches;     /* batches in flight at the kill (counted in one of the three) */
    uint64_t batches_applied;
    uint64_t errors; /* Gets that failed */
    char first_error[600];
    int reported; /* entries of report */
    char report[CRASH_MAX_REPORTED][400];
} crash_check_result;

/* Reads every key of every writer from the server at url and judges it; ends
 * each writer's round in the model. */
void crash_round_check(crash_model *m, const char *url, uint32_t timeout_ms, crash_check_result *r);

#endif
