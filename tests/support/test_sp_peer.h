/*
 * A hand-driven SP server peer for the client's tests: a listening TCP or
 * Unix socket whose connections a test accepts, greets (as rep0, or as
 * anything else) and answers frame by frame, including answers cut short,
 * oversize or malformed, none of which a real nng server would send on
 * purpose. Its framing is written here independently of client/sp.c, so the
 * tests also check the bytes against nng's wire format.
 *
 * The functions abort (they do not use cmocka's asserts), so a server thread
 * may call them.
 */
#ifndef LSMKV_TESTS_TEST_SP_PEER_H
#define LSMKV_TESTS_TEST_SP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct test_sp_peer {
    int listen_fd;
    bool ipc;
    char *dir; /* ipc: holds the socket */
    char url[512];
} test_sp_peer;

/* Listens on 127.0.0.1 at a free port, or (ipc) on a Unix socket in a temp dir. */
void test_sp_peer_listen(test_sp_peer *p, bool ipc);

/*
 * Accepts one connection, sends a greeting naming `protocol` (0x31 for rep0)
 * unless it is 0, then reads the client's greeting. Returns the blocking fd.
 */
int test_sp_peer_accept(test_sp_peer *p, uint16_t protocol);

/*
 * Reads one request: its ID and a malloc'd copy of what follows the ID.
 * False at the end of the stream.
 */
bool test_sp_peer_read(const test_sp_peer *p, int fd, uint32_t *id, uint8_t **body, size_t *len);

/* Writes an answer (ID, then body), only its first `cut_at` bytes of frame if that is smaller. */
void test_sp_peer_write(const test_sp_peer *p, int fd, uint32_t id, const void *body, size_t len,
                        size_t cut_at);

/* Writes bytes as they are (a malformed frame). */
void test_sp_peer_write_raw(int fd, const void *bytes, size_t len);

/* Stops listening and removes the socket's directory. */
void test_sp_peer_close(test_sp_peer *p);

#endif
