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
#include <string.h>
#include <sys/stat.h>

/*
 * The power-loss simulation (file_power_loss.c, model in file.h): what
 * survives a cut, what does not, and that nothing changes after it. The
 * store-level tests in test_power_loss.c rely on exactly these rules.
 */

/* ---- helpers ----------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("power-file");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    file_set_fault_hook(NULL, NULL);
    file_power_loss_end();
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* Declares char var[] holding dir/name. */
#define PATH_IN(var, f, name)                                                                      \
    char var[4096];                                                                                \
    snprintf(var, sizeof(var), "%s/%s", (f)->dir, name)

/* Writes a file outside the layer (it counts as durable: nothing tracked it). */
static void
write_plain(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void
expect_contents(const char *path, const void *data, size_t len)
{
    assert_int_equal(test_file_size(path), (long long)len);
    buffer b;
    buffer_init(&b);
    assert_int_equal(file_read_all(path, &b, NULL), LSMKV_OK);
    if (len > 0) {
        assert_memory_equal(b.data, data, len);
    }
    buffer_fini(&b);
}

static void
expect_absent(const char *path)
{
    assert_int_equal(test_file_size(path), -1);
}

/* Creates path with file.c, appends synced then unsynced bytes, closes it. */
static void
write_file(const char *path, const char *synced, const char *unsynced)
{
    file_writer *w;
    assert_int_equal(file_writer_open(path, true, &w, NULL), LSMKV_OK);
    assert_int_equal(file_writer_append(w, synced, strlen(synced), NULL), LSMKV_OK);
    assert_int_equal(file_writer_sync(w, NULL), LSMKV_OK);
    assert_int_equal(file_writer_append(w, unsynced, strlen(unsynced), NULL), LSMKV_OK);
    assert_int_equal(file_writer_close(w, NULL), LSMKV_OK);
}

static void
cut(fixture *f, uint64_t seed)
{
    lsmkv_error err = {0};
    if (file_power_loss_simulate(f->dir, seed, &err) != LSMKV_OK) {
        fail_msg("simulate: %s", err.message);
    }
}

/* ---- data ----------------------------------------------------------------------------- */

static void
test_unsynced_tail_is_dropped(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    file_power_loss_begin();
    write_file(a, "synced", " and not");
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    expect_contents(a, "synced and not", 14);
    cut(f, 0);
    expect_contents(a, "synced", 6);
}

/* A mapped writer (file.h): what it wrote after its last sync is lost, and the
 * space it reserved past its appends survives only as zeros. */
static void
test_mapped_writer_keeps_what_it_synced(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    PATH_IN(b, f, "b");
    file_power_loss_begin();
    const char *paths[] = {a, b};
    file_writer *w[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(file_writer_open_mapped(paths[i], true, &w[i], NULL), LSMKV_OK);
        assert_int_equal(file_writer_append(w[i], "synced", 6, NULL), LSMKV_OK);
        assert_int_equal(file_writer_sync(w[i], NULL), LSMKV_OK);
        assert_int_equal(file_writer_append(w[i], " and not", 8, NULL), LSMKV_OK);
    }
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    cut(f, 0); /* with both still open, as a crash finds them */
    expect_contents(a, "synced", 6);
    file_power_loss_end();
    file_power_loss_begin();
    for (int i = 0; i < 2; i++) {
        assert_int_equal(file_writer_close(w[i], NULL), LSMKV_OK);
    }
    /* A cut that keeps part of the unsynced tail keeps a prefix of it. */
    assert_int_equal(file_writer_open_mapped(b, false, &w[1], NULL), LSMKV_OK);
    assert_int_equal(file_writer_append(w[1], "synced", 6, NULL), LSMKV_OK);
    assert_int_equal(file_writer_sync(w[1], NULL), LSMKV_OK);
    assert_int_equal(file_writer_append(w[1], " and not", 8, NULL), LSMKV_OK);
    cut(f, 7);
    buffer got;
    buffer_init(&got);
    assert_int_equal(file_read_all(b, &got, NULL), LSMKV_OK);
    assert_true(got.len >= 6);
    const char *full = "synced and not";
    for (size_t i = 0; i < got.len; i++) {
        assert_int_equal(got.data[i], i < 14 ? (uint8_t)full[i] : 0);
    }
    buffer_fini(&got);
    file_power_loss_end();
    assert_int_equal(file_writer_close(w[1], NULL), LSMKV_OK);
}

static void
test_file_never_synced_is_empty(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    file_power_loss_begin();
    file_writer *w;
    assert_int_equal(file_writer_open(a, true, &w, NULL), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "lost", 4, NULL), LSMKV_OK);
    assert_int_equal(file_writer_close(w, NULL), LSMKV_OK);
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK); /* the name survives */
    cut(f, 0);
    expect_contents(a, "", 0);
}

