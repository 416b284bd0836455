/*
 * The store (the seed's LSMKVStore): the public lsmkv_* API. It owns the WAL
 * and the sequence numbers and coordinates the memtable manager (writes,
 * rotation, background flush) and the SSTable manager (tables, manifest,
 * compaction); recovery.c brings a store back at open.
 *
 * Write path (group commit, after LevelDB's writer queue): every write joins a
 * queue; the writer at its head becomes the leader, takes the writes queued
 * behind it as one group, and does for all of them, with no lock held:
 *   1. back-pressure (level 0 piling up, then memtables awaiting flush) and,
 *      if the memtable is full, rotation to a new segment;
 *   2. one WAL append of every batch, then one fsync if any writer asked for it;
 *   3. the memtable inserts;
 *   4. publishing the group's last sequence, which makes it visible to reads.
 * Followers sleep until the leader marks them done. A write is acknowledged
 * only after steps 2 and 3, so under sync=always every acknowledged write is on
 * disk. If the WAL append or fsync fails (or the fsync of a full segment at
 * rotation), the segment's tail is unknown: the store turns read-only until
 * it is reopened (recovery then cuts the tail).
 *
 * Reads reference the memtables, then the SSTable version, and only then take
 * the published sequence as their snapshot (see store_lookup for why this
 * order); they search the memtables newest first, then the SSTables; a
 * memtable leaves the manager only after its table is installed, so nothing
 * falls between the two.
 */
#include "lsmkv/lsmkv.h"

#include "block_cache.h"
#include "buffer.h"
#include "file.h"
#include "filename.h"
#include "log.h"
#include "memtable_manager.h"
#include "merge_iter.h"
#include "recovery.h"
#include "sstable_manager.h"
#include "status.h"
#include "user_iter.h"
#include "version.h"
#include "wal.h"
#include "write_batch.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX_BYTES   (1u << 20)
#define GROUP_SMALL_BYTES (128u << 10)

/* One caller waiting in the write queue. */
typedef struct writer {
    write_batch *batch; /* NULL: a manual flush asking for a rotation */
    bool sync;
    bool has_deadline;
    struct timespec deadline;      /* CLOCK_MONOTONIC */
    memtable_flush_ticket *ticket; /* rotation requests: the rotated memtable */
    bool done;
    int rc;
    lsmkv_error err;
    pthread_cond_t cond;
    struct writer *next;
} writer;

struct lsmkv {
    char *dir;
    lsmkv_options options;
    logger log;
    int lock_fd;
    block_cache *blocks; /* NULL when block_cache_bytes is 0 */
    sstable_manager *sm;
    memtable_manager *mm;

    pthread_mutex_t write_mutex; /* guards the queue and read_only */
    writer *queue_head, *queue_tail;
    bool read_only;
    lsmkv_error read_only_error;

    /* Touched only by the current write leader. */
    wal_writer *wal;
    buffer group_records;

    atomic_uint_fast64_t last_sequence; /* published: visible to reads */
    atomic_uint_fast64_t puts, deletes, gets, user_bytes, wal_bytes, wal_syncs, corruptions;
};

/* ---- options ------------------------------------------------------------------- */

void
lsmkv_options_init(lsmkv_options *o)
{
    memset(o, 0, sizeof(*o));
    o->create_if_missing = true;
    o->sync = LSMKV_SYNC_ALWAYS;
    o->memtable_bytes = 4u << 20;
    o->max_immutables = 2;
    o->block_bytes = 4096;
    o->bloom_bits_per_key = 10;
    o->block_cache_bytes = 8u << 20;
    o->max_open_files = 1000;
    o->mmap_reads = true;
    o->sstable_target_bytes = 64u << 20;
    o->level0_compaction_trigger = 4;
    o->level0_slowdown_trigger = 8;
    o->level0_stop_trigger = 12;
    o->level1_target_bytes = 16u << 20;
    o->level_size_ratio = 10;
    o->max_key_bytes = 64u << 10;
    o->max_value_bytes = 16u << 20;
    o->log_level = LSMKV_LOG_WARN;
}

