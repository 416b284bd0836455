/*
 * lsmkv — an LSM-tree key-value store, usable as an embedded library.
 *
 * A store is a directory. Keys and values are arbitrary bytes; every write gets
 * a 64-bit sequence number and the newest sequence wins. Writes go to a
 * write-ahead log and a memtable; full memtables are flushed to immutable
 * SSTables in the background; compaction merges SSTables.
 *
 * Every fallible call returns an lsmkv status code (LSMKV_OK is 0) and writes
 * its out-parameters only on success. Calls take an optional `lsmkv_error *`
 * that receives the code and a readable message (file names, offsets) on
 * failure; pass NULL when the code is enough. A missing key is not an error:
 * lsmkv_get answers `found = false`.
 *
 * All calls on one `lsmkv *` are safe from many threads at once.
 */
#ifndef LSMKV_LSMKV_H
#define LSMKV_LSMKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LSMKV_BUILDING_SHARED)
#define LSMKV_API __attribute__((visibility("default")))
#else
#define LSMKV_API
#endif

/* ---- status ----------------------------------------------------------------
 * One table: code, value, default message, and the gRPC status code a server
 * answers with (the RPC layer maps through this column and nothing else).
 */
#define LSMKV_STATUS_TABLE(X)                                                                      \
    X(OK, 0, "ok", 0)                                                                              \
    X(NOT_FOUND, 1, "not found", 5)                                                                \
    X(INVALID_ARGUMENT, 2, "invalid argument", 3)                                                  \
    X(CORRUPTION, 3, "corruption", 15)                                                             \
    X(IO_ERROR, 4, "I/O error", 14)                                                                \
    X(NO_SPACE, 5, "no space left on device", 8)                                                   \
    X(BUSY, 6, "busy", 14)                                                                         \
    X(READ_ONLY, 7, "store is read-only", 9)                                                       \
    X(NOT_SUPPORTED, 8, "not supported", 12)                                                       \
    X(NO_MEMORY, 9, "out of memory", 8)                                                            \
    X(TIMED_OUT, 10, "timed out", 4)                                                               \
    X(CLOSED, 11, "store is closed", 9)                                                            \
    X(INTERNAL, 12, "internal error", 13)                                                          \
    X(WOULD_BLOCK, 13, "would block", 14)

typedef enum lsmkv_status {
#define LSMKV_STATUS_ENUM(name, value, message, grpc) LSMKV_##name = value,
    LSMKV_STATUS_TABLE(LSMKV_STATUS_ENUM)
#undef LSMKV_STATUS_ENUM
} lsmkv_status;

/* Short name of a code ("CORRUPTION"); "UNKNOWN" for a value not in the table. */
LSMKV_API const char *lsmkv_status_name(int code);
/* Default message of a code ("corruption"). */
LSMKV_API const char *lsmkv_status_str(int code);
/* The gRPC status code (0..16) a server reports for this code. */
LSMKV_API int lsmkv_status_grpc_code(int code);

/* Detail of a failure; every call that takes one fills it on failure only. */
typedef struct lsmkv_error {
    int code;
    char message[512];
} lsmkv_error;

/* ---- options ---------------------------------------------------------------- */

typedef enum lsmkv_sync_mode {
    LSMKV_SYNC_DEFAULT = 0, /* in write options: the store's mode */
    LSMKV_SYNC_ALWAYS = 1,  /* fsync the WAL before a write is acknowledged */
    LSMKV_SYNC_NONE = 2,    /* leave WAL data to the OS: survives a process crash,
                               not a power loss */
} lsmkv_sync_mode;

typedef enum lsmkv_log_level {
    LSMKV_LOG_ERROR = 0,
    LSMKV_LOG_WARN = 1,
    LSMKV_LOG_INFO = 2,
    LSMKV_LOG_DEBUG = 3,
} lsmkv_log_level;

/* Receives one complete log line (no trailing newline). Called from any thread. */
typedef void (*lsmkv_log_fn)(void *ctx, lsmkv_log_level level, const char *line);

typedef enum lsmkv_compression {
    LSMKV_COMPRESSION_NONE = 0,
    LSMKV_COMPRESSION_LZ4 = 1,
    LSMKV_COMPRESSION_ZSTD = 2,
} lsmkv_compression;

