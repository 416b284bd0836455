/*
 * dialer — where the server is and how to reach it: parses a server URL and
 * makes one connection attempt, which ends with the SP greetings exchanged
 * (sp.h) and the server's checked to be rep0, as lsmkv-server's is.
 *
 * URLs, as nng names them and lsmkv-server's --listen takes them:
 *     tcp://host:port     host a name, an IPv4 address or [an IPv6 address]
 *     tcp4://host:port    the same, IPv4 only; tcp6:// IPv6 only
 *     ipc:///path         a Unix socket (ipc://relative/path works too)
 *     abstract://name     a Linux abstract Unix socket
 */
#ifndef LSMKV_CLIENT_DIALER_H
#define LSMKV_CLIENT_DIALER_H

#include <stdbool.h>
#include <stdint.h>

#include "lsmkv/client.h"

typedef struct dialer dialer;

/* Parses `url`: INVALID_ARGUMENT, naming the URL and what is wrong with it. */
int dialer_new(const char *url, dialer **out, lsmkv_client_error *err);

/* NULL is a no-op. */
void dialer_free(dialer *d);

/*
 * One attempt to connect and exchange greetings, bounded by `deadline`
 * (clock.h). On OK, *fd is a connected, non-blocking, close-on-exec socket
 * (TCP_NODELAY on TCP), owned by the caller. Otherwise UNAVAILABLE, with
 * why in err (refused, no such socket, timed out, not an lsmkv server...).
 */
int dialer_connect(const dialer *d, uint64_t deadline, int *fd, lsmkv_client_error *err);

/* The URL as given. */
const char *dialer_url(const dialer *d);

/* True for Unix sockets (ipc://, abstract://), whose messages frame differently. */
bool dialer_is_ipc(const dialer *d);

#endif
