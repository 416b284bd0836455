/*
 * lsmkv-dump wal FILE, and the segment scan that verify shares. Records are
 * read with wal_reader (framing and checksums) and decoded with
 * write_batch_iterate (the same decoder recovery uses), so the tool sees a
 * segment exactly as recovery would.
 */
#include "dump_wal.h"

#include "dump.h"
#include "wal.h"
#include "write_batch.h"

#include <inttypes.h>
#include <stdio.h>

void
dump_wal_init(dump_wal *w)
{
    memset(w, 0, sizeof(*w));
    dump_issues_init(&w->issues);
}

void
dump_wal_fini(dump_wal *w)
{
    dump_issues_fini(&w->issues);
}

static void
count_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    dump_wal *w = ctx;
    if (w->ops == 0 || sequence < w->min_sequence) {
        w->min_sequence = sequence;
    }
    if (w->ops == 0 || sequence > w->max_sequence) {
        w->max_sequence = sequence;
    }
    w->ops++;
    w->puts += type == VALUE_TYPE_VALUE;
    w->deletes += type == VALUE_TYPE_DELETION;
}

static void
take_record(const char *path, dump_wal *w, dump_wal_record *rec)
{
    w->records++;
    if (!write_batch_decode_header(rec->payload, &rec->sequence, &rec->count)) {
        rec->sequence = 0;
        rec->count = 0;
    }
    lsmkv_error err;
    rec->batch_ok = write_batch_iterate(rec->payload, count_op, w, &err) == LSMKV_OK;
    if (!rec->batch_ok) {
        dump_issues_add(&w->issues, DUMP_ERROR, "%s: record at offset %" PRIu64 ": %s", path,
                        rec->offset, err.message);
    }
}

int
dump_wal_scan(const char *path, dump_wal_record_fn fn, void *ctx, dump_wal *w, lsmkv_error *err)
{
    wal_reader *r;
    int rc = wal_reader_open(path, &r, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    w->file_size = wal_reader_file_size(r);
    for (;;) {
        slice payload;
        lsmkv_error detail;
        wal_read_result res = wal_reader_next(r, &payload, &detail);
        if (res == WAL_READ_RECORD) {
            dump_wal_record rec = {.offset = wal_reader_offset(r),
                                   .length = WAL_RECORD_HEADER + payload.len,
                                   .payload = payload};
            take_record(path, w, &rec);
            if (fn != NULL) {
                fn(ctx, &rec);
            }
            continue;
        }
        w->valid_bytes = wal_reader_offset(r);
        if (res == WAL_READ_UNWRITTEN) {
            w->reserved_bytes = w->file_size - w->valid_bytes;
        } else if (res == WAL_READ_BAD) {
            w->torn = true;
            snprintf(w->tail_reason, sizeof(w->tail_reason), "%s", detail.message);
        } else if (w->valid_bytes < w->file_size) {
            /* The reader ends at offset 0 when the header is torn (wal.h). */
            w->torn = w->header_torn = true;
            snprintf(w->tail_reason, sizeof(w->tail_reason),
                     "%s: segment header cut short or zeroed (%" PRIu64
                     " bytes): the segment reads as empty",
                     path, w->file_size);
        }
        break;
    }
    wal_reader_close(r);
    return LSMKV_OK;
}

/* ---- the wal subcommand --------------------------------------------------------- */

typedef struct record_lister {
    dump_out *out;
    bool ops;
    uint64_t limit;
    uint64_t listed;
} record_lister;

static void
list_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    dump_out *out = ctx;
    dump_out_object(out, NULL);
    dump_out_str(out, "type", type == VALUE_TYPE_DELETION ? "del" : "put");
    dump_out_u64(out, "sequence", sequence);
    dump_out_bytes(out, "key", key);
    if (type == VALUE_TYPE_VALUE) {
        dump_out_bytes(out, "value", value);
    }
    dump_out_end(out);
}