typedef struct lsmkv_options {
    bool create_if_missing;        /* create the directory and store (default true) */
    bool error_if_exists;          /* fail if a store already exists (default false) */
    lsmkv_sync_mode sync;          /* default LSMKV_SYNC_ALWAYS */
    size_t memtable_bytes;         /* rotate the memtable at this size (default 4 MiB) */
    int max_immutables;            /* writers wait when this many memtables await flush
                                      (default 2; writes slow down one before) */
    size_t block_bytes;            /* SSTable data block target size (default 4 KiB) */
    int bloom_bits_per_key;        /* bloom filter bits per key; 0 disables (default 10) */
    lsmkv_compression compression; /* data blocks of tables written from now on
                                      (default none); each table records its own */
    size_t block_cache_bytes;      /* recently read blocks kept in memory, shared by
                                      all tables; 0 disables (default 8 MiB) */
    int max_open_files;            /* tables kept open (file, index, bloom); the least
                                      recently used beyond this are closed (default 1000) */
    bool mmap_reads;               /* read tables through memory maps (default true): no
                                      syscall or copy per block, as LevelDB does; but a
                                      disk I/O error while reading a table then ends the
                                      process with SIGBUS instead of LSMKV_IO_ERROR */
    uint64_t sstable_target_bytes; /* the largest file a compaction writes (default
                                      64 MiB); level n's files aim at min(this,
                                      max(2 MiB, level n's target / 8)) */
    /* Leveled compaction (README "Compaction"). Level 0 holds flushed memtables;
     * each deeper level holds non-overlapping tables and has a size target. */
    bool disable_auto_compaction;  /* default false: compact in the background */
    int level0_compaction_trigger; /* compact level 0 at this many tables (default 4) */
    int level0_slowdown_trigger;   /* delay each write group 1 ms from here (default 8) */
    int level0_stop_trigger;       /* writers wait for compaction from here (default 12) */
    uint64_t level1_target_bytes;  /* level 1's size target (default 16 MiB) */
    int level_size_ratio;          /* each deeper level's target is this many times
                                      the one above (default 10) */
    size_t max_key_bytes;          /* default 64 KiB */
    size_t max_value_bytes;        /* default 16 MiB */
    size_t max_batch_bytes;        /* largest lsmkv_write batch (default 64 MiB) */
    lsmkv_log_level log_level;     /* default LSMKV_LOG_WARN */
    lsmkv_log_fn log_fn;           /* NULL: lines go to stderr */
    void *log_ctx;
} lsmkv_options;

/* Fills *options with the defaults above. */
LSMKV_API void lsmkv_options_init(lsmkv_options *options);

typedef struct lsmkv_write_options {
    lsmkv_sync_mode sync; /* LSMKV_SYNC_DEFAULT uses the store's mode */
    uint32_t timeout_ms;  /* how long a write may wait for a stalled store before
                             failing with LSMKV_TIMED_OUT; 0 waits as long as it takes */
    /* Fail with LSMKV_WOULD_BLOCK, having changed nothing, instead of waiting:
     * for an fsync (a sync write), for other writers ahead in the queue, for a
     * slowed-down or stalled store, or for a memtable switch. The buffered
     * write(2) of the log record is still made. For callers on threads that
     * must not block (an event loop), which then retry elsewhere without it. */
    bool no_wait;
} lsmkv_write_options;

/* ---- table metadata --------------------------------------------------------- */

/* One SSTable as the manifest records it. Keys are owned by the struct. */
typedef struct lsmkv_table_info {
    uint64_t id;
    uint32_t level;
    uint64_t size_bytes;
    uint64_t entries;
    uint64_t tombstones;
    uint64_t max_sequence; /* newest in the table; 0 when a compaction wrote it at
                              the bottom, where values keep no sequence */
    uint8_t *min_key;
    size_t min_key_len;
    uint8_t *max_key;
    size_t max_key_len;
} lsmkv_table_info;

/* A list of tables, as written by a flush or a compaction. */
typedef struct lsmkv_table_list {
    size_t count;
    lsmkv_table_info *tables;
} lsmkv_table_list;

/* Frees what a list owns and empties it; the struct itself is the caller's. */
LSMKV_API void lsmkv_table_list_fini(lsmkv_table_list *list);

typedef struct lsmkv_compaction_result {
    uint32_t input_tables;
    uint64_t input_bytes;
    uint64_t output_bytes;
    uint64_t dropped_entries; /* shadowed versions and tombstones removed */
    lsmkv_table_list outputs; /* empty when nothing was left or nothing to do */
} lsmkv_compaction_result;

LSMKV_API void lsmkv_compaction_result_fini(lsmkv_compaction_result *result);

/* ---- statistics ------------------------------------------------------------- */

#define LSMKV_MAX_LEVELS 7

typedef struct lsmkv_level_stats {
    uint64_t tables;
    uint64_t bytes;
    uint64_t target_bytes;  /* size target (0 for level 0 and the last level) */
    uint64_t compactions;   /* compactions that wrote into this level */
    uint64_t bytes_read;    /* by those compactions, from this level and the one above */
    uint64_t bytes_written; /* by those compactions, into this level */
    uint64_t bytes_moved;   /* tables moved down into this level without rewriting */
} lsmkv_level_stats;

