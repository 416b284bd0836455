/*
 * lsmkv client — talks to lsmkv-server in nng's SP req/rep protocol (spoken
 * by the library itself, no libnng needed) with the protobuf messages of
 * proto/lsmkv/v1/ (rpc.proto's envelope, kv.proto's KV service).
 *
 * A client is one connection to one server URL ("tcp://127.0.0.1:7420",
 * "ipc:///run/lsmkv.sock"; also tcp4://, tcp6:// and abstract://). Opening
 * does not wait for the server: the first call connects, and a call after the
 * server restarted connects again. Every call is one request with a deadline
 * (the options' timeout_ms): the deadline travels to the server in the
 * envelope and is enforced here too, on connecting, sending and waiting, so
 * no call waits longer than its timeout, whether the server is slow, gone or
 * never was there.
 *
 * Nothing is resent: a call is sent at most once, because a Put resent after
 * a timeout could land after a newer Put of the same key. A call that failed
 * with DEADLINE_EXCEEDED or UNAVAILABLE may or may not have been applied;
 * retrying is the caller's choice.
 *
 * Keys and values are arbitrary bytes (NUL included), passed as borrowed
 * (pointer, length) pairs. Every fallible call returns a status code
 * (LSMKV_CLIENT_OK is 0) with gRPC's numbering, the same as the server's
 * Status.code, and writes its out-parameters only on success. Calls take an
 * optional `lsmkv_client_error *` that receives the code and a readable
 * message on failure: the server's own message, or a local one for transport
 * failures. A missing key is not an error: lsmkv_client_get answers
 * `found = false`.
 *
 * All calls on one `lsmkv_client *` are safe from many threads at once and do
 * not wait for each other: they share the connection, each request carries
 * its own ID, and answers reach their calls in whatever order they come.
 */
#ifndef LSMKV_CLIENT_H
#define LSMKV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LSMKV_CLIENT_BUILDING_SHARED)
#define LSMKV_CLIENT_API __attribute__((visibility("default")))
#else
#define LSMKV_CLIENT_API
#endif

/* ---- status ----------------------------------------------------------------
 * gRPC's status codes with gRPC's numbers, as rpc.proto's `Code` enum (a unit
 * test checks this table against it): name, value, default message.
 */
#define LSMKV_CLIENT_STATUS_TABLE(X)                                                               \
    X(OK, 0, "ok")                                                                                 \
    X(CANCELLED, 1, "cancelled")                                                                   \
    X(UNKNOWN, 2, "unknown error")                                                                 \
    X(INVALID_ARGUMENT, 3, "invalid argument")                                                     \
    X(DEADLINE_EXCEEDED, 4, "deadline exceeded")                                                   \
    X(NOT_FOUND, 5, "not found")                                                                   \
    X(ALREADY_EXISTS, 6, "already exists")                                                         \
    X(PERMISSION_DENIED, 7, "permission denied")                                                   \
    X(RESOURCE_EXHAUSTED, 8, "resource exhausted")                                                 \
    X(FAILED_PRECONDITION, 9, "failed precondition")                                               \
    X(ABORTED, 10, "aborted")                                                                      \
    X(OUT_OF_RANGE, 11, "out of range")                                                            \
    X(UNIMPLEMENTED, 12, "unimplemented")                                                          \
    X(INTERNAL, 13, "internal error")                                                              \
    X(UNAVAILABLE, 14, "unavailable")                                                              \
    X(DATA_LOSS, 15, "data loss")                                                                  \
    X(UNAUTHENTICATED, 16, "unauthenticated")

typedef enum lsmkv_client_status {
#define LSMKV_CLIENT_STATUS_ENUM(name, value, message) LSMKV_CLIENT_##name = value,
    LSMKV_CLIENT_STATUS_TABLE(LSMKV_CLIENT_STATUS_ENUM)
#undef LSMKV_CLIENT_STATUS_ENUM
} lsmkv_client_status;

/* Short name of a code ("INVALID_ARGUMENT"); "UNKNOWN" for a value not in the table. */
LSMKV_CLIENT_API const char *lsmkv_client_status_name(int code);
/* Default message of a code ("invalid argument"); that of UNKNOWN for other values. */
LSMKV_CLIENT_API const char *lsmkv_client_status_str(int code);

