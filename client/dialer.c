#include "dialer.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "sp.h"
#include "xalloc.h"

typedef enum dialer_kind { DIALER_TCP, DIALER_UNIX, DIALER_ABSTRACT } dialer_kind;

struct dialer {
    char *url;
    dialer_kind kind;
    int family; /* TCP: AF_UNSPEC, AF_INET or AF_INET6 */
    char *host; /* TCP */
    char *port; /* TCP */
    char *path; /* Unix: the socket's path, or the abstract name */
};

/* ---- parsing -------------------------------------------------------------------- */

static const struct {
    const char *scheme;
    dialer_kind kind;
    int family;
} schemes[] = {
    {"tcp://", DIALER_TCP, AF_UNSPEC},         {"tcp4://", DIALER_TCP, AF_INET},
    {"tcp6://", DIALER_TCP, AF_INET6},         {"ipc://", DIALER_UNIX, AF_UNIX},
    {"abstract://", DIALER_ABSTRACT, AF_UNIX},
};

static char *
copy_range(const char *start, size_t len)
{
    char *s = xmalloc(len + 1);
    memcpy(s, start, len);
    s[len] = '\0';
    return s;
}

/* "host:port" or "[v6 address]:port" into d->host and d->port; NULL or what is wrong. */
static const char *
parse_host_port(dialer *d, const char *rest)
{
    const char *host = rest, *colon;
    size_t host_len;
    if (*rest == '[') {
        const char *close = strchr(rest, ']');
        if (close == NULL) {
            return "an IPv6 address needs its closing ']'";
        }
        host = rest + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
        if (*colon != ':') {
            return "expected ':port' after the IPv6 address";
        }
    } else {
        colon = strrchr(rest, ':');
        if (colon == NULL) {
            return "no port (expected tcp://host:port)";
        }
        host_len = (size_t)(colon - rest);
    }
    if (host_len == 0) {
        return "no host (expected tcp://host:port)";
    }
    const char *port = colon + 1;
    char *end;
    long n = strtol(port, &end, 10);
    if (*port < '0' || *port > '9' || *end != '\0' || n < 1 || n > 65535) {
        return "the port must be a number from 1 to 65535";
    }
    d->host = copy_range(host, host_len);
    d->port = copy_range(port, strlen(port));
    return NULL;
}

static const char *
parse_path(dialer *d, const char *rest)
{
    size_t len = strlen(rest);
    if (len == 0) {
        return "no socket path";
    }
    /* An abstract name goes after a leading NUL byte in sun_path. */
    size_t room = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (len > room) {
        return "the socket path is too long for a Unix socket";
    }
    d->path = copy_range(rest, len);
    return NULL;
}

int
dialer_new(const char *url, dialer **out, lsmkv_client_error *err)
{
    dialer *d = xcalloc(1, sizeof(*d));
    d->url = copy_range(url, strlen(url));
    const char *why = "unknown scheme (expected tcp://, tcp4://, tcp6://, ipc:// or abstract://)";
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(url, schemes[i].scheme, n) == 0) {
            d->kind = schemes[i].kind;
            d->family = schemes[i].family;
            why = d->kind == DIALER_TCP ? parse_host_port(d, url + n) : parse_path(d, url + n);
            break;
        }
    }
    if (why != NULL) {
        error_set(err, LSMKV_CLIENT_INVALID_ARGUMENT, "invalid server URL '%s': %s", url, why);
        dialer_free(d);
        return LSMKV_CLIENT_INVALID_ARGUMENT;
    }
    *out = d;
    return LSMKV_CLIENT_OK;
}

void
dialer_free(dialer *d)
{
    if (d != NULL) {
        free(d->url);
        free(d->host);
        free(d->port);
        free(d->path);
        free(d);
    }
}

const char *
dialer_url(const dialer *d)
{
    return d->url;
}

bool
dialer_is_ipc(const dialer *d)
{
    return d->kind != DIALER_TCP;
}

