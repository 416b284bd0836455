#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/*
 * compaction_write over memtable input: which versions survive (shadowing,
 * tombstones, snapshots), output splitting, cleanup on input errors, and the
 * metadata each output reports.
 */

#include "compaction.h"
#include "filename.h"
#include "internal_key.h"
#include "memtable.h"
#include "sstable_reader.h"
#include "status.h"
#include "table_info.h"
#include "test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixture --------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    uint64_t next_number; /* handed out by new_file_number */
    int numbers_taken;
    memtable *mem;
    lsmkv_table_list outputs;
    compaction_options options;
} fixture;

static uint64_t
take_number(void *ctx)
{
    fixture *f = ctx;
    f->numbers_taken++;
    return f->next_number++;
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("compaction");
    f->next_number = 10;
    f->mem = memtable_new();
    f->options = (compaction_options){
        .dir = f->dir,
        .builder = {.block_bytes = 4096, .bloom_bits_per_key = 10},
        .target_file_bytes = 0,
        .smallest_snapshot = SEQUENCE_MAX,
        .drop_tombstones = false,
        .output_level = 0,
        .new_file_number = take_number,
        .ctx = f,
    };
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    memtable_unref(f->mem);
    lsmkv_table_list_fini(&f->outputs);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void
put(fixture *f, const char *key, uint64_t seq, const char *value)
{
    memtable_add(f->mem, seq, VALUE_TYPE_VALUE, slice_make(key, strlen(key)),
                 slice_make(value, strlen(value)));
}

static void
del(fixture *f, const char *key, uint64_t seq)
{
    memtable_add(f->mem, seq, VALUE_TYPE_DELETION, slice_make(key, strlen(key)), slice_make("", 0));
}

/* Runs compaction_write over the fixture's memtable; fails the test on error. */
static compaction_stats
run(fixture *f)
{
    iterator *it = memtable_iterator_new(f->mem);
    compaction_stats stats;
    memset(&stats, 0xff, sizeof(stats));
    lsmkv_error err = {0};
    int rc = compaction_write(it, &f->options, &f->outputs, &stats, &err);
    iterator_free(it);
    if (rc != LSMKV_OK) {
        fail_msg("compaction_write: %s", err.message);
    }
    return stats;
}

static void
append_escaped(buffer *out, slice s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.data[i] >= 0x20 && s.data[i] < 0x7f) {
            buffer_append(out, &s.data[i], 1);
        } else {
            char hex[8];
            int n = snprintf(hex, sizeof(hex), "\\x%02x", s.data[i]);
            buffer_append(out, hex, (size_t)n);
        }
    }
}

static sstable_reader *
open_output(const fixture *f, const lsmkv_table_info *info)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, info->id);
    sstable_reader *r = NULL;
    lsmkv_error err = {0};
    if (sstable_reader_open(path, &r, &err) != LSMKV_OK) {
        fail_msg("open %s: %s", path, err.message);
    }
    return r;
}

/* Appends "key@seq=value " or "key@seq:del " for every entry of the table. */
static void
dump_table(const fixture *f, const lsmkv_table_info *info, buffer *out)
{
    sstable_reader *r = open_output(f, info);
    iterator *it = sstable_reader_iterator_new(r);
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        parsed_internal_key k;
        assert_true(internal_key_parse(iterator_key(it), &k));
        append_escaped(out, k.user_key);
        char seq[32];
        int n = snprintf(seq, sizeof(seq), "@%llu", (unsigned long long)k.sequence);
        buffer_append(out, seq, (size_t)n);
        if (k.type == VALUE_TYPE_DELETION) {
            buffer_append(out, ":del", 4);
        } else {
            buffer_append(out, "=", 1);
            append_escaped(out, iterator_value(it));
        }
        buffer_append(out, " ", 1);
    }
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    sstable_reader_free(r);
}

