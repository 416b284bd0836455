/*
 * escape — bytes as people read and type them. Keys and values are arbitrary
 * bytes; on a terminal they are shown in redis-cli's quoted form, where
 * printable ASCII stands for itself and everything else is escaped:
 *
 *     "caf\xc3\xa9 \x00\n \"quoted\" back\\slash"
 *
 * At the prompt a line is split into arguments the same way redis-cli splits
 * it: whitespace separates, "double quotes" group and understand the escapes
 * \xHH \n \r \t \a \b \\ \" , 'single quotes' group with no escapes but \' ,
 * and unquoted text is taken literally. The -x/--hex flag gives keys and
 * values as hex digits instead.
 */
#ifndef LSMKV_CLI_ESCAPE_H
#define LSMKV_CLI_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One argument: malloc'd bytes, NUL-terminated after `len` for convenience. */
typedef struct cli_arg {
    uint8_t *data;
    size_t len;
} cli_arg;

/* Whether arg is exactly the C string s. */
bool escape_arg_is(const cli_arg *arg, const char *s);

/* An argument holding a copy of len bytes. */
cli_arg escape_arg_copy(const void *data, size_t len);

/* Frees count arguments and the array. */
void escape_args_free(cli_arg *args, size_t count);

/*
 * Splits one line (without its newline) into arguments as described above.
 * On success *args (malloc'd, possibly NULL with *count 0 for a blank line)
 * receives the arguments; on failure it returns false and *error a static
 * explanation (unbalanced quotes, a bad \x escape).
 */
bool escape_split_line(const char *line, size_t len, cli_arg **args, size_t *count,
                       const char **error);

/* Writes data in the escaped form, between double quotes when `quoted`. */
void escape_write(FILE *out, const uint8_t *data, size_t len, bool quoted);

/* Writes data as lower-case hex digits. */
void escape_write_hex(FILE *out, const uint8_t *data, size_t len);

/*
 * Decodes hex digits (either case; an even number of them) into malloc'd
 * bytes. Returns false for anything else.
 */
bool escape_hex_decode(const uint8_t *hex, size_t hex_len, uint8_t **out, size_t *out_len);

/* Whether data is valid UTF-8 (no overlong forms, no surrogates). */
bool escape_is_utf8(const uint8_t *data, size_t len);

#endif
