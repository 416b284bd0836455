#include "filename.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
filename_join(char *out, const char *dir, const char *name)
{
    snprintf(out, FILENAME_PATH_MAX, "%s/%s", dir, name);
}

void
filename_wal(char *out, const char *dir, uint64_t number)
{
    snprintf(out, FILENAME_PATH_MAX, "%s/%06" PRIu64 ".wal", dir, number);
}

void
filename_table(char *out, const char *dir, uint64_t number)
{
    snprintf(out, FILENAME_PATH_MAX, "%s/%06" PRIu64 ".sst", dir, number);
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Parses "<digits>.<ext>"; the digits must be all there is before the dot. */
static bool
parse_numbered(const char *name, const char *ext, uint64_t *number)
{
    size_t digits = strspn(name, "0123456789");
    if (digits == 0 || digits > 20 || strcmp(name + digits, ext) != 0) {
        return false;
    }
    errno = 0;
    unsigned long long value = strtoull(name, NULL, 10);
    if (errno == ERANGE) {
        return false;
    }
    *number = value;
    return true;
}

file_kind
filename_parse(const char *name, uint64_t *number)
{
    if (strcmp(name, FILENAME_MANIFEST) == 0) {
        return FILE_KIND_MANIFEST;
    }
    if (strcmp(name, FILENAME_LOCK) == 0) {
        return FILE_KIND_LOCK;
    }
    if (ends_with(name, ".tmp")) {
        return FILE_KIND_TEMP;
    }
    if (parse_numbered(name, ".wal", number)) {
        return FILE_KIND_WAL;
    }
    if (parse_numbered(name, ".sst", number)) {
        return FILE_KIND_TABLE;
    }
    return FILE_KIND_UNKNOWN;
}
