#include "dump_issues.h"

#include "buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void
dump_issues_init(dump_issues *l)
{
    memset(l, 0, sizeof(*l));
}

void
dump_issues_fini(dump_issues *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].message);
    }
    free(l->items);
    dump_issues_init(l);
}

static void
append(dump_issues *l, dump_severity severity, char *message)
{
    l->items = xrealloc(l->items, (l->count + 1) * sizeof(*l->items));
    l->items[l->count++] = (dump_issue){severity, message};
    if (severity == DUMP_ERROR) {
        l->errors++;
    } else {
        l->warnings++;
    }
}

void
dump_issues_add(dump_issues *l, dump_severity severity, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *message = xmalloc((size_t)(n > 0 ? n : 0) + 1);
    va_start(ap, fmt);
    vsnprintf(message, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
    va_end(ap);
    append(l, severity, message);
}

void
dump_issues_take(dump_issues *dst, dump_issues *src)
{
    for (size_t i = 0; i < src->count; i++) {
        append(dst, src->items[i].severity, src->items[i].message);
    }
    free(src->items);
    dump_issues_init(src);
}

static const char *
severity_name(dump_severity s)
{
    return s == DUMP_ERROR ? "error" : "warning";
}

void
dump_issues_write(dump_out *o, const char *name, const dump_issues *l)
{
    dump_out_array(o, name);
    for (size_t i = 0; i < l->count; i++) {
        if (dump_out_json(o)) {
            dump_out_object(o, NULL);
            dump_out_str(o, "severity", severity_name(l->items[i].severity));
            dump_out_str(o, "message", l->items[i].message);
            dump_out_end(o);
        } else {
            const char *severity = severity_name(l->items[i].severity);
            size_t n = strlen(severity) + 2 + strlen(l->items[i].message) + 1;
            char *line = xmalloc(n);
            snprintf(line, n, "%s: %s", severity, l->items[i].message);
            dump_out_str(o, NULL, line);
            free(line);
        }
    }
    dump_out_end(o);
}
