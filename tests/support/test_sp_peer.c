#include "test_sp_peer.h"
#include "test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void
listen_tcp(test_sp_peer *p)
{
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TEST_CHECK(p->listen_fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    TEST_CHECK(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    TEST_CHECK(getsockname(p->listen_fd, (struct sockaddr *)&addr, &len) == 0);
    snprintf(p->url, sizeof(p->url), "tcp://127.0.0.1:%d", ntohs(addr.sin_port));
}

static void
listen_unix(test_sp_peer *p)
{
    const char *base = getenv("LSMKV_TEST_TMPDIR");
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "%s/sp-peer-XXXXXX", base && *base ? base : "/tmp");
    mkdir(base && *base ? base : "/tmp", 0755);
    TEST_CHECK(mkdtemp(tmpl) != NULL);
    p->dir = strdup(tmpl);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/s.sock", p->dir);
    TEST_CHECK(n > 0 && (size_t)n < sizeof(addr.sun_path));
    snprintf(p->url, sizeof(p->url), "ipc://%s", addr.sun_path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    TEST_CHECK(p->listen_fd >= 0);
    TEST_CHECK(bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
}

void
test_sp_peer_listen(test_sp_peer *p, bool ipc)
{
    memset(p, 0, sizeof(*p));
    p->ipc = ipc;
    if (ipc) {
        listen_unix(p);
    } else {
        listen_tcp(p);
    }
    TEST_CHECK(listen(p->listen_fd, 16) == 0);
}

static bool
read_full(int fd, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len > 0) {
        ssize_t n = read(fd, b, len);
        if (n <= 0) {
            return false;
        }
        b += n;
        len -= (size_t)n;
    }
    return true;
}

void
test_sp_peer_write_raw(int fd, const void *bytes, size_t len)
{
    const uint8_t *b = bytes;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return; /* the client went away: nothing to check here */
        }
        b += n;
        len -= (size_t)n;
    }
}

int
test_sp_peer_accept(test_sp_peer *p, uint16_t protocol)
{
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    TEST_CHECK(fd >= 0);
    if (protocol != 0) {
        const uint8_t mine[8] = {0, 'S', 'P', 0, (uint8_t)(protocol >> 8), (uint8_t)protocol, 0, 0};
        test_sp_peer_write_raw(fd, mine, sizeof(mine));
    }
    uint8_t theirs[8];
    const uint8_t req0[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
    TEST_CHECK(read_full(fd, theirs, sizeof(theirs)) && memcmp(theirs, req0, 8) == 0);
    return fd;
}

static uint64_t
get_be(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

static void
put_be(uint8_t *b, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

bool
test_sp_peer_read(const test_sp_peer *p, int fd, uint32_t *id, uint8_t **body, size_t *len)
{
    uint8_t head[9];
    size_t head_len = p->ipc ? 9 : 8;
    if (!read_full(fd, head, head_len)) {
        return false;
    }
    TEST_CHECK(!p->ipc || head[0] == 1);
    uint64_t frame = get_be(head + head_len - 8, 8);
    TEST_CHECK(frame >= 4 && frame < ((uint64_t)1 << 30));
    uint8_t ident[4];
    TEST_CHECK(read_full(fd, ident, 4));
    *id = (uint32_t)get_be(ident, 4);
    TEST_CHECK(*id & 0x80000000u);
    *len = (size_t)frame - 4;
    *body = malloc(*len ? *len : 1);
    TEST_CHECK(*body != NULL && read_full(fd, *body, *len));
    return true;
}

void
test_sp_peer_write(const test_sp_peer *p, int fd, uint32_t id, const void *body, size_t len,
                   size_t cut_at)
{
    size_t head_len = p->ipc ? 9 : 8;
    size_t total = head_len + 4 + len;
    uint8_t *frame = malloc(total);
    TEST_CHECK(frame != NULL);
    if (p->ipc) {
        frame[0] = 1;
    }
    put_be(frame + head_len - 8, 4 + (uint64_t)len, 8);
    put_be(frame + head_len, id, 4);
    if (len > 0) {
        memcpy(frame + head_len + 4, body, len);
    }
    test_sp_peer_write_raw(fd, frame, cut_at < total ? cut_at : total);
    free(frame);
}

void
test_sp_peer_close(test_sp_peer *p)
{
    close(p->listen_fd);
    if (p->dir != NULL) {
        char path[600];
        snprintf(path, sizeof(path), "%s/s.sock", p->dir);
        unlink(path);
        rmdir(p->dir);
        free(p->dir);
        p->dir = NULL;
    }
}
