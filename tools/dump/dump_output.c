/*
 * The text/JSON writer (formats described in dump_output.h). It keeps a stack
 * of open containers; each frame knows the indentation of its members and
 * whether it is "inline" (an object inside an array: one line of text, one
 * line of JSON). Text array headers are printed lazily so that an empty array
 * reads "name: none" rather than a dangling "name:".
 */
#include "dump_output.h"

#include "buffer.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#define DUMP_OUT_MAX_DEPTH 16

typedef struct frame {
    bool array;
    bool inline_;       /* members on one line */
    bool nested;        /* text: an object inside an inline object, "name=(...)" */
    int indent;         /* of the members */
    size_t count;       /* members so far */
    const char *header; /* text: array name not printed yet (NULL: none due) */
} frame;

struct dump_out {
    FILE *f;
    bool json;
    size_t width;
    bool line_open; /* text: a line has been started and not ended */
    int depth;
    frame stack[DUMP_OUT_MAX_DEPTH];
};

static frame *
top(dump_out *o)
{
    return &o->stack[o->depth - 1];
}

static frame *
push(dump_out *o, frame f)
{
    assert(o->depth < DUMP_OUT_MAX_DEPTH); /* our own nesting, not input */
    o->stack[o->depth++] = f;
    return top(o);
}

static void
indent(dump_out *o, int n)
{
    fprintf(o->f, "%*s", n, "");
}

dump_out *
dump_out_new(FILE *f, bool json, size_t width)
{
    dump_out *o = xcalloc(1, sizeof(*o));
    o->f = f;
    o->json = json;
    o->width = width;
    push(o, (frame){.indent = json ? 2 : 0});
    if (json) {
        fputc('{', f);
    }
    return o;
}

void
dump_out_free(dump_out *o)
{
    if (o == NULL) {
        return;
    }
    while (o->depth > 1) {
        dump_out_end(o);
    }
    if (o->json) {
        fputs(top(o)->count > 0 ? "\n}\n" : "}\n", o->f);
    }
    fflush(o->f);
    free(o);
}

bool
dump_out_json(const dump_out *o)
{
    return o->json;
}

/* ---- escaping --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_sequence(const uint8_t *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, cp = p[0] & 0x1fu;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, cp = p[0] & 0x0fu;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, cp = p[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3fu);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    return overlong || surrogate || cp > 0x10ffff ? 0 : len;
}

/*
 * A JSON string of s. bytes: every non-printable byte is \u00NN (the
 * documented Latin-1 mapping). Otherwise valid UTF-8 passes through and only
 * stray bytes are mapped that way.
 */
static void
json_string(dump_out *o, slice s, bool bytes)
{
    fputc('"', o->f);
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.data[i];
        if (c == '"' || c == '\\') {
            fprintf(o->f, "\\%c", c);
        } else if (c >= 0x20 && c < 0x7f) {
            fputc(c, o->f);
        } else if (c >= 0x80 && !bytes) {
            size_t n = utf8_sequence(s.data + i, s.len - i);
            if (n > 0) {
                fwrite(s.data + i, 1, n, o->f);
                i += n - 1;
            } else {
                fprintf(o->f, "\\u%04x", c);
            }
        } else {
            fprintf(o->f, "\\u%04x", c);
        }
    }
    fputc('"', o->f);
}

/* The text form of one byte into piece[8]; returns its length. */
static size_t
escape_byte(uint8_t c, char *piece)
{
    if (c == '"' || c == '\\') {
        return (size_t)snprintf(piece, 8, "\\%c", c);
    }
    if (c >= 0x20 && c < 0x7f) {
        return (size_t)snprintf(piece, 8, "%c", c);
    }
    return (size_t)snprintf(piece, 8, "\\x%02x", c);
}

