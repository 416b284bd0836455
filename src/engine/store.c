/*
 * The store (the seed's LSMKVStore): the public lsmkv_* API. It owns the WAL
 * and the sequence numbers and coordinates the memtable manager (writes,
 * rotation, background flush) and the SSTable manager (tables, manifest,
 * compaction); recovery.c brings a store back at open.
 *
 * Write path (group commit, write_queue.h): every write joins a queue; the
 * writer at its head becomes the leader, takes the writes queued behind it as
 * one group, and does for all of them, with no lock held:
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
 * Reads go through a read view (read_view.h): the memtables, the SSTable
 * version and a snapshot sequence, taken in the order that keeps them
 * consistent; gets search the memtables newest first, then the SSTables.
 */
#include "lsmkv/lsmkv.h"

#include "block_cache.h"
#include "buffer.h"
#include "deadline.h"
#include "file.h"
#include "filename.h"
#include "log.h"
#include "memtable_manager.h"
#include "read_view.h"
#include "user_iter.h"
#include "recovery.h"
#include "sstable_manager.h"
#include "status.h"
#include "wal.h"
#include "write_batch.h"
#include "write_queue.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One write (or manual flush) in the write queue. */
typedef struct writer {
    write_queue_entry entry; /* first: entries are cast back to writers */
    bool has_deadline;
    struct timespec deadline;      /* CLOCK_MONOTONIC */
    memtable_flush_ticket *ticket; /* manual flush: the rotated memtable */
} writer;

struct lsmkv {
    char *dir;
    lsmkv_options options;
    logger log;
    int lock_fd;
    block_cache *blocks; /* NULL when block_cache_bytes is 0 */
    sstable_manager *sm;
    memtable_manager *mm;

    write_queue writers;

    /* Touched only by the current write leader (write_queue.h). */
    wal_writer *wal;
    buffer group_records;
    bool read_only; /* after a failed WAL write */
    lsmkv_error read_only_error;

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
    o->max_batch_bytes = 64u << 20;
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
        {"max_batch_bytes", o->max_batch_bytes, 1u << 10, 1ull << 32},
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
    write_queue_init(&db->writers);
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
    write_queue_fini(&db->writers);
    free(db->dir);
    free(db);
    return rc;
}

/* ---- the write leader's work ------------------------------------------------------ */

/*
 * Starts a new WAL segment and memtable; the full one goes to the flush queue.
 * The full segment is sealed (its reserved tail cut off) and synced whole
 * before the next one is created: once a newer segment exists, recovery takes
 * a bad record or a zero tail in an older one for damage (an error), not for
 * a torn tail, so no older segment may have an unsynced tail by then. If that
 * fails, the segment's tail is in doubt as after a failed group write:
 * *wal_failed is set and the store turns read-only.
 */
static int
store_rotate(lsmkv *db, memtable_flush_ticket **ticket, bool *wal_failed, lsmkv_error *err)
{
    int rc = wal_writer_seal(db->wal, err);
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
    bool manual_flush = w->entry.batch == NULL;
    const struct timespec *deadline = w->has_deadline ? &w->deadline : NULL;
    if (w->entry.no_wait &&
        (sstable_manager_would_throttle(db->sm) || memtable_manager_would_wait(db->mm))) {
        return status_set(err, LSMKV_WOULD_BLOCK,
                          "the write would wait for a flush, a compaction or a new memtable");
    }
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

static void
store_apply_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    memtable_add(ctx, sequence, type, key, value);
}

