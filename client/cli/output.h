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

/*
 * scan: pair number `index` (0, 1, ...) as it arrives: a line "KEY<TAB>VALUE"
 * ("KEY" when value is NULL: keys only), escaped without quotes (hex digits
 * with --hex); with --json the pairs of one object {"pairs":[...],"count":N},
 * which output_scan_end closes (and opens, when there were none).
 */
void output_scan_pair(const output *o, uint64_t index, const uint8_t *key, size_t key_len,
                      const uint8_t *value, size_t value_len);
void output_scan_end(const output *o, uint64_t count);

/* batch: "OK (N ops)", or {"ok":true,"sequence":N,"ops":N}. */
void output_batch_ok(const output *o, uint64_t sequence, size_t ops);

/* mget: one line per key, its value quoted (hex with --hex) or (nil); or JSON. */
void output_multi_get(const output *o, size_t count, const uint8_t *const *keys,
                      const size_t *key_lens, const lsmkv_client_value *values);

/* "(error) CODE: message" on o->err, whatever the mode. */
void output_error(const output *o, int code, const char *message);

/* "1.5 KiB": a byte count for people, into buf. */
const char *output_format_bytes(uint64_t bytes, char *buf, size_t size);

/* Write amplification (wal + flush + compaction bytes written) / user bytes; 0 if none. */
double output_write_amplification(const lsmkv_client_stats *stats);

/* Writes s as a JSON string literal (quotes included). */
void output_json_string(FILE *out, const uint8_t *s, size_t len);

#endif
