/*
 * Recovery across process death, through the public API: writes made by a
 * process that exits without lsmkv_close or is killed with SIGKILL, torn and
 * corrupt WAL segments, a damaged SSTable block, orphan files and a damaged
 * MANIFEST.
 *
 * Processes that die are fork()ed children. A child never calls cmocka (its
 * asserts would jump into the parent's copied test state); it reports trouble
 * through its exit code, and the parent checks that. The crash test's child
 * tells the parent about each write through a pipe (one fixed-size record per
 * event, written in one write(), so records never interleave), and the parent
 * kills it after reading a random number of acknowledgements: no timing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coding.h"
#include "filename.h"
#include "lsmkv/lsmkv.h"
#include "manifest.h"
#include "test_support.h"
#include "wal.h"
#include "write_batch.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- keys and self-describing values ----------------------------------------- */

#define KEY_BYTES    6
#define VALUE_HEADER 16
#define ABSENT       0 /* value ids start at 1 */

/* Binary keys with NUL bytes at both ends; they sort in index order. */
static void
make_key(uint32_t index, uint8_t out[KEY_BYTES])
{
    out[0] = 0;
    out[1] = (uint8_t)(index >> 24);
    out[2] = (uint8_t)(index >> 16);
    out[3] = (uint8_t)(index >> 8);
    out[4] = (uint8_t)index;
    out[5] = 0;
}

static uint8_t
filler_byte(uint32_t key, uint64_t id, size_t j)
{
    return (uint8_t)(id * 0x9e37u ^ key * 31u ^ j * 7u ^ (j >> 8));
}

/* Mostly small values, now and then one larger than a 64 KiB memtable. */
static size_t
value_len_for(uint64_t id)
{
    uint64_t h = (id * UINT64_C(0x9e3779b97f4a7c15)) >> 40;
    if (h % 53 == 0) {
        return VALUE_HEADER + 70000;
    }
    return VALUE_HEADER + (size_t)(h % 700);
}

/* The value of write `id` to `key`: key, id, length, then filler derived from them. */
static uint8_t *
make_value(uint32_t key, uint64_t id, size_t len)
{
    uint8_t *v = malloc(len);
    if (v == NULL) {
        abort();
    }
    encode_fixed32(v, key);
    encode_fixed64(v + 4, id);
    encode_fixed32(v + 12, (uint32_t)len);
    for (size_t j = VALUE_HEADER; j < len; j++) {
        v[j] = filler_byte(key, id, j);
    }
    return v;
}

/* True if v is exactly what make_value wrote for some id of this key. */
static bool
parse_value(const uint8_t *v, size_t len, uint32_t key, uint64_t *id)
{
    if (len < VALUE_HEADER || decode_fixed32(v) != key || decode_fixed32(v + 12) != len) {
        return false;
    }
    uint64_t got = decode_fixed64(v + 4);
    for (size_t j = VALUE_HEADER; j < len; j++) {
        if (v[j] != filler_byte(key, got, j)) {
            return false;
        }
    }
    *id = got;
    return got != ABSENT;
}

static int
put_id(lsmkv *db, uint32_t key, uint64_t id, size_t len, lsmkv_error *err)
{
    uint8_t k[KEY_BYTES];
    make_key(key, k);
    uint8_t *v = make_value(key, id, len);
    int rc = lsmkv_put(db, NULL, k, sizeof(k), v, len, err);
    free(v);
    return rc;
}

static int
delete_key(lsmkv *db, uint32_t key, lsmkv_error *err)
{
    uint8_t k[KEY_BYTES];
    make_key(key, k);
    return lsmkv_delete(db, NULL, k, sizeof(k), err);
}

/* The id stored under key (ABSENT if none); fails the test on errors. */
static uint64_t
read_id(lsmkv *db, uint32_t key, const char *context)
{
    uint8_t k[KEY_BYTES];
    make_key(key, k);
    uint8_t *v = NULL;
    size_t len = 0;
    bool found = false;
    lsmkv_error err = {0};
    int rc = lsmkv_get(db, k, sizeof(k), &v, &len, &found, &err);
    if (rc != LSMKV_OK) {
        fail_msg("%s: get of key %u failed: %s", context, key, err.message);
    }
    uint64_t id = ABSENT;
    if (found && !parse_value(v, len, key, &id)) {
        lsmkv_free(v);
        fail_msg("%s: key %u holds a value of %zu bytes that was never written", context, key, len);
    }
    lsmkv_free(v);
    return id;
}

