/*
 * Fuzz target: the write-batch decoder (write_batch_iterate), which reads
 * every WAL record at recovery. The input is a batch's encoded contents.
 * Besides memory safety: a batch that fails applies nothing (no callback
 * runs); one that decodes carries exactly its header's count of ops with
 * consecutive sequence numbers, and re-encoding its ops gives a batch that
 * decodes to the same ops.
 */
#include "coding.h"
#include "harness.h"
#include "write_batch.h"

#include <string.h>

typedef struct op_log {
    uint64_t count;
    uint64_t first_sequence, last_sequence;
    write_batch rebuilt; /* the ops, encoded again */
} op_log;

static void
record_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    op_log *log = ctx;
    FUZZ_CHECK(type == VALUE_TYPE_VALUE || type == VALUE_TYPE_DELETION);
    FUZZ_CHECK(log->count == 0 || sequence == log->last_sequence + 1);
    FUZZ_CHECK(type == VALUE_TYPE_VALUE || value.len == 0);
    if (log->count == 0) {
        log->first_sequence = sequence;
    }
    log->last_sequence = sequence;
    log->count++;
    if (type == VALUE_TYPE_VALUE) {
        write_batch_put(&log->rebuilt, key, value);
    } else {
        write_batch_delete(&log->rebuilt, key);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    op_log log = {0};
    write_batch_init(&log.rebuilt);
    lsmkv_error err = {0};
    int rc = write_batch_iterate(slice_make(data, size), record_op, &log, &err);
    if (rc != LSMKV_OK) {
        FUZZ_CHECK(rc == LSMKV_CORRUPTION && err.code == rc && err.message[0] != '\0');
        FUZZ_CHECK(log.count == 0); /* validated before anything was applied */
        write_batch_fini(&log.rebuilt);
        return 0;
    }
    FUZZ_CHECK(size >= WRITE_BATCH_HEADER);
    FUZZ_CHECK(log.count == decode_fixed32(data + 8));
    FUZZ_CHECK(log.count == 0 || log.first_sequence == decode_fixed64(data));

    write_batch_set_sequence(&log.rebuilt, decode_fixed64(data));
    op_log again = {0};
    write_batch_init(&again.rebuilt);
    FUZZ_CHECK(write_batch_iterate(write_batch_contents(&log.rebuilt), record_op, &again, NULL) ==
               LSMKV_OK);
    FUZZ_CHECK(again.count == log.count);
    FUZZ_CHECK(again.count == 0 || (again.first_sequence == log.first_sequence &&
                                    again.last_sequence == log.last_sequence));
    /* Both rebuilt from the same ops: byte for byte equal. */
    write_batch_set_sequence(&again.rebuilt, decode_fixed64(data));
    slice a = write_batch_contents(&log.rebuilt), b = write_batch_contents(&again.rebuilt);
    FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    write_batch_fini(&again.rebuilt);
    write_batch_fini(&log.rebuilt);
    return 0;
}