typedef struct lsmkv_stats {
    uint64_t memtable_entries; /* in the active memtable */
    uint64_t memtable_bytes;
    uint64_t immutable_memtables; /* waiting for flush */
    uint64_t immutable_bytes;
    uint64_t sstables;
    uint64_t sstable_bytes;
    lsmkv_level_stats levels[LSMKV_MAX_LEVELS];
    uint64_t puts;
    uint64_t deletes;
    uint64_t gets;
    uint64_t flushes;
    uint64_t compactions;
    uint64_t user_bytes_written; /* keys + values as given by callers */
    uint64_t wal_bytes_written;
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    uint64_t wal_syncs;
    uint64_t write_slowdowns; /* write groups delayed 1 ms: memtables or level 0 piling up */
    uint64_t write_stalls;    /* write groups that had to wait for a flush or compaction */
    uint64_t stall_micros;    /* time spent in those waits */
    uint64_t pending_compaction_bytes; /* bytes over their level's target, level 0 included */
    uint64_t corruptions;              /* checksum or format failures seen by reads */
    uint64_t open_tables;              /* tables whose file is open now */
    uint64_t block_cache_capacity;
    uint64_t block_cache_usage;
    uint64_t block_cache_hits;
    uint64_t block_cache_misses;
    uint64_t last_sequence;
} lsmkv_stats;

/* ---- the store -------------------------------------------------------------- */

typedef struct lsmkv lsmkv;

/*
 * Opens (or creates) the store in `dir`, replaying any write-ahead log not yet
 * covered by SSTables. A lock file keeps a second process (or a second open in
 * this process) out: LSMKV_BUSY. A damaged manifest or a corrupt record in the
 * middle of a log is LSMKV_CORRUPTION naming the file; a torn record at the end
 * of the newest log is cut off and reported in the log. `options` may be NULL.
 */
LSMKV_API int lsmkv_open(const char *dir, const lsmkv_options *options, lsmkv **db_out,
                         lsmkv_error *err);

/*
 * Waits for background flushes, closes every file and frees the store. Data
 * still in the memtable stays in the write-ahead log and is replayed at the
 * next open. NULL is a no-op. Returns the first background error seen, if any.
 */
LSMKV_API int lsmkv_close(lsmkv *db);

/*
 * Writes key → value. `wo` may be NULL (the store's sync mode). Returns
 * LSMKV_INVALID_ARGUMENT for an empty or oversize key or value; LSMKV_READ_ONLY
 * after a failed log write (reopen to recover); I/O codes otherwise.
 */
LSMKV_API int lsmkv_put(lsmkv *db, const lsmkv_write_options *wo, const uint8_t *key,
                        size_t key_len, const uint8_t *value, size_t value_len, lsmkv_error *err);

/* Deletes key by writing a tombstone; deleting a missing key is OK. */
LSMKV_API int lsmkv_delete(lsmkv *db, const lsmkv_write_options *wo, const uint8_t *key,
                           size_t key_len, lsmkv_error *err);

/* ---- atomic batches -------------------------------------------------------------
 * A batch of puts and deletes applied atomically: one WAL record and one range
 * of sequence numbers, so after a crash either all of it is there or none, and
 * no reader ever sees part of it. Later operations on the same key win.
 */
typedef struct lsmkv_batch lsmkv_batch;

LSMKV_API lsmkv_batch *lsmkv_batch_new(void);
/* NULL is a no-op. */
LSMKV_API void lsmkv_batch_free(lsmkv_batch *batch);
/* Empties the batch for reuse. */
LSMKV_API void lsmkv_batch_clear(lsmkv_batch *batch);
/* Adds an operation (copied). Keys and values are checked by lsmkv_write. */
LSMKV_API void lsmkv_batch_put(lsmkv_batch *batch, const uint8_t *key, size_t key_len,
                               const uint8_t *value, size_t value_len);
LSMKV_API void lsmkv_batch_delete(lsmkv_batch *batch, const uint8_t *key, size_t key_len);
/* Operations in the batch. */
LSMKV_API size_t lsmkv_batch_count(const lsmkv_batch *batch);
/* Bytes the batch takes in the WAL (compared with max_batch_bytes). */
LSMKV_API size_t lsmkv_batch_size(const lsmkv_batch *batch);

/*
 * Applies every operation of batch atomically. Every key and value is checked
 * first: one bad operation (empty or oversize key, oversize value) or a batch
 * over max_batch_bytes fails the whole batch with LSMKV_INVALID_ARGUMENT naming
 * it, and nothing is written. An empty batch succeeds and writes nothing.
 */
