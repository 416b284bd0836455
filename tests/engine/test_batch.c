/* ctest-labels: concurrency */
/*
 * Atomic write batches (lsmkv_write) and multi-key reads (lsmkv_multi_get):
 * content, validation, and atomicity — a batch is seen whole or not at all,
 * by concurrent readers and after a crash (a child killed with SIGKILL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lsmkv/lsmkv.h"
#include "test_support.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH_KEYS 8 /* every batch writes keys k0..k7, all with the batch's number */

static lsmkv *
open_store(const char *dir, size_t memtable_bytes)
{
    lsmkv_options o;
    lsmkv_options_init(&o);
    /* Atomicity does not depend on fsync: a process kill loses nothing handed
     * to the OS, so sync=none keeps these tests fast. */
    o.sync = LSMKV_SYNC_NONE;
    o.memtable_bytes = memtable_bytes;
    o.level1_target_bytes = 128u << 10;
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    if (lsmkv_open(dir, &o, &db, &err) != LSMKV_OK) {
        fail_msg("open %s: %s", dir, err.message);
    }
    return db;
}

static void
key_name(char *out, int i)
{
    snprintf(out, 8, "k%d", i);
}

/* A batch that sets every k<i> to number (as decimal text). */
static void
fill_batch(lsmkv_batch *b, uint64_t number)
{
    char key[8], value[32];
    lsmkv_batch_clear(b);
    for (int i = 0; i < BATCH_KEYS; i++) {
        key_name(key, i);
        int n = snprintf(value, sizeof(value), "%llu", (unsigned long long)number);
        lsmkv_batch_put(b, (const uint8_t *)key, strlen(key), (const uint8_t *)value, (size_t)n);
    }
}

/* The batch numbers of k0..k7 at one point in time; all equal if batches are atomic. */
static void
read_all_keys(lsmkv *db, uint64_t numbers[BATCH_KEYS], bool found[BATCH_KEYS])
{
    char names[BATCH_KEYS][8];
    const uint8_t *keys[BATCH_KEYS];
    size_t lens[BATCH_KEYS];
    for (int i = 0; i < BATCH_KEYS; i++) {
        key_name(names[i], i);
        keys[i] = (const uint8_t *)names[i];
        lens[i] = strlen(names[i]);
    }
    lsmkv_value values[BATCH_KEYS];
    lsmkv_error err = {0};
    if (lsmkv_multi_get(db, BATCH_KEYS, keys, lens, values, &err) != LSMKV_OK) {
        fail_msg("multi_get: %s", err.message);
    }
    for (int i = 0; i < BATCH_KEYS; i++) {
        found[i] = values[i].found;
        numbers[i] = 0;
        if (found[i]) { /* values are bytes, not C strings */
            char text[32] = {0};
            assert_true(values[i].value_len < sizeof(text));
            memcpy(text, values[i].value, values[i].value_len);
            numbers[i] = strtoull(text, NULL, 10);
        }
        lsmkv_free(values[i].value);
    }
}

static void
assert_whole(const uint64_t numbers[BATCH_KEYS], const bool found[BATCH_KEYS])
{
    for (int i = 1; i < BATCH_KEYS; i++) {
        if (found[i] != found[0] || numbers[i] != numbers[0]) {
            fail_msg("a batch is seen in part: k0=%llu k%d=%llu",
                     (unsigned long long)numbers[0], i, (unsigned long long)numbers[i]);
        }
    }
}

/* ---- content and validation ------------------------------------------------------ */

