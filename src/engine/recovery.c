#include "recovery.h"

#include "file.h"
#include "filename.h"
#include "memtable.h"
#include "status.h"
#include "write_batch.h"

#include <inttypes.h>
#include <stdlib.h>

typedef struct replay_target {
    memtable *mem;
    uint64_t max_sequence;
} replay_target;

static void
replay_op(void *ctx, uint64_t sequence, value_type type, slice key, slice value)
{
    replay_target *target = ctx;
    memtable_add(target->mem, sequence, type, key, value);
    if (sequence > target->max_sequence) {
        target->max_sequence = sequence;
    }
}

static int
replay_record(void *ctx, slice payload, lsmkv_error *err)
{
    return write_batch_iterate(payload, replay_op, ctx, err);
}

static int
compare_numbers(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

/* WAL segments still to replay, sorted; deletes the ones already covered. */
static int
list_segments(const char *dir, uint64_t log_number, const logger *lg, uint64_t **out,
              size_t *count_out, lsmkv_error *err)
{
    char **names;
    size_t count;
    int rc = file_list_dir(dir, &names, &count, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    uint64_t *numbers = xcalloc(count + 1, sizeof(*numbers));
    size_t n = 0;
    char path[FILENAME_PATH_MAX];
    for (size_t i = 0; i < count; i++) {
        uint64_t number;
        if (filename_parse(names[i], &number) != FILE_KIND_WAL) {
            continue;
        }
        if (number >= log_number) {
            numbers[n++] = number;
        } else {
            filename_join(path, dir, names[i]);
            log_info(lg, "removing %s, already covered by tables", path);
            file_remove(path, NULL);
        }
    }
    file_list_free(names, count);
    qsort(numbers, n, sizeof(*numbers), compare_numbers);
    *out = numbers;
    *count_out = n;
    return LSMKV_OK;
}

/* Replays one segment into a table; next_number is the segment after it. */
static int
recover_segment(const char *dir, sstable_manager *sm, const logger *lg, uint64_t number,
                uint64_t next_number, bool is_newest, uint64_t *last_sequence, lsmkv_error *err)
{
    char path[FILENAME_PATH_MAX];
    filename_wal(path, dir, number);
    replay_target target = {.mem = memtable_new(), .max_sequence = *last_sequence};
    wal_replay_info info = {0};
    int rc = wal_replay(path, is_newest, replay_record, &target, &info, lg, err);
    if (rc == LSMKV_OK) {
        iterator *it = memtable_iterator_new(target.mem);
        rc = sstable_manager_add_sstable(sm, it, next_number, target.max_sequence, NULL, err);
        iterator_free(it);
    }
    if (rc == LSMKV_OK) {
        log_info(lg,
                 "recovered %s: %" PRIu64 " records, %" PRIu64 " entries, %" PRIu64
                 " bytes dropped from a torn tail",
                 path, info.records, memtable_entries(target.mem), info.dropped_bytes);
        *last_sequence = target.max_sequence;
        file_remove(path, NULL);
    }
    memtable_unref(target.mem);
    return rc;
}

int
recovery_run(const char *dir, sstable_manager *sm, const logger *lg, recovery_result *out,
             lsmkv_error *err)
{
    uint64_t *segments;
    size_t count;
    int rc = list_segments(dir, sstable_manager_log_number(sm), lg, &segments, &count, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    if (count > 0) {
        sstable_manager_reserve_file_number(sm, segments[count - 1]);
    }
    /* The fresh segment's number is the log_number the last replay records. */
    uint64_t fresh = sstable_manager_new_file_number(sm);
    uint64_t last_sequence = sstable_manager_last_sequence(sm);
    for (size_t i = 0; rc == LSMKV_OK && i < count; i++) {
        uint64_t next = i + 1 < count ? segments[i + 1] : fresh;
        rc = recover_segment(dir, sm, lg, segments[i], next, i + 1 == count, &last_sequence, err);
    }
    free(segments);
    if (rc != LSMKV_OK) {
        return rc;
    }
    char path[FILENAME_PATH_MAX];
    filename_wal(path, dir, fresh);
    rc = wal_writer_open(path, &out->wal, err);
    if (rc == LSMKV_OK) {
        out->wal_number = fresh;
        out->last_sequence = last_sequence;
    }
    return rc;
}
