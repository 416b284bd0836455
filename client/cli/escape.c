#include "escape.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* ---- arguments ------------------------------------------------------------------ */

bool
escape_arg_is(const cli_arg *arg, const char *s)
{
    size_t n = strlen(s);
    return arg->len == n && memcmp(arg->data, s, n) == 0;
}

cli_arg
escape_arg_copy(const void *data, size_t len)
{
    cli_arg arg = {.data = xmalloc(len + 1), .len = len};
    if (len > 0) {
        memcpy(arg.data, data, len);
    }
    arg.data[len] = '\0';
    return arg;
}

void
escape_args_free(cli_arg *args, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(args[i].data);
    }
    free(args);
}

/* ---- splitting a line ------------------------------------------------------------- */

/* A growing byte string for the argument being read. */
typedef struct scratch {
    uint8_t *data;
    size_t len;
    size_t cap;
} scratch;

static void
scratch_push(scratch *s, uint8_t byte)
{
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        uint8_t *grown = realloc(s->data, s->cap);
        if (grown == NULL) {
            abort();
        }
        s->data = grown;
    }
    s->data[s->len++] = byte;
}

static int
hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Reads the escape after a backslash inside double quotes at line[*i] (the
 * character after the backslash) and appends the byte it stands for.
 */
static bool
read_escape(const char *line, size_t len, size_t *i, scratch *s, const char **error)
{
    char c = line[*i];
    static const char named[] = "n\nr\rt\ta\ab\b\\\\\"\"";
    if (c == 'x') {
        int hi = *i + 1 < len ? hex_value(line[*i + 1]) : -1;
        int lo = *i + 2 < len ? hex_value(line[*i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            *error = "\\x must be followed by two hex digits";
            return false;
        }
        scratch_push(s, (uint8_t)(hi << 4 | lo));
        *i += 3;
        return true;
    }
    for (size_t k = 0; named[k] != '\0'; k += 2) {
        if (named[k] == c) {
            scratch_push(s, (uint8_t)named[k + 1]);
            *i += 1;
            return true;
        }
    }
    /* Unknown escapes keep the character, as redis-cli does. */
    scratch_push(s, (uint8_t)c);
    *i += 1;
    return true;
}

/* Reads a quoted part starting at the opening quote line[*i]. */
static bool
read_quoted(const char *line, size_t len, size_t *i, scratch *s, const char **error)
{
    char quote = line[*i];
    (*i)++;
    while (*i < len) {
        char c = line[*i];
        if (c == quote) {
            (*i)++;
            if (*i < len && !is_space(line[*i])) {
                *error = "a closing quote must be followed by a space or the end of the line";
                return false;
            }
            return true;
        }
        if (c == '\\' && *i + 1 < len) {
            (*i)++;
            if (quote == '"') {
                if (!read_escape(line, len, i, s, error)) {
                    return false;
                }
                continue;
            }
            if (line[*i] != '\'') {
                scratch_push(s, '\\');
            }
            c = line[*i];
        }
        scratch_push(s, (uint8_t)c);
        (*i)++;
    }
    *error = "unbalanced quotes";
    return false;
}

bool
escape_split_line(const char *line, size_t len, cli_arg **args, size_t *count, const char **error)
{
    cli_arg *out = NULL;
    size_t n = 0, cap = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && is_space(line[i])) {
            i++;
        }
        if (i == len) {
            break;
        }
        scratch s = {0};
        bool ok = true;
        if (line[i] == '"' || line[i] == '\'') {
            ok = read_quoted(line, len, &i, &s, error);
        } else {
            while (i < len && !is_space(line[i])) {
                scratch_push(&s, (uint8_t)line[i++]);
            }
        }
        if (!ok) {
            free(s.data);
            escape_args_free(out, n);
            return false;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            cli_arg *grown = realloc(out, cap * sizeof(*out));
            if (grown == NULL) {
                abort();
            }
            out = grown;
        }
        out[n++] = escape_arg_copy(s.data, s.len);
        free(s.data);
    }
    *args = out;
    *count = n;
    return true;
}

/* ---- writing ------------------------------------------------------------------------ */

void
escape_write(FILE *out, const uint8_t *data, size_t len, bool quoted)
{
    if (quoted) {
        fputc('"', out);
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        switch (c) {
        case '\\':
            fputs("\\\\", out);
            break;
        case '"':
            fputs(quoted ? "\\\"" : "\"", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\a':
            fputs("\\a", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                fputc(c, out);
            } else {
                fprintf(out, "\\x%02x", c);
            }
        }
    }
    if (quoted) {
        fputc('"', out);
    }
}

void
escape_write_hex(FILE *out, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        fprintf(out, "%02x", data[i]);
    }
}

bool
escape_hex_decode(const uint8_t *hex, size_t hex_len, uint8_t **out, size_t *out_len)
{
    if (hex_len % 2 != 0) {
        return false;
    }
    uint8_t *bytes = xmalloc(hex_len / 2 + 1);
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = hex_value(hex[i]);
        int lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            free(bytes);
            return false;
        }
        bytes[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out = bytes;
    *out_len = hex_len / 2;
    return true;
}

/* Length of the UTF-8 sequence at data[i], or 0 if it is not a valid one. */
static size_t
utf8_sequence(const uint8_t *data, size_t len, size_t i)
{
    uint8_t c = data[i];
    size_t n;
    uint32_t min, cp;
    if (c < 0x80) {
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (len - i < n) {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((data[i + k] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (data[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return n;
}

bool
escape_is_utf8(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(data, len, i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}