/* Steps 2-4 for the group [first, last]. */
static int
store_write_group(lsmkv *db, write_queue_entry *first, write_queue_entry *last, lsmkv_error *err)
{
    uint64_t sequence = atomic_load_explicit(&db->last_sequence, memory_order_relaxed) + 1;
    bool sync = false;
    buffer_clear(&db->group_records);
    for (write_queue_entry *w = first;; w = w->next) {
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
    for (write_queue_entry *w = first;; w = w->next) {
        rc = write_batch_iterate(write_batch_contents(w->batch), store_apply_op, active, err);
        assert(rc == LSMKV_OK); /* we encoded it ourselves */
        if (w == last) {
            break;
        }
    }
    atomic_store_explicit(&db->last_sequence, sequence - 1, memory_order_release);
    return LSMKV_OK;
}

/* The leader's turn: back-pressure and rotation, then the group's write. */
static void
store_lead(lsmkv *db, writer *leader)
{
    lsmkv_error e = {0};
    int rc = LSMKV_OK;
    write_queue_entry *last = &leader->entry;
    if (db->read_only) {
        rc = status_set(&e, LSMKV_READ_ONLY, "%s (after: %s); reopen the store to recover",
                        lsmkv_status_str(LSMKV_READ_ONLY), db->read_only_error.message);
    }
    bool wal_failed = false;
    if (rc == LSMKV_OK) {
        rc = store_make_room(db, leader, &wal_failed, &e);
    }
    if (rc == LSMKV_OK && leader->entry.batch != NULL) {
        last = write_queue_group(&db->writers, &leader->entry);
        rc = store_write_group(db, &leader->entry, last, &e);
        wal_failed = rc != LSMKV_OK;
    }
    if (wal_failed) {
        /* The log's tail is unknown now: recovery decides it at reopen. */
        db->read_only = true;
        db->read_only_error = e;
        log_error(&db->log, "WAL write failed, the store is read-only until reopened: %s",
                  e.message);
    }
    write_queue_finish(&db->writers, &leader->entry, last, rc, &e);
}

/* Runs w through the write queue; returns when it is done. */
static int
store_write(lsmkv *db, writer *w, lsmkv_error *err)
{
    if (w->entry.no_wait) {
        bool leader = false;
        if (w->entry.sync) {
            return status_set(err, LSMKV_WOULD_BLOCK, "a sync write waits for its fsync");
        }
        /* Writers ahead that may wait (an fsync, a stall) would hold this one up. */
        if (!write_queue_join_no_wait(&db->writers, &w->entry, &leader)) {
            return status_set(err, LSMKV_WOULD_BLOCK,
                              "the write would wait for writers ahead that may block");
        }
        if (leader) {
            store_lead(db, w);
        }
    } else if (write_queue_join(&db->writers, &w->entry)) {
        store_lead(db, w);
    }
    if (w->entry.rc != LSMKV_OK) {
        status_copy(err, &w->entry.err);
    }
    return w->entry.rc;
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

static int
check_value(const lsmkv *db, const uint8_t *value, size_t value_len, lsmkv_error *err)
{
    if (value == NULL && value_len > 0) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the value is NULL");
    }
    if (value_len > db->options.max_value_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the value is %zu bytes; the limit is %zu",
                          value_len, db->options.max_value_bytes);
    }
    return LSMKV_OK;
}

static void
writer_init(writer *w, const lsmkv *db, const lsmkv_write_options *wo, write_batch *batch)
{
    memset(w, 0, sizeof(*w));
    w->entry.batch = batch;
    lsmkv_sync_mode mode =
        wo != NULL && wo->sync != LSMKV_SYNC_DEFAULT ? wo->sync : db->options.sync;
    w->entry.sync = mode == LSMKV_SYNC_ALWAYS;
    w->entry.no_wait = wo != NULL && wo->no_wait;
    if (wo != NULL && wo->timeout_ms > 0) {
        w->has_deadline = true;
        deadline_in_ms(&w->deadline, wo->timeout_ms);
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
    rc = check_value(db, value, value_len, err);
    if (rc != LSMKV_OK) {
        return rc;
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

/* Checks every operation of a batch before any is written. */
typedef struct batch_check {
    const lsmkv *db;
    uint32_t index;
    int rc;
    lsmkv_error err;
    uint64_t puts, deletes;
} batch_check;

static void
check_batch_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    batch_check *c = ctx;
    int rc = check_key(c->db, key.data, key.len, &c->err);
    if (rc == LSMKV_OK && type == VALUE_TYPE_VALUE) {
        rc = check_value(c->db, value.data, value.len, &c->err);
    }
    if (rc != LSMKV_OK && c->rc == LSMKV_OK) {
        c->rc = rc;
        status_set(&c->err, rc, "batch operation %" PRIu32 ": %s", c->index, c->err.message);
    }
    c->index++;
    *(type == VALUE_TYPE_VALUE ? &c->puts : &c->deletes) += 1;
}

int
lsmkv_write(lsmkv *db, const lsmkv_write_options *wo, const lsmkv_batch *public_batch,
            lsmkv_error *err)
{
    write_batch *batch = write_batch_of(public_batch);
    if (write_batch_count(batch) == 0) {
        return LSMKV_OK;
    }
    size_t bytes = write_batch_contents(batch).len;
    if (bytes > db->options.max_batch_bytes) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the batch is %zu bytes; the limit is %zu",
                          bytes, db->options.max_batch_bytes);
    }
    batch_check check = {.db = db};
    int rc = write_batch_iterate(write_batch_contents(batch), check_batch_op, &check, err);
    if (rc == LSMKV_OK && check.rc != LSMKV_OK) {
        rc = status_copy(err, &check.err);
    }
    if (rc == LSMKV_OK) {
        rc = store_write_batch(db, wo, batch, err);
    }
    if (rc == LSMKV_OK) {
        atomic_fetch_add_explicit(&db->puts, check.puts, memory_order_relaxed);
        atomic_fetch_add_explicit(&db->deletes, check.deletes, memory_order_relaxed);
    }
    return rc;
}

