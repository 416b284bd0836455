/*
 * Why the client speaks SP itself, and how calls share one connection.
 *
 * The client talks to lsmkv-server's nng rep0 socket in the SP protocol
 * (sp.h), over one connection per client, without libnng. nng 1.5.2 (what
 * Debian 12 ships) can wedge for good when a connection dies while an answer
 * is half read: its TCP transport then resubmits the read on an I/O handle
 * that its close has already stopped, the read never completes, and nng's
 * single reaper thread waits for it forever. From then on no connection of
 * the process is ever torn down or re-dialed, and closing the socket hangs.
 * A client whose server is killed mid-answer met it (about one kill in a
 * thousand with concurrent calls). Speaking the protocol here keeps every
 * wait under the call's deadline and needs no threads of its own.
 *
 * One connection carries many calls at once, as nng's REQ contexts did: each
 * request gets its own ID and answers are matched to their calls by it, in
 * whatever order they come. There is no background thread. The calls take
 * turns at the socket:
 *   - sending: a call writes its whole request under the connection's
 *     send_mutex, waiting for room until its deadline;
 *   - reading: one waiting call at a time is the reader. It reads answers
 *     as they arrive and hands each to its call; once its own answer is in,
 *     or its deadline passes, it stops and wakes another waiting call to take
 *     over. A half-read answer stays in the connection for the next reader.
 *   - connecting: a call that finds no connection makes one (others wait for
 *     it), retrying refused attempts with a back-off until its deadline.
 * A connection that fails (end of stream, a reset, a malformed or oversize
 * answer, a request cut short) is broken: every call waiting on it fails at
 * once with UNAVAILABLE and the next call connects again. A request is sent
 * at most once; nothing is resent.
 */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dialer.h"
#include "error.h"
#include "sp.h"
#include "xalloc.h"

/* Retry a refused connection quickly at first, backing off to half a second. */
#define RECONNECT_MIN_MS 20
#define RECONNECT_MAX_MS 500

/* An answer: the request ID, then the response envelope. */
struct transport_reply {
    size_t len;
    uint8_t data[];
};

typedef struct connection {
    int fd;
    int users;     /* transport.mutex: the transport while current, plus each call on it */
    bool broken;   /* transport.mutex: no more requests; calls on it fail */
    bool reading;  /* transport.mutex: a call is reading its answers */
    char why[160]; /* transport.mutex: why it broke */
    pthread_mutex_t send_mutex; /* one request at a time on the stream */
    /* The answer being read; only the reading call touches these. */
    uint8_t header[SP_MAX_HEADER_SIZE];
    size_t header_got;
    transport_reply *answer;
    size_t answer_got;
} connection;

/* A call sent or being sent, waiting for its answer. Lives on its caller's stack. */
typedef struct pending {
    uint32_t id;
    connection *conn;
    pthread_cond_t wake;    /* with transport.mutex: done, or the reader left */
    struct pending *next;   /* transport.mutex: in transport.waiting */
    bool done;              /* transport.mutex: answered, or failed with conn */
    transport_reply *reply; /* transport.mutex: the answer, when done and not failed */
} pending;

struct transport {
    dialer *dialer;
    size_t max_message_size;
    bool ipc; /* Unix socket framing */
    pthread_condattr_t monotonic;
    pthread_mutex_t mutex;
    pthread_cond_t connected; /* with mutex: a call stopped connecting */
    connection *conn;         /* mutex: where calls go; NULL until connected */
    bool connecting;          /* mutex: a call is making a connection */
    pending *waiting;         /* mutex: calls on conn waiting for answers */
    uint32_t last_id;         /* mutex */
};

/* ---- lifecycle ---------------------------------------------------------------- */

int
transport_open(const char *url, size_t max_message_size, transport **out, lsmkv_client_error *err)
{
    dialer *d;
    int rc = dialer_new(url, &d, err);
    if (rc != LSMKV_CLIENT_OK) {
        return rc;
    }
    transport *t = xcalloc(1, sizeof(*t));
    t->dialer = d;
    t->max_message_size = max_message_size;
    t->ipc = dialer_is_ipc(d);
    pthread_condattr_init(&t->monotonic);
    pthread_condattr_setclock(&t->monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->mutex, NULL);
    pthread_cond_init(&t->connected, &t->monotonic);
    *out = t;
    return LSMKV_CLIENT_OK;
}

/* Drops one user of conn; the last one closes it. Caller holds t->mutex. */
static void
connection_put(connection *conn)
{
    if (--conn->users > 0) {
        return;
    }
    close(conn->fd);
    free(conn->answer);
    pthread_mutex_destroy(&conn->send_mutex);
    free(conn);
}

