/*
 * Why contexts and aios, and how deadlines are enforced:
 *
 * A REQ socket used directly (nng_sendmsg/nng_recvmsg) carries one request at
 * a time; an nng context carries its own request, so calls on many threads do
 * not serialize. nng 1.5.2 has no synchronous receive on a context, so each
 * context has its own aio, and the calling thread waits on it (never from an
 * nng callback). The aio's timeout is what bounds a context's send and
 * receive (a context's NNG_OPT_SENDTIMEO/RECVTIMEO only apply to synchronous
 * calls), and it is set to what is left of the call's deadline before each of
 * the two steps.
 *
 * With resend disabled, nng 1.5.2 fails a waiting receive with NNG_ECONNRESET
 * when its connection closes (the server stopped, or it dropped a message
 * over its size limit) instead of resending the request: a call is sent at
 * most once. A send that cannot find a connection waits for one until the
 * deadline; pipe callbacks count live connections so that the error can say
 * "not connected" rather than "no answer".
 */
#include "transport.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "xalloc.h"

/* Reconnect quickly after a server restart, backing off to half a second. */
#define RECONNECT_MIN_MS 20
#define RECONNECT_MAX_MS 500
/* Idle contexts kept for reuse; more are closed when their call ends. */
#define MAX_IDLE_SLOTS 64

typedef struct slot {
    nng_ctx ctx;
    nng_aio *aio;
    struct slot *next; /* transport.mutex: in the idle list */
} slot;

struct transport {
    nng_socket socket;
    char *url;
    size_t max_message_size;
    atomic_int connections; /* live pipes, from nng's pipe callbacks */
    pthread_mutex_t mutex;
    slot *idle;        /* mutex: contexts ready for a call */
    size_t idle_count; /* mutex */
};

/* A transport_reply is an nng_msg under another name. */

/* ---- lifecycle ---------------------------------------------------------------- */

/* Runs on an nng thread: only counts, never blocks. */
static void
on_pipe_event(nng_pipe pipe, nng_pipe_ev event, void *arg)
{
    transport *t = arg;
    if (event == NNG_PIPE_EV_ADD_POST) {
        atomic_fetch_add(&t->connections, 1);
    } else if (event == NNG_PIPE_EV_REM_POST) {
        atomic_fetch_sub(&t->connections, 1);
    }
}

static int
start_dialer(transport *t, lsmkv_client_error *err)
{
    nng_dialer dialer;
    int rv = nng_dialer_create(&dialer, t->socket, t->url);
    if (rv != 0) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "invalid server URL '%s': %s", t->url,
                         nng_strerror(rv));
    }
    nng_dialer_set_ms(dialer, NNG_OPT_RECONNMINT, RECONNECT_MIN_MS);
    nng_dialer_set_ms(dialer, NNG_OPT_RECONNMAXT, RECONNECT_MAX_MS);
    nng_dialer_set_size(dialer, NNG_OPT_RECVMAXSZ, t->max_message_size);
    /* Non-blocking: the first connection attempt runs in the background and
     * failures are retried, so a client may be opened before its server. */
    rv = nng_dialer_start(dialer, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        return error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "cannot dial '%s': %s", t->url,
                         nng_strerror(rv));
    }
    return LSMKV_CLIENT_OK;
}

int
transport_open(const char *url, size_t max_message_size, transport **out, lsmkv_client_error *err)
{
    transport *t = xcalloc(1, sizeof(*t));
    int rv = nng_req0_open(&t->socket);
    if (rv != 0) {
        free(t);
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "cannot create an nng REQ socket: %s",
                         nng_strerror(rv));
    }
    t->url = (char *)xmemdup(url, strlen(url) + 1);
    t->max_message_size = max_message_size;
    atomic_init(&t->connections, 0);
    pthread_mutex_init(&t->mutex, NULL);
    nng_socket_set_ms(t->socket, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(t->socket, NNG_OPT_RECVMAXSZ, max_message_size);
    nng_pipe_notify(t->socket, NNG_PIPE_EV_ADD_POST, on_pipe_event, t);
    nng_pipe_notify(t->socket, NNG_PIPE_EV_REM_POST, on_pipe_event, t);
    int rc = start_dialer(t, err);
    if (rc != LSMKV_CLIENT_OK) {
        transport_close(t);
        return rc;
    }
    *out = t;
    return LSMKV_CLIENT_OK;
}

static void
slot_free(slot *s)
{
    nng_ctx_close(s->ctx);
    nng_aio_free(s->aio);
    free(s);
}

void
transport_close(transport *t)
{
    if (t == NULL) {
        return;
    }
    while (t->idle != NULL) {
        slot *s = t->idle;
        t->idle = s->next;
        slot_free(s);
    }
    /* Pipe callbacks may run until nng_close returns; t outlives them. */
    nng_close(t->socket);
    pthread_mutex_destroy(&t->mutex);
    free(t->url);
    free(t);
}

/* ---- contexts ------------------------------------------------------------------ */

