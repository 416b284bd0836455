#include "output.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "escape.h"

/* ---- helpers ------------------------------------------------------------------------ */

const char *
output_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

double
output_write_amplification(const lsmkv_client_stats *s)
{
    if (s->user_bytes_written == 0) {
        return 0;
    }
    double written = (double)s->wal_bytes_written + (double)s->flush_bytes_written +
                     (double)s->compaction_bytes_written;
    return written / (double)s->user_bytes_written;
}

void
output_json_string(FILE *out, const uint8_t *s, size_t len)
{
    /* Bytes that are not UTF-8 text become \u00XX, so the output is always JSON. */
    bool utf8 = escape_is_utf8(s, len);
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            fprintf(out, "\\%c", c);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
            fprintf(out, "\\u%04x", c);
        } else {
            fputc(c, out);
        }
    }
    fputc('"', out);
}

/* `"name":"text","name_hex":"..."` — the text form only for UTF-8 bytes. */
static void
json_bytes_field(FILE *out, const char *name, const uint8_t *data, size_t len)
{
    if (escape_is_utf8(data, len)) {
        fprintf(out, "\"%s\":", name);
        output_json_string(out, data, len);
        fputc(',', out);
    }
    fprintf(out, "\"%s_hex\":\"", name);
    escape_write_hex(out, data, len);
    fputc('"', out);
}

/* A key or value for people: hex digits with --hex, else quoted and escaped. */
static void
write_bytes(const output *o, const uint8_t *data, size_t len)
{
    if (o->hex) {
        escape_write_hex(o->out, data, len);
    } else {
        escape_write(o->out, data, len, true);
    }
}

/* ---- put, delete, get, errors ------------------------------------------------------------ */

void
output_write_ok(const output *o, uint64_t sequence)
{
    if (o->json) {
        fprintf(o->out, "{\"ok\":true,\"sequence\":%" PRIu64 "}\n", sequence);
    } else {
        fputs("OK\n", o->out);
    }
}

void
output_value(const output *o, bool found, const uint8_t *value, size_t len)
{
    if (o->json) {
        fprintf(o->out, "{\"found\":%s", found ? "true" : "false");
        if (found) {
            fputc(',', o->out);
            json_bytes_field(o->out, "value", value, len);
        }
        fputs("}\n", o->out);
    } else if (!found) {
        if (!o->raw) {
            fputs("(nil)\n", o->out);
        }
    } else if (o->hex) {
        escape_write_hex(o->out, value, len);
        fputc('\n', o->out);
    } else if (o->raw) {
        fwrite(value, 1, len, o->out);
    } else {
        escape_write(o->out, value, len, true);
        fputc('\n', o->out);
    }
}

void
output_error(const output *o, int code, const char *message)
{
    fprintf(o->err, "(error) %s: %s\n", lsmkv_client_status_name(code), message);
}

/* ---- scan, batch, mget --------------------------------------------------------------------- */

/* A key or value in a scan line: hex digits, or escaped without quotes. */
static void
write_unquoted(const output *o, const uint8_t *data, size_t len)
{
    if (o->hex) {
        escape_write_hex(o->out, data, len);
    } else {
        escape_write(o->out, data, len, false);
    }
}

void
output_scan_pair(const output *o, uint64_t index, const uint8_t *key, size_t key_len,
                 const uint8_t *value, size_t value_len)
{
    if (o->json) {
        fputs(index == 0 ? "{\"pairs\":[{" : ",{", o->out);
        json_bytes_field(o->out, "key", key, key_len);
        if (value != NULL) {
            fputc(',', o->out);
            json_bytes_field(o->out, "value", value, value_len);
        }
        fputc('}', o->out);
        return;
    }
    write_unquoted(o, key, key_len);
    if (value != NULL) {
        fputc('\t', o->out);
        write_unquoted(o, value, value_len);
    }
    fputc('\n', o->out);
}

void
output_scan_end(const output *o, uint64_t count)
{
    if (o->json) {
        fprintf(o->out, "%s],\"count\":%" PRIu64 "}\n", count == 0 ? "{\"pairs\":[" : "", count);
    }
}

