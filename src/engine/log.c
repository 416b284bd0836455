#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *const log_level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static void
log_to_stderr(lsmkv_log_level level, const char *line)
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    /* One fprintf per line so lines from several threads do not interleave. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
            log_level_names[level], line);
}

void
log_message(const logger *lg, lsmkv_log_level level, const char *fmt, ...)
{
    if (lg == NULL || level > lg->level) {
        return;
    }
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (lg->fn != NULL) {
        lg->fn(lg->ctx, level, line);
    } else {
        log_to_stderr(level, line);
    }
}
