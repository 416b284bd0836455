#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "file.h"
#include "test_support.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

/* ---- helpers -------------------------------------------------------------------- */

/* Each test gets a fresh directory in *state; teardown also removes any fault hook. */
static int
setup_dir(void **state)
{
    *state = test_make_temp_dir("file");
    return 0;
}

static int
teardown_dir(void **state)
{
    file_set_fault_hook(NULL, NULL);
    file_set_short_write_hook(NULL, NULL);
    test_remove_dir(*state);
    return 0;
}

static void
join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

#define PATH_IN(var, dir, name)                                                                    \
    char var[4096];                                                                                \
    join(var, sizeof(var), dir, name)

/* Writes a file with stdio, independently of file.c. */
static void
write_plain(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) {
        assert_int_equal(fwrite(data, 1, len, f), len);
    }
    assert_int_equal(fclose(f), 0);
}

/* Asserts that path holds exactly data[0..len). */
static void
assert_file_contents(const char *path, const void *data, size_t len)
{
    assert_int_equal(test_file_size(path), (long long)len);
    buffer b;
    buffer_init(&b);
    lsmkv_error err;
    assert_int_equal(file_read_all(path, &b, &err), LSMKV_OK);
    assert_int_equal(b.len, len);
    if (len) {
        assert_memory_equal(b.data, data, len);
    }
    buffer_fini(&b);
}

static void
assert_message_contains(const lsmkv_error *err, const char *needle)
{
    if (strstr(err->message, needle) == NULL) {
        fail_msg("message \"%s\" does not contain \"%s\"", err->message, needle);
    }
}

static uint8_t *
pattern(size_t len, unsigned seed)
{
    uint8_t *p = xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 9));
    }
    return p;
}

/* A fault hook that fails one operation (optionally only on paths containing
 * a substring), counting the calls it sees. */
typedef struct fault_plan {
    file_op op;
    int errno_value;
    const char *path_contains; /* NULL: any path */
    int calls;                 /* calls of op seen */
    int injected;              /* faults returned */
    char last_path[4096];
} fault_plan;

static int
fault_hook(void *ctx, file_op op, const char *path)
{
    fault_plan *plan = ctx;
    if (op != plan->op) {
        return 0;
    }
    plan->calls++;
    snprintf(plan->last_path, sizeof(plan->last_path), "%s", path);
    if (plan->path_contains != NULL && strstr(path, plan->path_contains) == NULL) {
        return 0;
    }
    plan->injected++;
    return plan->errno_value;
}

static void
install_fault(fault_plan *plan, file_op op, int errno_value)
{
    memset(plan, 0, sizeof(*plan));
    plan->op = op;
    plan->errno_value = errno_value;
    file_set_fault_hook(fault_hook, plan);
}

/* ---- writer ----------------------------------------------------------------------- */

static void
test_writer_small_appends(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "small");
    file_writer *w = NULL;
    lsmkv_error err;
    assert_int_equal(file_writer_open(path, true, &w, &err), LSMKV_OK);
    assert_non_null(w);
    assert_string_equal(file_writer_path(w), path);
    assert_int_equal(file_writer_size(w), 0);
    assert_true(file_exists(path));

    assert_int_equal(file_writer_append(w, "abc", 3, &err), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "", 0, &err), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "\0de", 3, &err), LSMKV_OK);
    assert_int_equal(file_writer_size(w), 6);
    assert_int_equal(file_writer_flush(w, &err), LSMKV_OK);
    assert_int_equal(test_file_size(path), 6);
    assert_int_equal(file_writer_flush(w, &err), LSMKV_OK); /* nothing pending */

    assert_int_equal(file_writer_append(w, "fg", 2, &err), LSMKV_OK);
    assert_int_equal(file_writer_sync(w, &err), LSMKV_OK);
    assert_int_equal(test_file_size(path), 8);
    assert_int_equal(file_writer_size(w), 8);
    assert_int_equal(file_writer_append(w, "h", 1, &err), LSMKV_OK);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK); /* close flushes */
    assert_file_contents(path, "abc\0defgh", 9);
}