LSMKV_API int lsmkv_write(lsmkv *db, const lsmkv_write_options *wo, const lsmkv_batch *batch,
                          lsmkv_error *err);

/* One answer of lsmkv_multi_get: value is malloc'd (free with lsmkv_free) when found. */
typedef struct lsmkv_value {
    bool found;
    uint8_t *value;
    size_t value_len;
} lsmkv_value;

/*
 * Reads count keys at one consistent point in time into values[0..count). On
 * failure nothing is handed out (values are left empty).
 */
LSMKV_API int lsmkv_multi_get(lsmkv *db, size_t count, const uint8_t *const *keys,
                              const size_t *key_lens, lsmkv_value *values, lsmkv_error *err);

/*
 * Reads key. On LSMKV_OK, *found tells whether it exists; if it does, *value_out
 * is a malloc'd copy of the value (free it with lsmkv_free) and *value_len its
 * length. LSMKV_CORRUPTION when a checksum fails in a table the read needed.
 */
LSMKV_API int lsmkv_get(lsmkv *db, const uint8_t *key, size_t key_len, uint8_t **value_out,
                        size_t *value_len, bool *found, lsmkv_error *err);

/*
 * As lsmkv_get, from memory only, for callers on a thread that must not
 * block (an event loop): fails with LSMKV_WOULD_BLOCK, having read nothing
 * from disk, when the answer needs a table whose file is not open or a block
 * that is neither in the block cache nor resident in a memory-mapped file.
 */
LSMKV_API int lsmkv_get_no_wait(lsmkv *db, const uint8_t *key, size_t key_len, uint8_t **value_out,
                                size_t *value_len, bool *found, lsmkv_error *err);

/* Frees memory the library handed out (values from lsmkv_get). */
LSMKV_API void lsmkv_free(void *ptr);

/*
 * Writes the active memtable to an SSTable and waits until every memtable
 * pending before the call is flushed: afterwards every write acknowledged
 * before the call is in an SSTable. `written` (may be NULL) receives the table
 * written from the active memtable, or an empty list when it was empty.
 */
LSMKV_API int lsmkv_flush(lsmkv *db, lsmkv_table_list *written, lsmkv_error *err);

/*
 * Merges every SSTable into non-overlapping tables of at most
 * sstable_target_bytes, dropping shadowed versions and tombstones. Reads and
 * writes go on meanwhile. Outputs are installed with one manifest update before
 * the inputs are deleted, so a crash at any point leaves a readable store.
 * With no tables it succeeds and reports nothing done. `result` may be NULL.
 */
LSMKV_API int lsmkv_compact(lsmkv *db, lsmkv_compaction_result *result, lsmkv_error *err);

/* ---- ordered iteration ---------------------------------------------------------
 * An iterator sees the store as it was when the iterator was created: exactly
 * the writes acknowledged before, none after. It holds references to the
 * memtables and tables of that moment (not locks), so writes, flushes and
 * compactions go on; release it promptly, since it keeps replaced files open.
 * Keys come in bytewise order. One iterator is for one thread at a time.
 */
typedef struct lsmkv_iterator lsmkv_iterator;

LSMKV_API int lsmkv_iterator_new(lsmkv *db, lsmkv_iterator **it_out, lsmkv_error *err);
/* NULL is a no-op. Free every iterator before lsmkv_close. */
LSMKV_API void lsmkv_iterator_free(lsmkv_iterator *it);
LSMKV_API void lsmkv_iterator_seek_to_first(lsmkv_iterator *it);
/* Positions at the first key >= key. */
LSMKV_API void lsmkv_iterator_seek(lsmkv_iterator *it, const uint8_t *key, size_t key_len);
LSMKV_API bool lsmkv_iterator_valid(const lsmkv_iterator *it);
/* Requires valid. */
LSMKV_API void lsmkv_iterator_next(lsmkv_iterator *it);
/* The current key and value (requires valid); they stay valid until the
 * iterator moves or is freed. */
LSMKV_API const uint8_t *lsmkv_iterator_key(const lsmkv_iterator *it, size_t *len);
LSMKV_API const uint8_t *lsmkv_iterator_value(const lsmkv_iterator *it, size_t *len);
/* LSMKV_OK, or the error (e.g. LSMKV_CORRUPTION) that ended the iteration early. */
LSMKV_API int lsmkv_iterator_status(const lsmkv_iterator *it, lsmkv_error *err);

/* Fills *stats with a consistent-enough snapshot of the counters. */
LSMKV_API void lsmkv_get_stats(lsmkv *db, lsmkv_stats *stats);

/* The library's version, "MAJOR.MINOR.PATCH". */
LSMKV_API const char *lsmkv_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LSMKV_LSMKV_H */
