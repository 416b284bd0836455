#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "file.h"
#include "filename.h"
#include "lsmkv/lsmkv.h"
#include "wal.h"
#include "test_support.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Fault injection through the public API: the disk fills up or fails under
 * the WAL, a flush, a manifest write, a compaction or a read (file.h's fault
 * and short-write hooks), and the store must answer with a clear status, keep
 * serving reads, lose nothing acknowledged, install nothing half-written, and
 * carry on once the fault clears. The contract these tests pin down:
 *
 *  - A failed WAL append or fsync fails the write (LSMKV_NO_SPACE or
 *    LSMKV_IO_ERROR, naming the segment) and turns the store read-only until
 *    it is reopened: later writes and flushes get LSMKV_READ_ONLY, reads go
 *    on, and lsmkv_close reports the failed log. Reopening recovers every
 *    acknowledged write and cuts a partial record.
 *  - A failed flush or compaction changes nothing visible and is retried; a
 *    manual lsmkv_flush retries at once and returns the error while the fault
 *    lasts; writers fail with that error only once the memtable queue is full.
 *  - A failed read of a table fails only the reads that need that table.
 *
 * The hooks are installed before a store opens and removed after it closes;
 * tests arm and disarm them through atomics, so the store's threads never see
 * a hook change under them. Nothing sleeps: retries are driven by lsmkv_flush.
 */

/* ---- injected faults --------------------------------------------------------------- */

/* Fails every `op` on a path containing `needle` while armed. */
typedef struct fault {
    atomic_bool armed;
    file_op op;
    char needle[64];
    int error;
    atomic_int injected;
} fault;

static int
fault_hook(void *ctx, file_op op, const char *path)
{
    fault *f = ctx;
    if (!atomic_load(&f->armed) || op != f->op || strstr(path, f->needle) == NULL) {
        return 0;
    }
    atomic_fetch_add(&f->injected, 1);
    return f->error;
}

static void
fault_init(fault *f, file_op op, const char *needle, int error)
{
    atomic_init(&f->armed, false);
    f->op = op;
    snprintf(f->needle, sizeof(f->needle), "%s", needle);
    f->error = error;
    atomic_init(&f->injected, 0);
}

/*
 * One short write on a path containing `needle`, then disarmed: `cut` >= 0
 * lets that many bytes through (at most len - 1), `cut` < 0 all but -cut.
 */
typedef struct short_write {
    atomic_bool armed;
    const char *needle;
    long cut;
    size_t len, allowed; /* of the write that was cut */
} short_write;

static size_t
short_write_hook(void *ctx, const char *path, size_t len, int *error)
{
    short_write *s = ctx;
    if (strstr(path, s->needle) == NULL || !atomic_exchange(&s->armed, false)) {
        return len;
    }
    size_t allowed =
        s->cut >= 0 ? (size_t)s->cut : len - ((size_t)-s->cut < len ? (size_t)-s->cut : len);
    s->len = len;
    s->allowed = allowed < len ? allowed : len - 1;
    *error = ENOSPC;
    return s->allowed;
}

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    lsmkv_options options;
    lsmkv *db;
    fault fault; /* the test's injected fault: lives until teardown closes the store */
    pthread_mutex_t log_mutex;
    char log[8192]; /* WARN and ERROR lines since the last log_clear */
} fixture;

static void
capture_log(void *ctx, lsmkv_log_level level, const char *line)
{
    fixture *f = ctx;
    pthread_mutex_lock(&f->log_mutex);
    size_t used = strlen(f->log);
    snprintf(f->log + used, sizeof(f->log) - used, "%s\n", line);
    pthread_mutex_unlock(&f->log_mutex);
}

static bool
log_contains(fixture *f, const char *needle)
{
    pthread_mutex_lock(&f->log_mutex);
    bool found = strstr(f->log, needle) != NULL;
    pthread_mutex_unlock(&f->log_mutex);
    return found;
}