static void
test_batch_applies_in_order(void **state)
{
    char *dir = test_make_temp_dir("batch");
    lsmkv *db = open_store(dir, 4u << 20);
    lsmkv_batch *b = lsmkv_batch_new();
    lsmkv_batch_put(b, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1);
    lsmkv_batch_put(b, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1);
    lsmkv_batch_delete(b, (const uint8_t *)"a", 1);
    lsmkv_batch_put(b, (const uint8_t *)"c\0d", 3, (const uint8_t *)"", 0);
    lsmkv_batch_put(b, (const uint8_t *)"b", 1, (const uint8_t *)"3", 1);
    assert_int_equal(lsmkv_batch_count(b), 5);
    assert_true(lsmkv_batch_size(b) > 0);
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_write(db, NULL, b, &err), LSMKV_OK);

    const uint8_t *keys[] = {(const uint8_t *)"a", (const uint8_t *)"b", (const uint8_t *)"c\0d",
                             (const uint8_t *)"zz"};
    size_t lens[] = {1, 1, 3, 2};
    lsmkv_value v[4];
    assert_int_equal(lsmkv_multi_get(db, 4, keys, lens, v, &err), LSMKV_OK);
    assert_false(v[0].found);                       /* the later delete wins */
    assert_true(v[1].found);                        /* the later put wins */
    assert_memory_equal(v[1].value, "3", 1);
    assert_true(v[2].found);                        /* binary key, empty value */
    assert_int_equal(v[2].value_len, 0);
    assert_false(v[3].found);
    for (int i = 0; i < 4; i++) {
        lsmkv_free(v[i].value);
    }
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    assert_int_equal(s.puts, 4);
    assert_int_equal(s.deletes, 1);

    /* The batch's writes survive a reopen as one. */
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    db = open_store(dir, 4u << 20);
    uint8_t *value;
    size_t len;
    bool found;
    assert_int_equal(lsmkv_get(db, (const uint8_t *)"b", 1, &value, &len, &found, &err), LSMKV_OK);
    assert_true(found);
    assert_memory_equal(value, "3", 1);
    lsmkv_free(value);
    lsmkv_batch_free(b);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

static void
test_bad_operation_fails_whole_batch(void **state)
{
    char *dir = test_make_temp_dir("batch-bad");
    lsmkv *db = open_store(dir, 4u << 20);
    lsmkv_batch *b = lsmkv_batch_new();
    lsmkv_batch_put(b, (const uint8_t *)"good", 4, (const uint8_t *)"1", 1);
    lsmkv_batch_put(b, (const uint8_t *)"", 0, (const uint8_t *)"x", 1);
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_write(db, NULL, b, &err), LSMKV_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "batch operation 1"));
    assert_non_null(strstr(err.message, "empty"));

    size_t big = (64u << 10) + 1;
    uint8_t *huge = calloc(1, big);
    lsmkv_batch_clear(b);
    lsmkv_batch_put(b, (const uint8_t *)"good", 4, (const uint8_t *)"1", 1);
    lsmkv_batch_delete(b, huge, big);
    assert_int_equal(lsmkv_write(db, NULL, b, &err), LSMKV_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "limit"));
    free(huge);

    uint8_t *value;
    size_t len;
    bool found;
    assert_int_equal(lsmkv_get(db, (const uint8_t *)"good", 4, &value, &len, &found, &err),
                     LSMKV_OK);
    assert_false(found); /* nothing of a rejected batch was written */

    lsmkv_batch_clear(b);
    assert_int_equal(lsmkv_write(db, NULL, b, &err), LSMKV_OK); /* empty: nothing to do */
    lsmkv_stats s;
    lsmkv_get_stats(db, &s);
    assert_int_equal(s.last_sequence, 0);
    lsmkv_batch_free(b);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

static void
test_oversize_batch_is_rejected(void **state)
{
    char *dir = test_make_temp_dir("batch-big");
    lsmkv_options o;
    lsmkv_options_init(&o);
    o.max_batch_bytes = 4096;
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_open(dir, &o, &db, &err), LSMKV_OK);
    lsmkv_batch *b = lsmkv_batch_new();
    uint8_t value[1000] = {0};
    for (int i = 0; i < 5; i++) {
        char key[8];
        key_name(key, i);
        lsmkv_batch_put(b, (const uint8_t *)key, strlen(key), value, sizeof(value));
    }
    assert_int_equal(lsmkv_write(db, NULL, b, &err), LSMKV_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "the batch is"));
    lsmkv_batch_free(b);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

static void
test_multi_get_rejects_bad_key(void **state)
{
    char *dir = test_make_temp_dir("mget-bad");
    lsmkv *db = open_store(dir, 4u << 20);
    const uint8_t *keys[] = {(const uint8_t *)"a", (const uint8_t *)""};
    size_t lens[] = {1, 0};
    lsmkv_value v[2];
    lsmkv_error err = {0};
    assert_int_equal(lsmkv_multi_get(db, 2, keys, lens, v, &err), LSMKV_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "key 1"));
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
    test_remove_dir(dir);
}

/* ---- atomicity while readers read ------------------------------------------------- */

typedef struct shared {
    lsmkv *db;
    atomic_bool stop;
    atomic_uint_fast64_t checks;
} shared;

