#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "file.h"
#include "test_support.h"
#include "wal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

/* ---- fixture: a temp dir and a captured log --------------------------------- */

typedef struct fixture {
    char *dir;
    char path[4096]; /* the segment under test */
    int warnings;
    char last_line[1024];
    logger lg;
} fixture;

static void
capture_log(void *ctx, lsmkv_log_level level, const char *line)
{
    fixture *f = ctx;
    if (level == LSMKV_LOG_WARN) {
        f->warnings++;
    }
    snprintf(f->last_line, sizeof(f->last_line), "%s", line);
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("wal");
    snprintf(f->path, sizeof(f->path), "%s", test_path(f->dir, "000001.wal"));
    f->lg.level = LSMKV_LOG_DEBUG;
    f->lg.fn = capture_log;
    f->lg.ctx = f;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    file_set_fault_hook(NULL, NULL);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Record i's payload: len bytes derived from i, so a reader can check it. */
static void
make_payload(buffer *out, uint64_t i, size_t len)
{
    buffer_clear(out);
    buffer_reserve(out, len);
    for (size_t j = 0; j < len; j++) {
        out->data[j] = (uint8_t)(i * 131 + j * 7 + (j >> 8));
    }
    out->len = len;
}

static size_t
payload_len(uint64_t i)
{
    return (size_t)((i * 37) % 200); /* includes 0 */
}

/*
 * Writes a segment of n records (one append each); offsets (n + 1 entries, may
 * be NULL) receives each record's offset and the end.
 */
static void
write_segment(const char *path, uint64_t n, uint64_t *offsets)
{
    wal_writer *w;
    assert_int_equal(wal_writer_open(path, &w, NULL), LSMKV_OK);
    buffer payload, framed;
    buffer_init(&payload);
    buffer_init(&framed);
    for (uint64_t i = 0; i < n; i++) {
        if (offsets != NULL) {
            offsets[i] = wal_writer_size(w);
        }
        make_payload(&payload, i, payload_len(i));
        buffer_clear(&framed);
        wal_frame_record(&framed, buffer_slice(&payload));
        assert_int_equal(wal_writer_append(w, buffer_slice(&framed), NULL), LSMKV_OK);
    }
    if (offsets != NULL) {
        offsets[n] = wal_writer_size(w);
    }
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);
    if (offsets != NULL) {
        assert_int_equal(test_file_size(path), (long long)offsets[n]);
    }
    buffer_fini(&payload);
    buffer_fini(&framed);
}

/* Collects replayed records and checks them against make_payload. */
typedef struct collector {
    uint64_t seen;
    uint64_t fail_at; /* return an error at this record (UINT64_MAX: never) */
} collector;

static int
check_record(void *ctx, slice payload, lsmkv_error *err)
{
    collector *c = ctx;
    if (c->seen == c->fail_at) {
        snprintf(err->message, sizeof(err->message), "stop at %llu", (unsigned long long)c->seen);
        err->code = LSMKV_INTERNAL;
        return LSMKV_INTERNAL;
    }
    buffer expected;
    buffer_init(&expected);
    make_payload(&expected, c->seen, payload_len(c->seen));
    assert_true(slice_equal(payload, buffer_slice(&expected)));
    buffer_fini(&expected);
    c->seen++;
    return LSMKV_OK;
}

static void
write_raw(const char *path, const void *data, size_t len, const char *mode)
{
    FILE *fp = fopen(path, mode);
    assert_non_null(fp);
    if (len > 0) {
        assert_int_equal(fwrite(data, 1, len, fp), len);
    }
    assert_int_equal(fclose(fp), 0);
}

/* Replays f->path and returns the status; info and the collector are out. */
static int
replay(fixture *f, bool is_newest, collector *c, wal_replay_info *info, lsmkv_error *err)
{
    c->seen = 0;
    c->fail_at = UINT64_MAX;
    memset(info, 0xee, sizeof(*info));
    return wal_replay(f->path, is_newest, check_record, c, info, &f->lg, err);
}