static void
log_clear(fixture *f)
{
    pthread_mutex_lock(&f->log_mutex);
    f->log[0] = '\0';
    pthread_mutex_unlock(&f->log_mutex);
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("fault");
    pthread_mutex_init(&f->log_mutex, NULL);
    lsmkv_options_init(&f->options);
    f->options.log_fn = capture_log;
    f->options.log_ctx = f;
    f->options.disable_auto_compaction = true; /* every table change is the test's */
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    lsmkv_close(f->db); /* a test that fails midway may leave it open */
    file_set_fault_hook(NULL, NULL);
    file_set_short_write_hook(NULL, NULL);
    pthread_mutex_destroy(&f->log_mutex);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

static void
open_db(fixture *f)
{
    lsmkv_error err = {0};
    assert_null(f->db);
    if (lsmkv_open(f->dir, &f->options, &f->db, &err) != LSMKV_OK) {
        fail_msg("lsmkv_open: %s", err.message);
    }
}

/* Closes the store, expecting close_rc (the failed log is reported at close). */
static void
close_db(fixture *f, int close_rc)
{
    assert_int_equal(lsmkv_close(f->db), close_rc);
    f->db = NULL;
}

static void
expect_message(const lsmkv_error *err, const char *needle)
{
    if (strstr(err->message, needle) == NULL) {
        fail_msg("message \"%s\" does not contain \"%s\"", err->message, needle);
    }
}

/* ---- data ------------------------------------------------------------------------- */

static void
key_of(char *key, size_t cap, const char *prefix, int i)
{
    snprintf(key, cap, "%s%05d", prefix, i);
}

/* The value written for key i at the given round: 1 KiB, recognisable. */
static size_t
value_of(uint8_t *value, int i, int round)
{
    size_t len = 1000 + (size_t)(i % 24);
    for (size_t j = 0; j < len; j++) {
        value[j] = (uint8_t)(i * 31 + round * 7 + (int)j);
    }
    return len;
}

static int
put_i(lsmkv *db, const char *prefix, int i, int round, lsmkv_error *err)
{
    char key[32];
    uint8_t value[1100];
    key_of(key, sizeof(key), prefix, i);
    size_t len = value_of(value, i, round);
    return lsmkv_put(db, NULL, (const uint8_t *)key, strlen(key), value, len, err);
}

static void
put_ok(lsmkv *db, const char *prefix, int i, int round)
{
    lsmkv_error err = {0};
    if (put_i(db, prefix, i, round, &err) != LSMKV_OK) {
        fail_msg("put %s%05d: %s", prefix, i, err.message);
    }
}

/* Reads key i: -1 when absent, else the round whose value it holds (or fails). */
static int
read_round(lsmkv *db, const char *prefix, int i, int rounds)
{
    char key[32];
    key_of(key, sizeof(key), prefix, i);
    uint8_t *got = NULL;
    size_t got_len = 0;
    bool found = false;
    lsmkv_error err = {0};
    if (lsmkv_get(db, (const uint8_t *)key, strlen(key), &got, &got_len, &found, &err) !=
        LSMKV_OK) {
        fail_msg("get %s: %s", key, err.message);
    }
    if (!found) {
        return -1;
    }
    int match = -2;
    for (int round = 0; round < rounds && match == -2; round++) {
        uint8_t want[1100];
        size_t len = value_of(want, i, round);
        if (len == got_len && memcmp(want, got, len) == 0) {
            match = round;
        }
    }
    lsmkv_free(got);
    if (match == -2) {
        fail_msg("%s holds a value that was never written", key);
    }
    return match;
}

static void
expect_round(lsmkv *db, const char *prefix, int i, int round)
{
    int got = read_round(db, prefix, i, round + 2);
    if (got != round) {
        fail_msg("%s%05d: expected round %d, found %d", prefix, i, round, got);
    }
}

static void
expect_keys(lsmkv *db, const char *prefix, int from, int to, int round)
{
    for (int i = from; i < to; i++) {
        expect_round(db, prefix, i, round);
    }
}

static lsmkv_stats
stats_of(lsmkv *db)
{
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    return s;
}

/* Entries an iterator sees, asserting it ends cleanly. */
static int
count_entries(lsmkv *db)
{
    lsmkv_iterator *it;
    assert_int_equal(lsmkv_iterator_new(db, &it, NULL), LSMKV_OK);
    int n = 0;
    for (lsmkv_iterator_seek_to_first(it); lsmkv_iterator_valid(it); lsmkv_iterator_next(it)) {
        n++;
    }
    assert_int_equal(lsmkv_iterator_status(it, NULL), LSMKV_OK);
    lsmkv_iterator_free(it);
    return n;
}

/* Reads a whole file into a malloc'd buffer (for "unchanged" checks). */
static uint8_t *
slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)size + 1);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *len = (size_t)size;
    return data;
}

