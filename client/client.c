/*
 * The public client API: each call checks its arguments, encodes the request
 * (codec), exchanges it with the server before its deadline (transport) and
 * decodes the answer (codec). Nothing here knows protobuf or nng.
 */
#include "lsmkv/client.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "error.h"
#include "transport.h"
#include "xalloc.h"

#ifndef LSMKV_CLIENT_VERSION_STRING
#define LSMKV_CLIENT_VERSION_STRING "0.0.0"
#endif

struct lsmkv_client {
    transport *transport;
    uint32_t timeout_ms; /* of every call */
};

/* ---- status --------------------------------------------------------------------- */

const char *
lsmkv_client_status_name(int code)
{
    switch (code) {
#define LSMKV_CLIENT_STATUS_NAME(name, value, message)                                             \
    case value:                                                                                    \
        return #name;
        LSMKV_CLIENT_STATUS_TABLE(LSMKV_CLIENT_STATUS_NAME)
#undef LSMKV_CLIENT_STATUS_NAME
    }
    return "UNKNOWN";
}

const char *
lsmkv_client_status_str(int code)
{
    switch (code) {
#define LSMKV_CLIENT_STATUS_STR(name, value, message)                                              \
    case value:                                                                                    \
        return message;
        LSMKV_CLIENT_STATUS_TABLE(LSMKV_CLIENT_STATUS_STR)
#undef LSMKV_CLIENT_STATUS_STR
    }
    return lsmkv_client_status_str(LSMKV_CLIENT_UNKNOWN);
}

/* ---- results ------------------------------------------------------------------- */

void
lsmkv_client_table_list_fini(lsmkv_client_table_list *list)
{
    if (list == NULL) {
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        free(list->tables[i].min_key);
        free(list->tables[i].max_key);
    }
    free(list->tables);
    list->tables = NULL;
    list->count = 0;
}

void
lsmkv_client_compaction_result_fini(lsmkv_client_compaction_result *result)
{
    if (result != NULL) {
        lsmkv_client_table_list_fini(&result->outputs);
        memset(result, 0, sizeof(*result));
    }
}

void
lsmkv_client_stats_fini(lsmkv_client_stats *stats)
{
    if (stats != NULL) {
        free(stats->levels);
        free(stats->server_version);
        memset(stats, 0, sizeof(*stats));
    }
}

void
lsmkv_client_free(void *ptr)
{
    free(ptr);
}

const char *
lsmkv_client_version(void)
{
    return LSMKV_CLIENT_VERSION_STRING;
}

/* ---- lifecycle ----------------------------------------------------------------- */

void
lsmkv_client_options_init(lsmkv_client_options *options)
{
    options->timeout_ms = LSMKV_CLIENT_DEFAULT_TIMEOUT_MS;
    options->max_message_size = LSMKV_CLIENT_DEFAULT_MAX_MESSAGE_SIZE;
}

int
lsmkv_client_open(const char *url, const lsmkv_client_options *options, lsmkv_client **client_out,
                  lsmkv_client_error *err)
{
    if (url == NULL || *url == '\0' || client_out == NULL) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "lsmkv_client_open: no server URL");
    }
    lsmkv_client_options o;
    lsmkv_client_options_init(&o);
    if (options != NULL) {
        o.timeout_ms = options->timeout_ms ? options->timeout_ms : o.timeout_ms;
        o.max_message_size =
            options->max_message_size ? options->max_message_size : o.max_message_size;
    }
    transport *t;
    int rc = transport_open(url, o.max_message_size, &t, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    lsmkv_client *c = xcalloc(1, sizeof(*c));
    c->transport = t;
    c->timeout_ms = o.timeout_ms;
    *client_out = c;
    return LSMKV_CLIENT_OK;
}

void
lsmkv_client_close(lsmkv_client *client)
{
    if (client != NULL) {
        transport_close(client->transport);
        free(client);
    }
}

/* ---- calls ----------------------------------------------------------------------- */