/* Every output's entries, files separated by "| ". */
static void
assert_outputs(const fixture *f, const char *expected)
{
    buffer out;
    buffer_init(&out);
    for (size_t i = 0; i < f->outputs.count; i++) {
        if (i > 0) {
            buffer_append(&out, "| ", 2);
        }
        dump_table(f, &f->outputs.tables[i], &out);
    }
    buffer_append(&out, "", 1);
    if (strcmp((const char *)out.data, expected) != 0) {
        fail_msg("outputs:\n  got      \"%s\"\n  expected \"%s\"", (const char *)out.data,
                 expected);
    }
    buffer_fini(&out);
}

/* ---- which versions survive ------------------------------------------------------ */

static void
test_keeps_newest_drops_shadowed(void **state)
{
    fixture *f = *state;
    put(f, "a", 1, "a1");
    put(f, "a", 3, "a3");
    put(f, "a", 2, "a2");
    put(f, "b", 4, "b4");
    put(f, "c", 6, "c6");
    put(f, "c", 5, "c5");
    compaction_stats stats = run(f);
    assert_int_equal(f->outputs.count, 1);
    assert_outputs(f, "a@3=a3 b@4=b4 c@6=c6 ");
    assert_int_equal(stats.entries_in, 6);
    assert_int_equal(stats.entries_out, 3);
    assert_int_equal(f->numbers_taken, 1);
    assert_int_equal(test_count_files(f->dir, ".sst"), 1);
}

static void
test_one_entry(void **state)
{
    fixture *f = *state;
    put(f, "only", 42, "");
    compaction_stats stats = run(f);
    assert_int_equal(f->outputs.count, 1);
    assert_outputs(f, "only@42= ");
    assert_int_equal(stats.entries_in, 1);
    assert_int_equal(stats.entries_out, 1);
    lsmkv_table_info *info = &f->outputs.tables[0];
    assert_int_equal(info->entries, 1);
    assert_true(slice_equal(table_info_min_key(info), slice_make("only", 4)));
    assert_true(slice_equal(table_info_max_key(info), slice_make("only", 4)));
}

static void
test_tombstones_kept_without_drop_tombstones(void **state)
{
    fixture *f = *state;
    del(f, "a", 5);
    put(f, "a", 2, "old");
    put(f, "b", 3, "b3");
    del(f, "c", 4);
    compaction_stats stats = run(f);
    /* The older "a" is shadowed by the tombstone; the tombstones stay because
     * older data may exist below this output. */
    assert_outputs(f, "a@5:del b@3=b3 c@4:del ");
    assert_int_equal(stats.entries_out, 3);
    assert_int_equal(f->outputs.tables[0].tombstones, 2);
    assert_int_equal(f->outputs.tables[0].entries, 3);
}

static void
test_tombstones_dropped_with_drop_tombstones(void **state)
{
    fixture *f = *state;
    f->options.drop_tombstones = true;
    del(f, "a", 5);
    put(f, "a", 2, "old");
    put(f, "b", 3, "b3");
    del(f, "c", 4);
    put(f, "d", 7, "d7");
    del(f, "d", 6);
    put(f, "d", 1, "d1");
    compaction_stats stats = run(f);
    /* The tombstone below d@7 is shadowed; the value under it too. */
    assert_outputs(f, "b@3=b3 d@7=d7 ");
    assert_int_equal(stats.entries_in, 7);
    assert_int_equal(stats.entries_out, 2);
    assert_int_equal(f->outputs.tables[0].tombstones, 0);
}

/* At the bottom a kept value needs no sequence: it is written with 0. */
static void
test_zero_sequences_at_the_bottom(void **state)
{
    fixture *f = *state;
    f->options.drop_tombstones = true;
    f->options.zero_sequences = true;
    put(f, "a", 1, "a1");
    put(f, "a", 3, "a3");
    put(f, "b", 4, "b4");
    del(f, "c", 5);
    put(f, "c", 2, "c2");
    put(f, "d", 9, "d9");
    run(f);
    assert_outputs(f, "a@0=a3 b@0=b4 d@0=d9 ");
    assert_int_equal(f->outputs.tables[0].max_sequence, 0);
}