const char *
dump_escape(slice bytes, size_t max, char *buf, size_t cap)
{
    assert(cap >= 8);
    size_t n = 0;
    size_t limit = max > 0 && max < bytes.len ? max : bytes.len;
    size_t i = 0;
    for (; i < limit; i++) {
        char piece[8];
        size_t len = escape_byte(bytes.data[i], piece);
        if (n + len + 4 > cap) {
            break; /* keep room for "..." */
        }
        memcpy(buf + n, piece, len);
        n += len;
    }
    if (i < bytes.len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* ---- text layout -------------------------------------------------------------- */

/* Prints a pending array header before the array's first element. */
static void
text_header(dump_out *o, frame *t)
{
    if (t->header != NULL) {
        indent(o, t->indent - 2);
        fprintf(o->f, "%s:\n", t->header);
        t->header = NULL;
    }
}

/* Starts a member of the innermost container: "name: ", "name=" or a list line. */
static void
text_member(dump_out *o, const char *name)
{
    frame *t = top(o);
    if (t->array) {
        text_header(o, t);
        indent(o, t->indent);
        o->line_open = true;
    } else if (t->inline_) {
        if (!o->line_open) {
            indent(o, t->indent + 2); /* continuing after a nested array */
            o->line_open = true;
        } else if (t->count > 0) {
            fputc(' ', o->f);
        }
        fprintf(o->f, "%s=", name);
    } else {
        indent(o, t->indent);
        fprintf(o->f, "%s: ", name);
        o->line_open = true;
    }
    t->count++;
}

/* Ends a scalar member: outside inline objects it had a line of its own. */
static void
text_member_done(dump_out *o)
{
    if (!top(o)->inline_) {
        fputc('\n', o->f);
        o->line_open = false;
    }
}

static void
json_member(dump_out *o, const char *name)
{
    frame *t = top(o);
    if (t->count > 0) {
        fputc(',', o->f);
    }
    if (t->inline_) {
        if (t->count > 0) {
            fputc(' ', o->f);
        }
    } else {
        fputc('\n', o->f);
        indent(o, t->indent);
    }
    if (!t->array) {
        json_string(o, slice_make(name, strlen(name)), false);
        fputs(": ", o->f);
    }
    t->count++;
}

/* ---- containers ------------------------------------------------------------------ */

static void
text_open(dump_out *o, const char *name, bool array)
{
    frame *parent = top(o);
    frame f = {.array = array, .indent = parent->indent + 2};
    if (parent->array) {
        text_header(o, parent);
        parent->count++;
        if (!array) {
            f.inline_ = true;
            f.indent = parent->indent;
            indent(o, f.indent);
            o->line_open = true;
        }
    } else if (parent->inline_) {
        if (array) {
            if (o->line_open) {
                fputc('\n', o->f);
                o->line_open = false;
            }
            f.indent = parent->indent + 2;
        } else {
            text_member(o, name);
            fputc('(', o->f);
            f.inline_ = f.nested = true;
            f.indent = parent->indent;
        }
    } else {
        parent->count++;
        if (array) {
            f.header = name;
        } else {
            indent(o, parent->indent);
            fprintf(o->f, "%s:\n", name);
        }
    }
    push(o, f);
}

void
dump_out_object(dump_out *o, const char *name)
{
    if (!o->json) {
        text_open(o, name, false);
        return;
    }
    frame *parent = top(o);
    json_member(o, name);
    fputc('{', o->f);
    push(o, (frame){.inline_ = parent->inline_ || parent->array, .indent = parent->indent + 2});
}

void
dump_out_array(dump_out *o, const char *name)
{
    if (!o->json) {
        text_open(o, name, true);
        return;
    }
    frame *parent = top(o);
    json_member(o, name);
    fputc('[', o->f);
    push(o, (frame){.array = true, .inline_ = parent->inline_, .indent = parent->indent + 2});
}

void
dump_out_end(dump_out *o)
{
    assert(o->depth > 1);
    frame t = o->stack[--o->depth];
    if (o->json) {
        if (!t.inline_ && t.count > 0) {
            fputc('\n', o->f);
            indent(o, t.indent - 2);
        }
        fputc(t.array ? ']' : '}', o->f);
        return;
    }
    if (t.array && t.header != NULL) {
        indent(o, t.indent - 2);
        fprintf(o->f, "%s: none\n", t.header);
    } else if (t.nested) {
        fputc(')', o->f);
    } else if (t.inline_ && o->line_open) {
        fputc('\n', o->f);
        o->line_open = false;
    }
}

/* ---- scalars ----------------------------------------------------------------------- */

static void
member(dump_out *o, const char *name)
{
    if (o->json) {
        json_member(o, name);
    } else {
        text_member(o, name);
    }
}

static void
member_done(dump_out *o)
{
    if (!o->json) {
        text_member_done(o);
    }
}

void
dump_out_u64(dump_out *o, const char *name, uint64_t v)
{
    member(o, name);
    fprintf(o->f, "%" PRIu64, v);
    member_done(o);
}

void
dump_out_double(dump_out *o, const char *name, double v)
{
    member(o, name);
    if (isfinite(v)) {
        fprintf(o->f, "%.2f", v);
    } else {
        fputs(o->json ? "null" : "-", o->f);
    }
    member_done(o);
}

void
dump_out_bool(dump_out *o, const char *name, bool v)
{
    member(o, name);
    fputs(v ? "true" : "false", o->f);
    member_done(o);
}

void
dump_out_str(dump_out *o, const char *name, const char *s)
{
    member(o, name);
    if (o->json) {
        json_string(o, slice_make(s, strlen(s)), false);
    } else {
        fputs(s, o->f);
    }
    member_done(o);
}

void
dump_out_bytes(dump_out *o, const char *name, slice bytes)
{
    bool cut = o->width > 0 && bytes.len > o->width;
    slice shown = slice_make(bytes.data, cut ? o->width : bytes.len);
    member(o, name);
    if (o->json) {
        json_string(o, shown, true);
    } else {
        fputc('"', o->f);
        for (size_t i = 0; i < shown.len; i++) {
            char piece[8];
            fwrite(piece, 1, escape_byte(shown.data[i], piece), o->f);
        }
        fputs(cut ? "\"..." : "\"", o->f);
    }
    member_done(o);
    if (cut && name != NULL && !top(o)->array) {
        char field[64];
        snprintf(field, sizeof(field), "%s_len", name);
        dump_out_u64(o, field, bytes.len);
        if (o->json) {
            snprintf(field, sizeof(field), "%s_truncated", name);
            dump_out_bool(o, field, true);
        }
    }
}
