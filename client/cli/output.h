/*
 * output — how lsmkv-cli shows results: for people (a table for stats, keys
 * and values quoted with escapes, "(nil)", "(error) CODE: message", as
 * redis-cli does), as JSON (--json: one object per command, keys named as
 * kv.proto's fields), or, for `get` when stdout is not a terminal, the value's
 * raw bytes so that `lsmkv-cli get k > file` copies it exactly.
 */
#ifndef LSMKV_CLI_OUTPUT_H
#define LSMKV_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lsmkv/client.h"

typedef struct output {
    FILE *out; /* results */
    FILE *err; /* errors (the same stream as out at the prompt) */
    bool json; /* --json */
    bool hex;  /* --hex: values (and keys) shown as hex digits */
    bool raw;  /* get writes the value's bytes unchanged, no newline */
} output;

/* put and delete: "OK", or {"ok":true,"sequence":N}. */
void output_write_ok(const output *o, uint64_t sequence);

/* get: the value (or "(nil)" / nothing when raw / {"found":false}). */
void output_value(const output *o, bool found, const uint8_t *value, size_t len);

/* flush: the tables written. */
void output_tables(const output *o, const lsmkv_client_table_list *tables);

/* compact: what the compaction did. */
void output_compaction(const output *o, const lsmkv_client_compaction_result *result);

/* stats: the readable table, or every field as JSON. */
void output_stats(const output *o, const lsmkv_client_stats *stats);

/* "(error) CODE: message" on o->err, whatever the mode. */
void output_error(const output *o, int code, const char *message);

/* "1.5 KiB": a byte count for people, into buf. */
const char *output_format_bytes(uint64_t bytes, char *buf, size_t size);

/* Write amplification (wal + flush + compaction bytes written) / user bytes; 0 if none. */
double output_write_amplification(const lsmkv_client_stats *stats);

/* Writes s as a JSON string literal (quotes included). */
void output_json_string(FILE *out, const uint8_t *s, size_t len);

#endif