static void
expect_file_unchanged(const char *path, const uint8_t *before, size_t before_len)
{
    size_t len;
    uint8_t *now = slurp(path, &len);
    assert_int_equal(len, before_len);
    assert_memory_equal(now, before, len);
    free(now);
}

/*
 * lsmkv_flush once the fault is gone: the first call may still see an
 * attempt that began while the fault lasted fail; the next starts afresh.
 */
static void
flush_after_fault(lsmkv *db)
{
    lsmkv_error err = {0};
    int rc = lsmkv_flush(db, NULL, &err);
    if (rc != LSMKV_OK) {
        rc = lsmkv_flush(db, NULL, &err);
    }
    if (rc != LSMKV_OK) {
        fail_msg("flush after the fault cleared: %s", err.message);
    }
}

/* ---- the WAL ---------------------------------------------------------------------- */

/* The only WAL segment in dir (the tests that use it never rotate). */
static void
only_segment(const char *dir, char *path)
{
    assert_int_equal(test_count_files(dir, ".wal"), 1);
    for (uint64_t n = 1; n < 1000; n++) {
        filename_wal(path, dir, n);
        if (test_file_size(path) >= 0) {
            return;
        }
    }
    fail_msg("no WAL segment in %s", dir);
}

/* After a failed log write: every write is refused, reads go on. */
static void
expect_read_only(fixture *f, const char *original)
{
    lsmkv_error err = {0};
    assert_int_equal(put_i(f->db, "k", 99999, 0, &err), LSMKV_READ_ONLY);
    expect_message(&err, "read-only");
    expect_message(&err, original); /* says why */
    assert_int_equal(lsmkv_delete(f->db, NULL, (const uint8_t *)"k00000", 6, &err),
                     LSMKV_READ_ONLY);
    assert_int_equal(lsmkv_flush(f->db, NULL, &err), LSMKV_READ_ONLY);
}

static void
test_wal_append_enospc_turns_store_read_only(void **state)
{
    fixture *f = *state;
    fault *wal_write = &f->fault;
    fault_init(wal_write, FILE_OP_WRITE, ".wal", ENOSPC);
    file_set_fault_hook(fault_hook, wal_write);
    open_db(f);
    for (int i = 0; i < 20; i++) {
        put_ok(f->db, "k", i, 0);
    }

    atomic_store(&wal_write->armed, true);
    lsmkv_error err = {0};
    assert_int_equal(put_i(f->db, "k", 20, 0, &err), LSMKV_NO_SPACE);
    assert_int_equal(err.code, LSMKV_NO_SPACE);
    expect_message(&err, ".wal");
    expect_message(&err, strerror(ENOSPC));
    assert_true(log_contains(f, "read-only"));
    atomic_store(&wal_write->armed, false); /* the disk has room again: still read-only */
    expect_read_only(f, strerror(ENOSPC));

    expect_keys(f->db, "k", 0, 20, 0);
    assert_int_equal(read_round(f->db, "k", 20, 1), -1);
    assert_int_equal(count_entries(f->db), 20);
    assert_int_equal(stats_of(f->db).puts, 20);
    close_db(f, LSMKV_IO_ERROR);

    open_db(f);
    expect_keys(f->db, "k", 0, 20, 0);
    assert_int_equal(read_round(f->db, "k", 20, 1), -1);
    put_ok(f->db, "k", 20, 1); /* writable again after the reopen */
    close_db(f, LSMKV_OK);
    open_db(f);
    expect_keys(f->db, "k", 0, 20, 0);
    expect_round(f->db, "k", 20, 1);
    assert_int_equal(atomic_load(&wal_write->injected), 1);
}