/* ---- store and process helpers ------------------------------------------------ */

typedef struct log_capture {
    int warnings;
    char last_warning[1024];
} log_capture;

static void
capture_log(void *ctx, lsmkv_log_level level, const char *line)
{
    log_capture *c = ctx;
    if (level <= LSMKV_LOG_WARN) {
        c->warnings++;
        snprintf(c->last_warning, sizeof(c->last_warning), "%s", line);
    }
}

static void
init_options(lsmkv_options *o, lsmkv_sync_mode sync, size_t memtable_bytes, log_capture *log)
{
    lsmkv_options_init(o);
    o->sync = sync;
    o->memtable_bytes = memtable_bytes;
    if (log != NULL) {
        o->log_fn = capture_log;
        o->log_ctx = log;
    }
}

static lsmkv *
open_store(const char *dir, const lsmkv_options *o)
{
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    int rc = lsmkv_open(dir, o, &db, &err);
    if (rc != LSMKV_OK) {
        fail_msg("open %s: %s: %s", dir, lsmkv_status_name(rc), err.message);
    }
    return db;
}

static pid_t
fork_child(void)
{
    fflush(NULL); /* or the child's copy of buffered output is printed twice */
    pid_t pid = fork();
    assert_true(pid >= 0);
    return pid;
}

static void
expect_clean_exit(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("child failed: status %#x", status);
    }
}

/* Path of the file with the highest number and this kind in dir. */
static void
newest_file(const char *dir, file_kind kind, char *path)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    uint64_t best = 0;
    bool any = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t number;
        if (filename_parse(e->d_name, &number) == kind && (!any || number > best)) {
            best = number;
            any = true;
        }
    }
    closedir(d);
    assert_true(any);
    (kind == FILE_KIND_WAL ? filename_wal : filename_table)(path, dir, best);
}

/* Every name and size in dir, sorted, as one string (to see that nothing changed). */
static char *
dir_listing(const char *dir)
{
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, alphasort);
    assert_true(n >= 0);
    size_t cap = 64 + (size_t)n * 300, len = 0;
    char *out = calloc(1, cap);
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, cap - len, "%s:%lld\n", entries[i]->d_name,
                                test_file_size(test_path(dir, entries[i]->d_name)));
        free(entries[i]);
    }
    free(entries);
    return out;
}

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void
copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    static uint8_t data[1 << 20];
    size_t len = fread(data, 1, sizeof(data), f);
    assert_true(feof(f));
    fclose(f);
    write_file(to, data, len);
}

/* ---- writes without close ------------------------------------------------------ */

#define UNCLOSED_OPS  300
#define UNCLOSED_KEYS 64

/* Op i of the unclosed-writes child: mostly puts (id i + 1), every fifth a delete. */
static void
unclosed_op(uint32_t i, bool *is_put, uint32_t *key)
{
    *key = (i * 7) % UNCLOSED_KEYS;
    *is_put = i % 5 != 4;
}

/* Child: writes, then exits without lsmkv_close (flushes may be in progress). */
static void
unclosed_child(const char *dir, lsmkv_sync_mode sync)
{
    lsmkv_options o;
    init_options(&o, sync, 64u << 10, NULL);
    lsmkv *db;
    if (lsmkv_open(dir, &o, &db, NULL) != LSMKV_OK) {
        _exit(2);
    }
    for (uint32_t i = 0; i < UNCLOSED_OPS; i++) {
        bool is_put;
        uint32_t key;
        unclosed_op(i, &is_put, &key);
        int rc =
            is_put ? put_id(db, key, i + 1, value_len_for(i + 1), NULL) : delete_key(db, key, NULL);
        if (rc != LSMKV_OK) {
            _exit(3);
        }
    }
    _exit(0);
}

static void
check_writes_survive_exit(lsmkv_sync_mode sync)
{
    char *dir = test_make_temp_dir("recovery-exit");
    pid_t pid = fork_child();
    if (pid == 0) {
        unclosed_child(dir, sync);
    }
    expect_clean_exit(pid);

    uint64_t model[UNCLOSED_KEYS] = {0};
    for (uint32_t i = 0; i < UNCLOSED_OPS; i++) {
        bool is_put;
        uint32_t key;
        unclosed_op(i, &is_put, &key);
        model[key] = is_put ? i + 1 : ABSENT;
    }
    for (int reopen = 0; reopen < 2; reopen++) {
        lsmkv *db = open_store(dir, NULL);
        for (uint32_t key = 0; key < UNCLOSED_KEYS; key++) {
            assert_int_equal(read_id(db, key, "after exit"), model[key]);
        }
        lsmkv_stats stats;
        lsmkv_get_stats(db, &stats);
        assert_int_equal(stats.last_sequence, UNCLOSED_OPS);
        assert_int_equal(lsmkv_close(db), LSMKV_OK);
    }
    test_remove_dir(dir);
}