void
output_batch_ok(const output *o, uint64_t sequence, size_t ops)
{
    if (o->json) {
        fprintf(o->out, "{\"ok\":true,\"sequence\":%" PRIu64 ",\"ops\":%zu}\n", sequence, ops);
    } else {
        fprintf(o->out, "OK (%zu ops)\n", ops);
    }
}

void
output_multi_get(const output *o, size_t count, const uint8_t *const *keys, const size_t *key_lens,
                 const lsmkv_client_value *values)
{
    if (o->json) {
        fputs("{\"results\":[", o->out);
    }
    for (size_t i = 0; i < count; i++) {
        const lsmkv_client_value *v = &values[i];
        if (o->json) {
            fputs(i > 0 ? ",{" : "{", o->out);
            json_bytes_field(o->out, "key", keys[i], key_lens[i]);
            fprintf(o->out, ",\"found\":%s", v->found ? "true" : "false");
            if (v->found) {
                fputc(',', o->out);
                json_bytes_field(o->out, "value", v->value, v->value_len);
            }
            fputc('}', o->out);
        } else if (!v->found) {
            fputs("(nil)\n", o->out);
        } else {
            write_bytes(o, v->value, v->value_len);
            fputc('\n', o->out);
        }
    }
    if (o->json) {
        fputs("]}\n", o->out);
    }
}

/* ---- flush, compact ---------------------------------------------------------------------- */

static void
table_json(FILE *out, const lsmkv_client_table_info *t)
{
    fprintf(out,
            "{\"id\":%" PRIu64 ",\"level\":%" PRIu32 ",\"size_bytes\":%" PRIu64
            ",\"entries\":%" PRIu64 ",\"tombstones\":%" PRIu64 ",\"max_sequence\":%" PRIu64 ",",
            t->id, t->level, t->size_bytes, t->entries, t->tombstones, t->max_sequence);
    json_bytes_field(out, "min_key", t->min_key, t->min_key_len);
    fputc(',', out);
    json_bytes_field(out, "max_key", t->max_key, t->max_key_len);
    fputc('}', out);
}

static void
tables_json(FILE *out, const lsmkv_client_table_list *tables)
{
    fputs("\"tables\":[", out);
    for (size_t i = 0; i < tables->count; i++) {
        if (i > 0) {
            fputc(',', out);
        }
        table_json(out, &tables->tables[i]);
    }
    fputc(']', out);
}

static void
table_line(const output *o, const lsmkv_client_table_info *t)
{
    char size[32];
    fprintf(o->out,
            "table %06" PRIu64 "  level %" PRIu32 "  %s  %" PRIu64 " entries (%" PRIu64
            " tombstones)  max sequence %" PRIu64 "  keys ",
            t->id, t->level, output_format_bytes(t->size_bytes, size, sizeof(size)), t->entries,
            t->tombstones, t->max_sequence);
    write_bytes(o, t->min_key, t->min_key_len);
    fputs(" .. ", o->out);
    write_bytes(o, t->max_key, t->max_key_len);
    fputc('\n', o->out);
}

void
output_tables(const output *o, const lsmkv_client_table_list *tables)
{
    if (o->json) {
        fputc('{', o->out);
        tables_json(o->out, tables);
        fputs("}\n", o->out);
        return;
    }
    if (tables->count == 0) {
        fputs("(nothing to flush)\n", o->out);
    }
    for (size_t i = 0; i < tables->count; i++) {
        table_line(o, &tables->tables[i]);
    }
}

void
output_compaction(const output *o, const lsmkv_client_compaction_result *r)
{
    if (o->json) {
        fprintf(o->out,
                "{\"input_tables\":%" PRIu32 ",\"input_bytes\":%" PRIu64
                ",\"output_bytes\":%" PRIu64 ",\"dropped_entries\":%" PRIu64 ",",
                r->input_tables, r->input_bytes, r->output_bytes, r->dropped_entries);
        tables_json(o->out, &r->outputs);
        fputs("}\n", o->out);
        return;
    }
    if (r->input_tables == 0) {
        fputs("(nothing to compact)\n", o->out);
        return;
    }
    char in[32], out[32];
    fprintf(o->out,
            "compacted %" PRIu32 " tables (%s) into %zu (%s), dropped %" PRIu64 " entries\n",
            r->input_tables, output_format_bytes(r->input_bytes, in, sizeof(in)), r->outputs.count,
            output_format_bytes(r->output_bytes, out, sizeof(out)), r->dropped_entries);
    for (size_t i = 0; i < r->outputs.count; i++) {
        table_line(o, &r->outputs.tables[i]);
    }
}