/*
 * Where the records of segment end, and how: the segment is mapped with space
 * reserved past its records, so its size on disk says nothing about them.
 */
static wal_read_result
segment_end(const char *segment, uint64_t *records_end)
{
    wal_reader *r;
    assert_int_equal(wal_reader_open(segment, &r, NULL), LSMKV_OK);
    slice payload;
    wal_read_result res;
    while ((res = wal_reader_next(r, &payload, NULL)) == WAL_READ_RECORD) {
    }
    *records_end = wal_reader_offset(r);
    wal_reader_close(r);
    return res;
}

/* One short write of the record for key 10, cut as `cut` says, with value_len bytes. */
static void
check_short_wal_write(long cut, size_t value_len)
{
    char *dir = test_make_temp_dir("fault-short");
    fixture f = {.dir = dir};
    pthread_mutex_init(&f.log_mutex, NULL);
    lsmkv_options_init(&f.options);
    f.options.log_fn = capture_log;
    f.options.log_ctx = &f;
    short_write sw = {.needle = ".wal", .cut = cut};
    atomic_init(&sw.armed, false);
    file_set_short_write_hook(short_write_hook, &sw);
    open_db(&f);
    for (int i = 0; i < 10; i++) {
        put_ok(f.db, "k", i, 0);
    }
    char segment[FILENAME_PATH_MAX];
    only_segment(dir, segment);
    uint64_t before;
    assert_int_equal(segment_end(segment, &before), WAL_READ_UNWRITTEN);

    atomic_store(&sw.armed, true);
    /* Not zeros: the torn record's missing bytes read as the reserved zeros
     * after it, and a zero value would make it whole. */
    uint8_t *big = malloc(value_len);
    memset(big, 'v', value_len);
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_put(f.db, NULL, (const uint8_t *)"victim", 6, big, value_len, &err),
                     LSMKV_NO_SPACE);
    expect_message(&err, "bytes written");
    expect_message(&err, segment);
    assert_true(sw.len > value_len); /* the whole record was one write */
    /* Torn: the records end where they did, then come the bytes written
     * (an unreadable record), or reserved zeros when none were. */
    uint64_t after;
    assert_int_equal(segment_end(segment, &after),
                     sw.allowed > 0 ? WAL_READ_BAD : WAL_READ_UNWRITTEN);
    assert_int_equal(after, before);
    expect_read_only(&f, "bytes written");
    expect_keys(f.db, "k", 0, 10, 0);
    close_db(&f, LSMKV_IO_ERROR);

    log_clear(&f);
    open_db(&f);
    if (sw.allowed > 0) {
        assert_true(log_contains(&f, "torn tail"));
    }
    expect_keys(f.db, "k", 0, 10, 0);
    bool found = true;
    uint8_t *got = NULL;
    size_t got_len;
    assert_int_equal(lsmkv_get(f.db, (const uint8_t *)"victim", 6, &got, &got_len, &found, NULL),
                     LSMKV_OK);
    assert_false(found);
    /* New records after the cut are found again: nothing hides them. */
    put_ok(f.db, "k", 10, 1);
    close_db(&f, LSMKV_OK);
    log_clear(&f);
    open_db(&f);
    assert_false(log_contains(&f, "torn tail"));
    expect_keys(f.db, "k", 0, 10, 0);
    expect_round(f.db, "k", 10, 1);
    close_db(&f, LSMKV_OK);

    free(big);
    file_set_short_write_hook(NULL, NULL);
    pthread_mutex_destroy(&f.log_mutex);
    test_remove_dir(dir);
}