static void
test_writes_without_close_survive_exit_sync_always(void **state)
{
    check_writes_survive_exit(LSMKV_SYNC_ALWAYS);
}

static void
test_writes_without_close_survive_exit_sync_none(void **state)
{
    check_writes_survive_exit(LSMKV_SYNC_NONE);
}

/* ---- SIGKILL at a random point ------------------------------------------------- */

#define CRASH_WRITERS         2
#define CRASH_KEYS_PER_WRITER 48
#define CRASH_KEYS            (CRASH_WRITERS * CRASH_KEYS_PER_WRITER)
#define CRASH_ROUNDS          20
#define CRASH_ROUNDS_PER_DIR  5
#define CRASH_MAX_ACKS        2000
#define CRASH_CHILD_MAX_OPS   1000000

enum { REC_BEGIN = 1, REC_ACK = 2 };
enum { OP_PUT = 1, OP_DELETE = 2 };

/* One event of the crash child, sent in one write() (atomic: < PIPE_BUF). */
typedef struct crash_record {
    uint8_t kind; /* REC_BEGIN before the op, REC_ACK once it returned OK */
    uint8_t op;
    uint8_t writer;
    uint8_t pad;
    uint32_t key;
    uint64_t id;
} crash_record;

typedef struct crash_writer {
    lsmkv *db;
    int fd;
    uint64_t seed;
    uint32_t round;
    uint8_t writer;
} crash_writer;

static void
send_record(int fd, crash_record r)
{
    if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        _exit(20);
    }
}

/*
 * A child writer thread: its own keys, each put with a value id never used
 * before; writer 0 also flushes and compacts now and then.
 */
static void *
crash_writer_main(void *arg)
{
    crash_writer *cw = arg;
    test_rng rng;
    test_rng_init(&rng, cw->seed ^ ((uint64_t)cw->round * 977 + cw->writer + 1) *
                                       UINT64_C(0x9e3779b97f4a7c15));
    for (uint32_t n = 1; n <= CRASH_CHILD_MAX_OPS; n++) {
        crash_record r = {
            .kind = REC_BEGIN,
            .op = test_rng_below(&rng, 10) < 7 ? OP_PUT : OP_DELETE,
            .writer = cw->writer,
            .key = cw->writer * CRASH_KEYS_PER_WRITER +
                   (uint32_t)test_rng_below(&rng, CRASH_KEYS_PER_WRITER),
            .id = (uint64_t)cw->round << 40 | (uint64_t)cw->writer << 32 | n,
        };
        send_record(cw->fd, r);
        int rc = r.op == OP_PUT ? put_id(cw->db, r.key, r.id, value_len_for(r.id), NULL)
                                : delete_key(cw->db, r.key, NULL);
        if (rc != LSMKV_OK) {
            _exit(21);
        }
        r.kind = REC_ACK;
        send_record(cw->fd, r);
        if (cw->writer == 0 && n % 40 == 0 && lsmkv_flush(cw->db, NULL, NULL) != LSMKV_OK) {
            _exit(22);
        }
        if (cw->writer == 0 && n % 130 == 0 && lsmkv_compact(cw->db, NULL, NULL) != LSMKV_OK) {
            _exit(23);
        }
    }
    return NULL;
}

static void
crash_child(const char *dir, int fd, uint64_t seed, uint32_t round)
{
    lsmkv_options o;
    init_options(&o, LSMKV_SYNC_ALWAYS, 64u << 10, NULL);
    o.level1_target_bytes = 128u << 10; /* background compactions reach deeper levels */
    lsmkv *db;
    if (lsmkv_open(dir, &o, &db, NULL) != LSMKV_OK) {
        _exit(24);
    }
    pthread_t threads[CRASH_WRITERS];
    crash_writer writers[CRASH_WRITERS];
    for (uint8_t w = 0; w < CRASH_WRITERS; w++) {
        writers[w] = (crash_writer){.db = db, .fd = fd, .seed = seed, .round = round, .writer = w};
        if (pthread_create(&threads[w], NULL, crash_writer_main, &writers[w]) != 0) {
            _exit(25);
        }
    }
    for (int w = 0; w < CRASH_WRITERS; w++) {
        pthread_join(threads[w], NULL);
    }
    _exit(0);
}

