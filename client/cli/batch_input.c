#include "batch_input.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static bool fail(char *error, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fail(char *error, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, size, fmt, ap);
    va_end(ap);
    return false;
}

/* Keeps arg's bytes (decoded from hex with `hex`) for an op; false if not hex. */
static bool
keep_bytes(batch_input *b, cli_arg *arg, bool hex, const uint8_t **data, size_t *len)
{
    uint8_t *bytes = arg->data;
    size_t n = arg->len;
    if (hex) {
        if (!escape_hex_decode(arg->data, arg->len, &bytes, &n)) {
            return false;
        }
        free(arg->data);
    }
    arg->data = NULL; /* ours now */
    b->owned = realloc(b->owned, (b->owned_count + 1) * sizeof(*b->owned));
    if (b->owned == NULL) {
        abort();
    }
    b->owned[b->owned_count++] = bytes;
    b->bytes += n;
    *data = bytes;
    *len = n;
    return true;
}

static lsmkv_client_op *
add_op(batch_input *b, lsmkv_client_op_type type)
{
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->ops = realloc(b->ops, b->cap * sizeof(*b->ops));
        if (b->ops == NULL) {
            abort();
        }
    }
    lsmkv_client_op *op = &b->ops[b->count++];
    memset(op, 0, sizeof(*op));
    op->type = type;
    return op;
}

/* Turns one split line into an op. */
static bool
parse_op(batch_input *b, cli_arg *args, size_t count, bool hex, size_t line, char *error,
         size_t size)
{
    bool put = escape_arg_is(&args[0], "put");
    bool del = escape_arg_is(&args[0], "del") || escape_arg_is(&args[0], "delete");
    if (!put && !del) {
        return fail(error, size, "line %zu: unknown operation (put KEY VALUE, or del KEY)", line);
    }
    if (count != (put ? 3u : 2u)) {
        return fail(error, size, "line %zu: %s", line,
                    put ? "put takes KEY VALUE" : "del takes KEY");
    }
    lsmkv_client_op *op = add_op(b, put ? LSMKV_CLIENT_OP_PUT : LSMKV_CLIENT_OP_DELETE);
    if (!keep_bytes(b, &args[1], hex, &op->key, &op->key_len) ||
        (put && !keep_bytes(b, &args[2], hex, &op->value, &op->value_len))) {
        return fail(error, size, "line %zu: not hex digits (--hex)", line);
    }
    return true;
}

/* Splits and parses one line (without its newline). */
static bool
parse_line(batch_input *b, const char *text, size_t len, bool hex, size_t line, char *error,
           size_t size)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t')) {
        i++;
    }
    if (i == len || text[i] == '#') {
        return true;
    }
    cli_arg *args;
    size_t count;
    const char *why;
    if (!escape_split_line(text, len, &args, &count, &why)) {
        return fail(error, size, "line %zu: %s", line, why);
    }
    bool ok = parse_op(b, args, count, hex, line, error, size);
    escape_args_free(args, count); /* the bytes kept are no longer in args */
    return ok;
}

bool
batch_input_read(FILE *in, bool hex, size_t max_bytes, batch_input *out, char *error,
                 size_t error_size)
{
    memset(out, 0, sizeof(*out));
    char *text = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = true;
    for (size_t line = 1; ok && (n = getline(&text, &cap, in)) >= 0; line++) {
        size_t len = (size_t)n;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
            len--;
        }
        ok = parse_line(out, text, len, hex, line, error, error_size);
        if (ok && out->bytes > max_bytes) {
            ok = fail(error, error_size, "line %zu: the batch is over %zu bytes", line, max_bytes);
        }
    }
    free(text);
    if (ok && ferror(in)) {
        ok = fail(error, error_size, "cannot read standard input");
    }
    if (!ok) {
        batch_input_fini(out);
    }
    return ok;
}

void
batch_input_fini(batch_input *b)
{
    for (size_t i = 0; i < b->owned_count; i++) {
        free(b->owned[i]);
    }
    free(b->owned);
    free(b->ops);
    memset(b, 0, sizeof(*b));
}