/* ---- connecting ------------------------------------------------------------------- */

/* Connects a fresh non-blocking socket to addr by the deadline: the socket or -1 with errno set. */
static int
connect_within(int family, const struct sockaddr *addr, socklen_t len, uint64_t deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int rc = 0;
    if (connect(fd, addr, len) != 0) {
        rc = errno;
        if (rc == EINPROGRESS || rc == EINTR) {
            rc = sp_wait(fd, POLLOUT, deadline);
            socklen_t size = sizeof(rc);
            if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &rc, &size) != 0) {
                rc = errno;
            }
        }
    }
    if (rc != 0) {
        close(fd);
        errno = rc;
        return -1;
    }
    return fd;
}

static int
connect_tcp(const dialer *d, uint64_t deadline, int *fd, lsmkv_client_error *err)
{
    struct addrinfo hints = {
        .ai_family = d->family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *found;
    int rc = getaddrinfo(d->host, d->port, &hints, &found);
    if (rc != 0) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "cannot resolve '%s': %s", d->host,
                         rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    }
    int last = ENOENT;
    *fd = -1;
    for (struct addrinfo *a = found; a != NULL && *fd < 0; a = a->ai_next) {
        *fd = connect_within(a->ai_family, a->ai_addr, a->ai_addrlen, deadline);
        last = errno;
    }
    freeaddrinfo(found);
    if (*fd < 0) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "%s", strerror(last));
    }
    int one = 1;
    setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* as nng does */
    return LSMKV_CLIENT_OK;
}

static int
connect_unix(const dialer *d, uint64_t deadline, int *fd, lsmkv_client_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(d->path);
    size_t offset = d->kind == DIALER_ABSTRACT ? 1 : 0; /* abstract: sun_path[0] stays 0 */
    memcpy(addr.sun_path + offset, d->path, len);
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + offset + len +
                                 (d->kind == DIALER_ABSTRACT ? 0 : 1));
    *fd = connect_within(AF_UNIX, (struct sockaddr *)&addr, size, deadline);
    if (*fd < 0) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "%s", strerror(errno));
    }
    return LSMKV_CLIENT_OK;
}

/* Sends our greeting and checks the server's. */
static int
greet(int fd, uint64_t deadline, lsmkv_client_error *err)
{
    uint8_t mine[SP_GREETING_SIZE], theirs[SP_GREETING_SIZE];
    sp_greeting(mine);
    struct iovec iov = {.iov_base = mine, .iov_len = sizeof(mine)};
    size_t sent;
    int rc = sp_send_all(fd, &iov, 1, deadline, &sent);
    if (rc == 0) {
        rc = sp_recv_exact(fd, theirs, sizeof(theirs), deadline);
    }
    if (rc == ETIMEDOUT) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "connected, but no SP greeting came back");
    }
    if (rc != 0) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE, "the greeting failed: %s", strerror(rc));
    }
    uint16_t protocol;
    if (!sp_parse_greeting(theirs, &protocol)) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                         "the peer does not speak the SP protocol (is it lsmkv-server?)");
    }
    if (protocol != SP_PROTOCOL_REP0) {
        return error_set(err, LSMKV_CLIENT_UNAVAILABLE,
                         "the peer speaks SP protocol 0x%04x, not rep0 (0x0031) as lsmkv-server",
                         protocol);
    }
    return LSMKV_CLIENT_OK;
}

int
dialer_connect(const dialer *d, uint64_t deadline, int *fd, lsmkv_client_error *err)
{
    int rc = d->kind == DIALER_TCP ? connect_tcp(d, deadline, fd, err)
                                   : connect_unix(d, deadline, fd, err);
    if (rc == LSMKV_CLIENT_OK) {
        rc = greet(*fd, deadline, err);
        if (rc != LSMKV_CLIENT_OK) {
            close(*fd);
        }
    }
    return rc;
}