void
transport_close(transport *t)
{
    if (t == NULL) {
        return;
    }
    if (t->conn != NULL) {
        connection_put(t->conn);
    }
    pthread_cond_destroy(&t->connected);
    pthread_mutex_destroy(&t->mutex);
    pthread_condattr_destroy(&t->monotonic);
    dialer_free(t->dialer);
    free(t);
}

uint64_t
transport_deadline(uint32_t timeout_ms)
{
    return clock_now_ms() + timeout_ms;
}

/* ---- connections --------------------------------------------------------------- */

static void
waiting_remove(transport *t, pending *p)
{
    for (pending **link = &t->waiting; *link != NULL; link = &(*link)->next) {
        if (*link == p) {
            *link = p->next;
            return;
        }
    }
}

/*
 * Marks conn broken for `why`: fails every call waiting on it and makes the
 * next call connect again. shutdown() wakes a reader blocked on the socket;
 * the descriptor itself closes when its last user leaves. Caller holds t->mutex.
 */
static void
connection_break(transport *t, connection *conn, const char *why)
{
    if (conn->broken) {
        return;
    }
    conn->broken = true;
    snprintf(conn->why, sizeof(conn->why), "%s", why);
    shutdown(conn->fd, SHUT_RDWR);
    for (pending **link = &t->waiting; *link != NULL;) {
        pending *p = *link;
        if (p->conn == conn) {
            *link = p->next;
            p->done = true;
            pthread_cond_signal(&p->wake);
        } else {
            link = &p->next;
        }
    }
    if (t->conn == conn) {
        t->conn = NULL;
        connection_put(conn);
    }
}

/*
 * True if the server has closed an idle connection: its end of stream is
 * already there. Checked before a call goes out on a connection nobody is
 * reading, so that a call after a server restart connects again instead of
 * failing on the dead connection.
 */
