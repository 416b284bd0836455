/* ctest-labels: concurrency */
/*
 * client/transport.c against a hand-driven SP peer (support/test_sp_peer.h):
 * answers in any order reach their own calls; a connection that dies half-way
 * through an answer, or carries an oversize or malformed one, or a request
 * cut short, fails the calls on it and the next call connects again; a reader
 * whose deadline passes hands the reading over; an idle connection the server
 * closed is replaced before a call goes out on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_sp_peer.h"
#include "test_support.h"
#include "transport.h"

#define REP0 0x31
/* ---- a peer running a script on its own thread ------------------------------------------ */

typedef struct script script;
typedef void (*script_fn)(script *s);

struct script {
    test_sp_peer peer;
    script_fn fn;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int peer_stage; /* mutex: how far the script got */
    int test_stage; /* mutex: how far the test got */
};

static void *
script_main(void *arg)
{
    script *s = arg;
    s->fn(s);
    return NULL;
}

static void
script_start(script *s, bool ipc, script_fn fn)
{
    memset(s, 0, sizeof(*s));
    test_sp_peer_listen(&s->peer, ipc);
    s->fn = fn;
    pthread_mutex_init(&s->mutex, NULL);
    pthread_cond_init(&s->cond, NULL);
    assert_int_equal(pthread_create(&s->thread, NULL, script_main, s), 0);
}

static void
script_stop(script *s)
{
    pthread_join(s->thread, NULL);
    test_sp_peer_close(&s->peer);
    pthread_mutex_destroy(&s->mutex);
    pthread_cond_destroy(&s->cond);
}

static void
stage_set(script *s, int *stage, int value)
{
    pthread_mutex_lock(&s->mutex);
    *stage = value;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mutex);
}

static void
stage_wait(script *s, const int *stage, int value)
{
    pthread_mutex_lock(&s->mutex);
    while (*stage < value) {
        pthread_cond_wait(&s->cond, &s->mutex);
    }
    pthread_mutex_unlock(&s->mutex);
}

/* Reads a request and answers it with its own body. */
static void
echo_one(script *s, int fd)
{
    uint32_t id;
    uint8_t *body;
    size_t len;
    TEST_CHECK(test_sp_peer_read(&s->peer, fd, &id, &body, &len));
    test_sp_peer_write(&s->peer, fd, id, body, len, SIZE_MAX);
    free(body);
}

static transport *
open_transport(const char *url, size_t max_message_size)
{
    transport *t = NULL;
    assert_int_equal(transport_open(url, max_message_size, &t, NULL), LSMKV_CLIENT_OK);
    return t;
}

/* A call of `text`: true if `text` came back; else false, why in err. Any thread may call it. */
static bool
echo_call(transport *t, const char *text, uint32_t timeout_ms, lsmkv_client_error *err)
{
    transport_reply *reply = NULL;
    int rc = transport_call(t, (const uint8_t *)text, strlen(text), transport_deadline(timeout_ms),
                            timeout_ms, &reply, err);
    if (rc != LSMKV_CLIENT_OK) {
        return false;
    }
    size_t len;
    const uint8_t *data = transport_reply_data(reply, &len);
    bool same = len == strlen(text) && memcmp(data, text, len) == 0;
    if (!same) {
        snprintf(err->message, sizeof(err->message), "the answer to '%s' was another call's", text);
    }
    transport_reply_free(reply);
    return same;
}

static void
expect_echo(transport *t, const char *text, uint32_t timeout_ms)
{
    lsmkv_client_error err = {0};
    if (!echo_call(t, text, timeout_ms, &err)) {
        fail_msg("call '%s': %s", text, err.message);
    }
}

/* A call that must fail with `code` and a message containing `why`. */
static void
expect_failure(transport *t, const void *request, size_t len, uint32_t timeout_ms, int code,
               const char *why)
{
    transport_reply *reply = NULL;
    lsmkv_client_error err = {0};
    int rc =
        transport_call(t, request, len, transport_deadline(timeout_ms), timeout_ms, &reply, &err);
    assert_int_equal(rc, code);
    assert_null(reply);
    if (strstr(err.message, why) == NULL) {
        fail_msg("the message '%s' should say '%s'", err.message, why);
    }
}

/* ---- answers in any order --------------------------------------------------------------- */

#define CALLERS 8
#define CALLS   200

/* Echoes every request, holding a few back and answering them in a shuffled order. */
static void
script_shuffle(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    struct held {
        uint32_t id;
        uint8_t *body;
        size_t len;
    } held[CALLERS];
    int count = 0, answered = 0;
    while (answered < CALLERS * CALLS) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        bool more = count < CALLERS && poll(&p, 1, count == 0 ? -1 : 0) > 0;
        if (more && (count == 0 || test_rng_below(&rng, 4) != 0)) {
            TEST_CHECK(test_sp_peer_read(&s->peer, fd, &held[count].id, &held[count].body,
                                         &held[count].len));
            count++;
            continue;
        }
        int i = (int)test_rng_below(&rng, (uint64_t)count);
        test_sp_peer_write(&s->peer, fd, held[i].id, held[i].body, held[i].len, SIZE_MAX);
        free(held[i].body);
        held[i] = held[--count];
        answered++;
    }
    close(fd);
}

