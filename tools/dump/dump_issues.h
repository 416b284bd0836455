/*
 * What lsmkv-dump found wrong: a list of errors (damage) and warnings (worth
 * knowing, harmless, e.g. what a crash leaves and recovery cleans up).
 */
#ifndef LSMKV_TOOLS_DUMP_ISSUES_H
#define LSMKV_TOOLS_DUMP_ISSUES_H

#include "dump_output.h"

#include <stddef.h>

typedef enum dump_severity {
    DUMP_WARNING,
    DUMP_ERROR,
} dump_severity;

typedef struct dump_issue {
    dump_severity severity;
    char *message; /* owned */
} dump_issue;

typedef struct dump_issues {
    size_t count;
    size_t errors;
    size_t warnings;
    dump_issue *items;
} dump_issues;

void dump_issues_init(dump_issues *l);
void dump_issues_fini(dump_issues *l);

void dump_issues_add(dump_issues *l, dump_severity severity, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Moves every issue of src to the end of dst (src ends up empty). */
void dump_issues_take(dump_issues *dst, dump_issues *src);

/*
 * Writes the list as array `name`: text lines "error: ..." / "warning: ...",
 * JSON objects {"severity": "error", "message": "..."}.
 */
void dump_issues_write(dump_out *o, const char *name, const dump_issues *l);

#endif
