/*
 * One rep0 socket, many contexts ("slots"), and the server's own threads.
 *
 * A slot is one nng context with one request at a time. Its state says where
 * that request is:
 *
 *   RECEIVING ──request──▶ (QUEUED ──▶) HANDLING ──answer sent──▶ RECEIVING
 *       │
 *       └──receive cancelled by server_stop──▶ DONE
 *
 * Thread-per-context model: each slot has its own thread and its own lock
 * for its state; one aio receives and sends, waited for with nng_aio_wait.
 *
 * Callbacks model: the state lives under server.mutex with the queue of
 * received requests. The receive aio's callback (on an nng task thread)
 * first offers the request to rpc_try_handle: a Get the store answers from
 * memory (open tables, cached or resident blocks: lsmkv_get_no_wait) and a
 * Put, Delete or Batch it can take without waiting (no fsync, no stall, no
 * memtable switch, no writer ahead that may block: lsmkv_write_options.
 * no_wait) are answered right there, and the answer goes out on the same
 * aio, whose callback then rearms the receive, as an echo server would.
 * Anything else — Scan, MultiGet, Flush, Compact, Stats, a read that needs
 * the disk, a write that would wait — is queued; a worker takes it,
 * answers it, sends the reply on the slot's second aio and starts the slot's
 * next receive. That send aio has no callback: nng completes such an aio
 * inline, without waking a task thread just to report that a reply was
 * handed to the connection, and the worker waits for it (at once, unless the
 * connection is busy with an earlier large answer) because a context may
 * not have two sends outstanding.
 *
 * A queued request costs one thread wakeup, nng's thread handing it to ours,
 * and an inline one none; on this 2-core VM a wakeup costs about as much CPU
 * as the request, so the code avoids any other: nng is never called with
 * server.mutex held (a
 * receive that finds a request waiting completes at once, and its callback
 * would block on the mutex), and a sleeping worker is woken only if no other
 * is about to look at the queue.
 *
 * Stopping: server_stop sets `stopping`, then, under each slot's state lock,
 * cancels the receive of every RECEIVING slot. Whoever starts a receive
 * checks `stopping` first, and again after the receive has started (and
 * cancels it itself if it is set): either the sweep finds the receive or the
 * starter sees the flag. Requests already received run to the end and are
 * answered; only then are the threads joined. Callbacks take the mutex
 * briefly and never wait; nng_aio_wait and nng_aio_free are called only from
 * the server's own threads.
 */
#include "server.h"

#include "buffer.h"
#include "status.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Callbacks model: contexts per worker, so that a worker finishing one request
 * finds the next one already received. */
#define CONTEXTS_PER_WORKER 2

typedef enum slot_state {
    SLOT_IDLE,
    SLOT_RECEIVING,
    SLOT_QUEUED,
    SLOT_HANDLING,
    SLOT_DONE,
} slot_state;

typedef struct slot {
    struct server *srv;
    nng_ctx ctx;
    nng_aio *aio;                /* receives; sends in the threads model and inline answers */
    nng_aio *send_aio;           /* callbacks model: the workers' sends; no callback */
    bool sending;                /* callbacks model: aio carries an inline answer */
    pthread_mutex_t *state_lock; /* guards state: server.mutex, or own_lock (threads) */
    pthread_mutex_t own_lock;
    slot_state state;
    struct slot *next;    /* in the queue; guarded by server.mutex */
    nng_msg *request;     /* owned while QUEUED or HANDLING */
    uint64_t received_ns; /* rpc_clock_ns() when the request arrived */
} slot;

struct server {
    server_options options;
    rpc *rpc;
    nng_socket sock;
    nng_listener *listeners;
    int listener_count;
    slot *slots;
    int slot_count;
    pthread_t *threads;
    int thread_count;
    atomic_bool stopping; /* no receive starts once set */