static void
test_wal_short_write_is_cut_at_recovery(void **state)
{
    /* Cut before anything, inside the record header, right after it, in the
     * payload, one byte short; and a 300 KiB record written past the buffer. */
    static const long cuts[] = {0, 1, 7, 8, 9, 40, -1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        check_short_wal_write(cuts[i], 100);
    }
    check_short_wal_write(100000, 300000);
    check_short_wal_write(-1, 300000);
}

static void
test_wal_fsync_eio_under_sync_always(void **state)
{
    fixture *f = *state;
    f->options.sync = LSMKV_SYNC_ALWAYS;
    fault *wal_sync = &f->fault;
    fault_init(wal_sync, FILE_OP_SYNC, ".wal", EIO);
    file_set_fault_hook(fault_hook, wal_sync);
    open_db(f);
    for (int i = 0; i < 10; i++) {
        put_ok(f->db, "k", i, 0);
    }
    atomic_store(&wal_sync->armed, true);
    lsmkv_error err = {0};
    assert_int_equal(put_i(f->db, "k", 5, 1, &err), LSMKV_IO_ERROR);
    expect_message(&err, "fsync");
    expect_message(&err, ".wal");
    atomic_store(&wal_sync->armed, false);
    expect_read_only(f, strerror(EIO));
    /* The failed write was not applied to the memtable. */
    expect_keys(f->db, "k", 0, 10, 0);
    close_db(f, LSMKV_OK); /* the closing fsync succeeds: the fault has cleared */

    open_db(f);
    /* Every acknowledged write is there. The failed one had reached the OS
     * before its fsync failed, so its outcome is unknown (as in LevelDB): it
     * is either absent or whole, never anything else. */
    for (int i = 0; i < 10; i++) {
        int round = read_round(f->db, "k", i, 2);
        if (i == 5) {
            assert_true(round == 0 || round == 1);
        } else {
            assert_int_equal(round, 0);
        }
    }
    put_ok(f->db, "k", 10, 0);
    expect_round(f->db, "k", 10, 0);
}

static void
test_wal_segment_creation_enospc_does_not_stop_writes(void **state)
{
    fixture *f = *state;
    f->options.memtable_bytes = 64u << 10;
    fault *wal_open = &f->fault;
    fault_init(wal_open, FILE_OP_OPEN, ".wal", ENOSPC);
    file_set_fault_hook(fault_hook, wal_open);
    open_db(f);
    atomic_store(&wal_open->armed, true);
    /* Writes fill the memtable; the rotation to a new segment then fails,
     * and so does every write that needs it, while the disk is full. */
    lsmkv_error err = {0};
    int acked = 0, rc;
    while ((rc = put_i(f->db, "k", acked, 0, &err)) == LSMKV_OK) {
        acked++;
        assert_true(acked < 1000);
    }
    assert_int_equal(rc, LSMKV_NO_SPACE);
    expect_message(&err, ".wal");
    assert_true(acked >= 60); /* one memtable's worth went in */
    assert_int_equal(put_i(f->db, "k", acked, 0, &err), LSMKV_NO_SPACE);
    expect_keys(f->db, "k", 0, acked, 0);

    /* Nothing was lost or half-written: the store is not read-only, and
     * writes resume as soon as a segment can be created. */
    atomic_store(&wal_open->armed, false);
    put_ok(f->db, "k", acked, 0);
    assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    close_db(f, LSMKV_OK);
    open_db(f);
    expect_keys(f->db, "k", 0, acked + 1, 0);
}

/* ---- flush ------------------------------------------------------------------------ */

