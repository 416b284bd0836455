/*
 * transport — one nng REQ socket dialed to one server URL, and the contexts
 * calls run on. A call takes an idle context (nng context + aio) from a small
 * pool, or opens one, so concurrent calls proceed side by side on the one
 * connection instead of queuing behind each other; contexts are returned to
 * the pool after a clean exchange and closed after a failed one.
 *
 * Every exchange is bounded by the caller's deadline: nng's automatic resend
 * is off (NNG_OPT_REQ_RESENDTIME is infinite) and each send and receive waits
 * at most until the deadline. The dialer is started non-blocking, so opening
 * needs no server and nng reconnects in the background after a server restart.
 */
#ifndef LSMKV_CLIENT_TRANSPORT_H
#define LSMKV_CLIENT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "lsmkv/client.h"

typedef struct transport transport;
/* An answer's bytes; opaque so that nng stays inside transport.c. */
typedef struct transport_reply transport_reply;

/*
 * Creates the socket and starts dialing `url` in the background.
 * `max_message_size` caps both requests and answers. INVALID_ARGUMENT for a
 * URL nng rejects, UNAVAILABLE if the socket cannot be created.
 */
int transport_open(const char *url, size_t max_message_size, transport **out,
                   lsmkv_client_error *err);

/* Closes every context and the socket. No call may be running. NULL is a no-op. */
void transport_close(transport *t);

/* Milliseconds on nng's monotonic clock `timeout_ms` from now: a call's deadline. */
uint64_t transport_deadline(uint32_t timeout_ms);

/*
 * Sends `request` and waits for its answer until `deadline` (from
 * transport_deadline). On OK, *reply holds the answer: read it with
 * transport_reply_data and release it with transport_reply_free. Failures
 * (see lsmkv_client_error in client.h): RESOURCE_EXHAUSTED for a request over
 * max_message_size, UNAVAILABLE when not connected by the deadline or the
 * connection closed before the answer, DEADLINE_EXCEEDED when no answer came
 * in time. `timeout_ms` is only for the messages.
 */
int transport_call(transport *t, const uint8_t *request, size_t len, uint64_t deadline,
                   uint32_t timeout_ms, transport_reply **reply, lsmkv_client_error *err);

const uint8_t *transport_reply_data(const transport_reply *reply, size_t *len);
/* NULL is a no-op. */
void transport_reply_free(transport_reply *reply);

#endif