const char *
lsmkv_version(void)
{
    return LSMKV_VERSION_STRING;
}

void
lsmkv_free(void *ptr)
{
    free(ptr);
}

/* Negative ints arrive as huge values and fail the upper bound. */
static int
check_range(const char *name, uint64_t value, uint64_t lo, uint64_t hi, lsmkv_error *err)
{
    if (value < lo || value > hi) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "option %s is %" PRIu64 "; it must be in [%" PRIu64 ", %" PRIu64 "]",
                          name, value, lo, hi);
    }
    return LSMKV_OK;
}

static int
options_validate(const lsmkv_options *o, lsmkv_error *err)
{
    if (o->sync != LSMKV_SYNC_ALWAYS && o->sync != LSMKV_SYNC_NONE) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "option sync must be ALWAYS or NONE");
    }
    struct {
        const char *name;
        uint64_t value, lo, hi;
    } ranges[] = {
        {"memtable_bytes", o->memtable_bytes, 64u << 10, 1ull << 30},
        {"max_immutables", (uint64_t)(int64_t)o->max_immutables, 1,
         MEMTABLE_MANAGER_MAX_IMMUTABLES},
        {"block_bytes", o->block_bytes, 256, 1u << 20},
        {"bloom_bits_per_key", (uint64_t)(int64_t)o->bloom_bits_per_key, 0, 30},
        {"sstable_target_bytes", o->sstable_target_bytes, 64u << 10, 1ull << 40},
        {"max_key_bytes", o->max_key_bytes, 1, 1u << 20},
        {"max_value_bytes", o->max_value_bytes, 0, 1u << 30},
        {"log_level", (uint64_t)(int64_t)o->log_level, LSMKV_LOG_ERROR, LSMKV_LOG_DEBUG},
        {"level0_compaction_trigger", (uint64_t)(int64_t)o->level0_compaction_trigger, 1, 64},
        {"level0_slowdown_trigger", (uint64_t)(int64_t)o->level0_slowdown_trigger,
         (uint64_t)o->level0_compaction_trigger, 1024},
        {"level0_stop_trigger", (uint64_t)(int64_t)o->level0_stop_trigger,
         (uint64_t)o->level0_slowdown_trigger, 1024},
        {"level1_target_bytes", o->level1_target_bytes, 64u << 10, 1ull << 40},
        {"level_size_ratio", (uint64_t)(int64_t)o->level_size_ratio, 2, 1000},
        {"compression", (uint64_t)(int64_t)o->compression, LSMKV_COMPRESSION_NONE,
         LSMKV_COMPRESSION_ZSTD},
        {"block_cache_bytes", o->block_cache_bytes, 0, 1ull << 40},
        {"max_open_files", (uint64_t)(int64_t)o->max_open_files, 16, 1u << 20},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        int rc = check_range(ranges[i].name, ranges[i].value, ranges[i].lo, ranges[i].hi, err);
        if (rc != LSMKV_OK) {
            return rc;
        }
    }
    return LSMKV_OK;
}

/* ---- open and close ---------------------------------------------------------------- */

/* The flush callback: a memtable becomes a level-0 table; its segment goes. */
static int
store_flush_memtable(void *ctx, memtable *mem, uint64_t wal_number, uint64_t next_wal_number,
                     lsmkv_table_list *written, lsmkv_error *err)
{
    lsmkv *db = ctx;
    iterator *it = memtable_iterator_new(mem);
    size_t before = written->count;
    int rc = sstable_manager_add_sstable(db->sm, it, next_wal_number, memtable_max_sequence(mem),
                                         written, err);
    iterator_free(it);
    if (rc != LSMKV_OK) {
        return rc;
    }
    char path[FILENAME_PATH_MAX];
    filename_wal(path, db->dir, wal_number);
    file_remove(path, NULL); /* covered now; a leftover is removed at next open */
    log_info(&db->log, "flushed WAL segment %" PRIu64 ": %" PRIu64 " entries -> table %" PRIu64,
             wal_number, memtable_entries(mem),
             written->count > before ? written->tables[before].id : 0);
    return LSMKV_OK;
}

