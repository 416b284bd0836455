/*
 * lsmkv client — talks to lsmkv-server over nng (SP req/rep) with the
 * protobuf messages of proto/lsmkv/v1/ (rpc.proto's envelope, kv.proto's KV
 * service).
 *
 * A client is one nng REQ socket connected to one server URL
 * ("tcp://127.0.0.1:7420", "ipc:///run/lsmkv.sock"). Opening does not wait
 * for the server: the connection is made in the background and re-made after
 * the server restarts. Every call is one request with a deadline (the
 * options' timeout_ms): the deadline travels to the server in the envelope and
 * is enforced here too, so no call waits longer than its timeout, whether the
 * server is slow, gone or never was there.
 *
 * nng's automatic resend is disabled: a call is sent at most once, because a
 * Put resent after a timeout could land after a newer Put of the same key.
 * A call that failed with DEADLINE_EXCEEDED or UNAVAILABLE may or may not
 * have been applied; retrying is the caller's choice.
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
 * not wait for each other: each call uses its own nng context.
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
} lsmkv_client_stats;

/* Frees what *stats owns and zeroes it; the struct itself is the caller's. */
LSMKV_CLIENT_API void lsmkv_client_stats_fini(lsmkv_client_stats *stats);

/* ---- the client ------------------------------------------------------------------ */

typedef struct lsmkv_client lsmkv_client;

/*
 * Creates a client for the server at `url` and starts connecting in the
 * background; it does not wait for (or need) the server to be up. `options`
 * may be NULL (the defaults). Returns INVALID_ARGUMENT for a URL nng does not
 * understand, UNAVAILABLE if nng cannot create the socket.
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

/* Frees memory the library handed out (values from lsmkv_client_get). NULL is a no-op. */
LSMKV_CLIENT_API void lsmkv_client_free(void *ptr);

/* The library's version, "MAJOR.MINOR.PATCH". */
LSMKV_CLIENT_API const char *lsmkv_client_version(void);

#ifdef __cplusplus
}
#endif

#endif /* LSMKV_CLIENT_H */