    /* Callbacks model. */
    pthread_mutex_t mutex;
    pthread_cond_t work_cond; /* queue non-empty or quit */
    pthread_cond_t done_cond; /* a slot became DONE */
    slot *queue_head;         /* received requests, oldest first */
    slot *queue_tail;
    int looking;    /* workers awake and about to take from the queue */
    int waiting;    /* workers asleep on work_cond */
    int live_slots; /* slots not DONE */
    bool quit;      /* workers exit once the queue is empty */

    bool serving; /* server_start succeeded */
    bool stopped; /* server_stop has returned */
    _Atomic uint64_t answered;
};

/* ---- handling one request (both models, on a server thread) -------------------------- */

static uint8_t *
reply_reserve(void *ctx, size_t size)
{
    nng_msg **msg = ctx;
    int rv = nng_msg_alloc(msg, size);
    if (rv != 0) {
        /* As xmalloc does: out of memory is not an answerable condition. */
        fprintf(stderr, "lsmkv-server: cannot allocate a %zu-byte reply: %s\n", size,
                nng_strerror(rv));
        abort();
    }
    return nng_msg_body(*msg);
}

/* Answers s->request (freeing it) and returns the reply message. */
static nng_msg *
slot_handle(slot *s)
{
    nng_msg *reply = NULL;
    rpc_reply sink = {.reserve = reply_reserve, .ctx = &reply};
    rpc_handle(s->srv->rpc, nng_msg_body(s->request), nng_msg_len(s->request), s->received_ns,
               &sink);
    nng_msg_free(s->request);
    s->request = NULL;
    atomic_fetch_add_explicit(&s->srv->answered, 1, memory_order_relaxed);
    return reply;
}

/* Sets the slot's state under its state lock. */
static void
slot_set_state(slot *s, slot_state state)
{
    pthread_mutex_lock(s->state_lock);
    s->state = state;
    pthread_mutex_unlock(s->state_lock);
}

/* Starts a receive on a slot marked RECEIVING (see "Stopping" above). */
static void
slot_start_receive(slot *s)
{
    nng_ctx_recv(s->ctx, s->aio);
    if (atomic_load(&s->srv->stopping)) {
        nng_aio_cancel(s->aio); /* the sweep may have come before the receive */
    }
}

/* ---- thread-per-context model ----------------------------------------------------------- */

static void *
thread_loop(void *arg)
{
    slot *s = arg;
    while (!atomic_load(&s->srv->stopping)) {
        slot_set_state(s, SLOT_RECEIVING);
        slot_start_receive(s);
        nng_aio_wait(s->aio);
        /* From here on the sweep leaves this aio alone: it is about to send. */
        slot_set_state(s, SLOT_HANDLING);
        int rv = nng_aio_result(s->aio);
        if (rv == NNG_ECLOSED) {
            break;
        }
        if (rv != 0) {
            continue; /* cancelled by server_stop, or a transient error */
        }
        s->request = nng_aio_get_msg(s->aio);
        s->received_ns = rpc_clock_ns();
        nng_aio_set_msg(s->aio, slot_handle(s));
        nng_ctx_send(s->ctx, s->aio);
        nng_aio_wait(s->aio);
        if (nng_aio_result(s->aio) != 0) {
            nng_msg_free(nng_aio_get_msg(s->aio)); /* unsent: still ours */
        }
    }
    slot_set_state(s, SLOT_DONE);
    return NULL;
}

/* ---- callback-driven model ------------------------------------------------------------- */

/* Requires server.mutex. */
static void
slot_done_locked(slot *s)
{
    s->state = SLOT_DONE;
    s->srv->live_slots--;
    pthread_cond_broadcast(&s->srv->done_cond);
}

/* Arms a slot's receive, or retires it if stopping. Called without server.mutex. */
static void
callback_receive(slot *s)
{
    server *srv = s->srv;
    pthread_mutex_lock(&srv->mutex);
    bool go = !atomic_load(&srv->stopping);
    if (go) {
        s->state = SLOT_RECEIVING;
    } else {
        slot_done_locked(s);
    }
    pthread_mutex_unlock(&srv->mutex);
    if (go) {
        slot_start_receive(s);
    }
}