/* Not at the bottom (older data below): sequences and tombstones stay. */
static void
test_sequences_kept_above_the_bottom(void **state)
{
    fixture *f = *state;
    put(f, "a", 3, "a3");
    del(f, "c", 5);
    run(f);
    assert_outputs(f, "a@3=a3 c@5:del ");
    assert_int_equal(f->outputs.tables[0].max_sequence, 5);
}

static void
test_snapshot_keeps_visible_versions(void **state)
{
    fixture *f = *state;
    f->options.smallest_snapshot = 4;
    put(f, "a", 9, "a9");
    put(f, "a", 7, "a7");
    put(f, "a", 3, "a3"); /* what a reader at snapshot 4 sees */
    put(f, "a", 2, "a2"); /* hidden below a3 from every reader */
    put(f, "b", 4, "b4");
    put(f, "b", 1, "b1"); /* shadowed by b4, which snapshot 4 sees */
    put(f, "c", 5, "c5");
    put(f, "c", 1, "c1"); /* a reader at 4 still sees it */
    compaction_stats stats = run(f);
    assert_outputs(f, "a@9=a9 a@7=a7 a@3=a3 b@4=b4 c@5=c5 c@1=c1 ");
    assert_int_equal(stats.entries_out, 6);
}

static void
test_snapshot_keeps_tombstone_a_reader_may_see(void **state)
{
    fixture *f = *state;
    f->options.smallest_snapshot = 4;
    f->options.drop_tombstones = true;
    del(f, "a", 5); /* newer than the snapshot: a reader at 4 must not see it */
    put(f, "a", 3, "a3");
    put(f, "a", 2, "a2");
    del(f, "b", 4); /* every reader sees it, nothing older can exist */
    put(f, "b", 1, "b1");
    compaction_stats stats = run(f);
    assert_outputs(f, "a@5:del a@3=a3 ");
    assert_int_equal(stats.entries_in, 5);
    assert_int_equal(stats.entries_out, 2);
    assert_int_equal(f->outputs.tables[0].tombstones, 1);
}

static void
test_binary_keys_are_distinct(void **state)
{
    fixture *f = *state;
    /* "a", "a\0" and "a\0b" are three keys; a bug treating keys as C strings
     * would merge them and drop two as shadowed. */
    const uint8_t v[] = {0, 1, 0};
    memtable_add(f->mem, 1, VALUE_TYPE_VALUE, slice_make("a", 1), slice_make(v, 3));
    memtable_add(f->mem, 2, VALUE_TYPE_VALUE, slice_make("a\0", 2), slice_make(v, 2));
    memtable_add(f->mem, 3, VALUE_TYPE_VALUE, slice_make("a\0b", 3), slice_make(v, 1));
    memtable_add(f->mem, 4, VALUE_TYPE_VALUE, slice_make("\0", 1), slice_make("", 0));
    run(f);
    assert_outputs(f, "\\x00@4= a@1=\\x00\\x01\\x00 a\\x00@2=\\x00\\x01 a\\x00b@3=\\x00 ");
    lsmkv_table_info *info = &f->outputs.tables[0];
    assert_true(slice_equal(table_info_min_key(info), slice_make("\0", 1)));
    assert_true(slice_equal(table_info_max_key(info), slice_make("a\0b", 3)));
}

/* ---- nothing left ------------------------------------------------------------------ */

static void
test_empty_input_writes_no_file(void **state)
{
    fixture *f = *state;
    compaction_stats stats = run(f);
    assert_int_equal(f->outputs.count, 0);
    assert_int_equal(stats.entries_in, 0);
    assert_int_equal(stats.entries_out, 0);
    assert_int_equal(stats.bytes_written, 0);
    assert_int_equal(f->numbers_taken, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
}

static void
test_input_dropping_to_nothing_writes_no_file(void **state)
{
    fixture *f = *state;
    f->options.drop_tombstones = true;
    del(f, "a", 3);
    put(f, "a", 2, "a2");
    del(f, "b", 4);
    compaction_stats stats = run(f);
    assert_int_equal(f->outputs.count, 0);
    assert_int_equal(stats.entries_in, 3);
    assert_int_equal(stats.entries_out, 0);
    assert_int_equal(f->numbers_taken, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
}

/* ---- splitting ------------------------------------------------------------------------ */

static void
make_value(char *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)('a' + (seed + (int)i) % 26);
    }
    buf[len] = '\0';
}

