/*
 * Memtable manager: the active memtable that takes writes, and the queue of
 * full (immutable) memtables waiting to be flushed by a background thread
 * (the seed's MemtableManager, in C).
 *
 * Rotation: when the active memtable is full the store's write leader calls
 * memtable_manager_rotate; the memtable joins the queue and a new one starts
 * (each with its own WAL segment, whose numbers the manager remembers so the
 * flush can say which segments it covers).
 *
 * Back-pressure: with max_immutables memtables queued, a write group that
 * finds the active memtable over half full is delayed 1 ms (a slowdown), and
 * one that finds it full waits for a flush (a stall). Writes never fail for
 * being early; they fail only if the flush itself is failing (its error is
 * returned) or the caller's deadline passes (LSMKV_TIMED_OUT).
 *
 * Flush: the thread takes the oldest queued memtable, hands it to the flush
 * callback, and drops it from the queue only once the callback has made it
 * durable; so a reader that does not find a key in the memtables finds it in
 * the SSTables. A failed flush is retried with a growing pause (the memtable
 * stays readable and its WAL segment stays on disk).
 *
 * Locking: one mutex guards the active pointer swap, the queue and the
 * counters; readers take references to the memtables under it and search
 * without it. Only the write leader adds to the active memtable.
 */
#ifndef LSMKV_ENGINE_MEMTABLE_MANAGER_H
#define LSMKV_ENGINE_MEMTABLE_MANAGER_H

#include "log.h"
#include "memtable.h"

#include <time.h>

/* The most immutable memtables a store may be configured to queue. */
#define MEMTABLE_MANAGER_MAX_IMMUTABLES 16

/*
 * Writes mem to SSTables and records, in the same manifest update, that WAL
 * segments below next_wal_number are covered; appends what it wrote to
 * *written. Runs on the flush thread.
 */
typedef int (*memtable_flush_fn)(void *ctx, memtable *mem, uint64_t wal_number,
                                 uint64_t next_wal_number, lsmkv_table_list *written,
                                 lsmkv_error *err);

typedef struct memtable_manager_options {
    size_t memtable_bytes;
    int max_immutables;
    memtable_flush_fn flush;
    void *flush_ctx;
    const logger *log; /* must outlive the manager */
} memtable_manager_options;

typedef struct memtable_manager memtable_manager;

/* A rotated memtable's place in the flush queue, for waiting on its flush. */
typedef struct memtable_flush_ticket memtable_flush_ticket;

/* Starts the flush thread; the first active memtable logs to WAL segment wal_number. */
int memtable_manager_new(const memtable_manager_options *options, uint64_t wal_number,
                         memtable_manager **out, lsmkv_error *err);

/*
 * Waits for queued memtables to be flushed (giving up if flushing fails),
 * stops and joins the flush thread, and frees everything. Data left in
 * memtables stays in its WAL segments. NULL is a no-op.
 */
void memtable_manager_free(memtable_manager *mm);

/* ---- write path: the caller is the store's single write leader -------------- */

/* The memtable to add to. Borrowed: valid until the caller's next rotate. */
memtable *memtable_manager_active(memtable_manager *mm);
/* WAL segment number of the active memtable. */
uint64_t memtable_manager_active_wal_number(memtable_manager *mm);
/* The active memtable reached memtable_bytes. */
bool memtable_manager_active_is_full(memtable_manager *mm);

/*
 * Whether a write group would have to wait for memtable_manager_make_room
 * (slowed down or stalled) or for a switch of memtables (the active one is
 * full) now.
 */
bool memtable_manager_would_wait(memtable_manager *mm);

/*
 * Applies back-pressure before a write group (see the header comment), or
 * before a manual flush's rotation (for_rotation: wait until the queue has
 * room whatever the active memtable's size). deadline may be NULL (no limit),
 * else CLOCK_MONOTONIC. Returns LSMKV_OK when there is room, the flush error
 * while flushes fail (for_rotation: first the thread retries at once, and the
 * error comes only if that attempt fails too), LSMKV_TIMED_OUT past the
 * deadline. After LSMKV_OK the queue holds fewer than max_immutables
 * memtables if the active one is full.
 */
int memtable_manager_make_room(memtable_manager *mm, bool for_rotation,
                               const struct timespec *deadline, lsmkv_error *err);

/*
 * Queues the active memtable (it must not be empty) for flush and starts a new
 * one whose WAL segment is new_wal_number. ticket (may be NULL) receives a
 * handle to wait on with memtable_manager_wait_flushed.
 */
void memtable_manager_rotate(memtable_manager *mm, uint64_t new_wal_number,
                             memtable_flush_ticket **ticket);

/* ---- any thread ------------------------------------------------------------- */

/*
 * Waits until the ticket's memtable (and so every older one) is flushed and
 * appends the tables written for it to *written (may be NULL); or returns the
 * flush error if an attempt fails meanwhile. Releases the ticket either way.
 */
int memtable_manager_wait_flushed(memtable_manager *mm, memtable_flush_ticket *ticket,
                                  lsmkv_table_list *written, lsmkv_error *err);

/* Waits until the queue is empty, or returns the flush error if an attempt fails. */
int memtable_manager_wait_idle(memtable_manager *mm, lsmkv_error *err);

/* Newest version at or below snapshot in the active and then queued memtables. */
bool memtable_manager_get(memtable_manager *mm, slice user_key, uint64_t snapshot,
                          lookup_result *result);

/*
 * References every memtable, newest first, into out[0..*count); out must hold
 * MEMTABLE_MANAGER_MAX_IMMUTABLES + 1 entries. Release each with memtable_unref.
 */
void memtable_manager_snapshot(memtable_manager *mm, memtable **out, size_t *count);

/* Fills the memtable and flush fields of *stats. */
void memtable_manager_stats(memtable_manager *mm, lsmkv_stats *stats);

#endif