static void
test_flush_enospc_is_retried_until_the_fault_clears(void **state)
{
    fixture *f = *state;
    f->options.sync = LSMKV_SYNC_NONE;
    f->options.memtable_bytes = 64u << 10;
    f->options.max_immutables = 2;
    fault *sst_write = &f->fault;
    fault_init(sst_write, FILE_OP_WRITE, ".sst", ENOSPC);
    file_set_fault_hook(fault_hook, sst_write);
    open_db(f);
    for (int i = 0; i < 10; i++) {
        put_ok(f->db, "k", i, 0);
    }

    atomic_store(&sst_write->armed, true);
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_flush(f->db, NULL, &err), LSMKV_NO_SPACE);
    expect_message(&err, ".sst");
    lsmkv_stats s = stats_of(f->db);
    assert_int_equal(s.immutable_memtables, 1);
    assert_int_equal(s.sstables, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0); /* the partial table is gone */
    expect_keys(f->db, "k", 0, 10, 0);

    /* Writes go on until the queue is full, then fail with the flush's error. */
    int acked = 10, rc;
    while ((rc = put_i(f->db, "k", acked, 0, &err)) == LSMKV_OK) {
        acked++;
        assert_true(acked < 5000);
    }
    assert_int_equal(rc, LSMKV_NO_SPACE);
    expect_message(&err, ".sst");
    assert_true(acked > 10 + 64); /* a whole memtable more went in */
    assert_int_equal(stats_of(f->db).immutable_memtables, 2);
    assert_int_equal(put_i(f->db, "k", acked, 0, &err), LSMKV_NO_SPACE); /* at once, again */
    assert_int_equal(lsmkv_flush(f->db, NULL, &err), LSMKV_NO_SPACE);
    expect_keys(f->db, "k", 0, acked, 0); /* reads are served from the memtables */
    assert_int_equal(count_entries(f->db), acked);

    /* The fault clears: a manual flush retries at once and gets through. */
    atomic_store(&sst_write->armed, false);
    flush_after_fault(f->db);
    s = stats_of(f->db);
    assert_int_equal(s.immutable_memtables, 0);
    assert_int_equal(s.memtable_entries, 0);
    assert_true(s.sstables >= 3);
    assert_int_equal(test_count_files(f->dir, ".sst"), (int)s.sstables);
    assert_int_equal(test_count_files(f->dir, ".wal"), 1);
    put_ok(f->db, "k", acked, 0);
    expect_keys(f->db, "k", 0, acked + 1, 0);
    close_db(f, LSMKV_OK);
    open_db(f);
    expect_keys(f->db, "k", 0, acked + 1, 0);
    assert_true(atomic_load(&sst_write->injected) >= 2);
}

/* A failed manifest write during a flush installs nothing; the retry does. */
static void
check_manifest_fault_during_flush(fixture *f, file_op op, int error, int code)
{
    fault *manifest = &f->fault;
    fault_init(manifest, op, FILENAME_MANIFEST, error);
    file_set_fault_hook(fault_hook, manifest);
    open_db(f);
    for (int i = 0; i < 30; i++) {
        put_ok(f->db, "k", i, 0);
    }
    assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    char manifest_path[FILENAME_PATH_MAX];
    filename_join(manifest_path, f->dir, FILENAME_MANIFEST);
    size_t before_len;
    uint8_t *before = slurp(manifest_path, &before_len);
    for (int i = 20; i < 50; i++) {
        put_ok(f->db, "k", i, 1);
    }

    atomic_store(&manifest->armed, true);
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_flush(f->db, NULL, &err), code);
    expect_message(&err, FILENAME_MANIFEST);
    assert_int_equal(lsmkv_flush(f->db, NULL, &err), code); /* retried, failing again */
    /* The old manifest and table set stand; reads see every write. */
    expect_file_unchanged(manifest_path, before, before_len);
    assert_int_equal(test_file_size(test_path(f->dir, FILENAME_MANIFEST_TEMP)), -1);
    assert_int_equal(stats_of(f->db).sstables, 1);
    expect_keys(f->db, "k", 0, 20, 0);
    expect_keys(f->db, "k", 20, 50, 1);
    assert_true(test_count_files(f->dir, ".sst") > 1); /* tables written, not installed */

    atomic_store(&manifest->armed, false);
    flush_after_fault(f->db);
    /* The installed manifest names the retry's table; the attempts' files are gone. */
    assert_int_equal(stats_of(f->db).sstables, 2);
    assert_int_equal(test_count_files(f->dir, ".sst"), 2);
    expect_keys(f->db, "k", 0, 20, 0);
    expect_keys(f->db, "k", 20, 50, 1);
    close_db(f, LSMKV_OK);
    open_db(f);
    assert_int_equal(test_count_files(f->dir, ".sst"), 2);
    expect_keys(f->db, "k", 0, 20, 0);
    expect_keys(f->db, "k", 20, 50, 1);
    close_db(f, LSMKV_OK);
    file_set_fault_hook(NULL, NULL);
    free(before);
}