static int
store_open_managers(lsmkv *db, lsmkv_error *err)
{
    const lsmkv_options *o = &db->options;
    sstable_manager_options smo = {
        .dir = db->dir,
        .builder = {.block_bytes = o->block_bytes,
                    .bloom_bits_per_key = o->bloom_bits_per_key,
                    .compression = (int)o->compression},
        .blocks = db->blocks,
        .max_open_files = (size_t)o->max_open_files,
        .mmap_reads = o->mmap_reads,
        .target_file_bytes = o->sstable_target_bytes,
        .create_if_missing = o->create_if_missing,
        .error_if_exists = o->error_if_exists,
        .auto_compaction = !o->disable_auto_compaction,
        .level0_compaction_trigger = o->level0_compaction_trigger,
        .level0_slowdown_trigger = o->level0_slowdown_trigger,
        .level0_stop_trigger = o->level0_stop_trigger,
        .level1_target_bytes = o->level1_target_bytes,
        .level_size_ratio = o->level_size_ratio,
        .log = &db->log,
    };
    int rc = sstable_manager_open(&smo, &db->sm, err);
    recovery_result recovered;
    if (rc == LSMKV_OK) {
        rc = recovery_run(db->dir, db->sm, &db->log, &recovered, err);
    }
    if (rc != LSMKV_OK) {
        return rc;
    }
    db->wal = recovered.wal;
    atomic_store(&db->last_sequence, recovered.last_sequence);
    memtable_manager_options mmo = {
        .memtable_bytes = o->memtable_bytes,
        .max_immutables = o->max_immutables,
        .flush = store_flush_memtable,
        .flush_ctx = db,
        .log = &db->log,
    };
    return memtable_manager_new(&mmo, recovered.wal_number, &db->mm, err);
}

static int
store_lock_dir(lsmkv *db, lsmkv_error *err)
{
    if (db->options.create_if_missing) {
        int rc = file_mkdir(db->dir, err);
        if (rc != LSMKV_OK) {
            return rc;
        }
    } else if (!file_exists(db->dir)) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "%s does not exist (create_if_missing is off)", db->dir);
    }
    char path[FILENAME_PATH_MAX];
    filename_join(path, db->dir, FILENAME_LOCK);
    return file_lock(path, &db->lock_fd, err);
}

static lsmkv *
store_alloc(const char *dir, const lsmkv_options *options)
{
    lsmkv *db = xcalloc(1, sizeof(*db));
    db->dir = xstrdup(dir);
    db->options = *options;
    db->log.level = options->log_level;
    db->log.fn = options->log_fn;
    db->log.ctx = options->log_ctx;
    db->lock_fd = -1;
    db->blocks =
        options->block_cache_bytes > 0 ? block_cache_new(options->block_cache_bytes) : NULL;
    pthread_mutex_init(&db->write_mutex, NULL);
    buffer_init(&db->group_records);
    return db;
}