/*
 * Whether a queued request needs a sleeping worker woken: not if one is
 * already awake and about to look at the queue. A worker that takes a request
 * and leaves others queued wakes the next one, so no request waits behind a
 * slow one (an fsync) while workers sleep. Requires server.mutex; signal
 * after releasing it, so that the woken worker does not block on it at once.
 */
static bool
worker_wake_needed_locked(const server *srv)
{
    return srv->queue_head != NULL && srv->looking == 0 && srv->waiting > 0;
}

/*
 * Answers a request on the callback's thread if that needs no waiting (a
 * write the store can take at once: rpc_try_handle), sending the answer on
 * the receive aio, whose callback then rearms the receive. Returns false,
 * having done nothing, if the request must go to a worker.
 */
static bool
callback_answer_inline(slot *s, nng_msg *request, uint64_t received_ns)
{
    server *srv = s->srv;
    nng_msg *reply = NULL;
    rpc_reply sink = {.reserve = reply_reserve, .ctx = &reply};
    if (rpc_try_handle(srv->rpc, nng_msg_body(request), nng_msg_len(request), received_ns, &sink) ==
        RPC_WOULD_BLOCK) {
        return false;
    }
    nng_msg_free(request);
    atomic_fetch_add_explicit(&srv->answered, 1, memory_order_relaxed);
    /* HANDLING before the send starts: server_stop's sweep cancels only
     * RECEIVING slots, and this aio now carries an answer. */
    pthread_mutex_lock(&srv->mutex);
    s->state = SLOT_HANDLING;
    pthread_mutex_unlock(&srv->mutex);
    s->sending = true;
    nng_aio_set_msg(s->aio, reply);
    nng_ctx_send(s->ctx, s->aio);
    return true;
}

/* The receive aio's callback, on an nng task thread: an inline answer sent,
 * or a request received (answered inline or queued for a worker). */
static void
callback_received(void *arg)
{
    slot *s = arg;
    server *srv = s->srv;
    int rv = nng_aio_result(s->aio);
    if (s->sending) {
        s->sending = false;
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(s->aio)); /* unsent: the client left */
        }
        callback_receive(s);
        return;
    }
    if (rv != 0 && rv != NNG_ECLOSED && !atomic_load(&srv->stopping)) {
        callback_receive(s); /* a transient error: keep serving */
        return;
    }
    nng_msg *request = rv == 0 ? nng_aio_get_msg(s->aio) : NULL;
    uint64_t received_ns = rpc_clock_ns();
    if (request != NULL && callback_answer_inline(s, request, received_ns)) {
        return;
    }
    pthread_mutex_lock(&srv->mutex);
    if (request == NULL) {
        slot_done_locked(s); /* cancelled while stopping, or the socket closed */
    } else {
        s->request = request;
        s->received_ns = received_ns;
        s->state = SLOT_QUEUED;
        s->next = NULL;
        if (srv->queue_tail != NULL) {
            srv->queue_tail->next = s;
        } else {
            srv->queue_head = s;
        }
        srv->queue_tail = s;
    }
    bool wake = worker_wake_needed_locked(srv);
    pthread_mutex_unlock(&srv->mutex);
    if (wake) {
        pthread_cond_signal(&srv->work_cond);
    }
}

/* Waits for a queued request and takes it; NULL once quitting with none left.
 * Requires server.mutex. */
static slot *
worker_take_locked(server *srv)
{
    srv->looking++;
    while (srv->queue_head == NULL && !srv->quit) {
        srv->looking--;
        srv->waiting++;
        pthread_cond_wait(&srv->work_cond, &srv->mutex);
        srv->waiting--;
        srv->looking++;
    }
    srv->looking--;
    slot *s = srv->queue_head;
    if (s != NULL) {
        srv->queue_head = s->next;
        if (srv->queue_head == NULL) {
            srv->queue_tail = NULL;
        }
        s->state = SLOT_HANDLING;
    }
    return s;
}

/* Answers the slot's request and, unless stopping, starts its next receive
 * (the slot stays HANDLING until worker_rearmed_locked). Returns whether it did. */
