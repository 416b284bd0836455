/*
 * The request path, without a network: one serialized RpcRequest
 * (proto/lsmkv/v1/rpc.proto) in, one serialized RpcResponse out. rpc decodes
 * the envelope, finds the method through protobuf-c's generated service
 * descriptor, enforces the caller's deadline, unpacks the payload with the
 * method's input descriptor, invokes the handler (kv_service.h) through the
 * service struct, and packs the answer. Every failure becomes a status in the
 * response: bad input never crashes and never reaches the store half-done.
 *
 * Engine status codes become wire codes through lsmkv_status_grpc_code() (the
 * status table in lsmkv.h) and nowhere else; the one exception, a write that
 * stalled past its deadline, is documented in rpc.c.
 */
#ifndef LSMKV_SERVER_RPC_H
#define LSMKV_SERVER_RPC_H

#include "log.h"
#include "lsmkv/lsmkv.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rpc rpc;

typedef struct rpc_options {
    size_t max_key_bytes; /* the store's limits, checked before the store is called */
    size_t max_value_bytes;
    size_t max_batch_bytes;   /* 0: no check before the store's own */
    size_t max_message_bytes; /* the largest message the transport carries (the server's
                                 --max-message-size): Scan and MultiGet keep their
                                 responses, envelope included, within it. 0: no limit */
    const logger *log;        /* may be NULL */
} rpc_options;

/* What an OK RpcResponse adds around its payload, with room for the transport's
 * header: rpc_new leaves this much of max_message_bytes to the envelope. */
#define RPC_ENVELOPE_RESERVE 64u

/*
 * Where rpc_handle writes the packed RpcResponse, so that it is packed once,
 * straight into the transport's message. reserve returns `size` writable bytes
 * owned by the caller; rpc_handle calls it exactly once per request, after it
 * has stopped reading the request bytes.
 */
typedef struct rpc_reply {
    uint8_t *(*reserve)(void *ctx, size_t size);
    void *ctx;
} rpc_reply;

/* Serves db (borrowed; it must outlive the rpc). */
rpc *rpc_new(lsmkv *db, const rpc_options *options);

/* NULL is a no-op. */
void rpc_free(rpc *r);

/*
 * Handles one request: `request` holds len bytes of a serialized RpcRequest
 * (borrowed, read-only); `received_ns` is when the transport delivered it, on
 * rpc_clock_ns()'s clock, from which the request's timeout_ms is counted.
 * Writes the response through reply and returns the wire status code it
 * carries (0 = OK). Safe from many threads at once; the handler may block
 * (fsync, a stalled store), so call it from a thread that may block.
 */
int rpc_handle(rpc *r, const uint8_t *request, size_t len, uint64_t received_ns,
               const rpc_reply *reply);

/* rpc_try_handle's answer when the request must go to a thread that may block. */
#define RPC_WOULD_BLOCK (-1)

/*
 * As rpc_handle, for a thread that must not block (an nng callback): a Get
 * the store can answer from memory (lsmkv_get_no_wait) and a write it can
 * take at once (lsmkv_write_options.no_wait) are handled; any other request,
 * or one that would have to wait, returns RPC_WOULD_BLOCK having changed
 * nothing and without calling reply: hand it to rpc_handle on a thread that
 * may block. Bad input is answered at once.
 */
int rpc_try_handle(rpc *r, const uint8_t *request, size_t len, uint64_t received_ns,
                   const rpc_reply *reply);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t rpc_clock_ns(void);

#endif