static void
test_writer_large_appends(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "large");
    /* Sizes around the 64 KiB buffer: below, exactly, above, and crossing it. */
    const size_t sizes[] = {1, 65535, 1, 65536, 70000, 100, 64 * 1024 - 100, 200, 300000, 7};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        total += sizes[i];
    }
    uint8_t *expect = pattern(total, 5);
    file_writer *w;
    lsmkv_error err;
    assert_int_equal(file_writer_open(path, false, &w, &err), LSMKV_OK);
    size_t off = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(file_writer_append(w, expect + off, sizes[i], &err), LSMKV_OK);
        off += sizes[i];
        assert_int_equal(file_writer_size(w), off);
        if (i == 4) {
            /* Order is kept even when a large append bypasses the buffer. */
            assert_int_equal(file_writer_flush(w, &err), LSMKV_OK);
            assert_int_equal(test_file_size(path), (long long)off);
        }
    }
    assert_int_equal(file_writer_sync(w, &err), LSMKV_OK);
    assert_int_equal(test_file_size(path), (long long)total);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_file_contents(path, expect, total);
    free(expect);
}

static void
test_writer_close_null_is_noop(void **state)
{
    assert_int_equal(file_writer_close(NULL, NULL), LSMKV_OK);
    file_reader_close(NULL);
}

static void
test_writer_exclusive_fails_if_file_exists(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "exists");
    write_plain(path, "old", 3);
    file_writer *w = (file_writer *)0x1;
    lsmkv_error err = {0};
    int rc = file_writer_open(path, true, &w, &err);
    assert_int_not_equal(rc, LSMKV_OK);
    assert_int_equal(err.code, rc);
    assert_ptr_equal(w, (file_writer *)0x1); /* untouched on failure */
    assert_message_contains(&err, path);
    assert_file_contents(path, "old", 3);

    /* Without exclusive, the file is truncated. */
    assert_int_equal(file_writer_open(path, false, &w, &err), LSMKV_OK);
    assert_int_equal(test_file_size(path), 0);
    assert_int_equal(file_writer_append(w, "new!", 4, &err), LSMKV_OK);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_file_contents(path, "new!", 4);
}

static void
test_writer_open_in_missing_dir_fails(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "no/such/file");
    file_writer *w;
    lsmkv_error err;
    assert_int_equal(file_writer_open(path, false, &w, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, path);
    assert_message_contains(&err, strerror(ENOENT));
}

/* ---- reader ----------------------------------------------------------------------- */

static void
test_reader_reads_in_range(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "data");
    uint8_t *data = pattern(100000, 9);
    write_plain(path, data, 100000);
    file_reader *r = NULL;
    lsmkv_error err;
    assert_int_equal(file_reader_open(path, &r, &err), LSMKV_OK);
    assert_int_equal(file_reader_size(r), 100000);
    assert_string_equal(file_reader_path(r), path);

    uint8_t *dst = xmalloc(100000);
    assert_int_equal(file_reader_read(r, 0, 100000, dst, &err), LSMKV_OK);
    assert_memory_equal(dst, data, 100000);
    assert_int_equal(file_reader_read(r, 12345, 10, dst, &err), LSMKV_OK);
    assert_memory_equal(dst, data + 12345, 10);
    assert_int_equal(file_reader_read(r, 99999, 1, dst, &err), LSMKV_OK);
    assert_int_equal(dst[0], data[99999]);
    assert_int_equal(file_reader_read(r, 100000, 0, dst, &err), LSMKV_OK); /* empty at end */
    file_reader_close(r);
    free(dst);
    free(data);
}

static void
test_reader_past_end_is_corruption(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "short.sst");
    write_plain(path, "0123456789", 10);
    file_reader *r;
    lsmkv_error err;
    assert_int_equal(file_reader_open(path, &r, &err), LSMKV_OK);
    uint8_t dst[32];
    const struct {
        uint64_t offset;
        size_t len;
    } bad[] = {
        {0, 11}, {5, 6}, {10, 1}, {11, 0}, {UINT64_MAX, 1}, {UINT64_MAX, 0}, {1, SIZE_MAX},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(file_reader_read(r, bad[i].offset, bad[i].len, dst, &err),
                         LSMKV_CORRUPTION);
        assert_int_equal(err.code, LSMKV_CORRUPTION);
        assert_message_contains(&err, path);
    }
    /* Still usable after a refused read. */
    assert_int_equal(file_reader_read(r, 8, 2, dst, NULL), LSMKV_OK);
    assert_memory_equal(dst, "89", 2);
    file_reader_close(r);
}

static void
test_reader_open_missing_file(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "missing");
    file_reader *r = (file_reader *)0x1;
    lsmkv_error err;
    assert_int_equal(file_reader_open(path, &r, &err), LSMKV_IO_ERROR);
    assert_ptr_equal(r, (file_reader *)0x1);
    assert_message_contains(&err, path);
}