static bool
worker_answer(slot *s)
{
    nng_msg *reply = slot_handle(s);
    nng_aio_set_msg(s->send_aio, reply);
    nng_ctx_send(s->ctx, s->send_aio);
    /* Over at once unless the connection is still busy with an earlier large
     * answer. A context must not have two sends outstanding, and the slot's
     * next request may be answered inline on the other aio. */
    nng_aio_wait(s->send_aio);
    if (nng_aio_result(s->send_aio) != 0) {
        nng_msg_free(nng_aio_get_msg(s->send_aio));
    }
    if (atomic_load(&s->srv->stopping)) {
        return false;
    }
    nng_ctx_recv(s->ctx, s->aio);
    return true;
}

/* Records the outcome of worker_answer. Requires server.mutex. */
static void
worker_rearmed_locked(slot *s, bool receiving)
{
    if (!receiving) {
        slot_done_locked(s);
    } else if (s->state == SLOT_HANDLING) {
        /* The receive is still pending (had it completed, its callback would
         * have queued or retired the slot already). */
        s->state = SLOT_RECEIVING;
        if (atomic_load(&s->srv->stopping)) {
            nng_aio_cancel(s->aio); /* the sweep came while it was HANDLING */
        }
    }
}

static void *
callback_worker(void *arg)
{
    server *srv = arg;
    pthread_mutex_lock(&srv->mutex);
    slot *s;
    while ((s = worker_take_locked(srv)) != NULL) {
        bool wake = worker_wake_needed_locked(srv); /* more queued: pass the baton */
        pthread_mutex_unlock(&srv->mutex);
        if (wake) {
            pthread_cond_signal(&srv->work_cond);
        }
        bool receiving = worker_answer(s);
        pthread_mutex_lock(&srv->mutex);
        worker_rearmed_locked(s, receiving);
    }
    pthread_mutex_unlock(&srv->mutex);
    return NULL;
}

/* ---- start ------------------------------------------------------------------------------ */

static int
nng_failure(lsmkv_error *err, int rv, const char *what, const char *url)
{
    if (rv == NNG_EADDRINUSE) {
        return status_set(err, LSMKV_BUSY, "address %s is already in use", url);
    }
    if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP || rv == NNG_EINVAL) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "cannot %s %s: %s", what, url,
                          nng_strerror(rv));
    }
    return status_set(err, LSMKV_IO_ERROR, "cannot %s %s: %s", what, url ? url : "",
                      nng_strerror(rv));
}

static int
server_open_slots(server *srv, lsmkv_error *err)
{
    bool callbacks = srv->options.io_model == SERVER_IO_CALLBACKS;
    srv->slot_count = srv->options.workers * (callbacks ? CONTEXTS_PER_WORKER : 1);
    srv->slots = xcalloc((size_t)srv->slot_count, sizeof(slot));
    for (int i = 0; i < srv->slot_count; i++) {
        slot *s = &srv->slots[i];
        s->srv = srv;
        s->state = SLOT_IDLE;
        pthread_mutex_init(&s->own_lock, NULL);
        s->state_lock = callbacks ? &srv->mutex : &s->own_lock;
    }
    for (int i = 0; i < srv->slot_count; i++) {
        slot *s = &srv->slots[i];
        int rv = nng_ctx_open(&s->ctx, srv->sock);
        if (rv == 0) {
            rv = nng_aio_alloc(&s->aio, callbacks ? callback_received : NULL, s);
        }
        if (rv == 0 && callbacks) {
            rv = nng_aio_alloc(&s->send_aio, NULL, NULL);
        }
        if (rv != 0) {
            return nng_failure(err, rv, "open a context on", "the socket");
        }
    }
    return LSMKV_OK;
}