/* ---- stats --------------------------------------------------------------------------------- */

/* Every scalar field of lsmkv_client_stats (kv.proto's StatsResponse), in order. */
#define STATS_FIELDS(X)                                                                            \
    X(memtable_entries)                                                                            \
    X(memtable_bytes)                                                                              \
    X(immutable_memtables)                                                                         \
    X(immutable_bytes)                                                                             \
    X(sstables)                                                                                    \
    X(sstable_bytes) X(puts) X(gets) X(deletes) X(flushes) X(compactions) X(user_bytes_written)    \
        X(wal_bytes_written) X(flush_bytes_written) X(compaction_bytes_read)                       \
            X(compaction_bytes_written) X(wal_syncs) X(write_slowdowns) X(write_stalls)            \
                X(stall_micros) X(pending_compaction_bytes) X(corruptions) X(last_sequence)        \
                    X(open_tables) X(block_cache_capacity) X(block_cache_usage)                    \
                        X(block_cache_hits) X(block_cache_misses) X(uptime_seconds) X(requests)    \
                            X(request_errors) X(scans) X(batches) X(multi_gets)

static void
stats_json(FILE *out, const lsmkv_client_stats *s)
{
    fputc('{', out);
#define STATS_JSON_FIELD(name) fprintf(out, "\"" #name "\":%" PRIu64 ",", s->name);
    STATS_FIELDS(STATS_JSON_FIELD)
#undef STATS_JSON_FIELD
    fputs("\"levels\":[", out);
    for (size_t i = 0; i < s->level_count; i++) {
        const lsmkv_client_level_stats *l = &s->levels[i];
        fprintf(out,
                "%s{\"level\":%" PRIu32 ",\"tables\":%" PRIu64 ",\"bytes\":%" PRIu64
                ",\"target_bytes\":%" PRIu64 ",\"compactions\":%" PRIu64 ",\"bytes_read\":%" PRIu64
                ",\"bytes_written\":%" PRIu64 ",\"bytes_moved\":%" PRIu64 "}",
                i ? "," : "", l->level, l->tables, l->bytes, l->target_bytes, l->compactions,
                l->bytes_read, l->bytes_written, l->bytes_moved);
    }
    fprintf(out,
            "],\"write_amplification\":%.3f,\"server_version\":", output_write_amplification(s));
    const char *version = s->server_version ? s->server_version : "";
    output_json_string(out, (const uint8_t *)version, strlen(version));
    fputs("}\n", out);
}

static void
stats_levels(FILE *out, const lsmkv_client_stats *s)
{
    fprintf(out, "%-7s %8s %11s %11s %12s %11s %11s %11s\n", "level", "tables", "bytes", "target",
            "compactions", "read", "written", "moved");
    for (size_t i = 0; i < s->level_count; i++) {
        const lsmkv_client_level_stats *l = &s->levels[i];
        char bytes[32], target[32], read[32], written[32], moved[32];
        fprintf(out, "%-7" PRIu32 " %8" PRIu64 " %11s %11s %12" PRIu64 " %11s %11s %11s\n",
                l->level, l->tables, output_format_bytes(l->bytes, bytes, sizeof(bytes)),
                l->target_bytes ? output_format_bytes(l->target_bytes, target, sizeof(target))
                                : "-",
                l->compactions, output_format_bytes(l->bytes_read, read, sizeof(read)),
                output_format_bytes(l->bytes_written, written, sizeof(written)),
                output_format_bytes(l->bytes_moved, moved, sizeof(moved)));
    }
}

