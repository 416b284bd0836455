/*
 * The SP framing and the deadline-bounded socket I/O of client/sp.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "sp.h"

static void
test_greeting_names_req0_and_parses_back(void **state)
{
    uint8_t g[SP_GREETING_SIZE];
    sp_greeting(g);
    const uint8_t expected[SP_GREETING_SIZE] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
    assert_memory_equal(g, expected, sizeof(g));
    uint16_t protocol = 0;
    assert_true(sp_parse_greeting(g, &protocol));
    assert_int_equal(protocol, SP_PROTOCOL_REQ0);

    const uint8_t rep0[SP_GREETING_SIZE] = {0, 'S', 'P', 0, 0x00, 0x31, 0, 0};
    assert_true(sp_parse_greeting(rep0, &protocol));
    assert_int_equal(protocol, SP_PROTOCOL_REP0);
    const uint8_t http[SP_GREETING_SIZE] = {'H', 'T', 'T', 'P', '/', '1', '.', '1'};
    assert_false(sp_parse_greeting(http, &protocol));
    const uint8_t reserved_set[SP_GREETING_SIZE] = {0, 'S', 'P', 0, 0x00, 0x31, 0, 1};
    assert_false(sp_parse_greeting(reserved_set, &protocol));
}

static void
test_headers_frame_tcp_and_unix_sockets(void **state)
{
    uint8_t h[SP_MAX_HEADER_SIZE];
    uint64_t len = 0;
    assert_int_equal(sp_encode_header(false, 0x0102030405060708ull, h), 8);
    const uint8_t tcp[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(h, tcp, 8);
    assert_true(sp_decode_header(false, h, &len));
    assert_int_equal(len, 0x0102030405060708ull);
    assert_int_equal(sp_header_size(false), 8);

    assert_int_equal(sp_encode_header(true, 300, h), 9);
    const uint8_t ipc[9] = {1, 0, 0, 0, 0, 0, 0, 1, 44};
    assert_memory_equal(h, ipc, 9);
    assert_true(sp_decode_header(true, h, &len));
    assert_int_equal(len, 300);
    assert_int_equal(sp_header_size(true), 9);
    h[0] = 2; /* not a message */
    assert_false(sp_decode_header(true, h, &len));

    uint8_t id[4];
    sp_put_u32(id, 0x80000001u);
    assert_int_equal(id[0], 0x80);
    assert_int_equal(id[3], 0x01);
    assert_int_equal(sp_get_u32(id), 0x80000001u);
}

static void
make_pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    int small = 4096;
    setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
}

static void
test_send_all_sends_every_piece_and_recv_exact_reads_them(void **state)
{
    int fds[2];
    make_pair(fds);
    uint8_t a[3] = {1, 2, 3}, b[5] = {4, 5, 6, 7, 8};
    struct iovec iov[3] = {{a, sizeof(a)}, {NULL, 0}, {b, sizeof(b)}};
    size_t sent = 0;
    assert_int_equal(sp_send_all(fds[0], iov, 3, clock_now_ms() + 5000, &sent), 0);
    assert_int_equal(sent, 8);
    uint8_t got[8];
    assert_int_equal(sp_recv_exact(fds[1], got, sizeof(got), clock_now_ms() + 5000), 0);
    const uint8_t expected[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(got, expected, sizeof(got));
    close(fds[0]);
    close(fds[1]);
}

static void
test_send_all_stops_at_the_deadline_and_says_how_much_went(void **state)
{
    int fds[2];
    make_pair(fds);
    static uint8_t big[4 << 20]; /* far more than the socket buffers hold */
    struct iovec iov = {big, sizeof(big)};
    size_t sent = 0;
    assert_int_equal(sp_send_all(fds[0], &iov, 1, clock_now_ms() + 100, &sent), ETIMEDOUT);
    assert_true(sent > 0 && sent < sizeof(big)); /* cut short: the stream is now mid-message */
    close(fds[0]);
    close(fds[1]);
}

static void
test_recv_exact_reports_the_end_of_stream_and_the_deadline(void **state)
{
    int fds[2];
    make_pair(fds);
    uint8_t buf[4];
    assert_int_equal(sp_recv_exact(fds[1], buf, sizeof(buf), clock_now_ms() + 50), ETIMEDOUT);
    assert_int_equal(write(fds[0], "ab", 2), 2);
    close(fds[0]); /* two bytes, then the end */
    assert_int_equal(sp_recv_exact(fds[1], buf, sizeof(buf), clock_now_ms() + 5000), ECONNRESET);
    close(fds[1]);
}

static void
test_send_to_a_closed_peer_fails_without_a_signal(void **state)
{
    int fds[2];
    make_pair(fds);
    close(fds[1]);
    uint8_t byte = 0;
    struct iovec iov = {&byte, 1};
    size_t sent = 0;
    /* EPIPE, not SIGPIPE (which would kill this test). */
    assert_int_equal(sp_send_all(fds[0], &iov, 1, clock_now_ms() + 5000, &sent), EPIPE);
    assert_int_equal(sent, 0);
    close(fds[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_names_req0_and_parses_back),
        cmocka_unit_test(test_headers_frame_tcp_and_unix_sockets),
        cmocka_unit_test(test_send_all_sends_every_piece_and_recv_exact_reads_them),
        cmocka_unit_test(test_send_all_stops_at_the_deadline_and_says_how_much_went),
        cmocka_unit_test(test_recv_exact_reports_the_end_of_stream_and_the_deadline),
        cmocka_unit_test(test_send_to_a_closed_peer_fails_without_a_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