static void
test_read_all(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "all");
    PATH_IN(empty, dir, "empty");
    uint8_t *data = pattern(200000, 1);
    write_plain(path, data, 200000);
    write_plain(empty, NULL, 0);

    buffer b;
    buffer_init(&b);
    buffer_set(&b, "previous contents", 17);
    lsmkv_error err;
    assert_int_equal(file_read_all(path, &b, &err), LSMKV_OK);
    assert_int_equal(b.len, 200000);
    assert_memory_equal(b.data, data, 200000);

    assert_int_equal(file_read_all(empty, &b, &err), LSMKV_OK);
    assert_int_equal(b.len, 0);

    PATH_IN(missing, dir, "missing");
    assert_int_equal(file_read_all(missing, &b, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, missing);
    buffer_fini(&b);

    buffer fresh;
    buffer_init(&fresh);
    assert_int_equal(file_read_all(empty, &fresh, &err), LSMKV_OK);
    assert_int_equal(fresh.len, 0);
    buffer_fini(&fresh);
    free(data);
}

/* ---- whole files and directories ------------------------------------------------ */

static void
test_write_atomic_creates_and_replaces(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "MANIFEST");
    PATH_IN(temp, dir, "MANIFEST.tmp");
    lsmkv_error err;
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", "v1", 2, &err), LSMKV_OK);
    assert_file_contents(path, "v1", 2);
    assert_false(file_exists(temp));

    uint8_t *big = pattern(300000, 3);
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", big, 300000, &err),
                     LSMKV_OK);
    assert_file_contents(path, big, 300000);
    assert_false(file_exists(temp));

    /* A stale temp file from an earlier crash is overwritten, not appended to. */
    write_plain(temp, "garbage garbage", 15);
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", "\0v3", 3, &err), LSMKV_OK);
    assert_file_contents(path, "\0v3", 3);
    assert_false(file_exists(temp));

    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", NULL, 0, &err), LSMKV_OK);
    assert_file_contents(path, NULL, 0);
    char **names;
    size_t count;
    assert_int_equal(file_list_dir(dir, &names, &count, &err), LSMKV_OK);
    assert_int_equal(count, 1); /* only MANIFEST is left */
    file_list_free(names, count);
    free(big);
}

static void
test_rename(void **state)
{
    const char *dir = *state;
    PATH_IN(from, dir, "from");
    PATH_IN(to, dir, "to");
    write_plain(from, "A", 1);
    write_plain(to, "BB", 2);
    lsmkv_error err;
    assert_int_equal(file_rename(from, to, &err), LSMKV_OK);
    assert_false(file_exists(from));
    assert_file_contents(to, "A", 1);
    assert_int_equal(file_rename(from, to, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, from);
    assert_file_contents(to, "A", 1);
}

static void
test_remove(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "victim");
    write_plain(path, "x", 1);
    lsmkv_error err;
    assert_int_equal(file_remove(path, &err), LSMKV_OK);
    assert_false(file_exists(path));
    assert_int_equal(file_remove(path, &err), LSMKV_OK); /* already gone: fine */
    PATH_IN(deep, dir, "no/such/dir/file");
    assert_int_equal(file_remove(deep, &err), LSMKV_OK);
}

static void
test_truncate(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "trunc");
    write_plain(path, "0123456789", 10);
    lsmkv_error err;
    assert_int_equal(file_truncate(path, 4, &err), LSMKV_OK);
    assert_file_contents(path, "0123", 4);
    assert_int_equal(file_truncate(path, 4, &err), LSMKV_OK);
    assert_file_contents(path, "0123", 4);
    assert_int_equal(file_truncate(path, 6, &err), LSMKV_OK); /* extends with zeros */
    assert_file_contents(path, "0123\0\0", 6);
    assert_int_equal(file_truncate(path, 0, &err), LSMKV_OK);
    assert_int_equal(test_file_size(path), 0);
    PATH_IN(missing, dir, "missing");
    assert_int_equal(file_truncate(missing, 0, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, missing);
    assert_false(file_exists(missing));
}