static bool
connection_closed_by_peer(const connection *conn)
{
    struct pollfd p = {.fd = conn->fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) {
        return false;
    }
    char byte;
    ssize_t n = recv(conn->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Connects, retrying with a back-off until the deadline. */
static int
dial(transport *t, uint64_t deadline, uint32_t timeout_ms, int *fd, lsmkv_client_error *err)
{
    lsmkv_client_error last;
    uint32_t backoff = RECONNECT_MIN_MS;
    for (;;) {
        if (dialer_connect(t->dialer, deadline, fd, &last) == LSMKV_CLIENT_OK) {
            return LSMKV_CLIENT_OK;
        }
        int left = clock_remaining_ms(deadline);
        if (left == 0) {
            break;
        }
        uint32_t pause = backoff < (uint32_t)left ? backoff : (uint32_t)left;
        struct timespec ts = {.tv_sec = pause / 1000, .tv_nsec = (long)(pause % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 < RECONNECT_MAX_MS ? backoff * 2 : RECONNECT_MAX_MS;
    }
    return error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                     "cannot reach lsmkv-server at %s: not connected within %u ms (is the server "
                     "running?): %s",
                     dialer_url(t->dialer), timeout_ms, last.message);
}

static connection *
connection_new(int fd)
{
    connection *conn = xcalloc(1, sizeof(*conn));
    conn->fd = fd;
    conn->users = 1; /* the transport's */
    pthread_mutex_init(&conn->send_mutex, NULL);
    return conn;
}

/*
 * The connection for a new call, made if there is none, with a use taken for
 * the call (connection_put gives it back). Caller holds t->mutex; it is
 * released while connecting.
 */
static int
connection_get(transport *t, uint64_t deadline, uint32_t timeout_ms, connection **out,
               lsmkv_client_error *err)
{
    for (;;) {
        connection *conn = t->conn;
        if (conn != NULL && t->waiting == NULL && !conn->reading &&
            connection_closed_by_peer(conn)) {
            connection_break(t, conn, "the server closed it");
            conn = NULL;
        }
        if (conn != NULL) {
            conn->users++;
            *out = conn;
            return LSMKV_CLIENT_OK;
        }
        if (!t->connecting) {
            t->connecting = true;
            pthread_mutex_unlock(&t->mutex);
            int fd;
            int rc = dial(t, deadline, timeout_ms, &fd, err);
            pthread_mutex_lock(&t->mutex);
            t->connecting = false;
            pthread_cond_broadcast(&t->connected);
            if (rc != LSMKV_CLIENT_OK) {
                return rc;
            }
            t->conn = connection_new(fd);
            continue;
        }
        if (clock_remaining_ms(deadline) == 0) {
            return error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                             "cannot reach lsmkv-server at %s: not connected within %u ms (is "
                             "the server running?)",
                             dialer_url(t->dialer), timeout_ms);
        }
        struct timespec ts = clock_timespec(deadline);
        pthread_cond_timedwait(&t->connected, &t->mutex, &ts);
    }
}

/* ---- sending ------------------------------------------------------------------- */

/* Sends p's request on its connection: OK, or the call's failure. */
static int
send_request(transport *t, pending *p, const uint8_t *request, size_t len, uint64_t deadline,
             uint32_t timeout_ms, lsmkv_client_error *err)
{
    connection *conn = p->conn;
    uint8_t head[SP_MAX_HEADER_SIZE + SP_REQUEST_ID_SIZE];
    size_t head_len = sp_encode_header(t->ipc, SP_REQUEST_ID_SIZE + (uint64_t)len, head);
    sp_put_u32(head + head_len, p->id);
    struct iovec iov[2] = {{.iov_base = head, .iov_len = head_len + SP_REQUEST_ID_SIZE},
                           {.iov_base = (void *)request, .iov_len = len}};
    size_t sent = 0;
    /* The realtime clock here: pthread_mutex_clocklock would do, but
     * ThreadSanitizer does not know it. */
    struct timespec ts = clock_realtime_timespec(deadline);
    int rc = pthread_mutex_timedlock(&conn->send_mutex, &ts);
    if (rc == 0) {
        rc = sp_send_all(conn->fd, iov, 2, deadline, &sent);
        pthread_mutex_unlock(&conn->send_mutex);
    }
    if (rc == 0) {
        return LSMKV_CLIENT_OK;
    }
    if (rc == ETIMEDOUT && sent == 0) {
        return error_set(err, LSMKV_CLIENT_DEADLINE_EXCEEDED,
                         "the request to %s could not be sent within %u ms", dialer_url(t->dialer),
                         timeout_ms);
    }
    /* A request cut short leaves the stream mid-message: no other can follow it. */
    char why[128];
    snprintf(why, sizeof(why), "sending failed: %s",
             rc == ETIMEDOUT ? "a request was cut short by its deadline" : strerror(rc));
    pthread_mutex_lock(&t->mutex);
    connection_break(t, conn, why);
    pthread_mutex_unlock(&t->mutex);
    return LSMKV_CLIENT_UNAVAILABLE; /* the message comes from the broken connection */
}

/* ---- reading ------------------------------------------------------------------- */

/*
 * Reads what has arrived of the answer in progress. Returns 0 when it made
 * progress (*whole once the answer is complete), EAGAIN when nothing more has
 * arrived, or a failure that breaks the connection, described in `why`.
 */
static int
read_step(transport *t, connection *conn, bool *whole, char *why, size_t why_size)
{
    size_t header_size = sp_header_size(t->ipc);
    uint8_t *buf;
    size_t want;
    if (conn->header_got < header_size) {
        buf = conn->header + conn->header_got;
        want = header_size - conn->header_got;
    } else {
        buf = conn->answer->data + conn->answer_got;
        want = conn->answer->len - conn->answer_got;
    }
    ssize_t n = recv(conn->fd, buf, want, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return EAGAIN;
        }
        snprintf(why, why_size, "%s", strerror(errno));
        return errno;
    }
    if (n == 0) {
        snprintf(why, why_size,
                 "the server closed it (it stopped, or a message was over its "
                 "size limit)");
        return ECONNRESET;
    }
    if (conn->header_got < header_size) {
        conn->header_got += (size_t)n;
        if (conn->header_got < header_size) {
            return 0;
        }
        uint64_t len;
        if (!sp_decode_header(t->ipc, conn->header, &len) || len < SP_REQUEST_ID_SIZE) {
            snprintf(why, why_size, "the server sent a malformed message");
            return EPROTO;
        }
        if (len - SP_REQUEST_ID_SIZE > t->max_message_size) {
            snprintf(why, why_size, "an answer of %llu bytes is over max_message_size (%zu bytes)",
                     (unsigned long long)(len - SP_REQUEST_ID_SIZE), t->max_message_size);
            return EMSGSIZE;
        }
        conn->answer = xmalloc(sizeof(transport_reply) + (size_t)len);
        conn->answer->len = (size_t)len;
        conn->answer_got = 0;
        return 0;
    }
    conn->answer_got += (size_t)n;
    *whole = conn->answer_got == conn->answer->len;
    return 0;
}

/* Hands the complete answer to its call (or drops a late one); true if it was p's. */
static bool
deliver(transport *t, connection *conn, pending *p)
{
    transport_reply *answer = conn->answer;
    conn->answer = NULL;
    conn->header_got = 0;
    uint32_t id = sp_get_u32(answer->data);
    pthread_mutex_lock(&t->mutex);
    pending *to = t->waiting;
    while (to != NULL && !(to->id == id && to->conn == conn)) {
        to = to->next;
    }
    if (to != NULL) {
        waiting_remove(t, to);
        to->reply = answer;
        to->done = true;
        pthread_cond_signal(&to->wake);
    } else {
        free(answer); /* its call gave up waiting */
    }
    bool mine = p->done;
    pthread_mutex_unlock(&t->mutex);
    return mine;
}

/*
 * As the connection's reader: reads answers and delivers them until p's own
 * is in or the deadline passes (0), or the connection fails (an errno, `why`).
 */
static int
read_answers(transport *t, connection *conn, pending *p, uint64_t deadline, char *why,
             size_t why_size)
{
    for (;;) {
        bool whole = false;
        int rc = read_step(t, conn, &whole, why, why_size);
        if (rc == 0 && whole && deliver(t, conn, p)) {
            return 0;
        }
        if (rc == EAGAIN) {
            rc = sp_wait(conn->fd, POLLIN, deadline);
            if (rc == ETIMEDOUT) {
                return 0;
            }
            if (rc != 0) {
                snprintf(why, why_size, "%s", strerror(rc));
            }
        }
        if (rc != 0) {
            return rc;
        }
    }
}

/* Wakes a call other than `self` still waiting on conn, to become its reader. Caller holds
 * t->mutex. */
static void
wake_next_reader(transport *t, connection *conn, const pending *self)
{
    for (pending *w = t->waiting; w != NULL; w = w->next) {
        if (w->conn == conn && w != self) {
            pthread_cond_signal(&w->wake);
            return;
        }
    }
}

/*
 * Waits for p's answer until the deadline, reading for every call on the
 * connection whenever no other call is. Caller holds t->mutex.
 */
static void
await_answer(transport *t, pending *p, uint64_t deadline)
{
    connection *conn = p->conn;
    while (!p->done && clock_remaining_ms(deadline) > 0) {
        if (!conn->reading && !conn->broken) {
            conn->reading = true;
            pthread_mutex_unlock(&t->mutex);
            char why[160];
            int rc = read_answers(t, conn, p, deadline, why, sizeof(why));
            pthread_mutex_lock(&t->mutex);
            conn->reading = false;
            if (rc != 0) {
                connection_break(t, conn, why);
            }
            wake_next_reader(t, conn, p);
            continue;
        }
        struct timespec ts = clock_timespec(deadline);
        pthread_cond_timedwait(&p->wake, &t->mutex, &ts);
    }
}

/* ---- calls --------------------------------------------------------------------- */

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
    pending p = {0};
    pthread_cond_init(&p.wake, &t->monotonic);
    pthread_mutex_lock(&t->mutex);
    int rc = connection_get(t, deadline, timeout_ms, &p.conn, err);
    if (rc != LSMKV_CLIENT_OK) {
        pthread_mutex_unlock(&t->mutex);
        pthread_cond_destroy(&p.wake);
        return rc;
    }
    t->last_id = (t->last_id + 1) & 0x7fffffffu;
    p.id = t->last_id | 0x80000000u; /* the top bit marks the end of SP's backtrace */
    p.next = t->waiting;
    t->waiting = &p;
    pthread_mutex_unlock(&t->mutex);

    rc = send_request(t, &p, request, len, deadline, timeout_ms, err);
    pthread_mutex_lock(&t->mutex);
    if (rc != LSMKV_CLIENT_DEADLINE_EXCEEDED) {
        await_answer(t, &p, deadline);
    }
    if (p.done && p.reply != NULL) {
        *reply = p.reply;
        rc = LSMKV_CLIENT_OK;
    } else if (p.done) {
        rc = error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                       "the connection to %s closed before the answer: %s (the request may have "
                       "been applied)",
                       dialer_url(t->dialer), p.conn->why);
    } else {
        waiting_remove(t, &p);
        if (rc == LSMKV_CLIENT_OK) {
            rc = error_set(err, LSMKV_CLIENT_DEADLINE_EXCEEDED,
                           "no answer from %s within %u ms (the request may have been applied)",
                           dialer_url(t->dialer), timeout_ms);
        }
    }
    connection_put(p.conn);
    pthread_mutex_unlock(&t->mutex);
    pthread_cond_destroy(&p.wake);
    return rc;
}

const uint8_t *
transport_reply_data(const transport_reply *reply, size_t *len)
{
    *len = reply->len - SP_REQUEST_ID_SIZE;
    return reply->data + SP_REQUEST_ID_SIZE;
}

void
transport_reply_free(transport_reply *reply)
{
    free(reply);
}