/* Replays the newest segment expecting a torn tail cut at valid. */
static void
assert_tail_cut(fixture *f, uint64_t records, uint64_t valid, uint64_t size_before)
{
    /* The log counts the zeros that end the tail apart (reserved space). */
    buffer before;
    buffer_init(&before);
    assert_int_equal(file_read_all(f->path, &before, NULL), LSMKV_OK);
    assert_int_equal(before.len, size_before);
    uint64_t written_end = size_before;
    while (written_end > valid && before.data[written_end - 1] == 0) {
        written_end--;
    }
    buffer_fini(&before);

    collector c;
    wal_replay_info info;
    lsmkv_error err = {0};
    int warnings = f->warnings;
    assert_int_equal(replay(f, true, &c, &info, &err), LSMKV_OK);
    assert_int_equal(c.seen, records);
    assert_int_equal(info.records, records);
    assert_int_equal(info.valid_bytes, valid);
    assert_int_equal(info.dropped_bytes, size_before - valid);
    assert_int_equal(test_file_size(f->path), (long long)valid);
    assert_int_equal(f->warnings, warnings + 1);
    char expected[4400];
    snprintf(expected, sizeof(expected), "%s: torn tail at offset %llu: dropped %llu bytes",
             f->path, (unsigned long long)valid, (unsigned long long)(written_end - valid));
    assert_non_null(strstr(f->last_line, expected));
    if (written_end < size_before) {
        snprintf(expected, sizeof(expected), "the %llu bytes after them were reserved zeros",
                 (unsigned long long)(size_before - written_end));
        assert_non_null(strstr(f->last_line, expected));
    } else {
        assert_null(strstr(f->last_line, "reserved zeros"));
    }
}

/* ---- writer and reader ------------------------------------------------------ */

static void
test_open_writes_synced_header(void **state)
{
    fixture *f = *state;
    wal_writer *w;
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_OK);
    assert_int_equal(wal_writer_size(w), WAL_HEADER_BYTES);
    buffer data;
    buffer_init(&data);
    assert_int_equal(file_read_all(f->path, &data, NULL), LSMKV_OK);
    const uint8_t expected[WAL_HEADER_BYTES] = {'L', 'S', 'M', 'K', 'V', 'W', 'A', 'L',
                                                1,   0,   0,   0,   0,   0,   0,   0};
    /* The header, then the zeros reserved for records (wal.h). */
    assert_true(data.len > WAL_HEADER_BYTES);
    assert_memory_equal(data.data, expected, WAL_HEADER_BYTES);
    for (size_t i = WAL_HEADER_BYTES; i < data.len; i++) {
        assert_int_equal(data.data[i], 0);
    }
    assert_int_equal(wal_writer_close(w, false, NULL), LSMKV_OK);
    assert_int_equal(test_file_size(f->path), WAL_HEADER_BYTES); /* reserve cut off */
    buffer_fini(&data);
    assert_int_equal(wal_writer_close(NULL, true, NULL), LSMKV_OK);
}

static void
test_open_refuses_existing_file(void **state)
{
    fixture *f = *state;
    write_raw(f->path, "keep", 4, "wb");
    wal_writer *w = NULL;
    lsmkv_error err = {0};
    assert_int_equal(wal_writer_open(f->path, &w, &err), LSMKV_IO_ERROR);
    assert_null(w);
    assert_non_null(strstr(err.message, f->path));
    assert_int_equal(test_file_size(f->path), 4); /* untouched */
}

static void
test_round_trip_many_records(void **state)
{
    fixture *f = *state;
    enum { N = 2000 };
    uint64_t *offsets = calloc(N + 1, sizeof(*offsets));
    write_segment(f->path, N, offsets);

    wal_reader *r;
    assert_int_equal(wal_reader_open(f->path, &r, NULL), LSMKV_OK);
    assert_int_equal(wal_reader_file_size(r), offsets[N]);
    collector c = {0, UINT64_MAX};
    slice payload;
    for (uint64_t i = 0; i < N; i++) {
        assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_RECORD);
        assert_int_equal(wal_reader_offset(r), offsets[i]);
        assert_int_equal(check_record(&c, payload, NULL), LSMKV_OK);
    }
    assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_END);
    assert_int_equal(wal_reader_offset(r), offsets[N]);
    assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_END);
    wal_reader_close(r);
    free(offsets);
}