/* Checks outputs are sorted, disjoint, and together hold `entries` entries. */
static void
assert_disjoint_outputs(const fixture *f, uint64_t entries)
{
    uint64_t total = 0;
    for (size_t i = 0; i < f->outputs.count; i++) {
        const lsmkv_table_info *info = &f->outputs.tables[i];
        assert_true(slice_compare(table_info_min_key(info), table_info_max_key(info)) <= 0);
        if (i > 0) {
            const lsmkv_table_info *prev = &f->outputs.tables[i - 1];
            assert_true(slice_compare(table_info_max_key(prev), table_info_min_key(info)) < 0);
        }
        total += info->entries;
    }
    assert_int_equal(total, entries);
}

static void
test_splits_at_target_size(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 8192;
    f->options.builder.block_bytes = 512;
    char key[32], value[301];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        make_value(value, 300, i);
        put(f, key, (uint64_t)i + 1, value);
    }
    compaction_stats stats = run(f);
    /* 200 × ~310 bytes is ~62 KiB: at least 7 files of 8 KiB. */
    assert_true(f->outputs.count >= 7);
    assert_int_equal(stats.entries_out, 200);
    assert_disjoint_outputs(f, 200);
    assert_int_equal(test_count_files(f->dir, ".sst"), (int)f->outputs.count);
    for (size_t i = 0; i + 1 < f->outputs.count; i++) {
        /* A file is cut only once it reached the target; one entry more at most. */
        assert_true(f->outputs.tables[i].size_bytes >= 8192);
        assert_true(f->outputs.tables[i].size_bytes < 8192 + 2048);
    }
}

/*
 * Grandparents (tables of the level below the output) hold 20 keys each here,
 * about 6 KiB of output. Once an output holds half its 8 KiB target it is cut
 * where the next key starts past a grandparent's end, so every output but the
 * last ends exactly where a grandparent ends, where size alone would cut
 * after about 26 keys.
 */
static void
test_cuts_at_grandparent_boundaries_past_half_the_target(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 8192;
    f->options.builder.block_bytes = 512;
    lsmkv_table_info grandparents[10];
    const lsmkv_table_info *pointers[10];
    char min[32], max[32], key[32], value[301];
    for (int g = 0; g < 10; g++) {
        snprintf(min, sizeof(min), "key%05d", g * 20);
        snprintf(max, sizeof(max), "key%05d", g * 20 + 19);
        grandparents[g] = (lsmkv_table_info){.id = 900 + (uint64_t)g, .size_bytes = 6000};
        table_info_set_keys(&grandparents[g], slice_make(min, strlen(min)),
                            slice_make(max, strlen(max)));
        pointers[g] = &grandparents[g];
    }
    f->options.grandparents = pointers;
    f->options.grandparent_count = 10;
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        make_value(value, 300, i);
        put(f, key, (uint64_t)i + 1, value);
    }
    compaction_stats stats = run(f);
    assert_int_equal(stats.entries_out, 200);
    assert_disjoint_outputs(f, 200);
    assert_int_equal(f->outputs.count, 10);
    for (size_t i = 0; i < f->outputs.count; i++) {
        assert_true(slice_equal(table_info_max_key(&f->outputs.tables[i]),
                                table_info_max_key(&grandparents[i])));
        assert_true(f->outputs.tables[i].size_bytes >= 8192 / 2);
        assert_true(f->outputs.tables[i].size_bytes < 8192);
    }
    for (int g = 0; g < 10; g++) {
        table_info_fini(&grandparents[g]);
    }
}

