/*
 * The transport: one nng rep0 socket listening on every --listen address, with
 * many contexts so that many requests are in flight at once, each answered by
 * rpc_handle (rpc.h) on one of the server's own threads.
 *
 * nng's aio callbacks run on nng's few task threads, which also move every
 * byte of every connection; a callback that waited for an fsync, a stalled
 * store or a disk read would stall the whole server. Two ways to serve
 * (--io-model):
 *
 *   SERVER_IO_CALLBACKS  (the default) a state machine per context: the
 *       receive callback answers on the spot what needs no waiting — a Get
 *       from memory (lsmkv_get_no_wait), a write the store takes at once
 *       (lsmkv_write_options.no_wait) — and queues the rest for a pool of
 *       worker threads; a worker handles it, sends, and starts the next
 *       receive.
 *   SERVER_IO_THREADS    one thread per context that receives, handles and
 *       sends synchronously (nng_ctx_recv/nng_ctx_send, then nng_aio_wait).
 *
 * A request handled by a thread of ours costs one thread handoff, which on a
 * small VM costs about as much CPU as the request; one answered on the spot
 * costs none, as in an echo server. Measured (tools/bench/rpc_vs_echo.sh, 2
 * cores, 16 and 64 clients): callbacks answered 1.2-1.4x the Gets and, with
 * --sync none, 1.2-1.3x the Puts of threads; with --sync always, whose Puts
 * always go to a worker, its Puts were 0.85x of threads' and its Gets 1.5x.
 */
#ifndef LSMKV_SERVER_SERVER_H
#define LSMKV_SERVER_SERVER_H

#include "log.h"
#include "lsmkv/lsmkv.h"
#include "rpc.h"

#include <stddef.h>
#include <stdint.h>

typedef enum server_io_model {
    SERVER_IO_CALLBACKS = 0,
    SERVER_IO_THREADS = 1,
} server_io_model;

typedef struct server_options {
    const char *const *urls; /* nng listen addresses, e.g. tcp://127.0.0.1:7420 */
    int url_count;
    size_t max_message_bytes; /* NNG_OPT_RECVMAXSZ: larger requests are dropped by nng */
    int workers;              /* threads that run requests (both io models) */
    server_io_model io_model;
    const logger *log; /* may be NULL */
} server_options;

typedef struct server server;

/*
 * Opens the socket, starts the workers and listens on every URL, answering
 * each request through r (borrowed; it must outlive the server). On failure
 * nothing is left running and err names the cause: LSMKV_BUSY when an address
 * is already in use, LSMKV_INVALID_ARGUMENT for an address nng cannot listen
 * on, LSMKV_IO_ERROR otherwise. *out is set on success only.
 */
int server_start(const server_options *options, rpc *r, server **out, lsmkv_error *err);

/*
 * Stops taking requests (pending receives cancelled, none started again),
 * answers every request already received, and returns when no thread of the
 * server touches r any more. Connections stay open until server_free, so the
 * answers reach their clients. Idempotent. Not callable from an nng callback.
 */
void server_stop(server *srv);

/*
 * Stops (if still running), closes the listeners, connections and socket, and
 * frees everything. Closing is bounded in time (see server.c on nng 1.5.2's
 * close deadlock). NULL is a no-op.
 */
void server_free(server *srv);

/* Requests answered so far. */
uint64_t server_answered(const server *srv);

#endif
