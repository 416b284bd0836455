/*
 * bench_echo — the transport's own limit, to hold the RPC figures against: a
 * bare nng req/rep echo server (lsmkv-bench --serve-echo=URL) and the client
 * side of the `echo` workload.
 *
 * The server is one rep0 socket with many contexts; each receives a message
 * and, from nng's callback, sends the same message straight back: no
 * decoding, no store, no thread of its own, the least a reply can cost.
 *
 * A client is what one lsmkv_client does minus its own work: the client
 * library's transport (one connection, as each RPC thread has its own
 * client), one request at a time sent and waited for. The request is
 * the exact envelope lsmkv_client_put sends for the same key and value (the
 * client's codec builds it), so the echo moves the same bytes as a Put, both
 * ways. A reply that is not the request (the URL is not an echo server)
 * fails the run.
 */
#ifndef LSMKV_TOOLS_BENCH_ECHO_H
#define LSMKV_TOOLS_BENCH_ECHO_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_echo_client bench_echo_client;

/*
 * Serves the echo on `url` until SIGINT or SIGTERM, then closes the socket.
 * Returns the process's exit status: 0, or 1 (after printing why) when the
 * URL cannot be listened on.
 */
int bench_echo_serve(const char *url);

/*
 * Connects to the echo server at `url` and makes one round trip, so that the
 * timed ones find the connection made. Each round trip sends the envelope of
 * a Put of key -> value (copied) with `timeout_ms` as its deadline, which
 * also bounds every wait. Prints the error and exits 1 on failure.
 */
bench_echo_client *bench_echo_client_open(const char *url, const uint8_t *key, size_t key_len,
                                          const uint8_t *value, size_t value_len,
                                          uint32_t timeout_ms);

/* One round trip; prints the error and exits 1 if it fails or the answer
 * is not the request. */
void bench_echo_client_call(bench_echo_client *c);

/* Closes the connection and frees the client. NULL is a no-op. */
void bench_echo_client_close(bench_echo_client *c);

#endif /* LSMKV_TOOLS_BENCH_ECHO_H */