static void
test_truncate_is_durable(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    write_plain(a, "0123456789"); /* before tracking: durable whole */
    file_power_loss_begin();
    assert_int_equal(file_truncate(a, 4, NULL), LSMKV_OK);
    cut(f, 0);
    expect_contents(a, "0123", 4);
}

static void
test_reopened_file_counts_as_empty_until_synced(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    write_plain(a, "old contents");
    file_power_loss_begin();
    file_writer *w;
    assert_int_equal(file_writer_open(a, false, &w, NULL), LSMKV_OK);
    assert_int_equal(file_writer_append(w, "new", 3, NULL), LSMKV_OK);
    assert_int_equal(file_writer_close(w, NULL), LSMKV_OK);
    cut(f, 0);
    expect_contents(a, "", 0); /* the name was durable; no byte of it was synced */
}

/* Writes "head" synced plus 1000 unsynced bytes to name, cuts with seed; the size left. */
static long long
cut_with_tail(fixture *f, const char *name, uint64_t seed)
{
    PATH_IN(path, f, name);
    char tail[1001];
    memset(tail, 'x', 1000);
    tail[1000] = '\0';
    file_power_loss_begin();
    write_file(path, "head", tail);
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    cut(f, seed);
    long long size = test_file_size(path);
    buffer b;
    buffer_init(&b);
    assert_int_equal(file_read_all(path, &b, NULL), LSMKV_OK);
    assert_memory_equal(b.data, "head", 4);
    for (size_t i = 4; i < b.len; i++) {
        assert_int_equal(b.data[i], 'x'); /* a prefix of what was written, no garbage */
    }
    buffer_fini(&b);
    file_power_loss_end();
    return size;
}

static void
test_seed_keeps_a_prefix_of_the_unsynced_tail(void **state)
{
    fixture *f = *state;
    bool shorter = false, longer = false;
    for (uint64_t seed = 1; seed <= 16; seed++) {
        char first[32], second[32];
        snprintf(first, sizeof(first), "first-%d", (int)seed);
        snprintf(second, sizeof(second), "second-%d", (int)seed);
        long long size = cut_with_tail(f, first, seed);
        assert_true(size >= 4 && size <= 1004);
        shorter |= size < 500;
        longer |= size >= 500;
        assert_int_equal(cut_with_tail(f, second, seed), size); /* repeatable */
    }
    assert_true(shorter && longer);
    /* Seed 0 keeps nothing unsynced. */
    assert_int_equal(cut_with_tail(f, "zero", 0), 4);
}

/* ---- names ------------------------------------------------------------------------------ */

static void
test_creation_without_directory_sync_disappears(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    file_power_loss_begin();
    write_file(a, "synced data", ""); /* the data is synced, the name is not */
    cut(f, 0);
    expect_absent(a);
}

/* file_write_atomic's steps, without (sync_dir false) or with the last one. */
static void
replace_manifest(fixture *f, bool sync_dir)
{
    PATH_IN(temp, f, "MANIFEST.tmp");
    PATH_IN(manifest, f, "MANIFEST");
    write_file(temp, "new", "");
    assert_int_equal(file_rename(temp, manifest, NULL), LSMKV_OK);
    if (sync_dir) {
        assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    }
}

static void
test_unsynced_rename_is_undone(void **state)
{
    fixture *f = *state;
    PATH_IN(temp, f, "MANIFEST.tmp");
    PATH_IN(manifest, f, "MANIFEST");
    write_plain(manifest, "old");
    file_power_loss_begin();
    replace_manifest(f, false);
    expect_contents(manifest, "new", 3);
    cut(f, 0);
    expect_contents(manifest, "old", 3); /* the old file is back under its name */
    expect_absent(temp);                 /* and the temp file's creation is undone */
}

