/*
 * Logging: components write whole lines through a logger that the store sets
 * up from its options (a callback, or stderr with a timestamp by default).
 */
#ifndef LSMKV_ENGINE_LOG_H
#define LSMKV_ENGINE_LOG_H

#include "lsmkv/lsmkv.h"

typedef struct logger {
    lsmkv_log_level level; /* lines above this level are dropped */
    lsmkv_log_fn fn;       /* NULL: stderr */
    void *ctx;
} logger;

/* Formats and emits one line if level is enabled. lg may be NULL (no output). */
void log_message(const logger *lg, lsmkv_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(lg, ...) log_message((lg), LSMKV_LOG_ERROR, __VA_ARGS__)
#define log_warn(lg, ...)  log_message((lg), LSMKV_LOG_WARN, __VA_ARGS__)
#define log_info(lg, ...)  log_message((lg), LSMKV_LOG_INFO, __VA_ARGS__)
#define log_debug(lg, ...) log_message((lg), LSMKV_LOG_DEBUG, __VA_ARGS__)

#endif
