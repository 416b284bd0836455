/*
 * WAL segments: writer, reader and recovery (format and policy in wal.h).
 *
 * Crash windows. wal_writer_open syncs the header and the directory entry
 * before it returns, so any segment that ever received a record has a durable
 * header: a header that is cut short or all zeros can only come from a crash
 * during creation, and such a segment holds no records. Records are copied
 * into the mapped segment in one append; a kill during the copy may leave the
 * record it was copying torn (a copy may store its end first), and the OS may
 * persist appended pages partially (power loss with sync=none, or before the
 * group's fsync). Either shows up as a torn tail of the newest segment only,
 * because the store seals a segment (syncs it whole) before it starts the
 * next one.
 */
#include "wal.h"

#include "checksum.h"
#include "coding.h"
#include "file.h"
#include "status.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ----------------------------------------------------------------- */

/*
 * Every this many bytes appended, the writer starts writing them back to disk
 * (without waiting), so that the sync sealing a full segment, which writers
 * wait for, finds little left to write even when no write asked for a sync.
 */
#define WAL_WRITEBACK_BYTES (512 * 1024)

struct wal_writer {
    file_writer *file;
    uint64_t written_back; /* appended bytes before this were handed to writeback */
    bool failed;           /* an append failed: the tail is undefined, refuse more I/O */
};

/* Fsyncs the directory holding path, so a newly created entry is durable. */
static int
sync_parent_dir(const char *path, lsmkv_error *err)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return file_sync_dir(".", err);
    }
    if (slash == path) {
        return file_sync_dir("/", err);
    }
    size_t len = (size_t)(slash - path);
    char *dir = xmalloc(len + 1);
    memcpy(dir, path, len);
    dir[len] = '\0';
    int rc = file_sync_dir(dir, err);
    free(dir);
    return rc;
}

int
wal_writer_open(const char *path, wal_writer **out, lsmkv_error *err)
{
    file_writer *file;
    int rc = file_writer_open_mapped(path, true, &file, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    uint8_t header[WAL_HEADER_BYTES];
    memcpy(header, WAL_MAGIC, 8);
    encode_fixed32(header + 8, WAL_FORMAT_VERSION);
    encode_fixed32(header + 12, 0);
    rc = file_writer_append(file, header, sizeof(header), err);
    if (rc == LSMKV_OK) {
        rc = file_writer_sync(file, err);
    }
    if (rc == LSMKV_OK) {
        rc = sync_parent_dir(path, err);
    }
    if (rc != LSMKV_OK) {
        /* We created it, so nobody else uses it; removing it lets a retry with
         * the same name succeed. A leftover would read as empty anyway. */
        file_writer_close(file, NULL);
        file_remove(path, NULL);
        return rc;
    }
    wal_writer *w = xcalloc(1, sizeof(*w));
    w->file = file;
    *out = w;
    return LSMKV_OK;
}

void
wal_frame_record(buffer *out, slice payload)
{
    assert(payload.len <= UINT32_MAX); /* the store caps batch sizes well below */
    uint32_t len = (uint32_t)payload.len;
    uint8_t header[WAL_RECORD_HEADER];
    encode_fixed32(header, checksum32(payload.data, payload.len, WAL_CHECKSUM_SEED ^ len));
    encode_fixed32(header + 4, len);
    buffer_append(out, header, sizeof(header));
    buffer_append_slice(out, payload);
}

static int
refuse_after_failure(const wal_writer *w, lsmkv_error *err)
{
    return status_set(err, LSMKV_IO_ERROR, "%s: an earlier write failed; the log tail is undefined",
                      file_writer_path(w->file));
}

int
wal_writer_append(wal_writer *w, slice framed, lsmkv_error *err)
{
    if (w->failed) {
        return refuse_after_failure(w, err);
    }
    /* The writer is mapped: once appended, the records are in the page
     * cache, where a process crash cannot lose them. */
    int rc = file_writer_append(w->file, framed.data, framed.len, err);
    if (rc != LSMKV_OK) {
        w->failed = true;
        return rc;
    }
    uint64_t size = file_writer_size(w->file);
    if (size - w->written_back >= WAL_WRITEBACK_BYTES) {
        file_writer_start_writeback(w->file, w->written_back, size - w->written_back);
        w->written_back = size;
    }
    return LSMKV_OK;
}

int
wal_writer_sync(wal_writer *w, lsmkv_error *err)
{
    /* A sync after a failed append would make a damaged tail look durable. */
    if (w->failed) {
        return refuse_after_failure(w, err);
    }
    return file_writer_sync(w->file, err);
}

int
wal_writer_seal(wal_writer *w, lsmkv_error *err)
{
    if (w->failed) {
        return refuse_after_failure(w, err);
    }
    int rc = file_writer_trim(w->file, err);
    if (rc == LSMKV_OK) {
        rc = file_writer_sync(w->file, err);
    }
    if (rc != LSMKV_OK) {
        w->failed = true;
    }
    return rc;
}

uint64_t
wal_writer_size(const wal_writer *w)
{
    return file_writer_size(w->file);
}

int
wal_writer_close(wal_writer *w, bool sync, lsmkv_error *err)
{
    if (w == NULL) {
        return LSMKV_OK;
    }
    int rc = sync ? wal_writer_seal(w, err) : LSMKV_OK;
    int close_rc = file_writer_close(w->file, rc == LSMKV_OK ? err : NULL);
    free(w);
    return rc != LSMKV_OK ? rc : close_rc;
}

/* ---- reader ----------------------------------------------------------------- */

struct wal_reader {
    char *path;
    buffer data;      /* the whole segment file */
    size_t end;       /* where records end: data.len, or 0 for a torn header */
    size_t pos;       /* next record to read */
    size_t offset;    /* record last returned, or the bad record / end */
    char reason[128]; /* what was wrong with the bad record, for the log */
};

static bool
all_zeros(slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] != 0) {
            return false;
        }
    }
    return true;
}

