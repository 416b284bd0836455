/*
 * transport — the calls of one client to one server URL, over one connection
 * that lsmkv's own SP code speaks (sp.h, dialer.h; why not libnng: the note
 * atop transport.c). Calls from many threads share the connection and do not
 * wait for each other's answers; each request carries its own ID.
 *
 * Every call is bounded by its deadline: connecting (retried while refused),
 * sending and waiting for the answer. A request is sent at most once. The
 * connection is made by the first call that needs it and made again after it
 * fails, so a client may be opened before its server and outlives restarts.
 */
#ifndef LSMKV_CLIENT_TRANSPORT_H
#define LSMKV_CLIENT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lsmkv/client.h"

typedef struct transport transport;
/* An answer's bytes. */
typedef struct transport_reply transport_reply;

/*
 * Parses `url` (see dialer.h for the forms); connects nothing yet.
 * `max_message_size` caps both requests and answers. INVALID_ARGUMENT for a
 * URL that is not one of those forms.
 */
int transport_open(const char *url, size_t max_message_size, transport **out,
                   lsmkv_client_error *err);

/* Closes the connection. No call may be running. NULL is a no-op. */
void transport_close(transport *t);

/* Milliseconds on the monotonic clock `timeout_ms` from now: a call's deadline (clock.h). */
uint64_t transport_deadline(uint32_t timeout_ms);

/*
 * Sends `request` and waits for its answer until `deadline` (from
 * transport_deadline). On OK, *reply holds the answer: read it with
 * transport_reply_data and release it with transport_reply_free. Failures
 * (see lsmkv_client_error in client.h): RESOURCE_EXHAUSTED for a request over
 * max_message_size, UNAVAILABLE when not connected by the deadline or the
 * connection closed before the answer (an answer over max_message_size closes
 * it too), DEADLINE_EXCEEDED when the request could not be sent or no answer
 * came in time. `timeout_ms` is only for the messages.
 */
int transport_call(transport *t, const uint8_t *request, size_t len, uint64_t deadline,
                   uint32_t timeout_ms, transport_reply **reply, lsmkv_client_error *err);

const uint8_t *transport_reply_data(const transport_reply *reply, size_t *len);
/* NULL is a no-op. */
void transport_reply_free(transport_reply *reply);

#endif
