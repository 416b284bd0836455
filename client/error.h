/*
 * error — fills the caller's optional lsmkv_client_error. Every failure path
 * of the client library goes through error_set, so a message is never lost
 * and never overflows the caller's buffer.
 */
#ifndef LSMKV_CLIENT_ERROR_H
#define LSMKV_CLIENT_ERROR_H

#include "lsmkv/client.h"

/*
 * Sets err->code and a printf-formatted message (cut to the buffer) when err
 * is not NULL; returns code, so a failure path reads
 * `return error_set(err, LSMKV_CLIENT_INTERNAL, "...")`.
 */
int error_set(lsmkv_client_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