/*
 * Checks the header. A file shorter than the header or of zeros only is a
 * segment torn at creation (see the top of the file): it reads as empty. A
 * zero header followed by other bytes is damage, not a torn creation.
 */
static int
check_header(wal_reader *r, lsmkv_error *err)
{
    slice file = buffer_slice(&r->data);
    if (file.len < WAL_HEADER_BYTES || all_zeros(file)) {
        r->end = 0; /* nothing past a torn header is trusted */
        return LSMKV_OK;
    }
    if (memcmp(file.data, WAL_MAGIC, 8) != 0) {
        return status_set(err, LSMKV_CORRUPTION, "%s: not a WAL segment (bad magic)", r->path);
    }
    uint32_t version = decode_fixed32(file.data + 8);
    uint32_t reserved = decode_fixed32(file.data + 12);
    if (version != WAL_FORMAT_VERSION || reserved != 0) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: unsupported WAL format (version %" PRIu32 ", flags %" PRIu32 ")",
                          r->path, version, reserved);
    }
    r->end = file.len;
    r->pos = r->offset = WAL_HEADER_BYTES;
    return LSMKV_OK;
}

int
wal_reader_open(const char *path, wal_reader **out, lsmkv_error *err)
{
    wal_reader *r = xcalloc(1, sizeof(*r));
    r->path = strdup(path);
    buffer_init(&r->data);
    int rc = file_read_all(path, &r->data, err);
    if (rc == LSMKV_OK) {
        rc = check_header(r, err);
    }
    if (rc != LSMKV_OK) {
        wal_reader_close(r);
        return rc;
    }
    *out = r;
    return LSMKV_OK;
}