static int
slot_get(transport *t, slot **out, lsmkv_client_error *err)
{
    pthread_mutex_lock(&t->mutex);
    slot *s = t->idle;
    if (s != NULL) {
        t->idle = s->next;
        t->idle_count--;
    }
    pthread_mutex_unlock(&t->mutex);
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        int rv = nng_ctx_open(&s->ctx, t->socket);
        if (rv == 0) {
            /* Never resend: a resent Put could land after a newer one. */
            rv = nng_ctx_set_ms(s->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
            if (rv == 0) {
                rv = nng_aio_alloc(&s->aio, NULL, NULL);
            }
            if (rv != 0) {
                nng_ctx_close(s->ctx);
            }
        }
        if (rv != 0) {
            free(s);
            return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "cannot open an nng context: %s",
                             nng_strerror(rv));
        }
    }
    *out = s;
    return LSMKV_CLIENT_OK;
}

static void
slot_put(transport *t, slot *s)
{
    pthread_mutex_lock(&t->mutex);
    if (t->idle_count < MAX_IDLE_SLOTS) {
        s->next = t->idle;
        t->idle = s;
        t->idle_count++;
        s = NULL;
    }
    pthread_mutex_unlock(&t->mutex);
    if (s != NULL) {
        slot_free(s);
    }
}

/* ---- calls ------------------------------------------------------------------- */

uint64_t
transport_deadline(uint32_t timeout_ms)
{
    return (uint64_t)nng_clock() + timeout_ms;
}

static nng_duration
remaining(uint64_t deadline)
{
    uint64_t now = nng_clock();
    if (now >= deadline) {
        return NNG_DURATION_ZERO;
    }
    uint64_t left = deadline - now;
    return left > INT32_MAX ? INT32_MAX : (nng_duration)left;
}

typedef enum step { STEP_SEND, STEP_RECV } step;

/* One request/answer on s. On failure *failed_at tells which step failed. */
static int
exchange(slot *s, nng_msg *msg, uint64_t deadline, nng_msg **answer, step *failed_at)
{
    nng_aio_set_msg(s->aio, msg);
    nng_aio_set_timeout(s->aio, remaining(deadline));
    nng_ctx_send(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    int rv = nng_aio_result(s->aio);
    if (rv != 0) {
        /* An unsent message stays ours. */
        nng_msg_free(nng_aio_get_msg(s->aio));
        *failed_at = STEP_SEND;
        return rv;
    }
    nng_aio_set_timeout(s->aio, remaining(deadline));
    nng_ctx_recv(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    rv = nng_aio_result(s->aio);
    if (rv != 0) {
        *failed_at = STEP_RECV;
        return rv;
    }
    *answer = nng_aio_get_msg(s->aio);
    return 0;
}

static int
map_failure(transport *t, int rv, step failed_at, uint32_t timeout_ms, lsmkv_client_error *err)
{
    if (rv == NNG_ETIMEDOUT && failed_at == STEP_SEND) {
        if (atomic_load(&t->connections) <= 0) {
            return error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                             "cannot reach lsmkv-server at %s: not connected within %u ms (is "
                             "the server running?)",
                             t->url, timeout_ms);
        }
        return error_set(err, LSMKV_CLIENT_DEADLINE_EXCEEDED,
                         "the request to %s could not be sent within %u ms", t->url, timeout_ms);
    }
    if (rv == NNG_ETIMEDOUT) {
        return error_set(err, LSMKV_CLIENT_DEADLINE_EXCEEDED,
                         "no answer from %s within %u ms (the request may have been applied)",
                         t->url, timeout_ms);
    }
    if (rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                         "the connection to %s closed before the answer: the server stopped, or "
                         "a message was over a size limit (the request may have been applied)",
                         t->url);
    }
    if (rv == NNG_ECLOSED) {
        return error_set(err, LSMKV_CLIENT_CANCELLED, "the client was closed during the call");
    }
    return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "call to %s failed: %s", t->url,
                     nng_strerror(rv));
}

int
transport_call(transport *t, const uint8_t *request, size_t len, uint64_t deadline,
               uint32_t timeout_ms, transport_reply **reply, lsmkv_client_error *err)
{
    if (len > t->max_message_size) {
        return error_set(err, LSMKV_CLIENT_RESOURCE_EXHAUSTED,
                         "the request (%zu bytes) is over the client's max_message_size (%zu "
                         "bytes); it was not sent",
                         len, t->max_message_size);
    }
    slot *s = NULL;
    int rc = slot_get(t, &s, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, len);
    if (rv != 0) {
        slot_put(t, s);
        return error_set(err, LSMKV_CLIENT_RESOURCE_EXHAUSTED, "cannot allocate a message: %s",
                         nng_strerror(rv));
    }
    if (len > 0) {
        memcpy(nng_msg_body(msg), request, len);
    }
    nng_msg *answer = NULL;
    step failed_at = STEP_SEND;
    rv = exchange(s, msg, deadline, &answer, &failed_at);
    if (rv != 0) {
        /* A context that failed mid-exchange is not trusted with the next call. */
        slot_free(s);
        return map_failure(t, rv, failed_at, timeout_ms, err);
    }
    slot_put(t, s);
    *reply = (transport_reply *)answer;
    return LSMKV_CLIENT_OK;
}

const uint8_t *
transport_reply_data(const transport_reply *reply, size_t *len)
{
    nng_msg *msg = (nng_msg *)reply;
    *len = nng_msg_len(msg);
    return nng_msg_body(msg);
}

void
transport_reply_free(transport_reply *reply)
{
    if (reply != NULL) {
        nng_msg_free((nng_msg *)reply);
    }
}
