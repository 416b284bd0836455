/*
 * bench_backend — one small ops table per storage engine lsmkv-bench can drive.
 *
 * The workloads (bench_workloads.c) see only this table, so lsmkv, LevelDB and
 * RocksDB run exactly the same key sequences with the same settings. A back end
 * handles its own errors: any failure prints the engine's message on stderr and
 * exits the (child) process with status 1, because a benchmark whose writes
 * fail measures nothing.
 *
 * With --threads=N every thread works on its own handle: session_open gives
 * one per thread from the database open() returned (the rpc back end: one
 * lsmkv_client each); engines without session_open share the database
 * handle, which their APIs allow from many threads. Every operation below
 * takes such a handle.
 */
#ifndef LSMKV_TOOLS_BENCH_BACKEND_H
#define LSMKV_TOOLS_BENCH_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_flags.h"

/* One put of a batch; the bytes are borrowed for the call. */
typedef struct bench_kv {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
} bench_kv;

typedef struct bench_backend {
    const char *name; /* as given to --engine, also the subdirectory of --db */

    /* The database lives elsewhere (a server): there is no directory to
     * delete before fill* or to measure after writes. */
    bool remote;

    /* A human-readable version string for the header ("lsmkv 0.1.0"), from
     * an open handle; static storage. */
    const char *(*version)(void *db);

    /*
     * Opens (creating if missing) the database in `dir` with the settings of
     * `cfg`: write buffer, bloom bits, no compression, and writes without sync
     * unless cfg->sync_always. Returns the engine's handle; never fails.
     */
    void *(*open)(const bench_config *cfg, const char *dir);

    /* Closes the handle and frees everything open() allocated. */
    void (*close)(void *db);

    /* Per-thread handles (NULL: threads share db): session_open(db, i) for
     * thread i, session_close before close(db). warm_up (may be NULL) makes
     * one untimed round trip so no workload measures connecting. */
    void *(*session_open)(void *db, unsigned index);
    void (*session_close)(void *session);
    void (*warm_up)(void *session);

    /* Writes key -> value; `sync` forces an fsync of this write (fillsync). */
    void (*put)(void *db, const uint8_t *key, size_t key_len, const uint8_t *value,
                size_t value_len, bool sync);

    /* Deletes key; deleting a missing key is not an error. */
    void (*del)(void *db, const uint8_t *key, size_t key_len);

    /* Point read: true when found, with the value's length in *value_len. */
    bool (*get)(void *db, const uint8_t *key, size_t key_len, size_t *value_len);

    /*
     * Sequential scan. iter_new returns an iterator positioned at the first
     * key; iter_next reads the entry under it (its key+value bytes into
     * *entry_bytes), steps past it and returns true, or returns false at the
     * end; iter_free releases it. All three NULL when the engine has no
     * iterator: readseq then falls back to point reads in key order.
     */
    void *(*iter_new)(void *db);
    bool (*iter_next)(void *it, size_t *entry_bytes);
    void (*iter_free)(void *it);

    /*
     * Requests of many keys (NULL when the engine has none: the workloads
     * that need them are refused before any run). batch_put writes count
     * puts atomically in one request (one write batch); multi_get reads count
     * keys in one request at one point in time, returns how many were found
     * and adds their key + value bytes to *bytes.
     */
    void (*batch_put)(void *db, const bench_kv *kvs, size_t count, bool sync);
    size_t (*multi_get)(void *db, size_t count, const uint8_t *const *keys, const size_t *key_lens,
                        uint64_t *bytes);

    /*
     * A scan of [start, end) in pages of at most page_size pairs (a NULL
     * start: from the first key; a NULL end: to the last). scan_next reads
     * the next page, adding its pairs to *keys and their bytes to *bytes,
     * and returns false, reading nothing, once the range is done. NULL when
     * the engine cannot scan a range.
     */
    void *(*scan_new)(void *db, const uint8_t *start, size_t start_len, const uint8_t *end,
                      size_t end_len, uint32_t page_size);
    bool (*scan_next)(void *scan, uint64_t *keys, uint64_t *bytes);
    void (*scan_free)(void *scan);

    /* Compacts the whole key range down to the last level and waits for it
     * (the `compact` workload, like db_bench's). */
    void (*compact)(void *db);

    /*
     * Waits until the engine's background work is done: no memtable waiting
     * for its flush and no compaction due or running (the `settle`
     * workload). `dir` is the database's directory. NULL when the engine
     * cannot tell (a remote server).
     */
    void (*wait_idle)(void *db, const char *dir);

    /* Prints the engine's own statistics (levels, compactions, stalls) on
     * `out`, as --stats and the `stats` workload show them. */
    void (*print_stats)(void *db, FILE *out);
} bench_backend;

/* The back end called `name`, or NULL when unknown or not built in. */
const bench_backend *bench_backend_find(const char *name);

/* Comma-separated names of the back ends built into this binary. */
const char *bench_backend_names(void);

/* Sleeps `ms` milliseconds (the back ends' polling waits). */
void bench_sleep_ms(unsigned ms);

extern const bench_backend bench_backend_lsmkv;
extern const bench_backend bench_backend_rpc;
#ifdef LSMKV_BENCH_HAVE_LEVELDB
extern const bench_backend bench_backend_leveldb;
#endif
#ifdef LSMKV_BENCH_HAVE_ROCKSDB
extern const bench_backend bench_backend_rocksdb;
#endif

#endif /* LSMKV_TOOLS_BENCH_BACKEND_H */