static const char *
format_uptime(uint64_t seconds, char *buf, size_t size)
{
    uint64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
             sec = seconds % 60;
    if (d > 0) {
        snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", d, h, m, sec);
    } else if (h > 0) {
        snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, sec);
    } else if (m > 0) {
        snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", m, sec);
    } else {
        snprintf(buf, size, "%" PRIu64 "s", sec);
    }
    return buf;
}

static void
stats_write_path(FILE *out, const lsmkv_client_stats *s)
{
    char a[32], b[32], c[32], d[32], e[32];
    double wa = output_write_amplification(s);
    if (s->user_bytes_written > 0) {
        fprintf(out, "%-12s %.2f", "write amp", wa);
    } else {
        fprintf(out, "%-12s -", "write amp");
    }
    fprintf(out,
            " (user %s; wal %s, flush %s, compaction %s written, %s read); %" PRIu64 " wal syncs\n",
            output_format_bytes(s->user_bytes_written, a, sizeof(a)),
            output_format_bytes(s->wal_bytes_written, b, sizeof(b)),
            output_format_bytes(s->flush_bytes_written, c, sizeof(c)),
            output_format_bytes(s->compaction_bytes_written, d, sizeof(d)),
            output_format_bytes(s->compaction_bytes_read, e, sizeof(e)), s->wal_syncs);
    fprintf(out,
            "%-12s %" PRIu64 " slowdowns, %" PRIu64 " stalls (%" PRIu64 " ms); %s pending "
            "compaction\n",
            "stalls", s->write_slowdowns, s->write_stalls, s->stall_micros / 1000,
            output_format_bytes(s->pending_compaction_bytes, a, sizeof(a)));
}

static void
stats_table(FILE *out, const lsmkv_client_stats *s)
{
    char a[32], b[32];
    fprintf(out, "%-12s %" PRIu64 " entries, %s; %" PRIu64 " immutable (%s) waiting for flush\n",
            "memtable", s->memtable_entries, output_format_bytes(s->memtable_bytes, a, sizeof(a)),
            s->immutable_memtables, output_format_bytes(s->immutable_bytes, b, sizeof(b)));
    fprintf(out, "%-12s %" PRIu64 " tables, %s\n", "sstables", s->sstables,
            output_format_bytes(s->sstable_bytes, a, sizeof(a)));
    stats_levels(out, s);
    fprintf(out,
            "%-12s %" PRIu64 " puts, %" PRIu64 " gets, %" PRIu64 " deletes, %" PRIu64
            " flushes, %" PRIu64 " compactions\n",
            "operations", s->puts, s->gets, s->deletes, s->flushes, s->compactions);
    fprintf(out,
            "%-12s %" PRIu64 " answered, %" PRIu64 " with errors; %" PRIu64 " scan pages, %" PRIu64
            " batches, %" PRIu64 " multi-gets\n",
            "requests", s->requests, s->request_errors, s->scans, s->batches, s->multi_gets);
    stats_write_path(out, s);
    uint64_t lookups = s->block_cache_hits + s->block_cache_misses;
    fprintf(out,
            "%-12s %s of %s; %" PRIu64 " hits, %" PRIu64 " misses (%.1f%% hits); %" PRIu64
            " open tables\n",
            "cache", output_format_bytes(s->block_cache_usage, a, sizeof(a)),
            output_format_bytes(s->block_cache_capacity, b, sizeof(b)), s->block_cache_hits,
            s->block_cache_misses,
            lookups ? 100.0 * (double)s->block_cache_hits / (double)lookups : 0.0, s->open_tables);
    fprintf(out, "%-12s %" PRIu64 " corruptions; last sequence %" PRIu64 "\n", "health",
            s->corruptions, s->last_sequence);
    fprintf(out, "%-12s lsmkv-server %s, up %s\n", "server",
            s->server_version && *s->server_version ? s->server_version : "(unknown version)",
            format_uptime(s->uptime_seconds, a, sizeof(a)));
}

void
output_stats(const output *o, const lsmkv_client_stats *stats)
{
    if (o->json) {
        stats_json(o->out, stats);
    } else {
        stats_table(o->out, stats);
    }
}
