/*
 * Write queue: the discipline of group commit (after LevelDB's writers
 * queue). Every write joins the queue; the entry at its head is the leader.
 * The leader takes the entries queued behind it as one group, does the
 * group's work (the store: one WAL append, one fsync, the memtable inserts)
 * without holding the queue's lock, then finishes the group: each member
 * gets the result and wakes, and leadership passes to the next entry.
 * Being the leader is exclusive, so state that only the leader touches
 * needs no lock.
 */
#ifndef LSMKV_ENGINE_WRITE_QUEUE_H
#define LSMKV_ENGINE_WRITE_QUEUE_H

#include "write_batch.h"

#include <pthread.h>

typedef struct write_queue_entry {
    write_batch *batch; /* NULL: a request that must run alone (e.g. a manual flush) */
    bool sync;          /* wants an fsync before it is acknowledged */
    bool no_wait;       /* its writer must not wait for a flush, a stall or an fsync */
    /* Set by write_queue_finish. */
    bool done;
    int rc;
    lsmkv_error err;
    pthread_cond_t cond;
    struct write_queue_entry *next;
} write_queue_entry;

typedef struct write_queue {
    pthread_mutex_t mutex; /* guards the list and every entry's done/rc/err */
    write_queue_entry *head, *tail;
    int may_block; /* entries without no_wait in the list */
} write_queue;

void write_queue_init(write_queue *q);
void write_queue_fini(write_queue *q);

/*
 * Adds e (batch and sync set, the rest zeroed) and waits for its turn.
 * Returns true when e became the leader: the caller runs a group and must
 * call write_queue_finish. Returns false when a leader completed e (e->rc,
 * e->err hold the result).
 */
bool write_queue_join(write_queue *q, write_queue_entry *e);

/*
 * For an entry with no_wait set: joins, as write_queue_join, only a queue
 * whose entries all have no_wait set, whose leaders never wait for a flush,
 * a stall or an fsync (they give up instead), so waiting behind them is
 * waiting for memory work and a copy into the WAL. Returns false without joining if
 * an entry that may block is queued; otherwise true, with *leader as
 * write_queue_join's result.
 */
bool write_queue_join_no_wait(write_queue *q, write_queue_entry *e, bool *leader);

/*
 * The last entry of the leader's group: the writes queued behind it, up to a
 * byte budget, that can share its WAL write. A request without a batch runs
 * alone, and a sync write does not ride on a non-sync leader (which would pay
 * for an fsync it did not ask for).
 */
write_queue_entry *write_queue_group(write_queue *q, write_queue_entry *leader);

/* Completes leader..last with rc (and err when not OK) and passes leadership on. */
void write_queue_finish(write_queue *q, write_queue_entry *leader, write_queue_entry *last, int rc,
                        const lsmkv_error *err);

#endif