int
lsmkv_open(const char *dir, const lsmkv_options *options, lsmkv **db_out, lsmkv_error *err)
{
    lsmkv_options defaults;
    if (options == NULL) {
        lsmkv_options_init(&defaults);
        options = &defaults;
    }
    if (dir == NULL || *dir == '\0' || strlen(dir) >= FILENAME_DIR_MAX) {
        return status_set(err, LSMKV_INVALID_ARGUMENT,
                          "the store directory must be a non-empty path under %d bytes",
                          FILENAME_DIR_MAX);
    }
    int rc = options_validate(options, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    lsmkv *db = store_alloc(dir, options);
    lsmkv_error e = {0};
    rc = store_lock_dir(db, &e);
    if (rc == LSMKV_OK) {
        rc = store_open_managers(db, &e);
    }
    if (rc != LSMKV_OK) {
        log_error(&db->log, "open %s failed: %s", dir, e.message);
        lsmkv_close(db);
        return status_copy(err, &e);
    }
    log_info(&db->log, "opened %s at sequence %" PRIu64, dir,
             (uint64_t)atomic_load(&db->last_sequence));
    *db_out = db;
    return LSMKV_OK;
}

int
lsmkv_close(lsmkv *db)
{
    if (db == NULL) {
        return LSMKV_OK;
    }
    memtable_manager_free(db->mm); /* waits for queued flushes */
    /* Sync so that a clean close keeps even sync=none writes across power loss. */
    lsmkv_error e;
    int rc = wal_writer_close(db->wal, true, &e);
    if (rc != LSMKV_OK) {
        log_error(&db->log, "closing the WAL failed: %s", e.message);
    }
    sstable_manager_close(db->sm);
    block_cache_free(db->blocks);
    file_unlock(db->lock_fd);
    buffer_fini(&db->group_records);
    pthread_mutex_destroy(&db->write_mutex);
    free(db->dir);
    free(db);
    return rc;
}

/* ---- the write leader's work ------------------------------------------------------ */

/*
 * Starts a new WAL segment and memtable; the full one goes to the flush queue.
 * The full segment is synced whole before the next one is created: once a
 * newer segment exists, recovery takes a bad record in an older one for damage
 * (an error), not for a torn tail, so no older segment may have an unsynced
 * tail by then. If that sync fails, the segment's tail is in doubt as after a
 * failed group write: *wal_failed is set and the store turns read-only.
 */
static int
store_rotate(lsmkv *db, memtable_flush_ticket **ticket, bool *wal_failed, lsmkv_error *err)
{
    int rc = wal_writer_sync(db->wal, err);
    if (rc != LSMKV_OK) {
        *wal_failed = true;
        return rc;
    }
    uint64_t number = sstable_manager_new_file_number(db->sm);
    char path[FILENAME_PATH_MAX];
    filename_wal(path, db->dir, number);
    wal_writer *fresh;
    rc = wal_writer_open(path, &fresh, err);
    if (rc != LSMKV_OK) {
        return rc; /* nothing changed: writes go on in the current segment */
    }
    rc = wal_writer_close(db->wal, false, err);
    db->wal = fresh;
    memtable_manager_rotate(db->mm, number, ticket);
    return rc;
}

/* Step 1: back-pressure, then rotation when due (see store_rotate for wal_failed). */
static int
store_make_room(lsmkv *db, writer *w, bool *wal_failed, lsmkv_error *err)
{
    bool manual_flush = w->batch == NULL;
    const struct timespec *deadline = w->has_deadline ? &w->deadline : NULL;
    /* Level 0 piling up slows and then stops writes until compaction catches
     * up. A manual flush is not held back: it adds no data, and waiting for
     * it to make data durable should not depend on compaction. */
    int rc = manual_flush ? LSMKV_OK : sstable_manager_throttle(db->sm, deadline, err);
    if (rc == LSMKV_OK) {
        rc = memtable_manager_make_room(db->mm, manual_flush, deadline, err);
    }
    if (rc != LSMKV_OK) {
        return rc;
    }
    if (manual_flush) {
        bool empty = memtable_entries(memtable_manager_active(db->mm)) == 0;
        return empty ? LSMKV_OK : store_rotate(db, &w->ticket, wal_failed, err);
    }
    if (memtable_manager_active_is_full(db->mm)) {
        return store_rotate(db, NULL, wal_failed, err);
    }
    return LSMKV_OK;
}

/* Writers from the leader on that share its WAL write. Caller holds write_mutex. */
static writer *
store_build_group(writer *leader)
{
    size_t bytes = write_batch_contents(leader->batch).len;
    size_t limit = bytes < GROUP_SMALL_BYTES ? bytes + GROUP_SMALL_BYTES : GROUP_MAX_BYTES;
    writer *last = leader;
    for (writer *w = leader->next; w != NULL; w = w->next) {
        /* A manual flush goes alone; a sync write does not ride on a non-sync
         * leader (the leader would pay for an fsync it did not ask for). */
        if (w->batch == NULL || (w->sync && !leader->sync)) {
            break;
        }
        bytes += write_batch_contents(w->batch).len;
        if (bytes > limit) {
            break;
        }
        last = w;
    }
    return last;
}

static void
store_apply_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    memtable_add(ctx, sequence, type, key, value);
}