static void
test_large_and_empty_records(void **state)
{
    fixture *f = *state;
    size_t big = 2u << 20;
    uint8_t *data = malloc(big);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, data, big);

    wal_writer *w;
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_OK);
    const slice records[] = {slice_make(NULL, 0), slice_make(data, big), slice_make("", 0),
                             slice_make("x", 1)};
    buffer framed;
    buffer_init(&framed);
    for (size_t i = 0; i < 4; i++) {
        buffer_clear(&framed);
        wal_frame_record(&framed, records[i]);
        assert_int_equal(framed.len, WAL_RECORD_HEADER + records[i].len);
        assert_int_equal(decode_fixed32(framed.data + 4), records[i].len);
        /* Not even an empty record's header is zeros: the reader takes
         * zeros for space reserved and never written. */
        assert_true(decode_fixed32(framed.data) != 0);
        assert_int_equal(wal_writer_append(w, buffer_slice(&framed), NULL), LSMKV_OK);
    }
    assert_int_equal(wal_writer_sync(w, NULL), LSMKV_OK);
    uint64_t size = WAL_HEADER_BYTES + 4 * WAL_RECORD_HEADER + big + 1;
    assert_int_equal(wal_writer_size(w), size);
    /* Visible to a reader before the close, ahead of the reserved zeros. */
    assert_true(test_file_size(f->path) > (long long)size);
    wal_reader *open_r;
    assert_int_equal(wal_reader_open(f->path, &open_r, NULL), LSMKV_OK);
    slice seen;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(wal_reader_next(open_r, &seen, NULL), WAL_READ_RECORD);
    }
    assert_int_equal(wal_reader_next(open_r, &seen, NULL), WAL_READ_UNWRITTEN);
    assert_int_equal(wal_reader_offset(open_r), size);
    wal_reader_close(open_r);
    assert_int_equal(wal_writer_close(w, false, NULL), LSMKV_OK);
    assert_int_equal(test_file_size(f->path), (long long)size);

    wal_reader *r;
    assert_int_equal(wal_reader_open(f->path, &r, NULL), LSMKV_OK);
    slice payload;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_RECORD);
        assert_true(slice_equal(payload, records[i]));
    }
    assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_END);
    wal_reader_close(r);
    buffer_fini(&framed);
    free(data);
}

static void
test_group_of_records_in_one_append(void **state)
{
    fixture *f = *state;
    wal_writer *w;
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_OK);
    buffer payload, framed;
    buffer_init(&payload);
    buffer_init(&framed);
    for (uint64_t i = 0; i < 10; i++) {
        make_payload(&payload, i, payload_len(i));
        wal_frame_record(&framed, buffer_slice(&payload));
    }
    assert_int_equal(wal_writer_append(w, buffer_slice(&framed), NULL), LSMKV_OK);
    assert_int_equal(wal_writer_size(w), WAL_HEADER_BYTES + framed.len);
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);

    collector c;
    wal_replay_info info;
    assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_OK);
    assert_int_equal(c.seen, 10);
    assert_int_equal(info.records, 10);
    assert_int_equal(info.valid_bytes, WAL_HEADER_BYTES + framed.len);
    assert_int_equal(info.dropped_bytes, 0);
    assert_int_equal(f->warnings, 0);
    buffer_fini(&payload);
    buffer_fini(&framed);
}

/* ---- replay ----------------------------------------------------------------- */

static void
test_replay_after_reopen(void **state)
{
    fixture *f = *state;
    uint64_t offsets[51];
    write_segment(f->path, 50, offsets);
    for (int newest = 0; newest < 2; newest++) {
        collector c;
        wal_replay_info info;
        assert_int_equal(replay(f, newest, &c, &info, NULL), LSMKV_OK);
        assert_int_equal(c.seen, 50);
        assert_int_equal(info.records, 50);
        assert_int_equal(info.valid_bytes, offsets[50]);
        assert_int_equal(info.dropped_bytes, 0);
    }
    assert_int_equal(test_file_size(f->path), (long long)offsets[50]);
    assert_int_equal(f->warnings, 0);
}

