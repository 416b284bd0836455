/*
 * The KV service of proto/lsmkv/v1/kv.proto: one handler per RPC. A handler
 * validates its request (empty or oversize key or value, unknown enum values)
 * before touching the store, calls the store, and fills the response.
 *
 * The handlers sit in protobuf-c's generated service struct; rpc.c reaches
 * them only through the generic ProtobufCService (method lookup by name in the
 * service descriptor, then service->invoke), never by name in a switch.
 * Handlers run on the server's worker threads, since a write may wait for an
 * fsync or a stalled store; only a call with kv_call.no_wait, which fails
 * rather than waits, may run on nng's callback threads.
 */
#ifndef LSMKV_SERVER_KV_SERVICE_H
#define LSMKV_SERVER_KV_SERVICE_H

#include "log.h"
#include "lsmkv/lsmkv.h"

#include <protobuf-c/protobuf-c.h>

#include <stdint.h>

typedef struct kv_service kv_service;

/* Scan answers at most this many pairs per page (kv.proto's ScanRequest.limit). */
#define KV_SCAN_MAX_PAIRS 10000u
/* MultiGet takes at most this many keys per call. */
#define KV_MULTI_GET_MAX_KEYS 10000u

typedef struct kv_service_options {
    size_t max_key_bytes; /* the store's limits (lsmkv_options), checked before the store */
    size_t max_value_bytes;
    size_t max_batch_bytes;
    /* The most bytes a packed response message may take, so that it fits the
     * transport's limit with its envelope (rpc.c works it out); Scan pages and
     * MultiGet answers are cut or refused to stay within it. 0: no limit. */
    size_t max_response_bytes;
    const logger *log; /* may be NULL */
} kv_service_options;

/*
 * One call. The closure_data given to service->invoke must point to a kv_call
 * (it may be the first member of the caller's larger struct). A handler that
 * succeeds calls the closure with its response; one that fails fills err
 * (an engine code and a readable message) and calls the closure with NULL.
 * Handlers call the closure exactly once, before they return.
 */
typedef struct kv_call {
    uint32_t timeout_ms; /* what is left of the caller's deadline; 0: none */
    bool no_wait;        /* a call that would wait (for an fsync, a stall, a read from
                            disk) fails with LSMKV_WOULD_BLOCK instead, having changed
                            nothing (lsmkv_write_options.no_wait, lsmkv_get_no_wait) */
    lsmkv_error err;
} kv_call;

/*
 * Whether a method may be called with kv_call.no_wait: Get (from memory only:
 * lsmkv_get_no_wait) and the writes Put, Delete and Batch, whose store calls
 * refuse to wait. Scan, MultiGet, Flush, Compact and Stats always run where
 * blocking is allowed.
 */
bool kv_service_may_try_without_waiting(const ProtobufCMethodDescriptor *method);

/* Serves db (borrowed; it must outlive the service). */
kv_service *kv_service_new(lsmkv *db, const kv_service_options *options);

/* NULL is a no-op. */
void kv_service_free(kv_service *svc);

/* The generic service for dispatch: its descriptor names the service and its methods. */
ProtobufCService *kv_service_base(kv_service *svc);

/* Counts one answered RPC (any method, any status) for the Stats RPC. Thread-safe. */
void kv_service_count_answer(kv_service *svc, bool ok);

#endif