static void
test_sync_dir(void **state)
{
    const char *dir = *state;
    lsmkv_error err;
    assert_int_equal(file_sync_dir(dir, &err), LSMKV_OK);
    PATH_IN(missing, dir, "missing");
    assert_int_equal(file_sync_dir(missing, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, missing);
}

static bool
is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
test_mkdir_creates_nested_dirs(void **state)
{
    const char *dir = *state;
    PATH_IN(nested, dir, "a/b/c/d");
    lsmkv_error err;
    assert_int_equal(file_mkdir(nested, &err), LSMKV_OK);
    assert_true(is_dir(nested));
    assert_int_equal(file_mkdir(nested, &err), LSMKV_OK); /* existing is fine */
    assert_int_equal(file_mkdir(dir, &err), LSMKV_OK);

    PATH_IN(trailing, dir, "x/y/");
    assert_int_equal(file_mkdir(trailing, &err), LSMKV_OK);
    PATH_IN(y, dir, "x/y");
    assert_true(is_dir(y));

    PATH_IN(sibling, dir, "a/b/e");
    assert_int_equal(file_mkdir(sibling, &err), LSMKV_OK);
    assert_true(is_dir(sibling));
}

static void
test_mkdir_refuses_regular_file(void **state)
{
    const char *dir = *state;
    PATH_IN(file, dir, "plain");
    write_plain(file, "x", 1);
    lsmkv_error err = {0};
    int rc = file_mkdir(file, &err);
    assert_int_not_equal(rc, LSMKV_OK);
    assert_int_equal(err.code, rc);
    assert_message_contains(&err, file);
    assert_file_contents(file, "x", 1);

    /* A regular file in the middle of the path. */
    PATH_IN(below, dir, "plain/sub/dir");
    rc = file_mkdir(below, &err);
    assert_int_not_equal(rc, LSMKV_OK);
    assert_int_equal(err.code, rc);
    assert_false(is_dir(below));
}

static void
test_mkdir_too_long(void **state)
{
    static char path[8192];
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    lsmkv_error err;
    assert_int_equal(file_mkdir(path, &err), LSMKV_INVALID_ARGUMENT);
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_list_dir(void **state)
{
    const char *dir = *state;
    char **names = (char **)0x1;
    size_t count = 99;
    lsmkv_error err;
    assert_int_equal(file_list_dir(dir, &names, &count, &err), LSMKV_OK);
    assert_int_equal(count, 0);
    file_list_free(names, count);

    /* More entries than the first allocation holds. */
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "%06d.sst", i);
        PATH_IN(path, dir, name);
        write_plain(path, "", 0);
    }
    PATH_IN(sub, dir, "subdir");
    assert_int_equal(file_mkdir(sub, &err), LSMKV_OK);
    assert_int_equal(file_list_dir(dir, &names, &count, &err), LSMKV_OK);
    assert_int_equal(count, 41);
    qsort(names, count, sizeof(*names), compare_names);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "%06d.sst", i);
        assert_string_equal(names[i], name);
    }
    assert_string_equal(names[40], "subdir");
    file_list_free(names, count);

    PATH_IN(missing, dir, "missing");
    names = (char **)0x1;
    count = 99;
    assert_int_equal(file_list_dir(missing, &names, &count, &err), LSMKV_IO_ERROR);
    assert_ptr_equal(names, (char **)0x1);
    assert_int_equal(count, 99);
    assert_message_contains(&err, missing);
}

static void
test_exists(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "e");
    assert_false(file_exists(path));
    write_plain(path, "", 0);
    assert_true(file_exists(path));
    assert_true(file_exists(dir));
}

static void
test_lock_is_exclusive_within_process(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "LOCK");
    int fd1 = -1, fd2 = -7;
    lsmkv_error err = {0};
    assert_int_equal(file_lock(path, &fd1, &err), LSMKV_OK);
    assert_true(fd1 >= 0);
    assert_true(file_exists(path));

    assert_int_equal(file_lock(path, &fd2, &err), LSMKV_BUSY);
    assert_int_equal(err.code, LSMKV_BUSY);
    assert_message_contains(&err, path);
    assert_int_equal(fd2, -7);

    file_unlock(fd1);
    assert_int_equal(file_lock(path, &fd2, &err), LSMKV_OK);
    assert_true(fd2 >= 0);
    assert_int_equal(file_lock(path, &fd1, &err), LSMKV_BUSY);
    file_unlock(fd2);
    file_unlock(-1); /* ignored */

    PATH_IN(missing, dir, "no/LOCK");
    assert_int_equal(file_lock(missing, &fd1, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, missing);
}

/* ---- fault injection -------------------------------------------------------------- */