static void
test_manifest_enospc_during_flush(void **state)
{
    check_manifest_fault_during_flush(*state, FILE_OP_WRITE, ENOSPC, LSMKV_NO_SPACE);
}

static void
test_manifest_fsync_eio_during_flush(void **state)
{
    check_manifest_fault_during_flush(*state, FILE_OP_SYNC, EIO, LSMKV_IO_ERROR);
}

static void
test_manifest_rename_eio_during_flush(void **state)
{
    check_manifest_fault_during_flush(*state, FILE_OP_RENAME, EIO, LSMKV_IO_ERROR);
}

/* ---- compaction ------------------------------------------------------------------- */

static void
make_three_tables(fixture *f)
{
    for (int round = 0; round < 3; round++) {
        for (int i = round * 10; i < 40; i++) {
            put_ok(f->db, "k", i, round);
        }
        assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    }
}

static void
expect_three_tables_data(lsmkv *db)
{
    expect_keys(db, "k", 0, 10, 0);
    expect_keys(db, "k", 10, 20, 1);
    expect_keys(db, "k", 20, 40, 2);
}

static void
test_manifest_enospc_during_compaction(void **state)
{
    fixture *f = *state;
    fault *manifest = &f->fault;
    fault_init(manifest, FILE_OP_WRITE, FILENAME_MANIFEST_TEMP, ENOSPC);
    file_set_fault_hook(fault_hook, manifest);
    open_db(f);
    make_three_tables(f);
    char manifest_path[FILENAME_PATH_MAX];
    filename_join(manifest_path, f->dir, FILENAME_MANIFEST);
    size_t before_len;
    uint8_t *before = slurp(manifest_path, &before_len);

    atomic_store(&manifest->armed, true);
    lsmkv_error err = {0};
    lsmkv_compaction_result result = {0};
    assert_int_equal(lsmkv_compact(f->db, &result, &err), LSMKV_NO_SPACE);
    expect_message(&err, FILENAME_MANIFEST_TEMP);
    assert_int_equal(result.outputs.count, 0);
    expect_file_unchanged(manifest_path, before, before_len);
    assert_int_equal(stats_of(f->db).sstables, 3);
    assert_int_equal(test_count_files(f->dir, ".sst"), 4); /* + the uninstalled output */
    expect_three_tables_data(f->db);

    /* A reopen with the fault gone deletes the orphan output. */
    atomic_store(&manifest->armed, false);
    close_db(f, LSMKV_OK);
    open_db(f);
    assert_int_equal(stats_of(f->db).sstables, 3);
    assert_int_equal(test_count_files(f->dir, ".sst"), 3);
    expect_three_tables_data(f->db);

    /* Failing again, then succeeding without a restart: the next install
     * deletes the failed attempt's output. */
    atomic_store(&manifest->armed, true);
    assert_int_equal(lsmkv_compact(f->db, NULL, &err), LSMKV_NO_SPACE);
    assert_int_equal(test_count_files(f->dir, ".sst"), 4);
    atomic_store(&manifest->armed, false);
    assert_int_equal(lsmkv_compact(f->db, &result, &err), LSMKV_OK);
    assert_int_equal(result.input_tables, 3);
    lsmkv_compaction_result_fini(&result);
    assert_int_equal(stats_of(f->db).sstables, 1);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    expect_three_tables_data(f->db);
    close_db(f, LSMKV_OK);
    open_db(f);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    expect_three_tables_data(f->db);
    free(before);
}