typedef struct caller {
    transport *t;
    int index;
    bool ok;
    lsmkv_client_error err;
} caller;

static void *
caller_main(void *arg)
{
    caller *c = arg;
    c->ok = true;
    for (int i = 0; i < CALLS && c->ok; i++) {
        char text[32];
        snprintf(text, sizeof(text), "caller %d call %d", c->index, i);
        c->ok = echo_call(c->t, text, 20000, &c->err);
    }
    return NULL;
}

static void
test_answers_in_any_order_reach_their_own_calls(void **state)
{
    script s;
    script_start(&s, false, script_shuffle);
    transport *t = open_transport(s.peer.url, 1 << 20);
    pthread_t threads[CALLERS];
    caller callers[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        callers[i] = (caller){.t = t, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, caller_main, &callers[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(threads[i], NULL);
        if (!callers[i].ok) {
            fail_msg("caller %d: %s", i, callers[i].err.message);
        }
    }
    transport_close(t);
    script_stop(&s);
}

/* ---- broken connections ------------------------------------------------------------------ */

/* Sends half an answer and closes; then serves a second connection properly. */
static void
script_die_mid_answer(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    uint32_t id;
    uint8_t *body;
    size_t len;
    TEST_CHECK(test_sp_peer_read(&s->peer, fd, &id, &body, &len));
    size_t header = s->peer.ipc ? 9 : 8;
    test_sp_peer_write(&s->peer, fd, id, body, len, header + 6); /* the ID and 2 bytes */
    free(body);
    close(fd);
    fd = test_sp_peer_accept(&s->peer, REP0);
    echo_one(s, fd);
    close(fd);
}

static void
test_a_connection_dying_mid_answer_fails_the_call_and_the_next_reconnects(void **state)
{
    for (int ipc = 0; ipc < 2; ipc++) {
        script s;
        script_start(&s, ipc, script_die_mid_answer);
        transport *t = open_transport(s.peer.url, 1 << 20);
        expect_failure(t, "first call", 10, 20000, LSMKV_CLIENT_UNAVAILABLE,
                       "closed before the answer");
        expect_echo(t, "second call", 20000);
        transport_close(t); /* returns: nothing of the dead connection is left waiting */
        script_stop(&s);
    }
}

static void
script_oversize_then_echo(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    uint32_t id;
    uint8_t *body;
    size_t len;
    TEST_CHECK(test_sp_peer_read(&s->peer, fd, &id, &body, &len));
    uint8_t big[100] = {0};
    test_sp_peer_write(&s->peer, fd, id, big, sizeof(big), SIZE_MAX);
    free(body);
    /* The client closes the connection; serve the next one. */
    TEST_CHECK(!test_sp_peer_read(&s->peer, fd, &id, &body, &len));
    close(fd);
    fd = test_sp_peer_accept(&s->peer, REP0);
    echo_one(s, fd);
    close(fd);
}

static void
test_an_answer_over_max_message_size_breaks_the_connection(void **state)
{
    script s;
    script_start(&s, false, script_oversize_then_echo);
    transport *t = open_transport(s.peer.url, 64);
    expect_failure(t, "q", 1, 20000, LSMKV_CLIENT_UNAVAILABLE,
                   "an answer of 100 bytes is over max_message_size (64 bytes)");
    expect_echo(t, "small", 20000);
    transport_close(t);
    script_stop(&s);
}

static void
script_malformed(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    uint32_t id;
    uint8_t *body;
    size_t len;
    TEST_CHECK(test_sp_peer_read(&s->peer, fd, &id, &body, &len));
    free(body);
    const uint8_t not_a_message[9] = {7, 0, 0, 0, 0, 0, 0, 0, 4}; /* type 7 */
    test_sp_peer_write_raw(fd, not_a_message, sizeof(not_a_message));
    TEST_CHECK(!test_sp_peer_read(&s->peer, fd, &id, &body, &len));
    close(fd);
}

static void
test_a_malformed_answer_breaks_the_connection(void **state)
{
    script s;
    script_start(&s, true, script_malformed);
    transport *t = open_transport(s.peer.url, 1 << 20);
    expect_failure(t, "q", 1, 20000, LSMKV_CLIENT_UNAVAILABLE, "malformed message");
    transport_close(t);
    script_stop(&s);
}

/* Reads nothing until the test has seen its request cut short. */
static void
script_never_read_then_echo(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    stage_wait(s, &s->test_stage, 1);
    close(fd);
    fd = test_sp_peer_accept(&s->peer, REP0);
    echo_one(s, fd);
    close(fd);
}

static void
test_a_request_cut_short_by_its_deadline_breaks_the_connection(void **state)
{
    script s;
    script_start(&s, false, script_never_read_then_echo);
    size_t big = 64 << 20; /* more than any socket buffers hold */
    transport *t = open_transport(s.peer.url, big);
    uint8_t *request = calloc(1, big);
    assert_non_null(request);
    expect_failure(t, request, big, 300, LSMKV_CLIENT_UNAVAILABLE, "cut short by its deadline");
    free(request);
    stage_set(&s, &s.test_stage, 1);
    expect_echo(t, "after", 20000);
    transport_close(t);
    script_stop(&s);
}

/* ---- handing the reading over ------------------------------------------------------------- */

/*
 * Holds two requests: the first caller's until it has given up (so that its
 * answer comes late and is dropped), then answers the second.
 */
static void
script_answer_after_the_first_gives_up(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    uint32_t ids[2];
    uint8_t *bodies[2];
    size_t lens[2];
    for (int i = 0; i < 2; i++) {
        TEST_CHECK(test_sp_peer_read(&s->peer, fd, &ids[i], &bodies[i], &lens[i]));
        stage_set(s, &s->peer_stage, i + 1);
    }
    stage_wait(s, &s->test_stage, 1);
    for (int i = 0; i < 2; i++) {
        test_sp_peer_write(&s->peer, fd, ids[i], bodies[i], lens[i], SIZE_MAX);
        free(bodies[i]);
    }
    close(fd);
}

typedef struct handover {
    script *s;
    transport *t;
    int first_rc;
    bool second_ok;
    lsmkv_client_error second_err;
} handover;

/* Alone when it starts waiting, the first call becomes the reader; it gives up at 1.5 s. */
static void *
first_main(void *arg)
{
    handover *h = arg;
    transport_reply *reply = NULL;
    h->first_rc = transport_call(h->t, (const uint8_t *)"first", 5, transport_deadline(1500), 1500,
                                 &reply, NULL);
    return NULL;
}

/* Starts once the peer has the first request, so it waits behind the first as reader. */
static void *
second_main(void *arg)
{
    handover *h = arg;
    stage_wait(h->s, &h->s->peer_stage, 1);
    h->second_ok = echo_call(h->t, "second", 30000, &h->second_err);
    return NULL;
}

static void
test_a_reader_whose_deadline_passes_hands_the_reading_over(void **state)
{
    script s;
    script_start(&s, false, script_answer_after_the_first_gives_up);
    handover h = {.s = &s, .t = open_transport(s.peer.url, 1 << 20)};
    pthread_t first, second;
    assert_int_equal(pthread_create(&first, NULL, first_main, &h), 0);
    assert_int_equal(pthread_create(&second, NULL, second_main, &h), 0);
    pthread_join(first, NULL);
    assert_int_equal(h.first_rc, LSMKV_CLIENT_DEADLINE_EXCEEDED);
    /* Only now do the answers come (the first's is late and dropped): the
     * second call gets its own only if someone took the reading over. */
    stage_set(&s, &s.test_stage, 1);
    pthread_join(second, NULL);
    if (!h.second_ok) {
        fail_msg("second call: %s", h.second_err.message);
    }
    transport_close(h.t);
    script_stop(&s);
}

/* ---- an idle connection the server closed -------------------------------------------------- */

static void
script_close_idle_then_echo(script *s)
{
    int fd = test_sp_peer_accept(&s->peer, REP0);
    echo_one(s, fd);
    stage_wait(s, &s->test_stage, 1);
    close(fd); /* the server restarts while the client is idle */
    stage_set(s, &s->peer_stage, 1);
    fd = test_sp_peer_accept(&s->peer, REP0);
    echo_one(s, fd);
    close(fd);
}

static void
test_an_idle_connection_the_server_closed_is_replaced_before_a_call(void **state)
{
    script s;
    script_start(&s, true, script_close_idle_then_echo);
    transport *t = open_transport(s.peer.url, 1 << 20);
    expect_echo(t, "before", 20000);
    stage_set(&s, &s.test_stage, 1);
    stage_wait(&s, &s.peer_stage, 1);
    expect_echo(t, "after", 20000); /* not UNAVAILABLE: it did not go out on the dead one */
    transport_close(t);
    script_stop(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_in_any_order_reach_their_own_calls),
        cmocka_unit_test(test_a_connection_dying_mid_answer_fails_the_call_and_the_next_reconnects),
        cmocka_unit_test(test_an_answer_over_max_message_size_breaks_the_connection),
        cmocka_unit_test(test_a_malformed_answer_breaks_the_connection),
        cmocka_unit_test(test_a_request_cut_short_by_its_deadline_breaks_the_connection),
        cmocka_unit_test(test_a_reader_whose_deadline_passes_hands_the_reading_over),
        cmocka_unit_test(test_an_idle_connection_the_server_closed_is_replaced_before_a_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