static void *
reader_main(void *arg)
{
    shared *s = arg;
    while (!atomic_load(&s->stop)) {
        uint64_t numbers[BATCH_KEYS];
        bool found[BATCH_KEYS];
        read_all_keys(s->db, numbers, found);
        assert_whole(numbers, found);
        /* An iterator is a point-in-time view as well. */
        lsmkv_iterator *it;
        assert_int_equal(lsmkv_iterator_new(s->db, &it, NULL), LSMKV_OK);
        uint64_t first = UINT64_MAX;
        for (lsmkv_iterator_seek_to_first(it); lsmkv_iterator_valid(it);
             lsmkv_iterator_next(it)) {
            size_t len;
            const uint8_t *v = lsmkv_iterator_value(it, &len);
            char text[32] = {0};
            memcpy(text, v, len < 31 ? len : 31);
            uint64_t n = strtoull(text, NULL, 10);
            if (first == UINT64_MAX) {
                first = n;
            } else if (n != first) {
                fail_msg("an iterator sees a batch in part: %llu and %llu",
                         (unsigned long long)first, (unsigned long long)n);
            }
        }
        assert_int_equal(lsmkv_iterator_status(it, NULL), LSMKV_OK);
        lsmkv_iterator_free(it);
        atomic_fetch_add(&s->checks, 1);
    }
    return NULL;
}

static void
test_readers_see_batches_whole(void **state)
{
    char *dir = test_make_temp_dir("batch-readers");
    shared s = {.db = open_store(dir, 64u << 10)};
    pthread_t readers[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &s), 0);
    }
    lsmkv_batch *b = lsmkv_batch_new();
    lsmkv_error err = {0};
    /* Enough batches to rotate memtables, flush and compact under the readers. */
    for (uint64_t n = 1; n <= 6000 || atomic_load(&s.checks) < 20; n++) {
        fill_batch(b, n);
        assert_int_equal(lsmkv_write(s.db, NULL, b, &err), LSMKV_OK);
        if (n % 1500 == 0) {
            assert_int_equal(lsmkv_flush(s.db, NULL, &err), LSMKV_OK);
        }
    }
    atomic_store(&s.stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(readers[i], NULL);
    }
    lsmkv_batch_free(b);
    assert_int_equal(lsmkv_close(s.db), LSMKV_OK);
    test_remove_dir(dir);
}

/* ---- atomicity across a crash -------------------------------------------------------- */

/* The child writes batches numbered 1, 2, ... and reports each acknowledged one. */
static void
crash_child(const char *dir, int fd)
{
    lsmkv *db = open_store(dir, 64u << 10);
    lsmkv_batch *b = lsmkv_batch_new();
    for (uint64_t n = 1;; n++) {
        fill_batch(b, n);
        /* Grow the batch with filler so it spans many WAL pages. */
        char key[16];
        uint8_t filler[512];
        memset(filler, 'f', sizeof(filler));
        for (int i = 0; i < 16; i++) {
            snprintf(key, sizeof(key), "z%02d", i);
            lsmkv_batch_put(b, (const uint8_t *)key, strlen(key), filler, sizeof(filler));
        }
        if (lsmkv_write(db, NULL, b, NULL) != LSMKV_OK ||
            write(fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
            _exit(3);
        }
    }
}

static void
test_batch_is_whole_after_sigkill(void **state)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (int round = 0; round < 8; round++) {
        char *dir = test_make_temp_dir("batch-crash");
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, fds[1]);
        }
        close(fds[1]);
        uint64_t target = 20 + test_rng_below(&rng, 400), acknowledged = 0, n;
        while (acknowledged < target && read(fds[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) {
            acknowledged = n;
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        while (read(fds[0], &n, sizeof(n)) == (ssize_t)sizeof(n)) {
            acknowledged = n;
        }
        close(fds[0]);

        lsmkv *db = open_store(dir, 64u << 10);
        uint64_t numbers[BATCH_KEYS];
        bool found[BATCH_KEYS];
        read_all_keys(db, numbers, found);
        assert_whole(numbers, found);
        assert_true(found[0]);
        /* Every acknowledged batch is there; at most the one in flight beyond it. */
        if (numbers[0] != acknowledged && numbers[0] != acknowledged + 1) {
            fail_msg("round %d: batch %llu after %llu acknowledged", round,
                     (unsigned long long)numbers[0], (unsigned long long)acknowledged);
        }
        assert_int_equal(lsmkv_close(db), LSMKV_OK);
        test_remove_dir(dir);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_applies_in_order),
        cmocka_unit_test(test_bad_operation_fails_whole_batch),
        cmocka_unit_test(test_oversize_batch_is_rejected),
        cmocka_unit_test(test_multi_get_rejects_bad_key),
        cmocka_unit_test(test_readers_see_batches_whole),
        cmocka_unit_test(test_batch_is_whole_after_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