/* Steps 2-4 for the group [first, last]. */
static int
store_write_group(lsmkv *db, writer *first, writer *last, lsmkv_error *err)
{
    uint64_t sequence = atomic_load_explicit(&db->last_sequence, memory_order_relaxed) + 1;
    bool sync = false;
    buffer_clear(&db->group_records);
    for (writer *w = first;; w = w->next) {
        write_batch_set_sequence(w->batch, sequence);
        sequence += write_batch_count(w->batch);
        wal_frame_record(&db->group_records, write_batch_contents(w->batch));
        sync |= w->sync;
        if (w == last) {
            break;
        }
    }
    int rc = wal_writer_append(db->wal, buffer_slice(&db->group_records), err);
    if (rc == LSMKV_OK && sync) {
        rc = wal_writer_sync(db->wal, err);
        atomic_fetch_add_explicit(&db->wal_syncs, 1, memory_order_relaxed);
    }
    if (rc != LSMKV_OK) {
        return rc;
    }
    atomic_fetch_add_explicit(&db->wal_bytes, db->group_records.len, memory_order_relaxed);
    memtable *active = memtable_manager_active(db->mm);
    for (writer *w = first;; w = w->next) {
        rc = write_batch_iterate(write_batch_contents(w->batch), store_apply_op, active, err);
        assert(rc == LSMKV_OK); /* we encoded it ourselves */
        if (w == last) {
            break;
        }
    }
    atomic_store_explicit(&db->last_sequence, sequence - 1, memory_order_release);
    return LSMKV_OK;
}

/* Hands the result to every writer of the group and wakes the next leader. */
static void
store_finish_group(lsmkv *db, writer *leader, writer *last, int rc, const lsmkv_error *err,
                   bool wal_failed)
{
    pthread_mutex_lock(&db->write_mutex);
    if (wal_failed && !db->read_only) {
        db->read_only = true;
        db->read_only_error = *err;
        log_error(&db->log, "WAL write failed, the store is read-only until reopened: %s",
                  err->message);
    }
    for (;;) {
        writer *w = db->queue_head;
        db->queue_head = w->next;
        if (db->queue_head == NULL) {
            db->queue_tail = NULL;
        }
        w->rc = rc;
        if (rc != LSMKV_OK) {
            w->err = *err;
        }
        w->done = true;
        if (w != leader) {
            pthread_cond_signal(&w->cond);
        }
        if (w == last) {
            break;
        }
    }
    if (db->queue_head != NULL) {
        pthread_cond_signal(&db->queue_head->cond);
    }
    pthread_mutex_unlock(&db->write_mutex);
}

