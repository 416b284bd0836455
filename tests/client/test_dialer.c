/*
 * client/dialer.c: which server URLs are taken and why others are not, and
 * one connection attempt against peers that greet as lsmkv-server does, greet
 * wrongly, stay silent, or are not there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "dialer.h"
#include "test_sp_peer.h"

static void
expect_invalid(const char *url, const char *why)
{
    dialer *d = NULL;
    lsmkv_client_error err = {0};
    assert_int_equal(dialer_new(url, &d, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_null(d);
    assert_int_equal(err.code, LSMKV_CLIENT_INVALID_ARGUMENT);
    if (strstr(err.message, url) == NULL || strstr(err.message, why) == NULL) {
        fail_msg("'%s': the message '%s' should name the URL and say '%s'", url, err.message, why);
    }
}

static void
test_rejects_urls_that_name_no_server(void **state)
{
    expect_invalid("bogus://where", "unknown scheme");
    expect_invalid("", "unknown scheme");
    expect_invalid("ws://127.0.0.1:80", "unknown scheme");
    expect_invalid("tcp://127.0.0.1", "no port");
    expect_invalid("tcp://:7420", "no host");
    expect_invalid("tcp://127.0.0.1:0", "from 1 to 65535");
    expect_invalid("tcp://127.0.0.1:65536", "from 1 to 65535");
    expect_invalid("tcp://127.0.0.1:74x", "from 1 to 65535");
    expect_invalid("tcp://127.0.0.1:", "from 1 to 65535");
    expect_invalid("tcp://[::1:7420", "closing ']'");
    expect_invalid("tcp://[::1]7420", "':port'");
    expect_invalid("ipc://", "no socket path");
    char long_path[200];
    memset(long_path, 'p', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    char url[256];
    snprintf(url, sizeof(url), "ipc:///%s", long_path);
    expect_invalid(url, "too long");
}

static void
expect_valid(const char *url, bool ipc)
{
    dialer *d = NULL;
    assert_int_equal(dialer_new(url, &d, NULL), LSMKV_CLIENT_OK);
    assert_string_equal(dialer_url(d), url);
    assert_int_equal(dialer_is_ipc(d), ipc);
    dialer_free(d);
}

static void
test_takes_the_urls_lsmkv_server_listens_on(void **state)
{
    expect_valid("tcp://127.0.0.1:7420", false);
    expect_valid("tcp://localhost:7420", false);
    expect_valid("tcp://[::1]:7420", false);
    expect_valid("tcp4://127.0.0.1:1", false);
    expect_valid("tcp6://[::1]:65535", false);
    expect_valid("ipc:///run/lsmkv.sock", true);
    expect_valid("ipc://relative.sock", true);
    expect_valid("abstract://lsmkv", true);
    dialer_free(NULL);
}

/* A peer that accepts one connection on its own thread and greets with `protocol`. */
typedef struct greeter {
    test_sp_peer peer;
    uint16_t protocol;
    int fd;
    pthread_t thread;
} greeter;

static void *
greeter_main(void *arg)
{
    greeter *g = arg;
    g->fd = test_sp_peer_accept(&g->peer, g->protocol);
    return NULL;
}

static void
greeter_start(greeter *g, bool ipc, uint16_t protocol)
{
    test_sp_peer_listen(&g->peer, ipc);
    g->protocol = protocol;
    assert_int_equal(pthread_create(&g->thread, NULL, greeter_main, g), 0);
}

static void
greeter_stop(greeter *g)
{
    pthread_join(g->thread, NULL);
    close(g->fd);
    test_sp_peer_close(&g->peer);
}

static int
connect_once(const char *url, uint32_t timeout_ms, int *fd, lsmkv_client_error *err)
{
    dialer *d;
    assert_int_equal(dialer_new(url, &d, NULL), LSMKV_CLIENT_OK);
    int rc = dialer_connect(d, clock_now_ms() + timeout_ms, fd, err);
    dialer_free(d);
    return rc;
}

static void
test_connects_and_greets_a_rep0_server_over_tcp_and_unix_sockets(void **state)
{
    for (int ipc = 0; ipc < 2; ipc++) {
        greeter g;
        greeter_start(&g, ipc, 0x31);
        int fd = -1;
        lsmkv_client_error err = {0};
        assert_int_equal(connect_once(g.peer.url, 5000, &fd, &err), LSMKV_CLIENT_OK);
        pthread_join(g.thread, NULL);
        /* Our socket is non-blocking, and has Nagle's delay off on TCP. */
        char byte;
        assert_int_equal(recv(fd, &byte, 1, 0), -1);
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        if (!ipc) {
            int nodelay = 0;
            socklen_t size = sizeof(nodelay);
            assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size), 0);
            assert_int_not_equal(nodelay, 0);
        }
        close(fd);
        close(g.fd);
        test_sp_peer_close(&g.peer);
    }
}

static void
test_a_peer_that_is_not_rep0_is_refused_with_a_reason(void **state)
{
    greeter g;
    greeter_start(&g, false, 0x30); /* another REQ socket */
    int fd = -1;
    lsmkv_client_error err = {0};
    assert_int_equal(connect_once(g.peer.url, 5000, &fd, &err), LSMKV_CLIENT_UNAVAILABLE);
    assert_non_null(strstr(err.message, "0x0030, not rep0"));
    greeter_stop(&g);
}

static void
test_a_silent_peer_fails_at_the_deadline(void **state)
{
    greeter g;
    greeter_start(&g, false, 0); /* accepts, never greets */
    int fd = -1;
    lsmkv_client_error err = {0};
    uint64_t start = clock_now_ms();
    assert_int_equal(connect_once(g.peer.url, 200, &fd, &err), LSMKV_CLIENT_UNAVAILABLE);
    assert_true(clock_now_ms() - start >= 190);
    assert_non_null(strstr(err.message, "no SP greeting"));
    greeter_stop(&g);
}

static void
test_nothing_listening_is_unavailable_at_once(void **state)
{
    int fd = -1;
    lsmkv_client_error err = {0};
    uint64_t start = clock_now_ms();
    assert_int_equal(connect_once("tcp://127.0.0.1:1", 5000, &fd, &err), LSMKV_CLIENT_UNAVAILABLE);
    assert_non_null(strstr(err.message, "refused"));
    assert_int_equal(connect_once("ipc:///nonexistent/lsmkv.sock", 5000, &fd, &err),
                     LSMKV_CLIENT_UNAVAILABLE);
    assert_non_null(strstr(err.message, "No such file"));
    assert_true(clock_now_ms() - start < 4000); /* neither waited for the deadline */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_urls_that_name_no_server),
        cmocka_unit_test(test_takes_the_urls_lsmkv_server_listens_on),
        cmocka_unit_test(test_connects_and_greets_a_rep0_server_over_tcp_and_unix_sockets),
        cmocka_unit_test(test_a_peer_that_is_not_rep0_is_refused_with_a_reason),
        cmocka_unit_test(test_a_silent_peer_fails_at_the_deadline),
        cmocka_unit_test(test_nothing_listening_is_unavailable_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