static void
test_fault_enospc_on_write(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "000001.wal");
    file_writer *w;
    lsmkv_error err;
    assert_int_equal(file_writer_open(path, true, &w, &err), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "buffered", 8, &err), LSMKV_OK);

    fault_plan plan;
    install_fault(&plan, FILE_OP_WRITE, ENOSPC);
    memset(&err, 0, sizeof(err));
    assert_int_equal(file_writer_flush(w, &err), LSMKV_NO_SPACE);
    assert_int_equal(err.code, LSMKV_NO_SPACE);
    assert_message_contains(&err, path);
    assert_message_contains(&err, strerror(ENOSPC));
    assert_int_equal(plan.injected, 1);
    assert_string_equal(plan.last_path, path);

    /* A large append that goes straight to the OS fails the same way. */
    uint8_t *big = pattern(200000, 2);
    assert_int_equal(file_writer_append(w, big, 200000, &err), LSMKV_NO_SPACE);
    assert_int_equal(file_writer_append(w, "x", 1, &err), LSMKV_OK); /* buffered */
    assert_int_equal(file_writer_sync(w, &err), LSMKV_NO_SPACE);

    install_fault(&plan, FILE_OP_WRITE, EDQUOT);
    assert_int_equal(file_writer_append(w, big, 200000, &err), LSMKV_NO_SPACE);
    free(big);

    file_set_fault_hook(NULL, NULL);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
}

static void
test_fault_eio_on_sync(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "000002.sst");
    file_writer *w;
    lsmkv_error err;
    assert_int_equal(file_writer_open(path, true, &w, &err), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "data", 4, &err), LSMKV_OK);
    fault_plan plan;
    install_fault(&plan, FILE_OP_SYNC, EIO);
    assert_int_equal(file_writer_sync(w, &err), LSMKV_IO_ERROR);
    assert_int_equal(err.code, LSMKV_IO_ERROR);
    assert_message_contains(&err, path);
    assert_message_contains(&err, strerror(EIO));
    assert_int_equal(plan.injected, 1);
    /* The flush before the fsync did happen. */
    assert_int_equal(test_file_size(path), 4);
    /* Only sync fails; flush still works. */
    assert_int_equal(file_writer_append(w, "more", 4, &err), LSMKV_OK);
    assert_int_equal(file_writer_flush(w, &err), LSMKV_OK);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(file_writer_sync(w, &err), LSMKV_OK);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_file_contents(path, "datamore", 8);
}

static void
test_fault_on_open(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "opened");
    fault_plan plan;
    install_fault(&plan, FILE_OP_OPEN, EACCES);
    file_writer *w = (file_writer *)0x1;
    lsmkv_error err;
    assert_int_equal(file_writer_open(path, true, &w, &err), LSMKV_IO_ERROR);
    assert_ptr_equal(w, (file_writer *)0x1);
    assert_message_contains(&err, path);
    assert_false(file_exists(path));

    install_fault(&plan, FILE_OP_OPEN, ENOSPC);
    assert_int_equal(file_writer_open(path, false, &w, &err), LSMKV_NO_SPACE);

    file_set_fault_hook(NULL, NULL);
    write_plain(path, "r", 1);
    install_fault(&plan, FILE_OP_OPEN, EIO);
    file_reader *r = (file_reader *)0x1;
    assert_int_equal(file_reader_open(path, &r, &err), LSMKV_IO_ERROR);
    assert_ptr_equal(r, (file_reader *)0x1);
    buffer b;
    buffer_init(&b);
    assert_int_equal(file_read_all(path, &b, &err), LSMKV_IO_ERROR);
    buffer_fini(&b);
    assert_int_equal(plan.injected, 2);
}

static void
test_fault_on_read(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "readme");
    write_plain(path, "0123456789", 10);
    file_reader *r;
    lsmkv_error err;
    assert_int_equal(file_reader_open(path, &r, &err), LSMKV_OK);
    fault_plan plan;
    install_fault(&plan, FILE_OP_READ, EIO);
    uint8_t dst[4];
    assert_int_equal(file_reader_read(r, 0, 4, dst, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, path);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(file_reader_read(r, 0, 4, dst, &err), LSMKV_OK);
    assert_memory_equal(dst, "0123", 4);
    file_reader_close(r);
}

static void
test_fault_on_rename_keeps_old_file(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "MANIFEST");
    PATH_IN(temp, dir, "MANIFEST.tmp");
    lsmkv_error err;
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", "old", 3, &err), LSMKV_OK);

    fault_plan plan;
    install_fault(&plan, FILE_OP_RENAME, EIO);
    memset(&err, 0, sizeof(err));
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", "new", 3, &err),
                     LSMKV_IO_ERROR);
    assert_int_equal(err.code, LSMKV_IO_ERROR);
    assert_message_contains(&err, "MANIFEST");
    assert_int_equal(plan.injected, 1);
    file_set_fault_hook(NULL, NULL);
    assert_file_contents(path, "old", 3);
    assert_false(file_exists(temp));

    /* file_rename on its own. */
    install_fault(&plan, FILE_OP_RENAME, ENOSPC);
    write_plain(temp, "t", 1);
    assert_int_equal(file_rename(temp, path, &err), LSMKV_NO_SPACE);
    file_set_fault_hook(NULL, NULL);
    assert_file_contents(path, "old", 3);
    assert_file_contents(temp, "t", 1);
}

