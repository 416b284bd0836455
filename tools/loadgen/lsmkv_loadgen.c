/*
 * lsmkv-loadgen: a small closed-loop load generator for lsmkv-server. K client
 * threads, each with its own nng REQ socket, send Put or Get envelopes
 * (proto/lsmkv/v1/rpc.proto) back to back for a fixed time and report
 * requests/s and latency percentiles.
 *
 * With --echo it first starts, in-process, a bare nng rep0 echo server on the
 * same URL (callback-driven contexts, no decoding, no store) and drives that
 * instead: the same messages at the same concurrency, i.e. the transport's own
 * limit to compare the server with. --serve-echo runs only that echo server,
 * as its own process (like lsmkv-server), until SIGINT or SIGTERM.
 *
 *   lsmkv-loadgen --url tcp://127.0.0.1:7420 --threads 16 --op put --seconds 5
 *   lsmkv-loadgen --url tcp://127.0.0.1:7421 --serve-echo
 */
#include "lsmkv/v1/kv.pb-c.h"
#include "lsmkv/v1/rpc.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum op { OP_PUT, OP_GET } op;

typedef struct options {
    const char *url;
    int threads;
    double seconds;
    op operation;
    size_t value_size;
    uint32_t keys;
    bool echo;
    bool serve_echo;
} options;

typedef struct client {
    const options *o;
    int index;
    uint64_t *latencies_ns; /* one per request */
    size_t count, capacity;
    uint64_t errors;
} client;

static atomic_bool stop_flag;

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what, int rv)
{
    fprintf(stderr, "lsmkv-loadgen: %s: %s\n", what, nng_strerror(rv));
    exit(1);
}

/* ---- envelopes ---------------------------------------------------------------------- */

/* Packs an RpcRequest for key number k into a new nng message. */
static nng_msg *
make_request(const options *o, uint32_t k, const uint8_t *value)
{
    char key[32];
    int key_len = snprintf(key, sizeof(key), "key%010" PRIu32, k);
    uint8_t inner[256];
    size_t inner_len;
    uint8_t *inner_buf = inner;
    const char *method;
    if (o->operation == OP_PUT) {
        Lsmkv__V1__PutRequest put = LSMKV__V1__PUT_REQUEST__INIT;
        put.key.data = (uint8_t *)key;
        put.key.len = (size_t)key_len;
        put.value.data = (uint8_t *)value;
        put.value.len = o->value_size;
        inner_len = lsmkv__v1__put_request__get_packed_size(&put);
        inner_buf = inner_len > sizeof(inner) ? malloc(inner_len) : inner;
        lsmkv__v1__put_request__pack(&put, inner_buf);
        method = "/lsmkv.v1.KV/Put";
    } else {
        Lsmkv__V1__GetRequest get = LSMKV__V1__GET_REQUEST__INIT;
        get.key.data = (uint8_t *)key;
        get.key.len = (size_t)key_len;
        inner_len = lsmkv__v1__get_request__pack(&get, inner);
        method = "/lsmkv.v1.KV/Get";
    }
    Lsmkv__V1__RpcRequest req = LSMKV__V1__RPC_REQUEST__INIT;
    req.method = (char *)method;
    req.payload.data = inner_buf;
    req.payload.len = inner_len;
    req.timeout_ms = 10000;
    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, lsmkv__v1__rpc_request__get_packed_size(&req));
    if (rv != 0) {
        die("nng_msg_alloc", rv);
    }
    lsmkv__v1__rpc_request__pack(&req, nng_msg_body(msg));
    if (inner_buf != inner) {
        free(inner_buf);
    }
    return msg;
}

/* True if msg is an RpcResponse with status OK (or, for --echo, anything). */
static bool
response_ok(const options *o, nng_msg *msg)
{
    if (o->echo) {
        return true;
    }
    Lsmkv__V1__RpcResponse *resp =
        lsmkv__v1__rpc_response__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
    bool ok = resp != NULL && (resp->status == NULL || resp->status->code == 0);
    lsmkv__v1__rpc_response__free_unpacked(resp, NULL);
    return ok;
}

/* ---- clients -------------------------------------------------------------------------- */

static nng_socket
client_connect(const options *o)
{
    nng_socket sock;
    int rv = nng_req0_open(&sock);
    if (rv != 0) {
        die("nng_req0_open", rv);
    }
    /* No automatic resend (a slow Put could be applied twice); every call has a deadline. */
    nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 10000);
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 10000);
    if ((rv = nng_dial(sock, o->url, NULL, 0)) != 0) {
        die(o->url, rv);
    }
    return sock;
}

static void
client_record(client *c, uint64_t ns)
{
    if (c->count == c->capacity) {
        c->capacity = c->capacity ? c->capacity * 2 : 4096;
        c->latencies_ns = realloc(c->latencies_ns, c->capacity * sizeof(uint64_t));
    }
    c->latencies_ns[c->count++] = ns;
}

static void *
client_run(void *arg)
{
    client *c = arg;
    const options *o = c->o;
    nng_socket sock = client_connect(o);
    uint8_t *value = calloc(1, o->value_size + 1);
    memset(value, 'v', o->value_size);
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(c->index + 1);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        nng_msg *msg = make_request(o, (uint32_t)(rng % o->keys), value);
        uint64_t start = now_ns();
        int rv = nng_sendmsg(sock, msg, 0);
        if (rv != 0) {
            nng_msg_free(msg);
            c->errors++;
            continue;
        }
        if ((rv = nng_recvmsg(sock, &msg, 0)) != 0) {
            c->errors++;
            continue;
        }
        client_record(c, now_ns() - start);
        c->errors += !response_ok(o, msg);
        nng_msg_free(msg);
    }
    free(value);
    nng_close(sock);
    return NULL;
}