static void
list_record(void *ctx, const dump_wal_record *rec)
{
    record_lister *l = ctx;
    if (l->listed == l->limit) {
        return;
    }
    l->listed++;
    dump_out_object(l->out, NULL);
    dump_out_u64(l->out, "offset", rec->offset);
    dump_out_u64(l->out, "length", rec->length);
    dump_out_u64(l->out, "sequence", rec->sequence);
    dump_out_u64(l->out, "count", rec->count);
    if (!rec->batch_ok) {
        dump_out_str(l->out, "batch", "malformed");
    } else if (l->ops) {
        dump_out_array(l->out, "ops");
        write_batch_iterate(rec->payload, list_op, l->out, NULL);
        dump_out_end(l->out);
    }
    dump_out_end(l->out);
}

static void
write_summary(dump_out *out, const dump_wal *w)
{
    dump_out_object(out, "summary");
    dump_out_u64(out, "records", w->records);
    dump_out_u64(out, "ops", w->ops);
    dump_out_u64(out, "puts", w->puts);
    dump_out_u64(out, "deletes", w->deletes);
    if (w->ops > 0) {
        dump_out_u64(out, "min_sequence", w->min_sequence);
        dump_out_u64(out, "max_sequence", w->max_sequence);
    }
    dump_out_u64(out, "valid_bytes", w->valid_bytes);
    if (w->reserved_bytes > 0) {
        dump_out_u64(out, "reserved_bytes", w->reserved_bytes);
    }
    dump_out_end(out);
}

static void
write_header(dump_out *out, const dump_wal *w)
{
    dump_out_object(out, "header");
    dump_out_str(out, "status", w->header_torn ? "torn" : (w->file_size == 0 ? "empty" : "ok"));
    if (!w->header_torn && w->file_size > 0) {
        dump_out_str(out, "magic", WAL_MAGIC);
        dump_out_u64(out, "format_version", WAL_FORMAT_VERSION);
    }
    dump_out_end(out);
}

/* Lists the records by a second read of the segment, after the header. */
static void
write_records(dump_out *out, const dump_options *o)
{
    record_lister l = {.out = out, .ops = o->entries, .limit = o->limit};
    dump_wal w;
    dump_wal_init(&w);
    dump_out_array(out, "records");
    dump_wal_scan(o->path, list_record, &l, &w, NULL);
    dump_out_end(out);
    if (l.listed < w.records) {
        dump_out_u64(out, "records_listed", l.listed);
    }
    dump_wal_fini(&w);
}

static void
write_tail(dump_out *out, const char *path, dump_wal *w)
{
    uint64_t bytes = w->file_size - w->valid_bytes;
    dump_out_object(out, "tail");
    dump_out_u64(out, "offset", w->valid_bytes);
    dump_out_u64(out, "bytes", bytes);
    dump_out_str(out, "reason", w->tail_reason);
    dump_out_end(out);
    const char *recovery = w->header_torn ? "recovery reads the segment as empty"
                                          : "recovery cuts them off if this is the newest "
                                            "segment and fails otherwise";
    dump_issues_add(&w->issues, DUMP_ERROR,
                    "%s: torn or bad record at offset %" PRIu64 ", %" PRIu64
                    " bytes from there to the end (%s)",
                    path, w->valid_bytes, bytes, recovery);
}

int
dump_wal_command(const dump_options *o)
{
    dump_out *out = dump_out_new(stdout, o->json, o->full ? 0 : DUMP_PREVIEW_BYTES);
    dump_out_str(out, "file", o->path);
    dump_wal w;
    dump_wal_init(&w);
    lsmkv_error err;
    int rc = dump_wal_scan(o->path, NULL, NULL, &w, &err);
    if (rc != LSMKV_OK) {
        dump_out_str(out, "error", err.message);
        dump_out_str(out, "result", rc == LSMKV_CORRUPTION ? "damaged" : "unreadable");
        dump_out_free(out);
        dump_wal_fini(&w);
        return rc == LSMKV_CORRUPTION ? DUMP_EXIT_DAMAGED : DUMP_EXIT_USAGE;
    }
    dump_out_u64(out, "file_size", w.file_size);
    write_header(out, &w);
    write_records(out, o);
    if (w.torn) {
        write_tail(out, o->path, &w);
    }
    write_summary(out, &w);
    dump_issues_write(out, "issues", &w.issues);
    bool clean = w.issues.errors == 0;
    dump_out_str(out, "result", clean ? "clean" : "damaged");
    dump_out_free(out);
    dump_wal_fini(&w);
    return clean ? DUMP_EXIT_CLEAN : DUMP_EXIT_DAMAGED;
}