static wal_read_result bad_record(wal_reader *r, lsmkv_error *detail, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why the record at r->pos is bad; the reader stays there. */
static wal_read_result
bad_record(wal_reader *r, lsmkv_error *detail, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
    r->offset = r->pos;
    status_set(detail, LSMKV_CORRUPTION, "%s: bad WAL record at offset %zu: %s", r->path, r->pos,
               r->reason);
    return WAL_READ_BAD;
}

wal_read_result
wal_reader_next(wal_reader *r, slice *payload, lsmkv_error *detail)
{
    size_t left = r->end - r->pos;
    if (left == 0) {
        r->offset = r->pos;
        return WAL_READ_END;
    }
    /* A record's header is never 8 zero bytes (the store logs no empty record,
     * and an empty record's checksum is not 0), so this stops within the
     * first few bytes of a record unless the rest of the file is zeros. */
    if (all_zeros(slice_make(r->data.data + r->pos, left))) {
        r->offset = r->pos;
        return WAL_READ_UNWRITTEN;
    }
    if (left < WAL_RECORD_HEADER) {
        return bad_record(r, detail, "record header cut short (%zu of %d bytes)", left,
                          WAL_RECORD_HEADER);
    }
    const uint8_t *p = r->data.data + r->pos;
    uint32_t stored = decode_fixed32(p);
    uint32_t len = decode_fixed32(p + 4);
    if (len > left - WAL_RECORD_HEADER) {
        return bad_record(r, detail, "length %" PRIu32 " runs past the end of the file (%zu left)",
                          len, left - WAL_RECORD_HEADER);
    }
    uint32_t actual = checksum32(p + WAL_RECORD_HEADER, len, WAL_CHECKSUM_SEED ^ len);
    if (actual != stored) {
        return bad_record(r, detail,
                          "checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32
                          ", length %" PRIu32 ")",
                          stored, actual, len);
    }
    *payload = slice_make(p + WAL_RECORD_HEADER, len);
    r->offset = r->pos;
    r->pos += WAL_RECORD_HEADER + (size_t)len;
    return WAL_READ_RECORD;
}

uint64_t
wal_reader_offset(const wal_reader *r)
{
    return r->offset;
}

uint64_t
wal_reader_file_size(const wal_reader *r)
{
    return r->data.len;
}

void
wal_reader_close(wal_reader *r)
{
    if (r == NULL) {
        return;
    }
    buffer_fini(&r->data);
    free(r->path);
    free(r);
}

/* ---- recovery --------------------------------------------------------------- */

/*
 * The newest segment ends where its last good record ends: cut the rest so
 * new records never follow garbage (which would hide them at the next
 * recovery). An older segment with a torn header cannot hold records (see the
 * top of the file), so it only gets a warning.
 */
static int
cut_torn_tail(wal_reader *r, bool is_newest, wal_replay_info *info, const logger *lg,
              lsmkv_error *err)
{
    uint64_t dropped = r->data.len - r->offset;
    if (!is_newest) {
        log_warn(lg, "%s: older segment with a torn header (%" PRIu64 " bytes) read as empty",
                 r->path, dropped);
        return LSMKV_OK;
    }
    int rc = file_truncate(r->path, r->offset, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    /* A record torn by a kill during its copy into the mapped segment is
     * followed by the zeros reserved after it: those held nothing. */
    size_t written_end = r->data.len;
    while (written_end > r->offset && r->data.data[written_end - 1] == 0) {
        written_end--;
    }
    char zeros[96] = "";
    if (written_end < r->data.len) {
        snprintf(zeros, sizeof(zeros), "; the %zu bytes after them were reserved zeros",
                 r->data.len - written_end);
    }
    log_warn(lg, "%s: torn tail at offset %zu: dropped %zu bytes (%s)%s", r->path, r->offset,
             written_end - r->offset, r->end == 0 ? "segment header cut short" : r->reason, zeros);
    info->dropped_bytes = dropped;
    return LSMKV_OK;
}

static int
replay_records(wal_reader *r, bool is_newest, wal_record_fn fn, void *ctx, wal_replay_info *info,
               bool *unwritten, lsmkv_error *err)
{
    for (;;) {
        slice payload;
        lsmkv_error detail;
        wal_read_result res = wal_reader_next(r, &payload, &detail);
        if (res == WAL_READ_END) {
            return LSMKV_OK;
        }
        if (res == WAL_READ_UNWRITTEN) {
            *unwritten = true;
            /* Sealed segments end at their last record (wal_writer_seal). */
            return is_newest ? LSMKV_OK
                             : status_set(err, LSMKV_CORRUPTION,
                                          "%s: zeros from offset %" PRIu64
                                          " to the end of a sealed segment",
                                          r->path, (uint64_t)r->offset);
        }
        if (res == WAL_READ_BAD) {
            /* An older segment was synced whole: a bad record there is damage,
             * and skipping it would silently lose acknowledged writes. */
            return is_newest ? LSMKV_OK : status_copy(err, &detail);
        }
        int rc = fn(ctx, payload, err);
        if (rc != LSMKV_OK) {
            return rc;
        }
        info->records++;
    }
}

int
wal_replay(const char *path, bool is_newest, wal_record_fn fn, void *ctx, wal_replay_info *info,
           const logger *lg, lsmkv_error *err)
{
    wal_reader *r;
    int rc = wal_reader_open(path, &r, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    wal_replay_info result = {0, 0, 0};
    bool unwritten = false;
    rc = replay_records(r, is_newest, fn, ctx, &result, &unwritten, err);
    if (rc == LSMKV_OK) {
        result.valid_bytes = r->offset;
        /* Reserved space never written is not a torn tail: nothing was lost. */
        if (r->offset < r->data.len && !unwritten) {
            rc = cut_torn_tail(r, is_newest, &result, lg, err);
        }
    }
    wal_reader_close(r);
    if (rc == LSMKV_OK && info != NULL) {
        *info = result;
    }
    return rc;
}
