/*
 * sp — the SP protocol ("scalability protocols") on a stream socket, as nng's req0/rep0 speak it
 * over TCP and Unix sockets, and deadline-bounded I/O on a non-blocking socket.
 *
 * After connecting, each side sends an 8-byte greeting and checks the other's:
 *
 *     00 'S' 'P' 00  proto(2, big-endian)  00 00      req0 = 0x0030, rep0 = 0x0031
 *
 * Then every message is a header and a body. Over TCP the header is the
 * body's length, 8 bytes big-endian; over Unix sockets (nng's ipc:// and
 * abstract://) it is a type byte (1) and then that length. A request's body
 * is a 4-byte big-endian request ID with its top bit set followed by the
 * request; the answer's body starts with the same ID (rep0 echoes it).
 */
#ifndef LSMKV_CLIENT_SP_H
#define LSMKV_CLIENT_SP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define SP_GREETING_SIZE   8
#define SP_PROTOCOL_REQ0   0x0030
#define SP_PROTOCOL_REP0   0x0031
#define SP_MAX_HEADER_SIZE 9
#define SP_REQUEST_ID_SIZE 4

/* ---- format ------------------------------------------------------------------- */

/* Our greeting: the req0 protocol. */
void sp_greeting(uint8_t out[SP_GREETING_SIZE]);

/* True if `in` is a well-formed greeting; *protocol gets the peer's protocol. */
bool sp_parse_greeting(const uint8_t in[SP_GREETING_SIZE], uint16_t *protocol);

/* Header size of a message: 9 on Unix sockets (`ipc`), 8 on TCP. */
size_t sp_header_size(bool ipc);

/* Writes the header of a message whose body is `body_len` bytes; returns its size. */
size_t sp_encode_header(bool ipc, uint64_t body_len, uint8_t out[SP_MAX_HEADER_SIZE]);

/* Reads a complete header: false if its type byte is wrong (ipc). */
bool sp_decode_header(bool ipc, const uint8_t *in, uint64_t *body_len);

void sp_put_u32(uint8_t out[4], uint32_t v);
uint32_t sp_get_u32(const uint8_t in[4]);

/* ---- deadline-bounded I/O on a non-blocking socket ---------------------------------- */

/*
 * Waits until fd is ready for `events` (POLLIN, POLLOUT) or `deadline`
 * (clock.h) passes: 0 when ready, ETIMEDOUT, or an errno from poll.
 */
int sp_wait(int fd, short events, uint64_t deadline);

/*
 * Sends all of iov[0..count) (the array is advanced in place), waiting for
 * room until `deadline`. Returns 0, ETIMEDOUT or the errno of the failed
 * send; *sent counts the bytes that did go out, so a caller can tell a
 * message not sent at all from one cut short. Never raises SIGPIPE.
 */
int sp_send_all(int fd, struct iovec *iov, int count, uint64_t deadline, size_t *sent);

/* Receives exactly len bytes until `deadline`: 0, ETIMEDOUT, ECONNRESET at end of stream, or an
 * errno. */
int sp_recv_exact(int fd, uint8_t *buf, size_t len, uint64_t deadline);

#endif
