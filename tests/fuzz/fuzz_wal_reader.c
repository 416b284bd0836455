/*
 * Fuzz target: a WAL segment (wal.h). The input is the segment file. It is
 * read record by record (each payload decoded as a write batch, as recovery
 * does), then replayed as an older segment and as the newest one. Besides
 * memory safety, the properties checked:
 *   - an older segment is never modified;
 *   - the reader and both replays agree on the records and on whether the
 *     file is a segment at all;
 *   - replaying the newest segment cuts it exactly where its good records
 *     end, and a second replay then finds the same records and nothing to cut.
 *
 * Every input runs twice: as it is, and with a valid header and each record's
 * checksum repaired (up to the first length that runs past the end), so that
 * mutated payloads reach the write-batch decoder behind the checksums.
 */
#include "checksum.h"
#include "coding.h"
#include "harness.h"
#include "wal.h"
#include "write_batch.h"

#include <string.h>

static void
ignore_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    (*(uint64_t *)ctx)++;
}

/* Counts records, and decodes each as recovery would (the outcome may be an error). */
static int
count_record(void *ctx, slice payload, lsmkv_error *err)
{
    uint64_t ops = 0;
    write_batch_iterate(payload, ignore_op, &ops, NULL);
    (*(uint64_t *)ctx)++;
    return LSMKV_OK;
}

/* Reads every record with the reader; -1 if the file is not a segment.
 * *clean: the records end where the file does (no bad record). *reserved:
 * zeros follow the records (space reserved and never written). */
static long long
read_records(const char *path, bool *clean, bool *reserved)
{
    wal_reader *r;
    *clean = false;
    *reserved = false;
    if (wal_reader_open(path, &r, NULL) != LSMKV_OK) {
        return -1;
    }
    long long records = 0;
    slice payload;
    lsmkv_error detail;
    wal_read_result res;
    while ((res = wal_reader_next(r, &payload, &detail)) == WAL_READ_RECORD) {
        FUZZ_CHECK(payload.len <= wal_reader_file_size(r));
        records++;
    }
    *clean = res == WAL_READ_END;
    *reserved = res == WAL_READ_UNWRITTEN;
    FUZZ_CHECK(wal_reader_offset(r) <= wal_reader_file_size(r));
    wal_reader_close(r);
    return records;
}

static void
check_segment(const uint8_t *data, size_t size)
{
    char path[4096];
    harness_path(path, "000001.wal");
    harness_write_file(path, data, size);
    bool clean, reserved;
    long long records = read_records(path, &clean, &reserved);

    /* An older segment: fine if its records end cleanly, else damage; never cut. */
    uint64_t older = 0;
    wal_replay_info info;
    int rc = wal_replay(path, false, count_record, &older, &info, harness_quiet_logger(), NULL);
    FUZZ_CHECK(harness_file_size(path) == (long long)size);
    FUZZ_CHECK(rc == (clean ? LSMKV_OK : LSMKV_CORRUPTION));
    if (rc == LSMKV_OK) {
        FUZZ_CHECK(info.records == (uint64_t)records && older == (uint64_t)records);
        FUZZ_CHECK(info.dropped_bytes == 0);
    }

    uint64_t newest = 0;
    rc = wal_replay(path, true, count_record, &newest, &info, harness_quiet_logger(), NULL);
    FUZZ_CHECK((rc == LSMKV_OK) == (records >= 0));
    if (rc != LSMKV_OK) {
        FUZZ_CHECK(rc == LSMKV_CORRUPTION && harness_file_size(path) == (long long)size);
        return;
    }
    FUZZ_CHECK(info.records == (uint64_t)records && newest == (uint64_t)records);
    if (reserved) {
        /* Reserved zeros end the newest segment: nothing dropped, nothing cut. */
        FUZZ_CHECK(info.dropped_bytes == 0 && info.valid_bytes < size);
        FUZZ_CHECK(harness_file_size(path) == (long long)size);
    } else {
        FUZZ_CHECK(info.valid_bytes + info.dropped_bytes == size);
        FUZZ_CHECK(harness_file_size(path) == (long long)info.valid_bytes);
    }

    wal_replay_info again;
    uint64_t second = 0;
    rc = wal_replay(path, true, count_record, &second, &again, harness_quiet_logger(), NULL);
    FUZZ_CHECK(rc == LSMKV_OK && again.records == info.records && second == info.records);
    FUZZ_CHECK(again.dropped_bytes == 0 && again.valid_bytes == info.valid_bytes);
}

/* A valid header, and every record's checksum matching its payload. */
static void
repair_checksums(uint8_t *file, size_t size)
{
    if (size < WAL_HEADER_BYTES) {
        return;
    }
    memcpy(file, WAL_MAGIC, 8);
    encode_fixed32(file + 8, WAL_FORMAT_VERSION);
    encode_fixed32(file + 12, 0);
    size_t pos = WAL_HEADER_BYTES;
    while (size - pos >= WAL_RECORD_HEADER) {
        uint32_t len = decode_fixed32(file + pos + 4);
        if (len > size - pos - WAL_RECORD_HEADER) {
            break;
        }
        uint8_t *payload = file + pos + WAL_RECORD_HEADER;
        encode_fixed32(file + pos, checksum32(payload, len, WAL_CHECKSUM_SEED ^ len));
        pos += WAL_RECORD_HEADER + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_segment(data, size);
    uint8_t *repaired = malloc(size + 1);
    memcpy(repaired, data, size);
    repair_checksums(repaired, size);
    check_segment(repaired, size);
    free(repaired);
    return 0;
}