/*
 * Detail of a failure; every call that takes one fills it on failure only.
 * `message` is the server's Status.message (or the code's default message when
 * the server gave none), or a local explanation for transport failures:
 *   UNAVAILABLE        not connected to the server within the timeout, or the
 *                      connection closed before the answer: the server stopped
 *                      or restarted (a call made before the client noticed the
 *                      old connection close fails so), or it dropped a request
 *                      over its --max-message-size; the request may have been
 *                      applied. The client reconnects by itself.
 *   DEADLINE_EXCEEDED  sent, but no answer within the timeout
 *   RESOURCE_EXHAUSTED a request over the options' max_message_size (not sent)
 *   INTERNAL           an answer that is not a valid RpcResponse / message
 * Messages longer than the buffer are cut.
 */
typedef struct lsmkv_client_error {
    int code;
    char message[512];
} lsmkv_client_error;

/* ---- options ----------------------------------------------------------------- */

#define LSMKV_CLIENT_DEFAULT_TIMEOUT_MS       5000u
#define LSMKV_CLIENT_DEFAULT_MAX_MESSAGE_SIZE ((size_t)32 << 20)

typedef struct lsmkv_client_options {
    uint32_t timeout_ms;     /* deadline of every call, from its start (default 5000;
                                0 means the default) */
    size_t max_message_size; /* the largest request sent and answer accepted, in bytes
                                (default 32 MiB: a 16 MiB value with room to spare;
                                0 means the default). An answer over it closes the
                                connection (UNAVAILABLE). */
} lsmkv_client_options;

/* Fills *options with the defaults above. */
LSMKV_CLIENT_API void lsmkv_client_options_init(lsmkv_client_options *options);

/* Durability of one write, on top of the server's --sync setting (kv.proto's SyncMode). */
typedef enum lsmkv_client_sync {
    LSMKV_CLIENT_SYNC_DEFAULT = 0, /* the server's --sync setting */
    LSMKV_CLIENT_SYNC_ALWAYS = 1,  /* the server fsyncs its log before answering */
    LSMKV_CLIENT_SYNC_NONE = 2,    /* answered once the server's OS has the bytes */
} lsmkv_client_sync;

/* ---- results ------------------------------------------------------------------ */

/* One SSTable as the server reports it (kv.proto's TableInfo). Keys are owned. */
typedef struct lsmkv_client_table_info {
    uint64_t id; /* file number */
    uint32_t level;
    uint64_t size_bytes;
    uint64_t entries; /* versions stored, tombstones included */
    uint64_t tombstones;
    uint64_t max_sequence;
    uint8_t *min_key;
    size_t min_key_len;
    uint8_t *max_key;
    size_t max_key_len;
} lsmkv_client_table_info;

/* Tables written by a flush or a compaction. */
typedef struct lsmkv_client_table_list {
    size_t count;
    lsmkv_client_table_info *tables;
} lsmkv_client_table_list;

/* Frees what a list owns and empties it; the struct itself is the caller's. */
LSMKV_CLIENT_API void lsmkv_client_table_list_fini(lsmkv_client_table_list *list);

/* What a compaction did (kv.proto's CompactResponse). */
typedef struct lsmkv_client_compaction_result {
    uint32_t input_tables; /* 0: there was nothing to compact */
    uint64_t input_bytes;
    uint64_t output_bytes;
    uint64_t dropped_entries; /* shadowed versions and tombstones removed */
    lsmkv_client_table_list outputs;
} lsmkv_client_compaction_result;

LSMKV_CLIENT_API void lsmkv_client_compaction_result_fini(lsmkv_client_compaction_result *result);

/* One level of the server's store (kv.proto's LevelStats). */
typedef struct lsmkv_client_level_stats {
    uint32_t level;
    uint64_t tables;
    uint64_t bytes;
    uint64_t target_bytes;  /* 0: no size target (level 0, the last level) */
    uint64_t compactions;   /* compactions that wrote into this level */
    uint64_t bytes_read;    /* by those compactions */
    uint64_t bytes_written; /* by those compactions */
    uint64_t bytes_moved;   /* tables moved down without rewriting */
} lsmkv_client_level_stats;