static void
test_synced_rename_survives(void **state)
{
    fixture *f = *state;
    PATH_IN(temp, f, "MANIFEST.tmp");
    PATH_IN(manifest, f, "MANIFEST");
    write_plain(manifest, "old");
    file_power_loss_begin();
    replace_manifest(f, true);
    cut(f, 0);
    expect_contents(manifest, "new", 3);
    expect_absent(temp);
}

static void
test_rename_to_a_new_name_is_undone(void **state)
{
    fixture *f = *state;
    PATH_IN(from, f, "from");
    PATH_IN(to, f, "to");
    write_plain(from, "data");
    file_power_loss_begin();
    assert_int_equal(file_rename(from, to, NULL), LSMKV_OK);
    cut(f, 0);
    expect_contents(from, "data", 4);
    expect_absent(to);
}

static void
test_unsynced_remove_is_undone(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    PATH_IN(b, f, "b");
    write_plain(a, "untracked");
    file_power_loss_begin();
    write_file(b, "synced", " unsynced");
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    assert_int_equal(file_remove(a, NULL), LSMKV_OK);
    assert_int_equal(file_remove(b, NULL), LSMKV_OK);
    expect_absent(a);
    cut(f, 0);
    expect_contents(a, "untracked", 9); /* back whole */
    expect_contents(b, "synced", 6);    /* back with its durable bytes */
}

static void
test_synced_remove_survives(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    write_plain(a, "untracked");
    file_power_loss_begin();
    assert_int_equal(file_remove(a, NULL), LSMKV_OK);
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    cut(f, 0);
    expect_absent(a);
}

static void
test_changes_are_undone_newest_first(void **state)
{
    /* create, rename, create again under the first name, remove: all undone. */
    fixture *f = *state;
    PATH_IN(a, f, "a");
    PATH_IN(b, f, "b");
    file_power_loss_begin();
    write_file(a, "one", "");
    assert_int_equal(file_rename(a, b, NULL), LSMKV_OK);
    write_file(a, "two", "");
    assert_int_equal(file_remove(b, NULL), LSMKV_OK);
    cut(f, 0);
    expect_absent(a);
    expect_absent(b);
}

static void
test_seed_keeps_the_oldest_changes(void **state)
{
    /* Three creations in order: what survives is always a prefix of them. */
    fixture *f = *state;
    bool some = false, all = false;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/round-%d", f->dir, (int)seed);
        assert_int_equal(file_mkdir(dir, NULL), LSMKV_OK);
        file_power_loss_begin();
        char names[3][4200];
        for (int i = 0; i < 3; i++) {
            snprintf(names[i], sizeof(names[i]), "%s/%d", dir, i);
            write_file(names[i], "x", "");
        }
        lsmkv_error err = {0};
        assert_int_equal(file_power_loss_simulate(dir, seed, &err), LSMKV_OK);
        file_power_loss_end();
        int kept = 0;
        for (int i = 0; i < 3; i++) {
            bool present = test_file_size(names[i]) >= 0;
            if (present) {
                assert_int_equal(kept, i); /* no gap: a prefix */
                kept++;
            }
        }
        some |= kept > 0 && kept < 3;
        all |= kept == 3;
    }
    assert_true(some && all);
}

static int
fail_dir_sync(void *ctx, file_op op, const char *path)
{
    return op == FILE_OP_SYNC_DIR ? EIO : 0;
}

static void
test_directories(void **state)
{
    fixture *f = *state;
    PATH_IN(nested, f, "x/y/z");
    PATH_IN(x, f, "x");
    file_power_loss_begin();
    /* file_mkdir syncs each new directory's parent: the tree survives. */
    assert_int_equal(file_mkdir(nested, NULL), LSMKV_OK);
    cut(f, 0);
    struct stat st;
    assert_int_equal(stat(nested, &st), 0);
    file_power_loss_end();

    /* A directory whose parent could not be synced goes, with what is in it. */
    PATH_IN(other, f, "other");
    PATH_IN(inside, f, "other/file");
    file_power_loss_begin();
    file_set_fault_hook(fail_dir_sync, NULL);
    assert_int_equal(file_mkdir(other, NULL), LSMKV_IO_ERROR);
    file_set_fault_hook(NULL, NULL);
    write_file(inside, "data", "");
    cut(f, 0);
    assert_int_not_equal(stat(other, &st), 0);
    assert_int_equal(stat(x, &st), 0);
}