static void
test_never_splits_inside_a_user_key(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 4096;
    f->options.builder.block_bytes = 256;
    f->options.smallest_snapshot = 0; /* keep every version */
    char value[201];
    put(f, "aaa", 1, "first");
    /* 100 versions of one key: ~20 KiB, five times the target. */
    for (int i = 0; i < 100; i++) {
        make_value(value, 200, i);
        put(f, "big", (uint64_t)i + 10, value);
    }
    put(f, "zzz", 2, "last");
    compaction_stats stats = run(f);
    assert_int_equal(stats.entries_out, 102);
    assert_disjoint_outputs(f, 102);
    size_t holding_big = 0;
    for (size_t i = 0; i < f->outputs.count; i++) {
        const lsmkv_table_info *info = &f->outputs.tables[i];
        if (slice_compare(table_info_min_key(info), slice_make("big", 3)) <= 0 &&
            slice_compare(table_info_max_key(info), slice_make("big", 3)) >= 0) {
            holding_big++;
            assert_true(info->entries >= 100);
            assert_true(info->size_bytes > 4096 * 4);
        }
    }
    assert_int_equal(holding_big, 1);
}

static void
test_target_zero_writes_one_file(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 0;
    f->options.builder.block_bytes = 256;
    char key[32], value[301];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        make_value(value, 300, i);
        put(f, key, (uint64_t)i + 1, value);
    }
    run(f);
    assert_int_equal(f->outputs.count, 1);
    assert_int_equal(f->outputs.tables[0].entries, 300);
}

/* ---- input errors ------------------------------------------------------------------- */

/* Wraps an iterator and fails after `limit` entries with `code`. */
typedef struct failing_iterator {
    iterator base;
    iterator *inner;
    int limit;
    int seen;
    int code;
} failing_iterator;

static failing_iterator *
as_failing(iterator *it)
{
    return (failing_iterator *)it;
}

static bool
failing_valid(iterator *it)
{
    failing_iterator *fi = as_failing(it);
    return fi->seen < fi->limit && iterator_valid(fi->inner);
}

static void
failing_seek_to_first(iterator *it)
{
    as_failing(it)->seen = 0;
    iterator_seek_to_first(as_failing(it)->inner);
}

static void
failing_seek(iterator *it, slice target)
{
    as_failing(it)->seen = 0;
    iterator_seek(as_failing(it)->inner, target);
}

static void
failing_next(iterator *it)
{
    as_failing(it)->seen++;
    iterator_next(as_failing(it)->inner);
}

static slice
failing_key(iterator *it)
{
    return iterator_key(as_failing(it)->inner);
}

static slice
failing_value(iterator *it)
{
    return iterator_value(as_failing(it)->inner);
}

static int
failing_status(iterator *it, lsmkv_error *err)
{
    failing_iterator *fi = as_failing(it);
    if (fi->seen >= fi->limit) {
        return status_set(err, fi->code, "injected input error after %d entries", fi->limit);
    }
    return iterator_status(fi->inner, err);
}

static void
failing_free(iterator *it)
{
    iterator_free(as_failing(it)->inner);
    free(it);
}

static const iterator_ops failing_ops = {
    .valid = failing_valid,
    .seek_to_first = failing_seek_to_first,
    .seek = failing_seek,
    .next = failing_next,
    .key = failing_key,
    .value = failing_value,
    .status = failing_status,
    .free = failing_free,
};

static iterator *
failing_iterator_new(iterator *inner, int limit, int code)
{
    failing_iterator *fi = calloc(1, sizeof(*fi));
    fi->base.ops = &failing_ops;
    fi->inner = inner;
    fi->limit = limit;
    fi->code = code;
    return &fi->base;
}

