/*
 * The public client API: each call checks its arguments, encodes the request
 * (codec), exchanges it with the server before its deadline (transport) and
 * decodes the answer (codec). Nothing here knows protobuf or the SP protocol.
 */
#include "lsmkv/client.h"

#include <stdio.h>
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
lsmkv_client_scan_page_fini(lsmkv_client_scan_page *page)
{
    if (page != NULL) {
        free(page->pairs); /* the one allocation holding everything (codec.c) */
        memset(page, 0, sizeof(*page));
    }
}

void
lsmkv_client_values_fini(lsmkv_client_value *values, size_t count)
{
    for (size_t i = 0; values != NULL && i < count; i++) {
        free(values[i].value);
        values[i] = (lsmkv_client_value){0};
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

/* ---- Scan ------------------------------------------------------------------------------ */

static int
check_range(const lsmkv_client_range *range, lsmkv_client_error *err)
{
    int rc = check_bytes("the range's start", range->start, range->start_len, err);
    rc = rc ? rc : check_bytes("the range's end", range->end, range->end_len, err);
    return rc ? rc : check_bytes("the range's prefix", range->prefix, range->prefix_len, err);
}

int
lsmkv_client_scan(lsmkv_client *client, const lsmkv_client_range *range, uint32_t limit,
                  lsmkv_client_scan_page *page, lsmkv_client_error *err)
{
    if (range == NULL || page == NULL) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT,
                         "lsmkv_client_scan: range and page are required");
    }
    int rc = check_range(range, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_scan(range, limit, client->timeout_ms, &request);
    transport_reply *reply;
    rc = roundtrip(client, deadline, &request, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_scan(data, len, page, err);
        transport_reply_free(reply);
    }
    return rc;
}

/* Bytewise order; a proper prefix sorts first. */
static int
compare_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    return c != 0 ? c : (a_len > b_len) - (a_len < b_len);
}

/*
 * Whether the page's resume key lies past where the page started and past its
 * last key, as lsmkv-server's always does: a server that broke this could
 * otherwise keep the scan going round in circles.
 */
static bool
resume_moves_on(const lsmkv_client_range *range, const lsmkv_client_scan_page *page)
{
    const lsmkv_client_pair *last = page->count > 0 ? &page->pairs[page->count - 1] : NULL;
    return compare_bytes(page->resume_key, page->resume_key_len, range->start, range->start_len) >
               0 &&
           (last == NULL ||
            compare_bytes(page->resume_key, page->resume_key_len, last->key, last->key_len) > 0);
}

/* Hands the page's pairs to fn; false once fn or max_pairs says stop. */
static bool
scan_deliver(const lsmkv_client_scan_page *page, uint64_t max_pairs, lsmkv_client_scan_fn fn,
             void *ctx, uint64_t *seen)
{
    for (size_t i = 0; i < page->count; i++) {
        const lsmkv_client_pair *p = &page->pairs[i];
        ++*seen;
        if (!fn(ctx, p->key, p->key_len, p->value, p->value_len)) {
            return false;
        }
    }
    return max_pairs == 0 || *seen < max_pairs;
}

int
lsmkv_client_scan_each(lsmkv_client *client, const lsmkv_client_range *range, uint64_t max_pairs,
                       lsmkv_client_scan_fn fn, void *ctx, uint64_t *seen, lsmkv_client_error *err)
{
    if (range == NULL || fn == NULL) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT,
                         "lsmkv_client_scan_each: range and fn are required");
    }
    lsmkv_client_range r = *range;
    uint8_t *start = NULL; /* the resume key the next page starts at */
    uint64_t n = 0;
    int rc = LSMKV_CLIENT_OK;
    bool more = true;
    while (more && rc == LSMKV_CLIENT_OK) {
        uint32_t limit = LSMKV_CLIENT_SCAN_MAX_PAGE;
        if (max_pairs > 0 && max_pairs - n < limit) {
            limit = (uint32_t)(max_pairs - n);
        }
        lsmkv_client_scan_page page;
        rc = lsmkv_client_scan(client, &r, limit, &page, err);
        if (rc != LSMKV_CLIENT_OK) {
            break;
        }
        more = scan_deliver(&page, max_pairs, fn, ctx, &n) && page.resume_key != NULL;
        if (more && !resume_moves_on(&r, &page)) {
            rc = error_set(err, LSMKV_CLIENT_INTERNAL,
                           "malformed answer to Scan: the resume key does not move forward");
        } else if (more) {
            free(start);
            start = xmemdup(page.resume_key, page.resume_key_len);
            r.start = start;
            r.start_len = page.resume_key_len;
        }
        lsmkv_client_scan_page_fini(&page);
    }
    free(start);
    if (seen != NULL) {
        *seen = n;
    }
    return rc;
}

/* ---- Batch, MultiGet ------------------------------------------------------------------- */

static int
check_ops(const lsmkv_client_op *ops, size_t count, lsmkv_client_error *err)
{
    if (ops == NULL && count > 0) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "the ops are NULL but count is %zu",
                         count);
    }
    for (size_t i = 0; i < count; i++) {
        if (ops[i].type != LSMKV_CLIENT_OP_PUT && ops[i].type != LSMKV_CLIENT_OP_DELETE) {
            return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT,
                             "op %zu: unknown type %d (LSMKV_CLIENT_OP_PUT or _DELETE)", i,
                             (int)ops[i].type);
        }
        char what[48];
        snprintf(what, sizeof(what), "op %zu: the key", i);
        int rc = check_bytes(what, ops[i].key, ops[i].key_len, err);
        snprintf(what, sizeof(what), "op %zu: the value", i);
        rc = rc ? rc : check_bytes(what, ops[i].value, ops[i].value_len, err);
        if (rc != LSMKV_CLIENT_OK) {
            return rc;
        }
    }
    return LSMKV_CLIENT_OK;
}

int
lsmkv_client_batch(lsmkv_client *client, const lsmkv_client_op *ops, size_t count,
                   lsmkv_client_sync sync, uint64_t *sequence, lsmkv_client_error *err)
{
    int rc = check_ops(ops, count, err);
    rc = rc ? rc : check_sync(sync, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_batch(ops, count, sync, client->timeout_ms, &request);
    transport_reply *reply;
    rc = roundtrip(client, deadline, &request, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_batch(data, len, sequence, err);
        transport_reply_free(reply);
    }
    return rc;
}

int
lsmkv_client_multi_get(lsmkv_client *client, size_t count, const uint8_t *const *keys,
                       const size_t *key_lens, lsmkv_client_value *values, lsmkv_client_error *err)
{
    if (count > 0 && (keys == NULL || key_lens == NULL || values == NULL)) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT,
                         "lsmkv_client_multi_get: keys, key_lens and values are required");
    }
    for (size_t i = 0; i < count; i++) {
        char what[32];
        snprintf(what, sizeof(what), "key %zu", i);
        int rc = check_bytes(what, keys[i], key_lens[i], err);
        if (rc != LSMKV_CLIENT_OK) {
            return rc;
        }
    }
    uint64_t deadline = transport_deadline(client->timeout_ms);
    codec_bytes request;
    codec_encode_multi_get(count, keys, key_lens, client->timeout_ms, &request);
    transport_reply *reply;
    int rc = roundtrip(client, deadline, &request, &reply, err);
    if (rc == LSMKV_CLIENT_OK) {
        size_t len;
        const uint8_t *data = transport_reply_data(reply, &len);
        rc = codec_decode_multi_get(data, len, count, values, err);
        transport_reply_free(reply);
    }
    return rc;
}