/* ---- the bare echo server --------------------------------------------------------------- */

typedef struct echo_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
} echo_ctx;

static void
echo_cb(void *arg)
{
    echo_ctx *e = arg;
    int rv = nng_aio_result(e->aio);
    if (rv != 0) {
        if (e->sending) {
            nng_msg_free(nng_aio_get_msg(e->aio));
        }
        if (rv == NNG_ECLOSED) {
            return;
        }
        e->sending = false;
        nng_ctx_recv(e->ctx, e->aio);
        return;
    }
    if (e->sending) {
        e->sending = false;
        nng_ctx_recv(e->ctx, e->aio);
    } else {
        e->sending = true;
        nng_ctx_send(e->ctx, e->aio); /* the received message goes straight back */
    }
}

static void
echo_start(const char *url, int contexts, nng_socket *sock_out)
{
    nng_socket sock;
    int rv = nng_rep0_open(&sock);
    if (rv != 0) {
        die("nng_rep0_open", rv);
    }
    echo_ctx *ctxs = calloc((size_t)contexts, sizeof(echo_ctx));
    for (int i = 0; i < contexts; i++) {
        if ((rv = nng_ctx_open(&ctxs[i].ctx, sock)) != 0 ||
            (rv = nng_aio_alloc(&ctxs[i].aio, echo_cb, &ctxs[i])) != 0) {
            die("echo context", rv);
        }
        nng_ctx_recv(ctxs[i].ctx, ctxs[i].aio);
    }
    if ((rv = nng_listen(sock, url, NULL, 0)) != 0) {
        die(url, rv);
    }
    *sock_out = sock; /* the contexts live until the process exits */
}

/* ---- report -------------------------------------------------------------------------- */

static int
compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void
report(const options *o, client *clients, double elapsed)
{
    size_t total = 0;
    uint64_t errors = 0;
    for (int i = 0; i < o->threads; i++) {
        total += clients[i].count;
        errors += clients[i].errors;
    }
    uint64_t *all = malloc((total ? total : 1) * sizeof(uint64_t));
    size_t n = 0;
    for (int i = 0; i < o->threads; i++) {
        memcpy(all + n, clients[i].latencies_ns, clients[i].count * sizeof(uint64_t));
        n += clients[i].count;
    }
    qsort(all, n, sizeof(uint64_t), compare_u64);
#define PCT(p) (n ? all[(size_t)((double)(n - 1) * (p))] / 1000.0 : 0.0)
    printf("%s %s threads=%d value=%zu: %.0f req/s, p50 %.0f us, p99 %.0f us, p99.9 %.0f us, "
           "errors %" PRIu64 "\n",
           o->echo ? "echo" : "rpc", o->operation == OP_PUT ? "put" : "get", o->threads,
           o->value_size, (double)n / elapsed, PCT(0.50), PCT(0.99), PCT(0.999), errors);
#undef PCT
    free(all);
}

/* ---- main ----------------------------------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr, "usage: lsmkv-loadgen [--url URL] [--threads K] [--seconds S] "
                    "[--op put|get] [--value-size B] [--keys N] [--echo | --serve-echo]\n");
    exit(2);
}

static void
parse(int argc, char **argv, options *o)
{
    *o = (options){"tcp://127.0.0.1:7420", 1, 5.0, OP_PUT, 100, 10000, false, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--echo") == 0) {
            o->echo = true;
            continue;
        }
        if (strcmp(a, "--serve-echo") == 0) {
            o->serve_echo = true;
            continue;
        }
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(a, "--url") == 0) {
            o->url = v;
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = atoi(v);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = atof(v);
        } else if (strcmp(a, "--op") == 0) {
            o->operation = strcmp(v, "get") == 0 ? OP_GET : OP_PUT;
        } else if (strcmp(a, "--value-size") == 0) {
            o->value_size = (size_t)atol(v);
        } else if (strcmp(a, "--keys") == 0) {
            o->keys = (uint32_t)atol(v);
        } else {
            usage();
        }
    }
    if (o->threads < 1 || o->seconds <= 0 || o->keys < 1) {
        usage();
    }
}

int
main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    nng_socket echo_sock;
    if (o.serve_echo) {
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
        echo_start(o.url, 128, &echo_sock);
        int sig;
        sigwait(&stop, &sig);
        return 0; /* the process exit closes the socket */
    }
    if (o.echo) {
        echo_start(o.url, 2 * o.threads + 8, &echo_sock);
    }
    client *clients = calloc((size_t)o.threads, sizeof(client));
    pthread_t *threads = calloc((size_t)o.threads, sizeof(pthread_t));
    uint64_t start = now_ns();
    for (int i = 0; i < o.threads; i++) {
        clients[i] = (client){.o = &o, .index = i};
        pthread_create(&threads[i], NULL, client_run, &clients[i]);
    }
    struct timespec run = {(time_t)o.seconds,
                           (long)((o.seconds - (double)(time_t)o.seconds) * 1e9)};
    nanosleep(&run, NULL);
    atomic_store(&stop_flag, true);
    for (int i = 0; i < o.threads; i++) {
        pthread_join(threads[i], NULL);
    }
    report(&o, clients, (double)(now_ns() - start) / 1e9);
    for (int i = 0; i < o.threads; i++) {
        free(clients[i].latencies_ns);
    }
    free(clients);
    free(threads);
    if (o.echo) {
        nng_close(echo_sock);
    }
    return 0;
}