/* Runs w through the queue; returns when w is done (as leader or follower). */
static int
store_write(lsmkv *db, writer *w, lsmkv_error *err)
{
    pthread_cond_init(&w->cond, NULL);
    pthread_mutex_lock(&db->write_mutex);
    if (db->queue_tail != NULL) {
        db->queue_tail->next = w;
    } else {
        db->queue_head = w;
    }
    db->queue_tail = w;
    while (!w->done && w != db->queue_head) {
        pthread_cond_wait(&w->cond, &db->write_mutex);
    }
    if (!w->done) { /* leader */
        lsmkv_error e = {0};
        int rc = LSMKV_OK;
        writer *last = w;
        if (db->read_only) {
            rc = status_set(&e, LSMKV_READ_ONLY, "%s (after: %s); reopen the store to recover",
                            lsmkv_status_str(LSMKV_READ_ONLY), db->read_only_error.message);
        }
        pthread_mutex_unlock(&db->write_mutex);
        bool wal_failed = false;
        if (rc == LSMKV_OK) {
            rc = store_make_room(db, w, &wal_failed, &e);
        }
        if (rc == LSMKV_OK && w->batch != NULL) {
            pthread_mutex_lock(&db->write_mutex);
            last = store_build_group(w);
            pthread_mutex_unlock(&db->write_mutex);
            rc = store_write_group(db, w, last, &e);
            wal_failed = rc != LSMKV_OK;
        }
        store_finish_group(db, w, last, rc, &e, wal_failed);
    } else {
        pthread_mutex_unlock(&db->write_mutex);
    }
    pthread_cond_destroy(&w->cond);
    if (w->rc != LSMKV_OK) {
        status_copy(err, &w->err);
    }
    return w->rc;
}

/* ---- put, delete, get --------------------------------------------------------------- */

static int
check_key(const lsmkv *db, const uint8_t *key, size_t key_len, lsmkv_error *err)
{
    if (key == NULL || key_len == 0) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the key is empty");
    }
    if (key_len > db->options.max_key_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the key is %zu bytes; the limit is %zu",
                          key_len, db->options.max_key_bytes);
    }
    return LSMKV_OK;
}

static void
writer_init(writer *w, const lsmkv *db, const lsmkv_write_options *wo, write_batch *batch)
{
    memset(w, 0, sizeof(*w));
    w->batch = batch;
    lsmkv_sync_mode mode =
        wo != NULL && wo->sync != LSMKV_SYNC_DEFAULT ? wo->sync : db->options.sync;
    w->sync = mode == LSMKV_SYNC_ALWAYS;
    if (wo != NULL && wo->timeout_ms > 0) {
        w->has_deadline = true;
        clock_gettime(CLOCK_MONOTONIC, &w->deadline);
        w->deadline.tv_sec += wo->timeout_ms / 1000;
        w->deadline.tv_nsec += (long)(wo->timeout_ms % 1000) * 1000000L;
        if (w->deadline.tv_nsec >= 1000000000L) {
            w->deadline.tv_sec++;
            w->deadline.tv_nsec -= 1000000000L;
        }
    }
}

static int
store_write_batch(lsmkv *db, const lsmkv_write_options *wo, write_batch *batch, lsmkv_error *err)
{
    writer w;
    writer_init(&w, db, wo, batch);
    int rc = store_write(db, &w, err);
    if (rc == LSMKV_OK) {
        atomic_fetch_add_explicit(&db->user_bytes, batch->user_bytes, memory_order_relaxed);
    }
    return rc;
}

int
lsmkv_put(lsmkv *db, const lsmkv_write_options *wo, const uint8_t *key, size_t key_len,
          const uint8_t *value, size_t value_len, lsmkv_error *err)
{
    int rc = check_key(db, key, key_len, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    if (value == NULL && value_len > 0) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the value is NULL");
    }
    if (value_len > db->options.max_value_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the value is %zu bytes; the limit is %zu",
                          value_len, db->options.max_value_bytes);
    }
    write_batch batch;
    write_batch_init(&batch);
    write_batch_put(&batch, slice_make(key, key_len), slice_make(value, value_len));
    rc = store_write_batch(db, wo, &batch, err);
    write_batch_fini(&batch);
    atomic_fetch_add_explicit(&db->puts, rc == LSMKV_OK, memory_order_relaxed);
    return rc;
}