static void
test_replay_stops_when_callback_fails(void **state)
{
    fixture *f = *state;
    write_segment(f->path, 10, NULL);
    collector c = {0, 3};
    wal_replay_info info = {42, 42, 42};
    lsmkv_error err = {0};
    assert_int_equal(wal_replay(f->path, true, check_record, &c, &info, &f->lg, &err),
                     LSMKV_INTERNAL);
    assert_int_equal(c.seen, 3);
    assert_string_equal(err.message, "stop at 3");
    assert_int_equal(info.records, 42); /* out-params are written on success only */
}

static void
test_replay_missing_file_is_error(void **state)
{
    fixture *f = *state;
    collector c;
    wal_replay_info info;
    lsmkv_error err = {0};
    assert_int_equal(replay(f, true, &c, &info, &err), LSMKV_IO_ERROR);
    assert_non_null(strstr(err.message, f->path));
}

static void
test_torn_tail_at_every_offset_of_last_record(void **state)
{
    fixture *f = *state;
    enum { N = 6 }; /* the last record (i = 5) has a 185-byte payload */
    uint64_t offsets[N + 1];
    write_segment(f->path, N, offsets);
    buffer original;
    buffer_init(&original);
    assert_int_equal(file_read_all(f->path, &original, NULL), LSMKV_OK);
    assert_true(offsets[N] - offsets[N - 1] > 100);

    for (uint64_t cut = offsets[N - 1] + 1; cut < offsets[N]; cut++) {
        write_raw(f->path, original.data, (size_t)cut, "wb");
        assert_tail_cut(f, N - 1, offsets[N - 1], cut);
    }
    /* Cut exactly at a record boundary: a clean end, nothing to report. */
    write_raw(f->path, original.data, (size_t)offsets[N - 1], "wb");
    int warnings = f->warnings;
    collector c;
    wal_replay_info info;
    assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_OK);
    assert_int_equal(c.seen, N - 1);
    assert_int_equal(info.dropped_bytes, 0);
    assert_int_equal(f->warnings, warnings);
    buffer_fini(&original);
}

static void
test_torn_tail_garbage_appended(void **state)
{
    fixture *f = *state;
    uint64_t offsets[21];
    write_segment(f->path, 20, offsets);
    uint8_t garbage[333];
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, garbage, sizeof(garbage));
    write_raw(f->path, garbage, sizeof(garbage), "ab");
    assert_tail_cut(f, 20, offsets[20], offsets[20] + sizeof(garbage));

    /* Once cut, the segment replays cleanly with the same records. */
    collector c;
    wal_replay_info info;
    assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_OK);
    assert_int_equal(c.seen, 20);
    assert_int_equal(info.dropped_bytes, 0);
}

/* Zeros after the last record: space the writer reserved and never wrote. */
static void
test_zero_tail_ends_the_newest_segment_quietly(void **state)
{
    fixture *f = *state;
    uint64_t offsets[11];
    write_segment(f->path, 10, offsets);
    static const uint8_t zeros[4096];
    const size_t sizes[] = {1, 7, 8, 9, 4096};
    uint64_t size = offsets[10];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        write_raw(f->path, zeros, sizes[i], "ab");
        size += sizes[i];
        collector c;
        wal_replay_info info;
        int warnings = f->warnings;
        assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_OK);
        assert_int_equal(c.seen, 10);
        assert_int_equal(info.valid_bytes, offsets[10]);
        assert_int_equal(info.dropped_bytes, 0);
        assert_int_equal(f->warnings, warnings); /* nothing was lost */
        assert_int_equal(test_file_size(f->path), (long long)size);
    }
}