/* Every field of kv.proto's StatsResponse, with its name. */
typedef struct lsmkv_client_stats {
    uint64_t memtable_entries;
    uint64_t memtable_bytes;
    uint64_t immutable_memtables; /* waiting for flush */
    uint64_t immutable_bytes;
    uint64_t sstables;
    uint64_t sstable_bytes;
    size_t level_count;               /* entries in `levels` */
    lsmkv_client_level_stats *levels; /* owned; in the server's order */
    uint64_t puts;
    uint64_t gets;
    uint64_t deletes;
    uint64_t flushes;
    uint64_t compactions;
    uint64_t user_bytes_written; /* write amplification = (wal + flush + compaction */
    uint64_t wal_bytes_written;  /* bytes written) / user bytes written */
    uint64_t flush_bytes_written;
    uint64_t compaction_bytes_read;
    uint64_t compaction_bytes_written;
    uint64_t wal_syncs;
    uint64_t write_slowdowns;
    uint64_t write_stalls;
    uint64_t stall_micros;
    uint64_t pending_compaction_bytes;
    uint64_t corruptions; /* checksum failures seen by reads */
    uint64_t last_sequence;
    uint64_t open_tables;
    uint64_t block_cache_capacity;
    uint64_t block_cache_usage;
    uint64_t block_cache_hits;
    uint64_t block_cache_misses;
    uint64_t uptime_seconds;
    char *server_version;    /* owned, NUL-terminated */
    uint64_t requests;       /* RPCs answered, any status */
    uint64_t request_errors; /* RPCs answered with a status other than OK */
    uint64_t scans;          /* Scan pages answered */
    uint64_t batches;        /* batches applied (their ops count in puts and deletes) */
    uint64_t multi_gets;     /* MultiGets answered (their keys count in gets) */
} lsmkv_client_stats;

/* Frees what *stats owns and zeroes it; the struct itself is the caller's. */
LSMKV_CLIENT_API void lsmkv_client_stats_fini(lsmkv_client_stats *stats);

/* ---- the client ------------------------------------------------------------------ */

typedef struct lsmkv_client lsmkv_client;

/*
 * Creates a client for the server at `url`; it does not wait for (or need)
 * the server to be up: the first call connects. `options` may be NULL (the
 * defaults). Returns INVALID_ARGUMENT, naming the URL and what is wrong with
 * it, for a URL of none of the forms above.
 */
LSMKV_CLIENT_API int lsmkv_client_open(const char *url, const lsmkv_client_options *options,
                                       lsmkv_client **client_out, lsmkv_client_error *err);

/*
 * Closes the connection and frees the client. Calls still running on other
 * threads must have returned first. NULL is a no-op.
 */
LSMKV_CLIENT_API void lsmkv_client_close(lsmkv_client *client);

/*
 * Writes key → value. The key must have 1 byte up to the server's key limit
 * and the value at most the server's value limit (else INVALID_ARGUMENT with
 * the server's message). `sequence` (may be NULL) receives the server's last
 * sequence number after the write.
 */
LSMKV_CLIENT_API int lsmkv_client_put(lsmkv_client *client, const uint8_t *key, size_t key_len,
                                      const uint8_t *value, size_t value_len,
                                      lsmkv_client_sync sync, uint64_t *sequence,
                                      lsmkv_client_error *err);

/*
 * Reads key. On LSMKV_CLIENT_OK, *found tells whether it exists; if it does,
 * *value_out is a malloc'd copy of the value (free it with lsmkv_client_free;
 * never NULL, even for an empty value) and *value_len its length; if not,
 * *value_out is NULL and *value_len 0.
 */
LSMKV_CLIENT_API int lsmkv_client_get(lsmkv_client *client, const uint8_t *key, size_t key_len,
                                      uint8_t **value_out, size_t *value_len, bool *found,
                                      lsmkv_client_error *err);

/* Deletes key (a tombstone); deleting a missing key is OK. `sequence` may be NULL. */
LSMKV_CLIENT_API int lsmkv_client_delete(lsmkv_client *client, const uint8_t *key, size_t key_len,
                                         lsmkv_client_sync sync, uint64_t *sequence,
                                         lsmkv_client_error *err);

