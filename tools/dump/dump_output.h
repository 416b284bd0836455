/*
 * Output of lsmkv-dump: the subcommands describe what they find through one
 * writer, which renders it either as text for people or as one JSON document
 * for programs, so the two can never disagree.
 *
 * Text: fields of the top-level object and of objects nested in it are lines
 * "name: value", nested objects and arrays indent by two. An object inside an
 * array is one line of "name=value" pairs (an array inside such an object
 * follows on lines indented under it). Key and value bytes are quoted;
 * printable ASCII stands for itself, '"' and '\' are escaped with '\', any
 * other byte is \xNN.
 *
 * JSON: numbers are numbers, strings are escaped per RFC 8259. Key and value
 * bytes are strings in which every byte is one code point U+0000..U+00FF:
 * printable ASCII stands for itself, every other byte is \u00NN (so "k\u0000"
 * is the bytes 6b 00). Read them back losslessly with s.encode("latin-1").
 *
 * Previews: unless the writer is made with width 0 (--full), key and value
 * bytes beyond `width` are cut; a cut field `name` is followed by a field
 * `name_len` with the full length (text: the preview ends in `...`; JSON:
 * also `name_truncated: true`).
 */
#ifndef LSMKV_TOOLS_DUMP_OUTPUT_H
#define LSMKV_TOOLS_DUMP_OUTPUT_H

#include "slice.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct dump_out dump_out;

/* A writer on f (borrowed); width 0: never cut bytes. Starts the document. */
dump_out *dump_out_new(FILE *f, bool json, size_t width);
/* Closes every open object and array, ends the document and frees o. */
void dump_out_free(dump_out *o);
bool dump_out_json(const dump_out *o);

/* Containers; name is ignored for an element of an array. */
void dump_out_object(dump_out *o, const char *name);
void dump_out_array(dump_out *o, const char *name);
/* Ends the innermost open object or array. */
void dump_out_end(dump_out *o);

/* Fields (or array elements). */
void dump_out_u64(dump_out *o, const char *name, uint64_t v);
void dump_out_double(dump_out *o, const char *name, double v);
void dump_out_bool(dump_out *o, const char *name, bool v);
/* A word or a message (a C string; JSON keeps valid UTF-8, escapes the rest). */
void dump_out_str(dump_out *o, const char *name, const char *s);
/* Key or value bytes, previewed as described above. */
void dump_out_bytes(dump_out *o, const char *name, slice bytes);

/*
 * The text escaping of bytes (without quotes) into buf[cap], cut with "..."
 * past max bytes (0: no limit) or when buf is full; returns buf. For messages.
 */
const char *dump_escape(slice bytes, size_t max, char *buf, size_t cap);

#endif