static void
store_view(lsmkv *db, read_view *view)
{
    read_view_acquire(view, db->mm, db->sm, &db->last_sequence);
}

/* A lookup's answer as the public API gives it: the value handed over, no copy. */
static void
take_value(lookup_result *result, uint8_t **value_out, size_t *value_len, bool *found)
{
    *found = result->found && result->type == VALUE_TYPE_VALUE;
    if (*found) {
        *value_out = result->value.data != NULL ? result->value.data : xmalloc(1);
        *value_len = result->value.len;
        buffer_init(&result->value);
    }
}

static int
store_get(lsmkv *db, const uint8_t *key, size_t key_len, bool memory_only, uint8_t **value_out,
          size_t *value_len, bool *found, lsmkv_error *err)
{
    int rc = check_key(db, key, key_len, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    lookup_result result;
    lookup_result_init(&result);
    result.memory_only = memory_only;
    read_view view;
    store_view(db, &view);
    rc = read_view_get(&view, slice_make(key, key_len), &result, err);
    read_view_release(&view);
    if (rc != LSMKV_WOULD_BLOCK) {
        /* A refused no-wait get is asked again elsewhere and counted then. */
        atomic_fetch_add_explicit(&db->gets, 1, memory_order_relaxed);
    }
    if (rc == LSMKV_OK) {
        take_value(&result, value_out, value_len, found);
    } else if (rc == LSMKV_CORRUPTION) {
        atomic_fetch_add_explicit(&db->corruptions, 1, memory_order_relaxed);
    }
    lookup_result_fini(&result);
    return rc;
}

int
lsmkv_get(lsmkv *db, const uint8_t *key, size_t key_len, uint8_t **value_out, size_t *value_len,
          bool *found, lsmkv_error *err)
{
    return store_get(db, key, key_len, false, value_out, value_len, found, err);
}

int
lsmkv_get_no_wait(lsmkv *db, const uint8_t *key, size_t key_len, uint8_t **value_out,
                  size_t *value_len, bool *found, lsmkv_error *err)
{
    return store_get(db, key, key_len, true, value_out, value_len, found, err);
}

int
lsmkv_multi_get(lsmkv *db, size_t count, const uint8_t *const *keys, const size_t *key_lens,
                lsmkv_value *values, lsmkv_error *err)
{
    for (size_t i = 0; i < count; i++) {
        int rc = check_key(db, keys[i], key_lens[i], err);
        if (rc != LSMKV_OK) {
            return status_set(err, rc, "key %zu: %s", i, err != NULL ? err->message : "");
        }
    }
    atomic_fetch_add_explicit(&db->gets, count, memory_order_relaxed);
    memset(values, 0, count * sizeof(*values));
    read_view view;
    store_view(db, &view); /* one view: every key at the same point in time */
    lookup_result result;
    lookup_result_init(&result);
    int rc = LSMKV_OK;
    for (size_t i = 0; i < count && rc == LSMKV_OK; i++) {
        lookup_result_reset(&result);
        rc = read_view_get(&view, slice_make(keys[i], key_lens[i]), &result, err);
        if (rc == LSMKV_OK) {
            take_value(&result, &values[i].value, &values[i].value_len, &values[i].found);
        }
    }
    read_view_release(&view);
    lookup_result_fini(&result);
    if (rc != LSMKV_OK) {
        atomic_fetch_add_explicit(&db->corruptions, rc == LSMKV_CORRUPTION, memory_order_relaxed);
        for (size_t i = 0; i < count; i++) {
            free(values[i].value);
            values[i] = (lsmkv_value){0};
        }
    }
    return rc;
}

/* ---- iterators ------------------------------------------------------------------------ */

int
lsmkv_iterator_new(lsmkv *db, lsmkv_iterator **it_out, lsmkv_error *err)
{
    read_view view;
    store_view(db, &view);
    *it_out = user_iterator_handle(read_view_iterator_new(&view));
    read_view_release(&view);
    return LSMKV_OK;
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
