/*
 * bench_echo — see bench_echo.h.
 *
 * The server's contexts each own one aio whose callback alternates between
 * receiving and sending the received message back, as the callback-driven
 * lsmkv-server would; with many more contexts than client threads, a request
 * never waits for a free context. nng runs the callbacks on its own task
 * threads, which only hand messages over and never block.
 */
#include "bench_echo.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"     /* the client library's envelope encoder */
#include "transport.h" /* and its connection to the server */

/* Far more than the client threads any run uses: none waits for a context. */
#define ECHO_CONTEXTS 256
/* The largest message echoed: a 16 MiB value's Put with room to spare. */
#define ECHO_MAX_MESSAGE ((size_t)32 << 20)

struct bench_echo_client {
    transport *transport;
    uint32_t timeout_ms;
    const char *url;
    uint8_t *request; /* the Put envelope sent every time */
    size_t len;
};

/* ---- the server ---------------------------------------------------------------- */

typedef struct echo_context {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending; /* the aio carries a reply, not a receive */
} echo_context;

static void
echo_callback(void *arg)
{
    echo_context *e = arg;
    int rv = nng_aio_result(e->aio);

    if (rv != 0 && e->sending) {
        nng_msg_free(nng_aio_get_msg(e->aio)); /* an unsent reply stays ours */
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
        return; /* the socket is closing */
    }
    if (rv == 0 && !e->sending) {
        e->sending = true;
        nng_ctx_send(e->ctx, e->aio); /* the request goes straight back */
        return;
    }
    e->sending = false; /* a reply went out, or a peer vanished: receive again */
    nng_ctx_recv(e->ctx, e->aio);
}

static void
serve_fail(const char *what, const char *url, int rv)
{
    fprintf(stderr, "lsmkv-bench: echo server: %s %s: %s\n", what, url, nng_strerror(rv));
}

/* Blocks SIGINT and SIGTERM so that sigwait, not a handler, receives them. */
static void
block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

int
bench_echo_serve(const char *url)
{
    echo_context *ctxs = calloc(ECHO_CONTEXTS, sizeof(*ctxs));
    nng_socket sock;
    sigset_t stop;
    int sig;
    int rv = 0;
    int opened = 0;

    /* Before nng starts its threads, so that they inherit the mask. */
    block_stop_signals(&stop);
    if (ctxs == NULL || (rv = nng_rep0_open(&sock)) != 0) {
        fprintf(stderr, "lsmkv-bench: echo server: cannot open a rep0 socket\n");
        free(ctxs);
        return 1;
    }
    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, ECHO_MAX_MESSAGE);
    for (; opened < ECHO_CONTEXTS; opened++) {
        echo_context *e = &ctxs[opened];

        if ((rv = nng_ctx_open(&e->ctx, sock)) != 0) {
            break;
        }
        if ((rv = nng_aio_alloc(&e->aio, echo_callback, e)) != 0) {
            nng_ctx_close(e->ctx);
            break;
        }
        nng_ctx_recv(e->ctx, e->aio);
    }
    if (opened == ECHO_CONTEXTS && (rv = nng_listen(sock, url, NULL, 0)) == 0) {
        fprintf(stderr,
                "lsmkv-bench: echo server on %s (%d contexts); SIGINT or SIGTERM stops it\n", url,
                ECHO_CONTEXTS);
        sigwait(&stop, &sig);
    } else {
        serve_fail(opened == ECHO_CONTEXTS ? "cannot listen on" : "cannot set up contexts for", url,
                   rv);
    }
    nng_close(sock); /* fails every pending aio with NNG_ECLOSED */
    for (int i = 0; i < opened; i++) {
        nng_aio_free(ctxs[i].aio); /* waits for its callback to finish */
    }
    free(ctxs);
    return opened == ECHO_CONTEXTS && rv == 0 ? 0 : 1;
}

/* ---- the client ---------------------------------------------------------------- */

bench_echo_client *
bench_echo_client_open(const char *url, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len, uint32_t timeout_ms)
{
    bench_echo_client *c = calloc(1, sizeof(*c));
    codec_bytes request;

    if (c == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory\n");
        exit(1);
    }
    c->url = url;
    c->timeout_ms = timeout_ms;
    codec_encode_put(key, key_len, value, value_len, LSMKV_CLIENT_SYNC_DEFAULT, timeout_ms,
                     &request);
    c->request = request.data;
    c->len = request.len;
    lsmkv_client_error err;
    /* As the client library: no answer bigger than ours. */
    if (transport_open(url, c->len + 1024, &c->transport, &err) != LSMKV_CLIENT_OK) {
        fprintf(stderr, "lsmkv-bench: echo: %s\n", err.message);
        exit(1);
    }
    bench_echo_client_call(c);
    return c;
}

void
bench_echo_client_call(bench_echo_client *c)
{
    transport_reply *reply;
    lsmkv_client_error err;
    if (transport_call(c->transport, c->request, c->len, transport_deadline(c->timeout_ms),
                       c->timeout_ms, &reply, &err) != LSMKV_CLIENT_OK) {
        fprintf(stderr, "lsmkv-bench: echo: %s\n", err.message);
        exit(1);
    }
    size_t len;
    const uint8_t *answer = transport_reply_data(reply, &len);
    if (len != c->len || memcmp(answer, c->request, c->len) != 0) {
        fprintf(stderr,
                "lsmkv-bench: %s answered something other than the request: not an echo "
                "server (start one with lsmkv-bench --serve-echo=URL)\n",
                c->url);
        exit(1);
    }
    transport_reply_free(reply);
}

void
bench_echo_client_close(bench_echo_client *c)
{
    if (c == NULL) {
        return;
    }
    transport_close(c->transport);
    free(c->request);
    free(c);
}