int
lsmkv_delete(lsmkv *db, const lsmkv_write_options *wo, const uint8_t *key, size_t key_len,
             lsmkv_error *err)
{
    int rc = check_key(db, key, key_len, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    write_batch batch;
    write_batch_init(&batch);
    write_batch_delete(&batch, slice_make(key, key_len));
    rc = store_write_batch(db, wo, &batch, err);
    write_batch_fini(&batch);
    atomic_fetch_add_explicit(&db->deletes, rc == LSMKV_OK, memory_order_relaxed);
    return rc;
}

/*
 * Finds the newest version of user_key. The memtables are referenced first,
 * the table set next, and the snapshot sequence is read last. Then every write
 * at or below the snapshot is in a memtable or a table the read holds (a
 * memtable leaves the manager only after its table is installed), and a
 * version that a flush or compaction dropped was shadowed by a newer one
 * already in a table, so already published and at or below the snapshot.
 * Reading the sequence first instead lets a flush or compaction that runs in
 * between replace the version the snapshot should see with one it cannot see:
 * the read then finds an older version, or none.
 */
static int
store_lookup(lsmkv *db, slice user_key, lookup_result *result, lsmkv_error *err)
{
    memtable *mems[MEMTABLE_MANAGER_MAX_IMMUTABLES + 1];
    size_t count;
    memtable_manager_snapshot(db->mm, mems, &count);
    version *v = sstable_manager_current(db->sm);
    uint64_t snapshot = atomic_load_explicit(&db->last_sequence, memory_order_acquire);
    bool found = false;
    for (size_t i = 0; i < count && !found; i++) {
        found = memtable_get(mems[i], user_key, snapshot, result);
    }
    int rc = found ? LSMKV_OK : version_get(v, user_key, snapshot, result, err);
    version_unref(v);
    for (size_t i = 0; i < count; i++) {
        memtable_unref(mems[i]);
    }
    return rc;
}

int
lsmkv_get(lsmkv *db, const uint8_t *key, size_t key_len, uint8_t **value_out, size_t *value_len,
          bool *found, lsmkv_error *err)
{
    int rc = check_key(db, key, key_len, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    atomic_fetch_add_explicit(&db->gets, 1, memory_order_relaxed);
    lookup_result result;
    lookup_result_init(&result);
    rc = store_lookup(db, slice_make(key, key_len), &result, err);
    if (rc == LSMKV_OK) {
        *found = result.found && result.type == VALUE_TYPE_VALUE;
        if (*found) {
            /* Hand the result's buffer over instead of copying the value again. */
            *value_out = result.value.data != NULL ? result.value.data : xmalloc(1);
            *value_len = result.value.len;
            buffer_init(&result.value);
        }
    } else if (rc == LSMKV_CORRUPTION) {
        atomic_fetch_add_explicit(&db->corruptions, 1, memory_order_relaxed);
    }
    lookup_result_fini(&result);
    return rc;
}

/* ---- iterators ------------------------------------------------------------------------ */

/* The public handle is the user iterator itself. */
struct lsmkv_iterator {
    iterator *it;
};

int
lsmkv_iterator_new(lsmkv *db, lsmkv_iterator **it_out, lsmkv_error *err)
{
    /* The order of store_lookup: memtables, then tables, then the snapshot. */
    memtable *mems[MEMTABLE_MANAGER_MAX_IMMUTABLES + 1];
    size_t count;
    memtable_manager_snapshot(db->mm, mems, &count);
    version *v = sstable_manager_current(db->sm);
    uint64_t snapshot = atomic_load_explicit(&db->last_sequence, memory_order_acquire);

    /* One flat merge: each memtable, each level-0 table, each deeper level. */
    iterator **children =
        xcalloc(count + version_table_count(v) + LSMKV_MAX_LEVELS, sizeof(*children));
    for (size_t i = 0; i < count; i++) {
        children[i] = memtable_iterator_new(mems[i]);
        memtable_unref(mems[i]);
    }
    size_t n = count + version_iterators(v, children + count);
    version_unref(v);
    lsmkv_iterator *handle = xmalloc(sizeof(*handle));
    handle->it = user_iterator_new(merge_iterator_new(children, n), snapshot);
    free(children);
    *it_out = handle;
    return LSMKV_OK;
}

void
lsmkv_iterator_free(lsmkv_iterator *it)
{
    if (it != NULL) {
        iterator_free(it->it);
        free(it);
    }
}

void
lsmkv_iterator_seek_to_first(lsmkv_iterator *it)
{
    iterator_seek_to_first(it->it);
}

void
lsmkv_iterator_seek(lsmkv_iterator *it, const uint8_t *key, size_t key_len)
{
    iterator_seek(it->it, slice_make(key, key_len));
}

bool
lsmkv_iterator_valid(const lsmkv_iterator *it)
{
    return iterator_valid(it->it);
}

void
lsmkv_iterator_next(lsmkv_iterator *it)
{
    iterator_next(it->it);
}

const uint8_t *
lsmkv_iterator_key(const lsmkv_iterator *it, size_t *len)
{
    slice key = iterator_key(it->it);
    *len = key.len;
    return key.data;
}

const uint8_t *
lsmkv_iterator_value(const lsmkv_iterator *it, size_t *len)
{
    slice value = iterator_value(it->it);
    *len = value.len;
    return value.data;
}

int
lsmkv_iterator_status(const lsmkv_iterator *it, lsmkv_error *err)
{
    return iterator_status(it->it, err);
}

/* ---- flush, compact, stats ------------------------------------------------------------ */

int
lsmkv_flush(lsmkv *db, lsmkv_table_list *written, lsmkv_error *err)
{
    writer w;
    writer_init(&w, db, NULL, NULL);
    int rc = store_write(db, &w, err); /* rotates in turn with the writes */
    if (rc != LSMKV_OK) {
        return rc;
    }
    lsmkv_table_list local = {0};
    if (w.ticket != NULL) {
        rc = memtable_manager_wait_flushed(db->mm, w.ticket, &local, err);
    } else {
        rc = memtable_manager_wait_idle(db->mm, err);
    }
    if (rc == LSMKV_OK && written != NULL) {
        *written = local;
    } else {
        lsmkv_table_list_fini(&local);
    }
    return rc;
}

int
lsmkv_compact(lsmkv *db, lsmkv_compaction_result *result, lsmkv_error *err)
{
    int rc = sstable_manager_compact(db->sm, result, err);
    if (rc == LSMKV_CORRUPTION) {
        atomic_fetch_add_explicit(&db->corruptions, 1, memory_order_relaxed);
    }
    return rc;
}

void
lsmkv_get_stats(lsmkv *db, lsmkv_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    memtable_manager_stats(db->mm, stats);
    sstable_manager_stats(db->sm, stats);
    stats->puts = atomic_load(&db->puts);
    stats->deletes = atomic_load(&db->deletes);
    stats->gets = atomic_load(&db->gets);
    stats->user_bytes_written = atomic_load(&db->user_bytes);
    stats->wal_bytes_written = atomic_load(&db->wal_bytes);
    stats->wal_syncs = atomic_load(&db->wal_syncs);
    stats->corruptions = atomic_load(&db->corruptions);
    stats->last_sequence = atomic_load(&db->last_sequence);
    if (db->blocks != NULL) {
        block_cache_stats cache;
        block_cache_get_stats(db->blocks, &cache);
        stats->block_cache_capacity = cache.capacity;
        stats->block_cache_usage = cache.usage;
        stats->block_cache_hits = cache.hits;
        stats->block_cache_misses = cache.misses;
    }
}
