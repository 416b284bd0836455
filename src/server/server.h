/*
 * The transport: one nng rep0 socket listening on every --listen address, with
 * many contexts so that many requests are in flight at once, each answered by
 * rpc_handle (rpc.h) on one of the server's own threads.
 *
 * nng's aio callbacks run on nng's few task threads, which also move every
 * byte of every connection; a callback that waited for an fsync or a stalled
 * store would stall the whole server. So store work never runs there. Two
 * ways to arrange that, selectable (hidden flag --io-model) for measuring:
 *
 *   SERVER_IO_THREADS    one thread per context that receives, handles and
 *       sends synchronously (nng_ctx_recv/nng_ctx_send, then nng_aio_wait).
 *       The default: measured as fast or faster (tools/loadgen).
 *   SERVER_IO_CALLBACKS  a state machine per context: the receive callback
 *       queues the request for a pool of worker threads; a worker handles it,
 *       sends, and starts the next receive.
 *
 * Both make one thread handoff per request: nng completes an aio without a
 * callback inline, waking the waiting thread directly, so the thread model's
 * sends cost no wakeup, and its per-slot locks are uncontended, while the
 * callbacks model's queue lock is shared by nng's threads and the workers. At
 * 1 and 16 clients the two are within noise of each other; at 64 clients the
 * thread model answered 20-30% more Gets with less CPU per request.
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
