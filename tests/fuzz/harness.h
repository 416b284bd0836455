/*
 * What the fuzz targets share: a scratch directory for the files an input
 * becomes, a logger that keeps the output quiet, and a check that crashes
 * loudly (libFuzzer reports an abort as a finding, with the input).
 */
#ifndef LSMKV_TESTS_FUZZ_HARNESS_H
#define LSMKV_TESTS_FUZZ_HARNESS_H

#include "log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A directory of this process's own (created on first use, removed at exit):
 * under $TMPDIR, else /dev/shm (memory, fast), else /tmp. */
const char *harness_dir(void);

/* dir/name into out[4096]. */
void harness_path(char *out, const char *name);

/* Replaces path's contents with data (aborts on failure: the harness is broken). */
void harness_write_file(const char *path, const uint8_t *data, size_t len);

/* The size of path, or -1. */
long long harness_file_size(const char *path);

/* A logger that drops every line (torn tails are expected here). */
const logger *harness_quiet_logger(void);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
