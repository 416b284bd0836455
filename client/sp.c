#include "sp.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

/* The type byte before every message on Unix sockets. */
#define SP_IPC_MESSAGE_TYPE 1

/* ---- format ------------------------------------------------------------------- */

void
sp_greeting(uint8_t out[SP_GREETING_SIZE])
{
    const uint8_t greeting[SP_GREETING_SIZE] = {
        0, 'S', 'P', 0, SP_PROTOCOL_REQ0 >> 8, SP_PROTOCOL_REQ0 & 0xff, 0, 0};
    for (size_t i = 0; i < SP_GREETING_SIZE; i++) {
        out[i] = greeting[i];
    }
}

bool
sp_parse_greeting(const uint8_t in[SP_GREETING_SIZE], uint16_t *protocol)
{
    if (in[0] != 0 || in[1] != 'S' || in[2] != 'P' || in[3] != 0 || in[6] != 0 || in[7] != 0) {
        return false;
    }
    *protocol = (uint16_t)((in[4] << 8) | in[5]);
    return true;
}

size_t
sp_header_size(bool ipc)
{
    return ipc ? 9 : 8;
}

static void
put_u64(uint8_t *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t
get_u64(const uint8_t *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | in[i];
    }
    return v;
}

size_t
sp_encode_header(bool ipc, uint64_t body_len, uint8_t out[SP_MAX_HEADER_SIZE])
{
    if (ipc) {
        out[0] = SP_IPC_MESSAGE_TYPE;
        put_u64(out + 1, body_len);
        return 9;
    }
    put_u64(out, body_len);
    return 8;
}

bool
sp_decode_header(bool ipc, const uint8_t *in, uint64_t *body_len)
{
    if (ipc && in[0] != SP_IPC_MESSAGE_TYPE) {
        return false;
    }
    *body_len = get_u64(ipc ? in + 1 : in);
    return true;
}

void
sp_put_u32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

uint32_t
sp_get_u32(const uint8_t in[4])
{
    return ((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) | ((uint32_t)in[2] << 8) | in[3];
}

/* ---- deadline-bounded I/O ------------------------------------------------------------ */

int
sp_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        int left = clock_remaining_ms(deadline);
        if (left == 0) {
            return ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left);
        if (n > 0) {
            return 0; /* ready, or an error or hang-up the next I/O call reports */
        }
        if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
}

/* Drops the first `n` sent bytes from iov[0..*count). */
static void
advance(struct iovec **iov, int *count, size_t n)
{
    while (*count > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*count)--;
    }
    if (*count > 0) {
        (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

int
sp_send_all(int fd, struct iovec *iov, int count, uint64_t deadline, size_t *sent)
{
    *sent = 0;
    while (count > 0 && iov->iov_len == 0) {
        iov++;
        count--;
    }
    while (count > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            *sent += (size_t)n;
            advance(&iov, &count, (size_t)n);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return errno;
        }
        int rc = sp_wait(fd, POLLOUT, deadline);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

int
sp_recv_exact(int fd, uint8_t *buf, size_t len, uint64_t deadline)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            return ECONNRESET;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return errno;
        }
        int rc = sp_wait(fd, POLLIN, deadline);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