static void
test_zero_tail_of_an_older_segment_is_corruption(void **state)
{
    fixture *f = *state;
    uint64_t offsets[11];
    write_segment(f->path, 10, offsets);
    static const uint8_t zeros[100];
    write_raw(f->path, zeros, sizeof(zeros), "ab");
    collector c;
    wal_replay_info info;
    lsmkv_error err = {0};
    assert_int_equal(replay(f, false, &c, &info, &err), LSMKV_CORRUPTION);
    assert_int_equal(c.seen, 10);
    char expected[64];
    snprintf(expected, sizeof(expected), "zeros from offset %" PRIu64, offsets[10]);
    assert_non_null(strstr(err.message, expected));
    assert_non_null(strstr(err.message, f->path));
}

/* Zeros with something after them are not reserved space: a torn tail. */
static void
test_zeros_then_bytes_are_a_torn_tail(void **state)
{
    fixture *f = *state;
    uint64_t offsets[11];
    write_segment(f->path, 10, offsets);
    static const uint8_t zeros[64];
    write_raw(f->path, zeros, sizeof(zeros), "ab");
    write_raw(f->path, "x", 1, "ab");
    assert_tail_cut(f, 10, offsets[10], offsets[10] + sizeof(zeros) + 1);
    /* A record torn during its copy into the map, then the reserve after it:
     * the log tells the bytes written from the zeros. */
    static const uint8_t reserve[1000];
    write_raw(f->path, "abc", 3, "ab");
    write_raw(f->path, reserve, sizeof(reserve), "ab");
    assert_tail_cut(f, 10, offsets[10], offsets[10] + 3 + sizeof(reserve));
    assert_non_null(strstr(f->last_line, "dropped 3 bytes"));
}

/* Flips a bit in the payload of record 7 of 15. */
static uint64_t
write_segment_with_flip(fixture *f, uint64_t *offsets)
{
    write_segment(f->path, 15, offsets);
    assert_true(offsets[8] - offsets[7] > WAL_RECORD_HEADER + 2);
    uint64_t middle = (offsets[7] + WAL_RECORD_HEADER + offsets[8]) / 2;
    test_flip_bit(f->path, (long long)middle, 3);
    return offsets[7];
}

static void
test_older_segment_bad_checksum_is_corruption(void **state)
{
    fixture *f = *state;
    uint64_t offsets[16];
    uint64_t bad = write_segment_with_flip(f, offsets);
    collector c;
    wal_replay_info info;
    lsmkv_error err = {0};
    assert_int_equal(replay(f, false, &c, &info, &err), LSMKV_CORRUPTION);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    char expected[4400];
    snprintf(expected, sizeof(expected), "%s: bad WAL record at offset %llu: checksum mismatch",
             f->path, (unsigned long long)bad);
    assert_non_null(strstr(err.message, expected));
    assert_int_equal(test_file_size(f->path), (long long)offsets[15]); /* never cut */
    assert_int_equal(f->warnings, 0);
}

static void
test_newest_segment_bad_checksum_is_cut(void **state)
{
    fixture *f = *state;
    uint64_t offsets[16];
    uint64_t bad = write_segment_with_flip(f, offsets);
    assert_tail_cut(f, 7, bad, offsets[15]);
    assert_non_null(strstr(f->last_line, "checksum mismatch"));
}

static void
test_older_segment_bad_length_is_corruption(void **state)
{
    fixture *f = *state;
    uint64_t offsets[16];
    write_segment(f->path, 15, offsets);
    /* A high bit of record 4's length: it now runs past the end of the file. */
    test_flip_bit(f->path, (long long)offsets[4] + 4 + 3, 6);
    collector c;
    wal_replay_info info;
    lsmkv_error err = {0};
    assert_int_equal(replay(f, false, &c, &info, &err), LSMKV_CORRUPTION);
    assert_int_equal(c.seen, 4);
    char expected[4400];
    snprintf(expected, sizeof(expected), "%s: bad WAL record at offset %llu: length", f->path,
             (unsigned long long)offsets[4]);
    assert_non_null(strstr(err.message, expected));

    /* A low bit: still inside the file, so the checksum (which covers the
     * length through its seed) has to catch it. */
    test_flip_bit(f->path, (long long)offsets[4] + 4 + 3, 6);
    test_flip_bit(f->path, (long long)offsets[4] + 4, 0);
    assert_int_equal(replay(f, false, &c, &info, &err), LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, "checksum mismatch"));
}