static void
test_fault_during_write_atomic_keeps_old_file(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "MANIFEST");
    PATH_IN(temp, dir, "MANIFEST.tmp");
    lsmkv_error err;
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", "old", 3, &err), LSMKV_OK);

    const struct {
        file_op op;
        int errno_value;
        int code;
    } faults[] = {
        {FILE_OP_OPEN, EIO, LSMKV_IO_ERROR},
        {FILE_OP_WRITE, ENOSPC, LSMKV_NO_SPACE},
        {FILE_OP_SYNC, EIO, LSMKV_IO_ERROR},
    };
    uint8_t *big = pattern(100000, 4); /* larger than the writer's buffer */
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        for (int size = 0; size < 2; size++) {
            fault_plan plan;
            install_fault(&plan, faults[i].op, faults[i].errno_value);
            assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp",
                                               size ? big : (const void *)"new", size ? 100000 : 3,
                                               &err),
                             faults[i].code);
            assert_int_equal(plan.injected, 1);
            file_set_fault_hook(NULL, NULL);
            assert_file_contents(path, "old", 3);
            assert_false(file_exists(temp));
        }
    }
    free(big);
}

static void
test_fault_on_sync_dir_after_rename(void **state)
{
    /* The rename happened; only the directory fsync failed, and that is reported. */
    const char *dir = *state;
    PATH_IN(path, dir, "MANIFEST");
    fault_plan plan;
    install_fault(&plan, FILE_OP_SYNC_DIR, EIO);
    lsmkv_error err;
    assert_int_equal(file_write_atomic(dir, "MANIFEST", "MANIFEST.tmp", "v", 1, &err),
                     LSMKV_IO_ERROR);
    assert_message_contains(&err, dir);
    assert_int_equal(plan.injected, 1);
    assert_int_equal(file_sync_dir(dir, &err), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    assert_file_contents(path, "v", 1);
}

static void
test_fault_on_remove_and_truncate(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "f");
    write_plain(path, "abcdef", 6);
    fault_plan plan;
    lsmkv_error err;
    install_fault(&plan, FILE_OP_REMOVE, EIO);
    assert_int_equal(file_remove(path, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, path);
    assert_true(file_exists(path));

    install_fault(&plan, FILE_OP_TRUNCATE, ENOSPC);
    assert_int_equal(file_truncate(path, 1, &err), LSMKV_NO_SPACE);
    assert_message_contains(&err, path);
    file_set_fault_hook(NULL, NULL);
    assert_file_contents(path, "abcdef", 6);
}

static void
test_fault_hook_filters_by_path(void **state)
{
    /* The hook sees each path and can fail just one file. */
    const char *dir = *state;
    PATH_IN(a, dir, "000001.sst");
    PATH_IN(b, dir, "000002.wal");
    fault_plan plan;
    install_fault(&plan, FILE_OP_OPEN, EIO);
    plan.path_contains = ".wal";
    file_writer *wa, *wb;
    lsmkv_error err;
    assert_int_equal(file_writer_open(a, true, &wa, &err), LSMKV_OK);
    assert_int_equal(file_writer_open(b, true, &wb, &err), LSMKV_IO_ERROR);
    assert_int_equal(plan.calls, 2);
    assert_int_equal(plan.injected, 1);
    assert_string_equal(plan.last_path, b);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(file_writer_close(wa, &err), LSMKV_OK);
}

/* Lets `allow` bytes of the next write through, then fails it with `error`. */
typedef struct short_plan {
    size_t allow;
    int error;
    size_t seen_len; /* the length of the write that was cut */
    int cuts;
} short_plan;

static size_t
short_hook(void *ctx, const char *path, size_t len, int *error)
{
    short_plan *plan = ctx;
    plan->seen_len = len;
    plan->cuts++;
    *error = plan->error;
    return plan->allow;
}

static void
test_short_write_writes_part_then_fails(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "000001.wal");
    file_writer *w;
    lsmkv_error err = {0};
    assert_int_equal(file_writer_open(path, true, &w, &err), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "0123456789abcdef", 16, &err), LSMKV_OK);
    short_plan plan = {.allow = 10, .error = EIO};
    file_set_short_write_hook(short_hook, &plan);
    assert_int_equal(file_writer_flush(w, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, path);
    assert_message_contains(&err, "10 of 16 bytes written");
    assert_message_contains(&err, strerror(EIO));
    assert_int_equal(plan.seen_len, 16);
    assert_file_contents(path, "0123456789", 10); /* the part really reached the file */

    /* The default error is ENOSPC; a large append is cut the same way. */
    plan = (short_plan){.allow = 70000};
    uint8_t *big = pattern(100000, 3);
    assert_int_equal(file_writer_append(w, big, 100000, &err), LSMKV_NO_SPACE);
    assert_message_contains(&err, "70000 of 100000 bytes written");
    assert_int_equal(test_file_size(path), 10 + 70000);

    /* Allowing the whole length (or more) lets the write through. */
    plan = (short_plan){.allow = SIZE_MAX};
    assert_int_equal(file_writer_append(w, big, 100000, &err), LSMKV_OK);
    assert_int_equal(plan.cuts, 1);
    file_set_short_write_hook(NULL, NULL);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_int_equal(test_file_size(path), 10 + 70000 + 100000);
    free(big);
}

