/* Status codes, their names and messages, from the one table in lsmkv.h. */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct status_entry {
    int code;
    const char *name;
    const char *message;
    int grpc_code;
};

static const struct status_entry status_entries[] = {
#define STATUS_ENTRY(name, value, message, grpc) {value, #name, message, grpc},
    LSMKV_STATUS_TABLE(STATUS_ENTRY)
#undef STATUS_ENTRY
};

static const struct status_entry *
status_find(int code)
{
    for (size_t i = 0; i < sizeof(status_entries) / sizeof(status_entries[0]); i++) {
        if (status_entries[i].code == code) {
            return &status_entries[i];
        }
    }
    return NULL;
}

const char *
lsmkv_status_name(int code)
{
    const struct status_entry *e = status_find(code);
    return e ? e->name : "UNKNOWN";
}

const char *
lsmkv_status_str(int code)
{
    const struct status_entry *e = status_find(code);
    return e ? e->message : "unknown status";
}

int
lsmkv_status_grpc_code(int code)
{
    const struct status_entry *e = status_find(code);
    return e ? e->grpc_code : 2; /* gRPC UNKNOWN */
}

/* Formats through a copy: the arguments may include err->message itself. */
static void
status_vformat(lsmkv_error *err, int code, const char *fmt, va_list ap)
{
    char message[sizeof(err->message)];
    vsnprintf(message, sizeof(message), fmt, ap);
    err->code = code;
    memcpy(err->message, message, sizeof(message));
}

int
status_set(lsmkv_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        status_vformat(err, code, fmt, ap);
        va_end(ap);
    }
    return code;
}

int
status_set_errno(lsmkv_error *err, int errno_value, const char *fmt, ...)
{
    int code = LSMKV_IO_ERROR;
    if (errno_value == ENOSPC || errno_value == EDQUOT) {
        code = LSMKV_NO_SPACE;
    } else if (errno_value == ENOMEM) {
        code = LSMKV_NO_MEMORY;
    }
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        status_vformat(err, code, fmt, ap);
        va_end(ap);
        char reason[128];
        size_t used = strlen(err->message);
        snprintf(err->message + used, sizeof(err->message) - used, ": %s",
                 strerror_r(errno_value, reason, sizeof(reason)));
    }
    return code;
}

int
status_copy(lsmkv_error *dst, const lsmkv_error *src)
{
    if (dst != NULL && dst != src) {
        *dst = *src;
    }
    return src->code;
}