static void
test_reader_stays_at_bad_record(void **state)
{
    fixture *f = *state;
    uint64_t offsets[16];
    uint64_t bad = write_segment_with_flip(f, offsets);
    wal_reader *r;
    assert_int_equal(wal_reader_open(f->path, &r, NULL), LSMKV_OK);
    slice payload;
    for (int i = 0; i < 7; i++) {
        assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_RECORD);
    }
    lsmkv_error detail = {0};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(wal_reader_next(r, &payload, &detail), WAL_READ_BAD);
        assert_int_equal(wal_reader_offset(r), bad);
        assert_int_equal(detail.code, LSMKV_CORRUPTION);
    }
    assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_BAD); /* NULL detail is fine */
    wal_reader_close(r);
}

/* ---- damaged, empty and torn headers ---------------------------------------- */

static void
test_bad_magic_or_version_is_corruption(void **state)
{
    fixture *f = *state;
    uint64_t offsets[4];
    const long long flips[] = {0, 7, 8, 12, 15}; /* magic, version, reserved */
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        remove(f->path);
        write_segment(f->path, 3, offsets);
        test_flip_bit(f->path, flips[i], 1);
        wal_reader *r = NULL;
        lsmkv_error err = {0};
        assert_int_equal(wal_reader_open(f->path, &r, &err), LSMKV_CORRUPTION);
        assert_null(r);
        assert_non_null(strstr(err.message, f->path));
        for (int newest = 0; newest < 2; newest++) {
            collector c;
            wal_replay_info info;
            memset(&err, 0, sizeof(err));
            assert_int_equal(replay(f, newest, &c, &info, &err), LSMKV_CORRUPTION);
            assert_non_null(strstr(err.message, f->path));
            assert_int_equal(c.seen, 0);
        }
        assert_int_equal(test_file_size(f->path), (long long)offsets[3]);
    }
}

static void
test_empty_file_is_empty_segment(void **state)
{
    fixture *f = *state;
    write_raw(f->path, NULL, 0, "wb");
    wal_reader *r;
    assert_int_equal(wal_reader_open(f->path, &r, NULL), LSMKV_OK);
    slice payload;
    assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_END);
    assert_int_equal(wal_reader_offset(r), 0);
    assert_int_equal(wal_reader_file_size(r), 0);
    wal_reader_close(r);

    collector c;
    wal_replay_info info;
    assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_OK);
    assert_int_equal(info.records, 0);
    assert_int_equal(info.valid_bytes, 0);
    assert_int_equal(info.dropped_bytes, 0);
    assert_int_equal(f->warnings, 0);
}

static void
test_header_only_segment_is_empty(void **state)
{
    fixture *f = *state;
    wal_writer *w;
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_OK);
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);
    collector c;
    wal_replay_info info;
    assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_OK);
    assert_int_equal(info.records, 0);
    assert_int_equal(info.valid_bytes, WAL_HEADER_BYTES);
    assert_int_equal(info.dropped_bytes, 0);
    assert_int_equal(f->warnings, 0);
}

static void
test_torn_header_newest_is_truncated(void **state)
{
    fixture *f = *state;
    for (size_t len = 1; len < WAL_HEADER_BYTES; len++) {
        write_raw(f->path, WAL_MAGIC "\x01\0\0\0\0\0\0\0", len, "wb");
        wal_reader *r;
        assert_int_equal(wal_reader_open(f->path, &r, NULL), LSMKV_OK);
        slice payload;
        assert_int_equal(wal_reader_next(r, &payload, NULL), WAL_READ_END);
        assert_int_equal(wal_reader_file_size(r), len);
        wal_reader_close(r);

        /* An older segment is read as empty but left alone (and reported). */
        collector c;
        wal_replay_info info;
        int warnings = f->warnings;
        assert_int_equal(replay(f, false, &c, &info, NULL), LSMKV_OK);
        assert_int_equal(f->warnings, warnings + 1);
        assert_non_null(strstr(f->last_line, "torn header"));
        assert_int_equal(info.records, 0);
        assert_int_equal(info.dropped_bytes, 0);
        assert_int_equal(test_file_size(f->path), (long long)len);

        assert_tail_cut(f, 0, 0, len);
    }
}