/* ---- mapped writer ---------------------------------------------------------------- */

/* Asserts that path starts with data[0..len) and holds only zeros after it. */
static void
assert_contents_then_zeros(const char *path, const void *data, size_t len)
{
    buffer b;
    buffer_init(&b);
    assert_int_equal(file_read_all(path, &b, NULL), LSMKV_OK);
    assert_true(b.len >= len);
    assert_memory_equal(b.data, data, len);
    for (size_t i = len; i < b.len; i++) {
        assert_int_equal(b.data[i], 0);
    }
    buffer_fini(&b);
}

static void
test_mapped_writer_appends_ahead_of_reserved_zeros(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "mapped");
    /* Across several 1 MiB reservation steps, and an append of more than one. */
    const size_t sizes[] = {16, 100, 1000000, 48000, 1, 1500000, 7};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        total += sizes[i];
    }
    uint8_t *expect = pattern(total, 9);
    file_writer *w;
    lsmkv_error err;
    assert_int_equal(file_writer_open_mapped(path, true, &w, &err), LSMKV_OK);
    size_t off = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(file_writer_append(w, expect + off, sizes[i], &err), LSMKV_OK);
        off += sizes[i];
        assert_int_equal(file_writer_size(w), off);
        /* Readers see every append at once, ahead of the reserved zeros. */
        assert_true(test_file_size(path) >= (long long)off);
        assert_contents_then_zeros(path, expect, off);
    }
    assert_int_equal(test_file_size(path), 3 << 20); /* 2.55 MB appended */
    assert_int_equal(file_writer_sync(w, &err), LSMKV_OK);

    assert_int_equal(file_writer_trim(w, &err), LSMKV_OK);
    assert_file_contents(path, expect, total);
    /* Appending after a trim reserves again. */
    assert_int_equal(file_writer_append(w, "tail", 4, &err), LSMKV_OK);
    assert_true(test_file_size(path) > (long long)total + 4);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK); /* close trims */
    uint8_t *with_tail = xmalloc(total + 4);
    memcpy(with_tail, expect, total);
    memcpy(with_tail + total, "tail", 4);
    assert_file_contents(path, with_tail, total + 4);
    free(with_tail);
    free(expect);
}

/*
 * Writeback unmaps the pages appends are done with: appends after it, in the
 * same page, past the reservation, or after the whole mapping was let go,
 * still land where they belong.
 */
static void
test_mapped_writer_appends_after_writeback(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "mapped-writeback");
    const size_t total = (3 << 20) + 12345;
    uint8_t *expect = pattern(total, 5);
    file_writer *w;
    lsmkv_error err;
    assert_int_equal(file_writer_open_mapped(path, true, &w, &err), LSMKV_OK);
    /* Odd sizes, so writeback cuts fall inside pages as well as on them. */
    size_t off = 0, step = 1000;
    while (off + step < (1 << 20)) {
        assert_int_equal(file_writer_append(w, expect + off, step, &err), LSMKV_OK);
        file_writer_start_writeback(w, off, step);
        off += step;
        step = step * 3 % 70001 + 1;
    }
    /* Up to the end of the first reservation exactly: the whole mapping goes. */
    assert_int_equal(file_writer_append(w, expect + off, (1 << 20) - off, &err), LSMKV_OK);
    off = 1 << 20;
    file_writer_start_writeback(w, 0, off);
    assert_int_equal(file_writer_append(w, expect + off, total - off, &err), LSMKV_OK);
    assert_contents_then_zeros(path, expect, total);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_file_contents(path, expect, total);
    free(expect);
}

