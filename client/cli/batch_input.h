/*
 * batch_input — the operations `lsmkv-cli batch` reads from standard input,
 * one per line:
 *
 *     put KEY VALUE
 *     del KEY            (or: delete KEY)
 *
 * Each line is split as at the prompt (escape.h): whitespace separates,
 * "double quotes" group and understand \xHH \n \t ..., 'single quotes' group
 * as they are; with --hex, keys and values are hex digits. Blank lines and
 * lines whose first non-blank character is '#' are skipped. The whole input
 * is read and checked before anything is sent, so one bad line sends nothing,
 * and the batch is applied all or nothing.
 */
#ifndef LSMKV_CLI_BATCH_INPUT_H
#define LSMKV_CLI_BATCH_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lsmkv/client.h"

/* The operations read, ready for lsmkv_client_batch; they own their bytes. */
typedef struct batch_input {
    lsmkv_client_op *ops;
    size_t count;
    size_t cap;
    uint8_t **owned; /* every key and value buffer, freed by batch_input_fini */
    size_t owned_count;
    size_t bytes; /* keys and values read so far */
} batch_input;

/*
 * Reads every line of `in` into *out (zeroed first). With `hex`, keys and
 * values are decoded from hex digits. Returns false with a message naming the
 * line ("line 3: ...") in error; *out is then emptied. Input of more than
 * `max_bytes` bytes of keys and values is refused too.
 */
bool batch_input_read(FILE *in, bool hex, size_t max_bytes, batch_input *out, char *error,
                      size_t error_size);

/* Frees what *b owns and zeroes it. */
void batch_input_fini(batch_input *b);

#endif