/* false at end of file; a record cut short fails the test. */
static bool
read_record(int fd, crash_record *r)
{
    size_t got = 0;
    while (got < sizeof(*r)) {
        ssize_t n = read(fd, (uint8_t *)r + got, sizeof(*r) - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        assert_true(n >= 0);
        if (n == 0) {
            assert_int_equal(got, 0);
            return false;
        }
        got += (size_t)n;
    }
    return true;
}

typedef struct crash_state {
    uint64_t model[CRASH_KEYS];            /* id of the last acknowledged put, or ABSENT */
    crash_record in_flight[CRASH_WRITERS]; /* begun, not acknowledged (kind 0: none) */
} crash_state;

static void
apply_record(crash_state *s, const crash_record *r)
{
    assert_true(r->writer < CRASH_WRITERS && r->key < CRASH_KEYS);
    if (r->kind == REC_BEGIN) {
        s->in_flight[r->writer] = *r;
        return;
    }
    assert_int_equal(r->kind, REC_ACK);
    s->model[r->key] = r->op == OP_PUT ? r->id : ABSENT;
    s->in_flight[r->writer].kind = 0;
}

/*
 * Reopens after the kill: every key shows its last acknowledged write, or the
 * one write of its writer that was in flight. What is seen becomes the model.
 */
static void
verify_after_crash(const char *dir, uint32_t round, crash_state *s)
{
    log_capture log = {0};
    lsmkv_options o;
    init_options(&o, LSMKV_SYNC_ALWAYS, 64u << 10, &log);
    /* The crashed child compacted in the background; checking the files on
     * disk against the manifest needs no compaction running now. */
    o.disable_auto_compaction = true;
    lsmkv *db = open_store(dir, &o);
    char context[64];
    snprintf(context, sizeof(context), "round %u", round);
    for (uint32_t key = 0; key < CRASH_KEYS; key++) {
        uint64_t seen = read_id(db, key, context);
        const crash_record *f = &s->in_flight[key / CRASH_KEYS_PER_WRITER];
        bool in_flight =
            f->kind == REC_BEGIN && f->key == key && seen == (f->op == OP_PUT ? f->id : ABSENT);
        if (seen != s->model[key] && !in_flight) {
            fail_msg("round %u key %u: found id %#" PRIx64 ", last acknowledged %#" PRIx64
                     " (in flight: op %u key %u id %#" PRIx64 ")",
                     round, key, seen, s->model[key], f->op, f->key, f->id);
        }
        s->model[key] = seen;
    }
    /* Orphans of an interrupted flush or compaction are gone; one fresh segment. */
    lsmkv_stats stats;
    lsmkv_get_stats(db, &stats);
    assert_int_equal(test_count_files(dir, ".sst"), stats.sstables);
    assert_int_equal(test_count_files(dir, ".tmp"), 0);
    assert_int_equal(test_count_files(dir, ".wal"), 1);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
}

static void
crash_round(const char *dir, uint64_t seed, uint32_t round, uint32_t kill_after, crash_state *s)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork_child();
    if (pid == 0) {
        close(fds[0]);
        crash_child(dir, fds[1], seed, round);
    }
    close(fds[1]);
    memset(s->in_flight, 0, sizeof(s->in_flight));
    uint32_t acks = 0;
    crash_record r;
    while (read_record(fds[0], &r)) { /* until every write end is closed */
        apply_record(s, &r);
        if (r.kind == REC_ACK && ++acks == kill_after) {
            assert_int_equal(kill(pid, SIGKILL), 0);
        }
    }
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fail_msg("round %u: the child ended by itself after %u of %u acks (status %#x)", round,
                 acks, kill_after, status);
    }
    verify_after_crash(dir, round, s);
}

static void
test_sigkill_keeps_acknowledged_writes(void **state)
{
    uint64_t seed = test_seed();
    test_rng rng;
    test_rng_init(&rng, seed);
    crash_state *s = calloc(1, sizeof(*s));
    char *dir = NULL;
    for (uint32_t round = 0; round < CRASH_ROUNDS; round++) {
        if (round % CRASH_ROUNDS_PER_DIR == 0) { /* a fresh store; else the same one again */
            test_remove_dir(dir);
            dir = test_make_temp_dir("recovery-crash");
            memset(s->model, 0, sizeof(s->model));
        }
        uint32_t kill_after = 1 + (uint32_t)test_rng_below(&rng, CRASH_MAX_ACKS);
        crash_round(dir, seed, round, kill_after, s);
    }
    test_remove_dir(dir);
    free(s);
}

