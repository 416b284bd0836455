/*
 * codec — the client's only contact with protobuf-c's generated code for
 * rpc.proto and kv.proto. It encodes a call into the bytes of an RpcRequest
 * envelope and decodes the bytes of an RpcResponse into the client's result
 * structs or an error. Methods are looked up in the generated KV service
 * descriptor by name, so a method renamed in kv.proto fails the unit tests
 * rather than the wire.
 *
 * Decoding trusts nothing: bytes that are not an RpcResponse, a payload that
 * is not the method's response message, or a status code outside gRPC's
 * range give a clear error, never a crash.
 */
#ifndef LSMKV_CLIENT_CODEC_H
#define LSMKV_CLIENT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsmkv/client.h"

/* The KV methods the client calls, by their kv.proto names. */
typedef enum codec_method {
    CODEC_PUT,
    CODEC_GET,
    CODEC_DELETE,
    CODEC_FLUSH,
    CODEC_COMPACT,
    CODEC_STATS,
    CODEC_SCAN,
    CODEC_BATCH,
    CODEC_MULTI_GET,
    CODEC_METHOD_COUNT
} codec_method;

/* A malloc'd byte string (free data with free()). */
typedef struct codec_bytes {
    uint8_t *data;
    size_t len;
} codec_bytes;

/* ---- descriptors -------------------------------------------------------------- */

/* The method's name in kv.proto ("Put"). */
const char *codec_method_name(codec_method method);
/* The method's full name as the envelope carries it ("/lsmkv.v1.KV/Put"). */
const char *codec_method_path(codec_method method);

/* The methods of kv.proto's KV service, in declaration order (for drift tests). */
size_t codec_service_method_count(void);
const char *codec_service_method_name(size_t index);

/* The values of rpc.proto's Code enum, in declaration order (for drift tests). */
size_t codec_wire_code_count(void);
int codec_wire_code(size_t index, const char **name);

/* ---- requests ----------------------------------------------------------------
 * Each fills *out with a complete RpcRequest envelope carrying the method's
 * request message and `timeout_ms` (the caller's deadline, 0 for none).
 */

void codec_encode_put(const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                      lsmkv_client_sync sync, uint32_t timeout_ms, codec_bytes *out);
void codec_encode_get(const uint8_t *key, size_t key_len, uint32_t timeout_ms, codec_bytes *out);
void codec_encode_delete(const uint8_t *key, size_t key_len, lsmkv_client_sync sync,
                         uint32_t timeout_ms, codec_bytes *out);
/* Flush, Compact and Stats, whose request messages have no fields. */
void codec_encode_empty(codec_method method, uint32_t timeout_ms, codec_bytes *out);
void codec_encode_scan(const lsmkv_client_range *range, uint32_t limit, uint32_t timeout_ms,
                       codec_bytes *out);
/* Op types are sent as given (the server judges them). */
void codec_encode_batch(const lsmkv_client_op *ops, size_t count, lsmkv_client_sync sync,
                        uint32_t timeout_ms, codec_bytes *out);
void codec_encode_multi_get(size_t count, const uint8_t *const *keys, const size_t *key_lens,
                            uint32_t timeout_ms, codec_bytes *out);

/* ---- responses ---------------------------------------------------------------
 * Each decodes the bytes of one RpcResponse. A non-OK Status is returned as
 * its code with the server's message in *err; malformed bytes are
 * LSMKV_CLIENT_INTERNAL. Out-parameters are written on success only.
 */

int codec_decode_put(const uint8_t *reply, size_t len, uint64_t *sequence, lsmkv_client_error *err);
/* *value is malloc'd when found (never NULL then), NULL otherwise. */
int codec_decode_get(const uint8_t *reply, size_t len, uint8_t **value, size_t *value_len,
                     bool *found, lsmkv_client_error *err);
int codec_decode_delete(const uint8_t *reply, size_t len, uint64_t *sequence,
                        lsmkv_client_error *err);
int codec_decode_flush(const uint8_t *reply, size_t len, lsmkv_client_table_list *tables,
                       lsmkv_client_error *err);
int codec_decode_compact(const uint8_t *reply, size_t len, lsmkv_client_compaction_result *result,
                         lsmkv_client_error *err);
int codec_decode_stats(const uint8_t *reply, size_t len, lsmkv_client_stats *stats,
                       lsmkv_client_error *err);
/* *page receives the pairs and resume key in one allocation (lsmkv_client_scan_page_fini). */
int codec_decode_scan(const uint8_t *reply, size_t len, lsmkv_client_scan_page *page,
                      lsmkv_client_error *err);
int codec_decode_batch(const uint8_t *reply, size_t len, uint64_t *sequence,
                       lsmkv_client_error *err);
/* Exactly `count` results are expected (one per key asked for): others are INTERNAL. */
int codec_decode_multi_get(const uint8_t *reply, size_t len, size_t count,
                           lsmkv_client_value *values, lsmkv_client_error *err);

#endif