/* ---- reads ------------------------------------------------------------------------ */

static void
test_table_read_eio_fails_only_reads_of_that_table(void **state)
{
    fixture *f = *state;
    f->options.mmap_reads = false; /* pread: an I/O error is a status, not SIGBUS */
    f->options.block_cache_bytes = 0;
    fault *table_read = &f->fault;
    fault_init(table_read, FILE_OP_READ, "(set below)", EIO);
    file_set_fault_hook(fault_hook, table_read);
    open_db(f);
    lsmkv_table_list written = {0};
    for (int i = 0; i < 50; i++) {
        put_ok(f->db, "a", i, 0);
    }
    assert_int_equal(lsmkv_flush(f->db, &written, NULL), LSMKV_OK);
    assert_int_equal(written.count, 1);
    char first_table[32];
    snprintf(first_table, sizeof(first_table), "%06llu.sst",
             (unsigned long long)written.tables[0].id);
    snprintf(table_read->needle, sizeof(table_read->needle), "%s", first_table);
    lsmkv_table_list_fini(&written);
    for (int i = 0; i < 50; i++) {
        put_ok(f->db, "b", i, 0);
    }
    assert_int_equal(lsmkv_flush(f->db, NULL, NULL), LSMKV_OK);
    put_ok(f->db, "c", 0, 0);

    atomic_store(&table_read->armed, true);
    char key[32];
    key_of(key, sizeof(key), "a", 7);
    uint8_t *value = NULL;
    size_t len;
    bool found;
    lsmkv_error err = {0};
    assert_int_equal(
        lsmkv_get(f->db, (const uint8_t *)key, strlen(key), &value, &len, &found, &err),
        LSMKV_IO_ERROR);
    expect_message(&err, first_table);
    expect_keys(f->db, "b", 0, 50, 0); /* the other table */
    expect_round(f->db, "c", 0, 0);    /* the memtable */
    assert_int_equal(read_round(f->db, "z", 0, 1), -1);
    lsmkv_iterator *it;
    assert_int_equal(lsmkv_iterator_new(f->db, &it, NULL), LSMKV_OK);
    for (lsmkv_iterator_seek_to_first(it); lsmkv_iterator_valid(it); lsmkv_iterator_next(it)) {
    }
    assert_int_equal(lsmkv_iterator_status(it, &err), LSMKV_IO_ERROR);
    lsmkv_iterator_free(it);
    assert_int_equal(lsmkv_compact(f->db, NULL, &err), LSMKV_IO_ERROR);
    assert_int_equal(stats_of(f->db).sstables, 2);

    /* A passing error: once the disk answers again, so does the store. */
    atomic_store(&table_read->armed, false);
    expect_keys(f->db, "a", 0, 50, 0);
    assert_int_equal(count_entries(f->db), 101);
    assert_int_equal(lsmkv_compact(f->db, NULL, &err), LSMKV_OK);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
    expect_keys(f->db, "a", 0, 50, 0);
    assert_true(atomic_load(&table_read->injected) >= 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wal_append_enospc_turns_store_read_only, setup,
                                        teardown),
        cmocka_unit_test(test_wal_short_write_is_cut_at_recovery),
        cmocka_unit_test_setup_teardown(test_wal_fsync_eio_under_sync_always, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_segment_creation_enospc_does_not_stop_writes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_enospc_is_retried_until_the_fault_clears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_manifest_enospc_during_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_fsync_eio_during_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_rename_eio_during_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_enospc_during_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_read_eio_fails_only_reads_of_that_table, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
