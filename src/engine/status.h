/*
 * Status helpers: every fallible engine function returns an lsmkv status code
 * and, through an optional lsmkv_error, a message saying what failed and where.
 * The code table itself lives in the public header (LSMKV_STATUS_TABLE).
 */
#ifndef LSMKV_ENGINE_STATUS_H
#define LSMKV_ENGINE_STATUS_H

#include "lsmkv/lsmkv.h"

/* Fills err (if not NULL) with code and the formatted message; returns code. */
int status_set(lsmkv_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * For a failed syscall: maps errno_value to a code (ENOSPC/EDQUOT → NO_SPACE,
 * ENOMEM → NO_MEMORY, anything else → IO_ERROR), formats the message followed
 * by ": strerror(errno_value)", and returns the code.
 */
int status_set_errno(lsmkv_error *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies src into dst (if dst is not NULL); returns src->code. */
int status_copy(lsmkv_error *dst, const lsmkv_error *src);

#endif