/* Sends the encoded request (and frees it) and waits for the answer. */
static int
roundtrip(lsmkv_client *c, uint64_t deadline, codec_bytes *request, transport_reply **reply,
          lsmkv_client_error *err)
{
    int rc = transport_call(c->transport, request->data, request->len, deadline, c->timeout_ms,
                            reply, err);
    free(request->data);
    request->data = NULL;
    return rc;
}

static int
check_bytes(const char *what, const void *data, size_t len, lsmkv_client_error *err)
{
    if (data == NULL && len > 0) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "%s is NULL but its length is %zu",
                         what, len);
    }
    return LSMKV_CLIENT_OK;
}

static int
check_sync(lsmkv_client_sync sync, lsmkv_client_error *err)
{
    if ((int)sync < LSMKV_CLIENT_SYNC_DEFAULT || (int)sync > LSMKV_CLIENT_SYNC_NONE) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "unknown sync mode %d", (int)sync);
    }
    return LSMKV_CLIENT_OK;
}

int
lsmkv_client_put(lsmkv_client *client, const uint8_t *key, size_t key_len, const uint8_t *value,
                 size_t value_len, lsmkv_client_sync sync, uint64_t *sequence,
                 lsmkv_client_error *err)
{
    int rc = check_bytes("the key", key, key_len, err);
    rc = rc ? rc : check_bytes("the value", value, value_len, err);
    rc = rc ? rc : check_sync(sync, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_put(key, key_len, value, value_len, sync, client->timeout_ms, &request);
    transport_reply *reply;
    rc = roundtrip(client, deadline, &request, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_put(data, len, sequence, err);
        transport_reply_free(reply);
    }
    return rc;
}

int
lsmkv_client_get(lsmkv_client *client, const uint8_t *key, size_t key_len, uint8_t **value_out,
                 size_t *value_len, bool *found, lsmkv_client_error *err)
{
    if (value_out == NULL || value_len == NULL || found == NULL) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT,
                         "lsmkv_client_get: value_out, value_len and found are required");
    }
    int rc = check_bytes("the key", key, key_len, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_get(key, key_len, client->timeout_ms, &request);
    transport_reply *reply;
    rc = roundtrip(client, deadline, &request, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_get(data, len, value_out, value_len, found, err);
        transport_reply_free(reply);
    }
    return rc;
}

int
lsmkv_client_delete(lsmkv_client *client, const uint8_t *key, size_t key_len,
                    lsmkv_client_sync sync, uint64_t *sequence, lsmkv_client_error *err)
{
    int rc = check_bytes("the key", key, key_len, err);
    rc = rc ? rc : check_sync(sync, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_delete(key, key_len, sync, client->timeout_ms, &request);
    transport_reply *reply;
    rc = roundtrip(client, deadline, &request, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_delete(data, len, sequence, err);
        transport_reply_free(reply);
    }
    return rc;
}

/* Flush, Compact and Stats: an empty request, then the method's decoder. */
static int
call_empty(lsmkv_client *client, codec_method method, transport_reply **reply,
           lsmkv_client_error *err)
{
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_empty(method, client->timeout_ms, &request);
    return roundtrip(client, deadline, &request, reply, err);
}

int
lsmkv_client_flush(lsmkv_client *client, lsmkv_client_table_list *written, lsmkv_client_error *err)
{
    transport_reply *reply;
    int rc = call_empty(client, CODEC_FLUSH, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_flush(data, len, written, err);
        transport_reply_free(reply);
    }
    return rc;
}

int
lsmkv_client_compact(lsmkv_client *client, lsmkv_client_compaction_result *result,
                     lsmkv_client_error *err)
{
    transport_reply *reply;
    int rc = call_empty(client, CODEC_COMPACT, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_compact(data, len, result, err);
        transport_reply_free(reply);
    }
    return rc;
}

int
lsmkv_client_get_stats(lsmkv_client *client, lsmkv_client_stats *stats, lsmkv_client_error *err)
{
    if (stats == NULL) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT,
                         "lsmkv_client_get_stats: stats is NULL");
    }
    transport_reply *reply;
    int rc = call_empty(client, CODEC_STATS, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_stats(data, len, stats, err);
        transport_reply_free(reply);
    }
    return rc;
}