/* Starts the threads and arms every slot's first receive. */
static void
server_run_slots(server *srv)
{
    bool callbacks = srv->options.io_model == SERVER_IO_CALLBACKS;
    srv->thread_count = callbacks ? srv->options.workers : srv->slot_count;
    srv->threads = xcalloc((size_t)srv->thread_count, sizeof(pthread_t));
    srv->live_slots = srv->slot_count;
    for (int i = 0; i < srv->thread_count; i++) {
        int rc = pthread_create(&srv->threads[i], NULL, callbacks ? callback_worker : thread_loop,
                                callbacks ? (void *)srv : (void *)&srv->slots[i]);
        if (rc != 0) {
            fprintf(stderr, "lsmkv-server: cannot create a thread\n");
            abort();
        }
    }
    if (callbacks) {
        for (int i = 0; i < srv->slot_count; i++) {
            callback_receive(&srv->slots[i]);
        }
    }
}

static int
server_listen(server *srv, lsmkv_error *err)
{
    srv->listeners = xcalloc((size_t)srv->options.url_count, sizeof(nng_listener));
    for (int i = 0; i < srv->options.url_count; i++) {
        const char *url = srv->options.urls[i];
        int rv = nng_listen(srv->sock, url, &srv->listeners[i], 0);
        if (rv != 0) {
            return nng_failure(err, rv, "listen on", url);
        }
        srv->listener_count = i + 1;
        log_info(srv->options.log, "listening on %s", url);
    }
    return LSMKV_OK;
}

static server *
server_alloc(const server_options *options, rpc *r)
{
    server *srv = xcalloc(1, sizeof(*srv));
    srv->options = *options;
    srv->rpc = r;
    srv->sock = (nng_socket)NNG_SOCKET_INITIALIZER;
    pthread_mutex_init(&srv->mutex, NULL);
    pthread_cond_init(&srv->work_cond, NULL);
    pthread_cond_init(&srv->done_cond, NULL);
    atomic_init(&srv->answered, 0);
    atomic_init(&srv->stopping, false);
    return srv;
}

int
server_start(const server_options *options, rpc *r, server **out, lsmkv_error *err)
{
    server *srv = server_alloc(options, r);
    int rv = nng_rep0_open(&srv->sock);
    if (rv == 0) {
        rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, options->max_message_bytes);
    }
    int rc = rv == 0 ? LSMKV_OK : nng_failure(err, rv, "open", "an nng rep0 socket");
    if (rc == LSMKV_OK) {
        rc = server_open_slots(srv, err);
    }
    if (rc == LSMKV_OK) {
        /* Serve before listening: once a client can connect, it is answered. */
        server_run_slots(srv);
        rc = server_listen(srv, err);
    }
    if (rc != LSMKV_OK) {
        server_free(srv);
        return rc;
    }
    log_info(options->log,
             "serving: io model %s, %d worker thread(s), %d context(s), max message %zu bytes",
             options->io_model == SERVER_IO_CALLBACKS ? "callbacks" : "threads", srv->thread_count,
             srv->slot_count, options->max_message_bytes);
    srv->serving = true;
    *out = srv;
    return LSMKV_OK;
}

/* ---- stop ------------------------------------------------------------------------------- */

void
server_stop(server *srv)
{
    if (srv->stopped) {
        return;
    }
    /* The listeners stay open until server_free: closing an nng listener also
     * closes the connections it accepted, and the answers to the requests in
     * flight must still go out on them. */
    atomic_store(&srv->stopping, true);
    int in_flight = 0;
    for (int i = 0; i < srv->slot_count; i++) {
        slot *s = &srv->slots[i];
        pthread_mutex_lock(s->state_lock);
        if (s->state == SLOT_RECEIVING) {
            /* Under the state lock: in the threads model the same aio sends
             * once its thread has marked the slot HANDLING, and a send must not
             * be cancelled. nng completes the cancelled receive on its own
             * thread, so this cannot re-enter the lock. */
            nng_aio_cancel(s->aio);
        } else if (s->state == SLOT_QUEUED || s->state == SLOT_HANDLING) {
            in_flight++;
        }
        pthread_mutex_unlock(s->state_lock);
    }
    if (srv->serving) {
        log_info(srv->options.log, "stopping: no new requests; answering %d in flight", in_flight);
    }
    if (srv->options.io_model == SERVER_IO_CALLBACKS) {
        pthread_mutex_lock(&srv->mutex);
        while (srv->live_slots > 0) {
            pthread_cond_wait(&srv->done_cond, &srv->mutex);
        }
        srv->quit = true;
        pthread_mutex_unlock(&srv->mutex);
        pthread_cond_broadcast(&srv->work_cond);
    }
    for (int i = 0; i < srv->thread_count; i++) {
        pthread_join(srv->threads[i], NULL);
    }
    srv->stopped = true;
    if (srv->serving) {
        log_info(srv->options.log, "stopped after answering %" PRIu64 " request(s)",
                 server_answered(srv));
    }
}