static void
test_input_error_removes_every_file(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 4096;
    f->options.builder.block_bytes = 256;
    /* An output from an earlier call is in the list already: it must survive. */
    lsmkv_table_info earlier = {.id = 3, .entries = 1};
    table_info_set_keys(&earlier, slice_make("x", 1), slice_make("x", 1));
    table_list_append(&f->outputs, &earlier);
    table_info_fini(&earlier);
    char key[32], value[301];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        make_value(value, 300, i);
        put(f, key, (uint64_t)i + 1, value);
    }
    iterator *it = failing_iterator_new(memtable_iterator_new(f->mem), 150, LSMKV_IO_ERROR);
    lsmkv_error err = {0};
    int rc = compaction_write(it, &f->options, &f->outputs, NULL, &err);
    iterator_free(it);
    assert_int_equal(rc, LSMKV_IO_ERROR);
    assert_int_equal(err.code, LSMKV_IO_ERROR);
    assert_non_null(strstr(err.message, "injected input error"));
    /* Several files were finished before the error; all of them are gone. */
    assert_true(f->numbers_taken >= 5);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
    assert_int_equal(f->outputs.count, 1);
    assert_int_equal(f->outputs.tables[0].id, 3);
}

static void
test_input_error_before_any_output(void **state)
{
    fixture *f = *state;
    put(f, "a", 1, "a1");
    iterator *it = failing_iterator_new(memtable_iterator_new(f->mem), 0, LSMKV_CORRUPTION);
    lsmkv_error err = {0};
    assert_int_equal(compaction_write(it, &f->options, &f->outputs, NULL, &err), LSMKV_CORRUPTION);
    iterator_free(it);
    assert_int_equal(f->outputs.count, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
}

static void
test_input_error_in_open_output_removes_it(void **state)
{
    fixture *f = *state;
    /* The error arrives while the first output is still being built. */
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        put(f, key, (uint64_t)i + 1, "v");
    }
    iterator *it = failing_iterator_new(memtable_iterator_new(f->mem), 5, LSMKV_IO_ERROR);
    assert_int_equal(compaction_write(it, &f->options, &f->outputs, NULL, NULL), LSMKV_IO_ERROR);
    iterator_free(it);
    assert_int_equal(f->numbers_taken, 1);
    assert_int_equal(f->outputs.count, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
}

/* An iterator yielding one key too short to be an internal key. */
static bool
bad_valid(iterator *it)
{
    return ((failing_iterator *)it)->seen == 0;
}

static void
bad_seek_to_first(iterator *it)
{
    ((failing_iterator *)it)->seen = 0;
}

static void
bad_seek(iterator *it, slice target)
{
    ((failing_iterator *)it)->seen = 0;
}

static void
bad_next(iterator *it)
{
    ((failing_iterator *)it)->seen++;
}

static slice
bad_key(iterator *it)
{
    return slice_make("abc", 3);
}

static int
bad_status(iterator *it, lsmkv_error *err)
{
    return LSMKV_OK;
}

static void
bad_free(iterator *it)
{
    free(it);
}

static const iterator_ops bad_ops = {
    .valid = bad_valid,
    .seek_to_first = bad_seek_to_first,
    .seek = bad_seek,
    .next = bad_next,
    .key = bad_key,
    .value = bad_key,
    .status = bad_status,
    .free = bad_free,
};

static void
test_malformed_input_key_is_corruption(void **state)
{
    fixture *f = *state;
    failing_iterator *fi = calloc(1, sizeof(*fi));
    fi->base.ops = &bad_ops;
    lsmkv_error err = {0};
    int rc = compaction_write(&fi->base, &f->options, &f->outputs, NULL, &err);
    iterator_free(&fi->base);
    assert_int_equal(rc, LSMKV_CORRUPTION);
    assert_non_null(strstr(err.message, "malformed"));
    assert_int_equal(f->outputs.count, 0);
    assert_int_equal(test_count_files(f->dir, ".sst"), 0);
}

/* ---- metadata ------------------------------------------------------------------------- */

static void
test_output_metadata_matches_file(void **state)
{
    fixture *f = *state;
    f->options.target_file_bytes = 4096;
    f->options.builder.block_bytes = 256;
    f->options.output_level = 3;
    char key[32], value[201];
    uint64_t seq = 1;
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        if (i % 7 == 3) {
            del(f, key, seq++);
        } else {
            make_value(value, (size_t)(i % 200), i);
            put(f, key, seq++, value);
        }
    }
    compaction_stats stats = run(f);
    assert_true(f->outputs.count >= 3);
    uint64_t bytes = 0, entries = 0, max_seq = 0;
    for (size_t i = 0; i < f->outputs.count; i++) {
        const lsmkv_table_info *info = &f->outputs.tables[i];
        char path[FILENAME_PATH_MAX];
        filename_table(path, f->dir, info->id);
        assert_int_equal(info->level, 3);
        assert_int_equal(info->size_bytes, (uint64_t)test_file_size(path));
        sstable_reader *r = open_output(f, info);
        const sstable_properties *p = sstable_reader_properties(r);
        assert_int_equal(info->entries, p->entries);
        assert_int_equal(info->tombstones, p->tombstones);
        assert_int_equal(info->max_sequence, p->max_sequence);
        assert_int_equal(info->size_bytes, p->file_size);
        assert_true(slice_equal(table_info_min_key(info), buffer_slice(&p->min_key)));
        assert_true(slice_equal(table_info_max_key(info), buffer_slice(&p->max_key)));
        /* And the file really holds that: count entries, tombstones, sequences. */
        iterator *it = sstable_reader_iterator_new(r);
        uint64_t n = 0, tombs = 0, top = 0;
        for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), n++) {
            parsed_internal_key k;
            assert_true(internal_key_parse(iterator_key(it), &k));
            if (n == 0) {
                assert_true(slice_equal(k.user_key, table_info_min_key(info)));
            }
            assert_true(slice_compare(k.user_key, table_info_max_key(info)) <= 0);
            tombs += k.type == VALUE_TYPE_DELETION;
            top = k.sequence > top ? k.sequence : top;
        }
        iterator_free(it);
        assert_int_equal(n, info->entries);
        assert_int_equal(tombs, info->tombstones);
        assert_int_equal(top, info->max_sequence);
        sstable_reader_free(r);
        bytes += info->size_bytes;
        entries += info->entries;
        max_seq = info->max_sequence > max_seq ? info->max_sequence : max_seq;
    }
    assert_int_equal(entries, 150);
    assert_int_equal(max_seq, 150);
    assert_int_equal(stats.bytes_written, bytes);
    assert_int_equal(stats.entries_in, 150);
    assert_int_equal(stats.entries_out, 150);
    /* Ids come from new_file_number, in order. */
    for (size_t i = 0; i < f->outputs.count; i++) {
        assert_int_equal(f->outputs.tables[i].id, 10 + i);
    }
}

static void
test_appends_after_existing_outputs(void **state)
{
    fixture *f = *state;
    put(f, "a", 1, "a1");
    run(f);
    memtable_unref(f->mem);
    f->mem = memtable_new();
    put(f, "b", 2, "b2");
    run(f);
    assert_int_equal(f->outputs.count, 2);
    assert_int_equal(f->outputs.tables[0].id, 10);
    assert_int_equal(f->outputs.tables[1].id, 11);
    assert_outputs(f, "a@1=a1 | b@2=b2 ");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keeps_newest_drops_shadowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_kept_without_drop_tombstones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_dropped_with_drop_tombstones, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zero_sequences_at_the_bottom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequences_kept_above_the_bottom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_keeps_visible_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_keeps_tombstone_a_reader_may_see, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_binary_keys_are_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_input_writes_no_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_dropping_to_nothing_writes_no_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_splits_at_target_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cuts_at_grandparent_boundaries_past_half_the_target,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_splits_inside_a_user_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_zero_writes_one_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_error_removes_every_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_error_before_any_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_error_in_open_output_removes_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_input_key_is_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_metadata_matches_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_after_existing_outputs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