/* ---- the cut -------------------------------------------------------------------------- */

static void
test_nothing_changes_after_the_cut(void **state)
{
    fixture *f = *state;
    PATH_IN(a, f, "a");
    PATH_IN(b, f, "b");
    PATH_IN(sub, f, "sub");
    write_plain(a, "before");
    file_power_loss_begin();
    file_writer *w;
    assert_int_equal(file_writer_open(b, true, &w, NULL), LSMKV_OK);
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_OK);
    cut(f, 0);

    lsmkv_error err = {0};
    assert_int_equal(file_writer_append(w, "late", 4, NULL), LSMKV_OK); /* buffered */
    assert_int_equal(file_writer_sync(w, &err), LSMKV_IO_ERROR);
    assert_int_equal(file_writer_close(w, NULL), LSMKV_OK); /* nothing left to write */
    expect_contents(b, "", 0);
    file_writer *w2;
    PATH_IN(c, f, "c");
    assert_int_equal(file_writer_open(c, true, &w2, &err), LSMKV_IO_ERROR);
    expect_absent(c);
    assert_int_equal(file_rename(a, b, NULL), LSMKV_IO_ERROR);
    assert_int_equal(file_remove(a, NULL), LSMKV_IO_ERROR);
    assert_int_equal(file_truncate(a, 1, NULL), LSMKV_IO_ERROR);
    assert_int_equal(file_sync_dir(f->dir, NULL), LSMKV_IO_ERROR);
    assert_int_equal(file_mkdir(sub, NULL), LSMKV_IO_ERROR);
    expect_contents(a, "before", 6); /* reads still work */
    assert_int_equal(file_power_loss_simulate(f->dir, 0, &err), LSMKV_INVALID_ARGUMENT);

    file_power_loss_end(); /* power back on */
    assert_int_equal(file_remove(a, NULL), LSMKV_OK);
    assert_int_equal(file_power_loss_simulate(f->dir, 0, &err), LSMKV_INVALID_ARGUMENT);
}

static void
test_other_directories_are_left_alone(void **state)
{
    fixture *f = *state;
    PATH_IN(one, f, "one");
    PATH_IN(two, f, "two");
    PATH_IN(in_one, f, "one/a");
    PATH_IN(in_two, f, "two/a");
    assert_int_equal(file_mkdir(one, NULL), LSMKV_OK);
    assert_int_equal(file_mkdir(two, NULL), LSMKV_OK);
    file_power_loss_begin();
    write_file(in_one, "a", "");
    write_file(in_two, "a", "");
    lsmkv_error err = {0};
    assert_int_equal(file_power_loss_simulate(one, 0, &err), LSMKV_OK);
    expect_absent(in_one);
    expect_contents(in_two, "a", 1);
}

int
main(void)
{
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        TEST(test_unsynced_tail_is_dropped),
        TEST(test_file_never_synced_is_empty),
        TEST(test_truncate_is_durable),
        TEST(test_reopened_file_counts_as_empty_until_synced),
        TEST(test_seed_keeps_a_prefix_of_the_unsynced_tail),
        TEST(test_creation_without_directory_sync_disappears),
        TEST(test_unsynced_rename_is_undone),
        TEST(test_synced_rename_survives),
        TEST(test_rename_to_a_new_name_is_undone),
        TEST(test_unsynced_remove_is_undone),
        TEST(test_synced_remove_survives),
        TEST(test_changes_are_undone_newest_first),
        TEST(test_seed_keeps_the_oldest_changes),
        TEST(test_directories),
        TEST(test_mapped_writer_keeps_what_it_synced),
        TEST(test_nothing_changes_after_the_cut),
        TEST(test_other_directories_are_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