/*
 * nng 1.5.2's nng_close can deadlock while it tears down connections that are
 * still busy (nanomsg/nng#1543, fixed in later nng releases): its reaper waits
 * for a task that was prepared but never runs. A client that keeps sending
 * while the server stops is enough, and so is a connection that dies while a
 * message on it is half read (the TCP transport then resubmits the read on an
 * aio its close has stopped; client/transport.c, which no longer uses nng,
 * tells the story). By the time the socket is closed every
 * request has been answered and nothing of ours is left inside nng, so the
 * close runs on a helper thread, and if it has not finished within
 * CLOSE_TIMEOUT_MS the server goes on without it (the process is about to
 * exit and the OS closes the connections).
 */
#define CLOSE_TIMEOUT_MS 5000

typedef struct socket_closer {
    nng_socket sock;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool done;
    int refs; /* the helper thread and the waiter; the last one frees */
} socket_closer;

static void
socket_closer_unref(socket_closer *c)
{
    pthread_mutex_lock(&c->mutex);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->mutex);
    if (last) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mutex);
        free(c);
    }
}

static void *
socket_closer_run(void *arg)
{
    socket_closer *c = arg;
    nng_close(c->sock);
    pthread_mutex_lock(&c->mutex);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mutex);
    socket_closer_unref(c);
    return NULL;
}

static void
server_close_socket(nng_socket sock, const logger *log)
{
    socket_closer *c = xcalloc(1, sizeof(*c));
    c->sock = sock;
    c->refs = 2;
    pthread_mutex_init(&c->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_t thread;
    if (pthread_create(&thread, NULL, socket_closer_run, c) != 0) {
        c->refs = 1;
        socket_closer_run(c); /* no thread to spare: close inline */
        return;
    }
    pthread_detach(thread);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += CLOSE_TIMEOUT_MS / 1000;
    pthread_mutex_lock(&c->mutex);
    int rc = 0;
    while (!c->done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&c->cond, &c->mutex, &deadline);
    }
    bool done = c->done;
    pthread_mutex_unlock(&c->mutex);
    if (!done) {
        log_warn(log,
                 "closing the nng socket did not finish within %d ms (nng 1.5.2's close "
                 "deadlock, nanomsg/nng#1543); going on without it",
                 CLOSE_TIMEOUT_MS);
    }
    socket_closer_unref(c);
}

void
server_free(server *srv)
{
    if (srv == NULL) {
        return;
    }
    if (srv->threads != NULL) {
        server_stop(srv);
    }
    for (int i = 0; i < srv->slot_count; i++) {
        slot *s = &srv->slots[i];
        if (s->send_aio != NULL) {
            nng_aio_free(s->send_aio);
        }
        if (s->aio != NULL) {
            nng_aio_free(s->aio); /* waits for a callback still returning */
        }
        if (nng_ctx_id(s->ctx) > 0) {
            nng_ctx_close(s->ctx);
        }
        pthread_mutex_destroy(&s->own_lock);
    }
    if (nng_socket_id(srv->sock) > 0) {
        server_close_socket(srv->sock, srv->options.log);
    }
    free(srv->slots);
    free(srv->threads);
    free(srv->listeners);
    pthread_cond_destroy(&srv->work_cond);
    pthread_cond_destroy(&srv->done_cond);
    pthread_mutex_destroy(&srv->mutex);
    free(srv);
}

uint64_t
server_answered(const server *srv)
{
    return atomic_load_explicit(&((server *)srv)->answered, memory_order_relaxed);
}