/*
 * Has the server write its memtable to an SSTable and wait for pending
 * flushes. `written` (may be NULL) receives the tables written (none when the
 * memtable was empty); release it with lsmkv_client_table_list_fini.
 */
LSMKV_CLIENT_API int lsmkv_client_flush(lsmkv_client *client, lsmkv_client_table_list *written,
                                        lsmkv_client_error *err);

/*
 * Has the server compact every SSTable (a full, manual compaction). `result`
 * (may be NULL) receives what was done; release it with
 * lsmkv_client_compaction_result_fini. A big store may need a longer timeout.
 */
LSMKV_CLIENT_API int lsmkv_client_compact(lsmkv_client *client,
                                          lsmkv_client_compaction_result *result,
                                          lsmkv_client_error *err);

/* Fills *stats with the server's counters; release with lsmkv_client_stats_fini. */
LSMKV_CLIENT_API int lsmkv_client_get_stats(lsmkv_client *client, lsmkv_client_stats *stats,
                                            lsmkv_client_error *err);

/* ---- ordered reads, batches, multi-gets ----------------------------------------------- */

/*
 * A key range: [start, end) intersected with the keys that begin with
 * prefix. Every bound is optional: an empty (NULL, 0) start reads from the
 * first key, an empty end up to the last key, and an empty prefix admits
 * every key. The bytes are borrowed for the call.
 */
typedef struct lsmkv_client_range {
    const uint8_t *start; /* inclusive */
    size_t start_len;
    const uint8_t *end; /* exclusive; start must not sort after it */
    size_t end_len;
    const uint8_t *prefix;
    size_t prefix_len;
    bool keys_only; /* leave the values out (value_len 0): pages hold more keys */
} lsmkv_client_range;

/* The most pairs the server puts in one Scan page; a larger limit is capped to it. */
#define LSMKV_CLIENT_SCAN_MAX_PAGE 10000u
/* The most keys one lsmkv_client_multi_get may ask for (the server's limit). */
#define LSMKV_CLIENT_MULTI_GET_MAX_KEYS 10000u

/* One key and its value. */
typedef struct lsmkv_client_pair {
    uint8_t *key;
    size_t key_len;
    uint8_t *value; /* never NULL, even when empty */
    size_t value_len;
} lsmkv_client_pair;

/*
 * One page of a scan. Everything it points to lives in one allocation that
 * lsmkv_client_scan_page_fini releases.
 */
typedef struct lsmkv_client_scan_page {
    size_t count;
    lsmkv_client_pair *pairs; /* count pairs in ascending key order */
    uint8_t *resume_key;      /* where the next page starts; NULL when the range is done */
    size_t resume_key_len;
} lsmkv_client_scan_page;

/* Frees what a page owns and zeroes it; the struct itself is the caller's. NULL is a no-op. */
LSMKV_CLIENT_API void lsmkv_client_scan_page_fini(lsmkv_client_scan_page *page);

/*
 * Reads one page of range: at most `limit` pairs (1 or more; capped at
 * LSMKV_CLIENT_SCAN_MAX_PAGE by the server), fewer when the server's
 * --max-message-size cuts the page. If page->resume_key is not NULL, more
 * keys follow: call again with range.start set to it for the next page (or
 * use lsmkv_client_scan_each). Each page is read at its own point in time; a
 * scan over several pages is not one snapshot. The client's
 * max_message_size must be at least the server's --max-message-size, or a
 * full page fails with UNAVAILABLE.
 *
 * Errors: INVALID_ARGUMENT for limit 0 or start sorting after end (both given);
 * RESOURCE_EXHAUSTED when a single pair is larger than the server's message
 * limit (scan with keys_only, or raise the limit).
 */
LSMKV_CLIENT_API int lsmkv_client_scan(lsmkv_client *client, const lsmkv_client_range *range,
                                       uint32_t limit, lsmkv_client_scan_page *page,
                                       lsmkv_client_error *err);