static void
test_zero_filled_segment_is_empty(void **state)
{
    fixture *f = *state;
    static const uint8_t zeros[100];
    const size_t sizes[] = {WAL_HEADER_BYTES, sizeof(zeros)};
    for (size_t i = 0; i < 2; i++) {
        write_raw(f->path, zeros, sizes[i], "wb");
        assert_tail_cut(f, 0, 0, sizes[i]);
    }
    /* A zero header in front of real bytes is damage, not a torn creation. */
    write_raw(f->path, zeros, WAL_HEADER_BYTES, "wb");
    write_raw(f->path, "\x01", 1, "ab");
    collector c;
    wal_replay_info info;
    assert_int_equal(replay(f, true, &c, &info, NULL), LSMKV_CORRUPTION);
    assert_int_equal(test_file_size(f->path), WAL_HEADER_BYTES + 1);
}

/* ---- failures --------------------------------------------------------------- */

typedef struct fault {
    file_op op;
    int calls; /* operations of that kind seen */
    char path[4096];
} fault;

static int
fail_op(void *ctx, file_op op, const char *path)
{
    fault *ft = ctx;
    if (op != ft->op) {
        return 0;
    }
    ft->calls++;
    snprintf(ft->path, sizeof(ft->path), "%s", path);
    return EIO;
}

static void
test_open_fails_when_directory_sync_fails(void **state)
{
    fixture *f = *state;
    fault ft = {FILE_OP_SYNC_DIR, 0, ""};
    file_set_fault_hook(fail_op, &ft);
    wal_writer *w = NULL;
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    assert_null(w);
    assert_int_equal(ft.calls, 1);
    assert_string_equal(ft.path, f->dir); /* the segment's own directory */
    assert_false(file_exists(f->path));   /* so a retry can create it */
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_OK);
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);
}

static void
test_append_failure_refuses_more_io(void **state)
{
    fixture *f = *state;
    wal_writer *w;
    assert_int_equal(wal_writer_open(f->path, &w, NULL), LSMKV_OK);
    buffer framed;
    buffer_init(&framed);
    wal_frame_record(&framed, slice_make("value", 5));
    fault ft = {FILE_OP_WRITE, 0, ""};
    file_set_fault_hook(fail_op, &ft);
    lsmkv_error err = {0};
    assert_int_equal(wal_writer_append(w, buffer_slice(&framed), &err), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(ft.calls, 1); /* the append reached the OS, not just a buffer */
    assert_int_equal(wal_writer_append(w, buffer_slice(&framed), &err), LSMKV_IO_ERROR);
    assert_int_equal(wal_writer_sync(w, &err), LSMKV_IO_ERROR);
    assert_non_null(strstr(err.message, f->path));
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_IO_ERROR);
    buffer_fini(&framed);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_writes_synced_header),
        T(test_open_refuses_existing_file),
        T(test_round_trip_many_records),
        T(test_large_and_empty_records),
        T(test_group_of_records_in_one_append),
        T(test_replay_after_reopen),
        T(test_replay_stops_when_callback_fails),
        T(test_replay_missing_file_is_error),
        T(test_torn_tail_at_every_offset_of_last_record),
        T(test_torn_tail_garbage_appended),
        T(test_zero_tail_ends_the_newest_segment_quietly),
        T(test_zero_tail_of_an_older_segment_is_corruption),
        T(test_zeros_then_bytes_are_a_torn_tail),
        T(test_older_segment_bad_checksum_is_corruption),
        T(test_newest_segment_bad_checksum_is_cut),
        T(test_older_segment_bad_length_is_corruption),
        T(test_reader_stays_at_bad_record),
        T(test_bad_magic_or_version_is_corruption),
        T(test_empty_file_is_empty_segment),
        T(test_header_only_segment_is_empty),
        T(test_torn_header_newest_is_truncated),
        T(test_zero_filled_segment_is_empty),
        T(test_open_fails_when_directory_sync_fails),
        T(test_append_failure_refuses_more_io),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