/* ---- torn tail of the newest segment -------------------------------------------- */

#define TORN_PUTS 50

static void
test_torn_wal_tail_is_cut_and_logged(void **state)
{
    char *dir = test_make_temp_dir("recovery-torn");
    pid_t pid = fork_child();
    if (pid == 0) {
        lsmkv_options o;
        init_options(&o, LSMKV_SYNC_NONE, 4u << 20, NULL);
        lsmkv *db;
        if (lsmkv_open(dir, &o, &db, NULL) != LSMKV_OK) {
            _exit(2);
        }
        for (uint32_t i = 0; i < TORN_PUTS; i++) {
            if (put_id(db, i, i + 1, VALUE_HEADER + 40, NULL) != LSMKV_OK) {
                _exit(3);
            }
        }
        _exit(0);
    }
    expect_clean_exit(pid);

    char wal[FILENAME_PATH_MAX];
    newest_file(dir, FILE_KIND_WAL, wal);
    /* The child died with the segment open: its records, then reserved zeros. */
    wal_reader *r;
    assert_int_equal(wal_reader_open(wal, &r, NULL), LSMKV_OK);
    slice payload;
    while (wal_reader_next(r, &payload, NULL) == WAL_READ_RECORD) {
    }
    long long size = (long long)wal_reader_offset(r);
    wal_reader_close(r);
    assert_true(size > WAL_HEADER_BYTES + 3);
    assert_int_equal(truncate(wal, size - 3), 0); /* the last record loses 3 bytes */

    log_capture log = {0};
    lsmkv_options o;
    init_options(&o, LSMKV_SYNC_ALWAYS, 4u << 20, &log);
    lsmkv *db = open_store(dir, &o);
    assert_true(log.warnings >= 1);
    assert_non_null(strstr(log.last_warning, "dropped"));
    assert_non_null(strstr(log.last_warning, strrchr(wal, '/') + 1));
    for (uint32_t i = 0; i < TORN_PUTS - 1; i++) {
        assert_int_equal(read_id(db, i, "torn"), i + 1);
    }
    assert_int_equal(read_id(db, TORN_PUTS - 1, "torn"), ABSENT);
    /* The store goes on: a new write lands and survives another reopen, quietly. */
    assert_int_equal(put_id(db, TORN_PUTS - 1, 1000, VALUE_HEADER, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    log.warnings = 0;
    db = open_store(dir, &o);
    assert_int_equal(log.warnings, 0);
    assert_int_equal(read_id(db, 0, "torn reopen"), 1);
    assert_int_equal(read_id(db, TORN_PUTS - 1, "torn reopen"), 1000);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

/* ---- hand-built WAL segments ---------------------------------------------------- */

#define SEGMENT_BATCHES 10 /* each a batch of two puts */

/*
 * Writes WAL segment `number` of dir: batch i puts keys first_key + 2i and
 * + 2i + 1 with ids id_base + 2i (+ 1), sequences from first_sequence.
 * offsets (may be NULL) receives where each record starts.
 */
static void
write_segment(const char *dir, uint64_t number, uint64_t first_sequence, uint32_t first_key,
              uint64_t id_base, uint64_t *offsets)
{
    char path[FILENAME_PATH_MAX];
    filename_wal(path, dir, number);
    wal_writer *w;
    assert_int_equal(wal_writer_open(path, &w, NULL), LSMKV_OK);
    buffer framed;
    buffer_init(&framed);
    write_batch b;
    write_batch_init(&b);
    for (uint32_t i = 0; i < SEGMENT_BATCHES; i++) {
        write_batch_clear(&b);
        for (uint32_t j = 0; j < 2; j++) {
            uint32_t key = first_key + 2 * i + j;
            uint8_t k[KEY_BYTES];
            make_key(key, k);
            uint8_t *v = make_value(key, id_base + 2 * i + j, VALUE_HEADER + 10);
            write_batch_put(&b, slice_make(k, sizeof(k)), slice_make(v, VALUE_HEADER + 10));
            free(v);
        }
        write_batch_set_sequence(&b, first_sequence + 2 * i);
        buffer_clear(&framed);
        wal_frame_record(&framed, write_batch_contents(&b));
        if (offsets != NULL) {
            offsets[i] = wal_writer_size(w);
        }
        assert_int_equal(wal_writer_append(w, buffer_slice(&framed), NULL), LSMKV_OK);
    }
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);
    write_batch_fini(&b);
    buffer_fini(&framed);
}

/* An empty store, closed, plus segments 100 (keys 0..19) and 101 (keys 10..29). */
static char *
make_store_with_segments(uint64_t *offsets_100)
{
    char *dir = test_make_temp_dir("recovery-segments");
    assert_int_equal(lsmkv_close(open_store(dir, NULL)), LSMKV_OK);
    write_segment(dir, 100, 1, 0, 1000, offsets_100);
    write_segment(dir, 101, 1 + 2 * SEGMENT_BATCHES, 10, 2000, NULL);
    return dir;
}

static void
test_hand_built_segments_replay_in_order(void **state)
{
    char *dir = make_store_with_segments(NULL);
    lsmkv *db = open_store(dir, NULL);
    for (uint32_t key = 0; key < 10; key++) {
        assert_int_equal(read_id(db, key, "segments"), 1000 + key);
    }
    for (uint32_t key = 10; key < 30; key++) { /* the newer segment wins */
        assert_int_equal(read_id(db, key, "segments"), 2000 + key - 10);
    }
    assert_int_equal(read_id(db, 30, "segments"), ABSENT);
    lsmkv_stats stats;
    lsmkv_get_stats(db, &stats);
    assert_int_equal(stats.last_sequence, 4 * SEGMENT_BATCHES);
    assert_int_equal(test_count_files(dir, ".wal"), 1); /* replayed segments are gone */
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

static void
test_corrupt_record_in_older_segment_fails_open(void **state)
{
    uint64_t offsets[SEGMENT_BATCHES];
    char *dir = make_store_with_segments(offsets);
    char older[FILENAME_PATH_MAX], newer[FILENAME_PATH_MAX];
    filename_wal(older, dir, 100);
    filename_wal(newer, dir, 101);
    test_flip_bit(older, (long long)offsets[3] + WAL_RECORD_HEADER + 14, 2);

    for (int attempt = 0; attempt < 2; attempt++) { /* and the same again: nothing changed */
        log_capture log = {0};
        lsmkv_options o;
        init_options(&o, LSMKV_SYNC_ALWAYS, 4u << 20, &log);
        lsmkv *db = NULL;
        lsmkv_error err = {0};
        assert_int_equal(lsmkv_open(dir, &o, &db, &err), LSMKV_CORRUPTION);
        assert_null(db);
        assert_int_equal(err.code, LSMKV_CORRUPTION);
        assert_non_null(strstr(err.message, "000100.wal"));
        assert_non_null(strstr(log.last_warning, "000100.wal")); /* the failure is logged */
        assert_true(test_file_size(older) > 0);
        assert_true(test_file_size(newer) > 0);
    }
    test_remove_dir(dir);
}

/* ---- a damaged SSTable block ----------------------------------------------------- */

#define TABLE_KEYS 200

static void
test_corrupt_table_block_fails_only_its_reads(void **state)
{
    char *dir = test_make_temp_dir("recovery-block");
    lsmkv_options o;
    init_options(&o, LSMKV_SYNC_NONE, 4u << 20, NULL);
    o.block_bytes = 256;
    lsmkv *db = open_store(dir, &o);
    for (uint32_t key = 0; key < TABLE_KEYS; key++) {
        assert_int_equal(put_id(db, key, key + 1, VALUE_HEADER + 50, NULL), LSMKV_OK);
    }
    assert_int_equal(lsmkv_flush(db, NULL, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    char sst[FILENAME_PATH_MAX];
    newest_file(dir, FILE_KIND_TABLE, sst);
    test_flip_bit(sst, 40, 5); /* inside the first data block, which starts the file */

    db = open_store(dir, &o);
    int corrupt = 0;
    for (uint32_t key = 0; key < TABLE_KEYS; key++) {
        uint8_t k[KEY_BYTES];
        make_key(key, k);
        uint8_t *v = NULL;
        size_t len;
        bool found = false;
        lsmkv_error err = {0};
        int rc = lsmkv_get(db, k, sizeof(k), &v, &len, &found, &err);
        if (rc == LSMKV_CORRUPTION) {
            assert_non_null(strstr(err.message, strrchr(sst, '/') + 1));
            assert_null(v);
            corrupt++;
            continue;
        }
        assert_int_equal(rc, LSMKV_OK);
        uint64_t id = 0;
        assert_true(found && parse_value(v, len, key, &id));
        assert_int_equal(id, key + 1);
        lsmkv_free(v);
    }
    /* Key 0 is in the damaged block; a 256-byte block holds only a few keys. */
    assert_true(corrupt >= 1 && corrupt <= 8);
    lsmkv_stats stats;
    lsmkv_get_stats(db, &stats);
    assert_int_equal(stats.corruptions, corrupt);

    /* A compaction cannot read the block either: it fails and changes nothing. */
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_compact(db, NULL, &err), LSMKV_CORRUPTION);
    assert_int_equal(test_count_files(dir, ".sst"), 1);
    assert_int_equal(read_id(db, TABLE_KEYS - 1, "after compaction"), TABLE_KEYS);
    /* Writes go on, and a newer version of a damaged key hides the damage. */
    assert_int_equal(put_id(db, 0, 5000, VALUE_HEADER, NULL), LSMKV_OK);
    assert_int_equal(read_id(db, 0, "after rewrite"), 5000);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

/* ---- orphans of interrupted operations ------------------------------------------- */

/* A store with two tables (keys 0..99, then 50..149 overwritten) and an empty WAL. */
static char *
make_store_with_tables(void)
{
    char *dir = test_make_temp_dir("recovery-store");
    lsmkv_options o;
    init_options(&o, LSMKV_SYNC_NONE, 4u << 20, NULL);
    lsmkv *db = open_store(dir, &o);
    for (uint32_t key = 0; key < 100; key++) {
        assert_int_equal(put_id(db, key, key + 1, VALUE_HEADER + 30, NULL), LSMKV_OK);
    }
    assert_int_equal(lsmkv_flush(db, NULL, NULL), LSMKV_OK);
    for (uint32_t key = 50; key < 150; key++) {
        assert_int_equal(put_id(db, key, key + 1000, VALUE_HEADER + 30, NULL), LSMKV_OK);
    }
    assert_int_equal(lsmkv_flush(db, NULL, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    return dir;
}

static void
expect_store_with_tables(lsmkv *db)
{
    for (uint32_t key = 0; key < 150; key++) {
        assert_int_equal(read_id(db, key, "tables"), key < 50 ? key + 1 : key + 1000);
    }
    assert_int_equal(read_id(db, 150, "tables"), ABSENT);
}

static void
test_orphan_files_are_deleted_at_open(void **state)
{
    char *dir = make_store_with_tables();
    manifest_state m;
    manifest_state_init(&m);
    assert_int_equal(manifest_read(dir, &m, NULL), LSMKV_OK);
    assert_int_equal(m.table_count, 2);

    /* An unfinished compaction's outputs: a copy of a live table and a torn file. */
    char live[FILENAME_PATH_MAX], orphan_copy[FILENAME_PATH_MAX], orphan_torn[FILENAME_PATH_MAX];
    filename_table(live, dir, m.tables[0].id);
    filename_table(orphan_copy, dir, m.next_file_number + 3);
    filename_table(orphan_torn, dir, m.next_file_number + 4);
    copy_file(live, orphan_copy);
    write_file(orphan_torn, "half a table", 12);
    /* A manifest replacement that never got renamed. */
    write_file(test_path(dir, FILENAME_MANIFEST_TEMP), "garbage", 7);
    /* A segment a flush covered but did not get to delete: replaying it would be wrong. */
    assert_true(m.log_number > 1 && m.tables[0].id != 1 && m.tables[1].id != 1);
    char covered[FILENAME_PATH_MAX];
    filename_wal(covered, dir, 1);
    assert_int_equal(test_file_size(covered), -1);
    wal_writer *w;
    assert_int_equal(wal_writer_open(covered, &w, NULL), LSMKV_OK);
    write_batch b;
    write_batch_init(&b);
    uint8_t k[KEY_BYTES];
    make_key(150, k);
    uint8_t *v = make_value(150, 77, VALUE_HEADER);
    write_batch_put(&b, slice_make(k, sizeof(k)), slice_make(v, VALUE_HEADER));
    write_batch_set_sequence(&b, 1000000);
    buffer framed;
    buffer_init(&framed);
    wal_frame_record(&framed, write_batch_contents(&b));
    assert_int_equal(wal_writer_append(w, buffer_slice(&framed), NULL), LSMKV_OK);
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);
    buffer_fini(&framed);
    write_batch_fini(&b);
    free(v);

    lsmkv *db = open_store(dir, NULL);
    assert_int_equal(test_file_size(orphan_copy), -1);
    assert_int_equal(test_file_size(orphan_torn), -1);
    assert_int_equal(test_file_size(test_path(dir, FILENAME_MANIFEST_TEMP)), -1);
    assert_int_equal(test_file_size(covered), -1);
    assert_int_equal(test_count_files(dir, ".sst"), 2);
    expect_store_with_tables(db);
    /* New files get numbers that cannot collide with what was there. */
    assert_int_equal(put_id(db, 150, 3000, VALUE_HEADER, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_flush(db, NULL, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_compact(db, NULL, NULL), LSMKV_OK);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    db = open_store(dir, NULL);
    assert_int_equal(read_id(db, 150, "after compaction"), 3000);
    assert_int_equal(read_id(db, 10, "after compaction"), 11);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    manifest_state_fini(&m);
    test_remove_dir(dir);
}

/* ---- a damaged MANIFEST ---------------------------------------------------------- */

static void
expect_manifest_corruption(const char *dir)
{
    char *before = dir_listing(dir);
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    log_capture log = {0};
    lsmkv_options o;
    init_options(&o, LSMKV_SYNC_ALWAYS, 4u << 20, &log);
    assert_int_equal(lsmkv_open(dir, &o, &db, &err), LSMKV_CORRUPTION);
    assert_null(db);
    assert_non_null(strstr(err.message, FILENAME_MANIFEST));
    char *after = dir_listing(dir);
    assert_string_equal(before, after); /* nothing deleted, nothing rewritten */
    free(before);
    free(after);
}

static void
test_damaged_manifest_fails_open_and_deletes_nothing(void **state)
{
    char *dir = make_store_with_tables();
    const char *manifest = test_path(dir, FILENAME_MANIFEST);
    char path[FILENAME_PATH_MAX], saved[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s", manifest);
    snprintf(saved, sizeof(saved), "%s/manifest.saved", dir);
    copy_file(path, saved);
    long long size = test_file_size(path);
    assert_true(size > MANIFEST_HEADER_BYTES);

    long long offsets[] = {0,        9,       MANIFEST_HEADER_BYTES - 1, MANIFEST_HEADER_BYTES,
                           size / 2, size - 1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        test_flip_bit(path, offsets[i], (int)i % 8);
        expect_manifest_corruption(dir);
        test_flip_bit(path, offsets[i], (int)i % 8);
    }
    assert_int_equal(truncate(path, 0), 0); /* an empty MANIFEST */
    expect_manifest_corruption(dir);
    long long short_sizes[] = {MANIFEST_HEADER_BYTES - 1, MANIFEST_HEADER_BYTES + 2, size - 1};
    for (size_t i = 0; i < sizeof(short_sizes) / sizeof(short_sizes[0]); i++) {
        copy_file(saved, path);
        assert_int_equal(truncate(path, short_sizes[i]), 0); /* cut short */
        expect_manifest_corruption(dir);
    }

    /* Put back, the store opens with its data. */
    copy_file(saved, path);
    lsmkv *db = open_store(dir, NULL);
    expect_store_with_tables(db);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

static void
test_missing_manifest_with_tables_fails_open(void **state)
{
    char *dir = make_store_with_tables();
    char saved[FILENAME_PATH_MAX];
    snprintf(saved, sizeof(saved), "%s/manifest.saved", dir);
    assert_int_equal(rename(test_path(dir, FILENAME_MANIFEST), saved), 0);
    expect_manifest_corruption(dir);
    assert_int_equal(test_file_size(test_path(dir, FILENAME_MANIFEST)), -1); /* not recreated */
    test_remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_without_close_survive_exit_sync_always),
        cmocka_unit_test(test_writes_without_close_survive_exit_sync_none),
        cmocka_unit_test(test_sigkill_keeps_acknowledged_writes),
        cmocka_unit_test(test_torn_wal_tail_is_cut_and_logged),
        cmocka_unit_test(test_hand_built_segments_replay_in_order),
        cmocka_unit_test(test_corrupt_record_in_older_segment_fails_open),
        cmocka_unit_test(test_corrupt_table_block_fails_only_its_reads),
        cmocka_unit_test(test_orphan_files_are_deleted_at_open),
        cmocka_unit_test(test_damaged_manifest_fails_open_and_deletes_nothing),
        cmocka_unit_test(test_missing_manifest_with_tables_fails_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