/*
 * A disk that cannot take the reservation fails the append with an error,
 * never a SIGBUS later: a file size limit stands in for a full disk.
 */
static void
test_mapped_writer_fails_append_when_space_runs_out(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "mapped-full");
    file_writer *w;
    lsmkv_error err = {0};
    assert_int_equal(file_writer_open_mapped(path, true, &w, &err), LSMKV_OK);
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {.rlim_cur = 64 * 1024, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = file_writer_append(w, "abc", 3, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, LSMKV_IO_ERROR);
    assert_message_contains(&err, path);
    assert_message_contains(&err, strerror(EFBIG));
    assert_int_equal(file_writer_size(w), 0);
    /* With room again, appending works. */
    assert_int_equal(file_writer_append(w, "abc", 3, &err), LSMKV_OK);
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_file_contents(path, "abc", 3);
}

static void
test_mapped_writer_goes_through_the_fault_hooks(void **state)
{
    const char *dir = *state;
    PATH_IN(path, dir, "000002.wal");
    file_writer *w;
    lsmkv_error err = {0};
    assert_int_equal(file_writer_open_mapped(path, true, &w, &err), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "0123", 4, &err), LSMKV_OK);

    fault_plan plan;
    install_fault(&plan, FILE_OP_WRITE, ENOSPC);
    assert_int_equal(file_writer_append(w, "4567", 4, &err), LSMKV_NO_SPACE);
    assert_message_contains(&err, path);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(file_writer_size(w), 4);

    short_plan cut = {.allow = 2, .error = EIO};
    file_set_short_write_hook(short_hook, &cut);
    assert_int_equal(file_writer_append(w, "abcdef", 6, &err), LSMKV_IO_ERROR);
    assert_message_contains(&err, "2 of 6 bytes written");
    file_set_short_write_hook(NULL, NULL);
    assert_int_equal(file_writer_size(w), 6); /* the part really reached the file */
    assert_int_equal(file_writer_close(w, &err), LSMKV_OK);
    assert_file_contents(path, "0123ab", 6);
}

#define DIR_TEST(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown_dir)

static void __attribute__((noinline)) dirty_stack(void)
{
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = 'a';
    }
}

/* file_mkdir("") scans path[1...] past the string's terminator. */
static void
test_mkdir_empty(void **state)
{
    dirty_stack();
    lsmkv_error err;
    assert_int_not_equal(file_mkdir("", &err), LSMKV_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdir_empty),
        DIR_TEST(test_writer_small_appends),
        DIR_TEST(test_writer_large_appends),
        DIR_TEST(test_writer_close_null_is_noop),
        DIR_TEST(test_writer_exclusive_fails_if_file_exists),
        DIR_TEST(test_writer_open_in_missing_dir_fails),
        DIR_TEST(test_reader_reads_in_range),
        DIR_TEST(test_reader_past_end_is_corruption),
        DIR_TEST(test_reader_open_missing_file),
        DIR_TEST(test_read_all),
        DIR_TEST(test_write_atomic_creates_and_replaces),
        DIR_TEST(test_rename),
        DIR_TEST(test_remove),
        DIR_TEST(test_truncate),
        DIR_TEST(test_sync_dir),
        DIR_TEST(test_mkdir_creates_nested_dirs),
        DIR_TEST(test_mkdir_refuses_regular_file),
        DIR_TEST(test_mkdir_too_long),
        DIR_TEST(test_list_dir),
        DIR_TEST(test_exists),
        DIR_TEST(test_lock_is_exclusive_within_process),
        DIR_TEST(test_fault_enospc_on_write),
        DIR_TEST(test_fault_eio_on_sync),
        DIR_TEST(test_fault_on_open),
        DIR_TEST(test_fault_on_read),
        DIR_TEST(test_fault_on_rename_keeps_old_file),
        DIR_TEST(test_fault_during_write_atomic_keeps_old_file),
        DIR_TEST(test_fault_on_sync_dir_after_rename),
        DIR_TEST(test_fault_on_remove_and_truncate),
        DIR_TEST(test_fault_hook_filters_by_path),
        DIR_TEST(test_short_write_writes_part_then_fails),
        DIR_TEST(test_mapped_writer_appends_ahead_of_reserved_zeros),
        DIR_TEST(test_mapped_writer_appends_after_writeback),
        DIR_TEST(test_mapped_writer_fails_append_when_space_runs_out),
        DIR_TEST(test_mapped_writer_goes_through_the_fault_hooks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