/*
 * Called by lsmkv_client_scan_each for each pair, in key order. The bytes are
 * valid only during the call. Return true to go on, false to stop.
 */
typedef bool (*lsmkv_client_scan_fn)(void *ctx, const uint8_t *key, size_t key_len,
                                     const uint8_t *value, size_t value_len);

/*
 * Pages through range for the caller: calls fn for every pair, in key order,
 * each key once, until the range is exhausted, max_pairs pairs were seen (0:
 * no limit) or fn returns false — all of which return OK. Pages are asked for
 * with the largest limit that suits max_pairs, each with its own deadline
 * (the options' timeout_ms). Each page is its own point-in-time view (see
 * lsmkv_client_scan). *seen (may be NULL) receives the number of pairs handed
 * to fn, also on failure: an error ends the scan after those pairs. INTERNAL
 * if the server's resume key does not move forward (never with lsmkv-server).
 */
LSMKV_CLIENT_API int lsmkv_client_scan_each(lsmkv_client *client, const lsmkv_client_range *range,
                                            uint64_t max_pairs, lsmkv_client_scan_fn fn, void *ctx,
                                            uint64_t *seen, lsmkv_client_error *err);

typedef enum lsmkv_client_op_type {
    LSMKV_CLIENT_OP_PUT = 1,    /* key → value */
    LSMKV_CLIENT_OP_DELETE = 2, /* delete key; value must be empty */
} lsmkv_client_op_type;

/* One operation of a batch; the bytes are borrowed for the call. */
typedef struct lsmkv_client_op {
    lsmkv_client_op_type type;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value; /* puts only (NULL and 0 for a delete) */
    size_t value_len;
} lsmkv_client_op;

/*
 * Applies ops[0..count) atomically: no reader sees part of them, and after a
 * server crash either all of them are there or none (with sync ALWAYS, all of
 * them once this returns OK). Later ops on the same key win. An empty batch
 * is OK and writes nothing. `sequence` (may be NULL) receives the server's
 * last sequence number after the batch.
 *
 * Errors: INVALID_ARGUMENT naming the first bad op ("op 3: the key is
 * empty"): an unknown type, an empty or oversize key, an oversize value, a
 * delete with a value, or a batch over the server's batch size limit — and
 * then nothing is written. RESOURCE_EXHAUSTED (not sent) for a batch over the
 * options' max_message_size; one over the server's --max-message-size is
 * dropped by the server (UNAVAILABLE, nothing written).
 */
LSMKV_CLIENT_API int lsmkv_client_batch(lsmkv_client *client, const lsmkv_client_op *ops,
                                        size_t count, lsmkv_client_sync sync, uint64_t *sequence,
                                        lsmkv_client_error *err);

/* One answer of lsmkv_client_multi_get. */
typedef struct lsmkv_client_value {
    bool found;
    uint8_t *value; /* malloc'd when found (never NULL then), NULL otherwise */
    size_t value_len;
} lsmkv_client_value;

/*
 * Reads keys[0..count) at one point in time into values[0..count) (the
 * caller's array; release with lsmkv_client_values_fini). Keys may repeat.
 * On failure values are left untouched. Errors: INVALID_ARGUMENT for more
 * than LSMKV_CLIENT_MULTI_GET_MAX_KEYS keys or a bad key (its index named);
 * RESOURCE_EXHAUSTED when the values found do not fit in one answer under the
 * server's --max-message-size (ask for fewer keys per call).
 */
LSMKV_CLIENT_API int lsmkv_client_multi_get(lsmkv_client *client, size_t count,
                                            const uint8_t *const *keys, const size_t *key_lens,
                                            lsmkv_client_value *values, lsmkv_client_error *err);

/* Frees the values of values[0..count) and zeroes them; the array is the caller's. */
LSMKV_CLIENT_API void lsmkv_client_values_fini(lsmkv_client_value *values, size_t count);

/* Frees memory the library handed out (values from lsmkv_client_get). NULL is a no-op. */
LSMKV_CLIENT_API void lsmkv_client_free(void *ptr);

/* The library's version, "MAJOR.MINOR.PATCH". */
LSMKV_CLIENT_API const char *lsmkv_client_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LSMKV_CLIENT_H */
