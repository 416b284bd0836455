#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "file.h"
#include "filename.h"
#include "manifest.h"
#include "sstable_reader.h"
#include "table_info.h"
#include "test_support.h"
#include "wal.h"
#include "write_batch.h"
#include "lsmkv/lsmkv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * lsmkv-dump end to end: a store is built through the public API (flushes, a
 * compaction, deletes, data left only in the WAL), then the binary is run on
 * each kind of file and on the directory, clean and damaged, and its output
 * (text, and JSON read back with /usr/bin/python3 when it is installed) and
 * exit status are checked.
 */

#define PYTHON "/usr/bin/python3"

#define FIRST_KEYS 1500 /* flushed, then compacted into level 1 */
#define WAL_PUTS   10   /* plus one delete and one big put, left in the WAL */
#define BIG_VALUE  300

typedef struct fixture {
    char *dir;     /* the store */
    char *scratch; /* command output for python, outside the store */
    lsmkv_options options;
} fixture;

/* ---- running the binary ---------------------------------------------------------- */

typedef struct run_result {
    int status;
    char *out;
} run_result;

static run_result run_dump(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs lsmkv-dump with the arguments (shell syntax); captures stdout and the exit status. */
static run_result
run_dump(const char *fmt, ...)
{
    char args[8192], cmd[8192 + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "'%s' %s", LSMKV_DUMP_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    run_result r = {0, NULL};
    size_t len = 0, cap = 4096;
    r.out = malloc(cap);
    size_t n;
    while ((n = fread(r.out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 1024) {
            cap *= 2;
            r.out = realloc(r.out, cap);
        }
    }
    r.out[len] = '\0';
    int status = pclose(p);
    if (!WIFEXITED(status)) {
        fail_msg("%s did not exit normally (status %d)", cmd, status);
    }
    r.status = WEXITSTATUS(status);
    return r;
}

static void
run_free(run_result *r)
{
    free(r->out);
    r->out = NULL;
}

static void
assert_contains(const run_result *r, const char *needle)
{
    if (strstr(r->out, needle) == NULL) {
        fail_msg("output lacks '%s':\n%s", needle, r->out);
    }
}

static void
assert_lacks(const run_result *r, const char *needle)
{
    if (strstr(r->out, needle) != NULL) {
        fail_msg("output has '%s':\n%s", needle, r->out);
    }
}

static void
assert_status(const run_result *r, int expected)
{
    if (r->status != expected) {
        fail_msg("exit status %d, expected %d; output:\n%s", r->status, expected, r->out);
    }
}

static bool
have_python(void)
{
    return access(PYTHON, X_OK) == 0;
}

/*
 * Checks that r's output is one JSON document (json.tool) and that the Python
 * expression expr over it (the document is `d`) prints expected. Skipped
 * without /usr/bin/python3. expr must not contain single quotes.
 */
static void
assert_json(const fixture *f, const run_result *r, const char *expr, const char *expected)
{
    if (!have_python()) {
        return;
    }
    char path[4096], cmd[16384];
    snprintf(path, sizeof(path), "%s/out.json", f->scratch);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(r->out, out);
    fclose(out);
    snprintf(cmd, sizeof(cmd), "%s -m json.tool '%s' >/dev/null", PYTHON, path);
    if (system(cmd) != 0) {
        fail_msg("not one JSON document:\n%s", r->out);
    }
    snprintf(cmd, sizeof(cmd),
             "%s -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "
             "'%s' '%s'",
             PYTHON, path, expr);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char got[4096] = "";
    size_t n = fread(got, 1, sizeof(got) - 1, p);
    got[n] = '\0';
    pclose(p);
    if (n > 0 && got[n - 1] == '\n') {
        got[n - 1] = '\0';
    }
    if (strcmp(got, expected) != 0) {
        fail_msg("%s is '%s', expected '%s'; document:\n%s", expr, got, expected, r->out);
    }
}

/* ---- building a store ------------------------------------------------------------- */

static void
discard_log(void *ctx, lsmkv_log_level level, const char *line)
{
}

static lsmkv *
open_store(fixture *f)
{
    lsmkv *db = NULL;
    lsmkv_error err = {0};
    if (lsmkv_open(f->dir, &f->options, &db, &err) != LSMKV_OK) {
        fail_msg("lsmkv_open: %s", err.message);
    }
    return db;
}

static void
put(lsmkv *db, const void *key, size_t key_len, const void *value, size_t value_len)
{
    lsmkv_error err = {0};
    if (lsmkv_put(db, NULL, key, key_len, value, value_len, &err) != LSMKV_OK) {
        fail_msg("put: %s", err.message);
    }
}

static void
put_str(lsmkv *db, const char *key, const char *value)
{
    put(db, key, strlen(key), value, strlen(value));
}

static void
del_str(lsmkv *db, const char *key)
{
    assert_int_equal(lsmkv_delete(db, NULL, (const uint8_t *)key, strlen(key), NULL), LSMKV_OK);
}

static void
flush(lsmkv *db)
{
    lsmkv_error err = {0};
    if (lsmkv_flush(db, NULL, &err) != LSMKV_OK) {
        fail_msg("flush: %s", err.message);
    }
}

/* Keys of the first batch, with values that LZ4 cannot shrink much. */
static void
put_first_batch(lsmkv *db, test_rng *rng)
{
    char key[32], value[128];
    for (int i = 0; i < FIRST_KEYS; i++) {
        snprintf(key, sizeof(key), "key-%05d", i);
        int n = snprintf(value, sizeof(value), "value-%d-", i);
        for (int j = 0; j < 80; j++) {
            value[n++] = (char)('!' + test_rng_below(rng, 90));
        }
        put(db, key, strlen(key), value, (size_t)n);
    }
    put(db, "bin\0key\xff", 8, "v\0al", 4);
}

/*
 * Level 1: the first batch, overwritten and partly deleted, compacted.
 * Level 0: one more flush. WAL only: WAL_PUTS puts, a delete, a big value.
 */
static void
build_store(fixture *f)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    lsmkv *db = open_store(f);
    put_first_batch(db, &rng);
    flush(db);
    char key[32];
    for (int i = 0; i < FIRST_KEYS; i += 3) {
        snprintf(key, sizeof(key), "key-%05d", i);
        put_str(db, key, "overwritten");
    }
    for (int i = 0; i < FIRST_KEYS; i += 7) {
        snprintf(key, sizeof(key), "key-%05d", i);
        del_str(db, key);
    }
    flush(db);
    lsmkv_error err = {0};
    if (lsmkv_compact(db, NULL, &err) != LSMKV_OK) {
        fail_msg("compact: %s", err.message);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "key-%05d", 2000 + i);
        put_str(db, key, "level zero");
    }
    del_str(db, "key-00001");
    flush(db);
    for (int i = 0; i < WAL_PUTS; i++) {
        snprintf(key, sizeof(key), "wal-key-%d", i);
        put_str(db, key, "in the log only");
    }
    del_str(db, "key-00002");
    char big[BIG_VALUE];
    memset(big, 'b', sizeof(big));
    put(db, "big-key", 7, big, sizeof(big));
    assert_int_equal(lsmkv_close(db), LSMKV_OK);
}

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("dump-store");
    f->scratch = test_make_temp_dir("dump-scratch");
    lsmkv_options_init(&f->options);
    f->options.sync = LSMKV_SYNC_NONE;
    f->options.log_fn = discard_log;
    f->options.block_bytes = 1024;
    f->options.compression = LSMKV_COMPRESSION_LZ4;
    f->options.sstable_target_bytes = 64u << 10;
    f->options.disable_auto_compaction = true;
    build_store(f);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    test_remove_dir(f->dir);
    test_remove_dir(f->scratch);
    free(f);
    return 0;
}

/* ---- looking at the store with the engine ------------------------------------------- */

static void
read_manifest(const fixture *f, manifest_state *m)
{
    manifest_state_init(m);
    lsmkv_error err = {0};
    if (manifest_read(f->dir, m, &err) != LSMKV_OK) {
        fail_msg("manifest_read: %s", err.message);
    }
}

/* The i-th table of `level` (in manifest order), or fails. */
static const lsmkv_table_info *
table_at(const manifest_state *m, uint32_t level, size_t i)
{
    for (size_t j = 0; j < m->table_count; j++) {
        if (m->tables[j].level == level && i-- == 0) {
            return &m->tables[j];
        }
    }
    fail_msg("no table %zu at level %" PRIu32, i, level);
    return NULL;
}

static size_t
tables_at(const manifest_state *m, uint32_t level)
{
    size_t n = 0;
    for (size_t j = 0; j < m->table_count; j++) {
        n += m->tables[j].level == level;
    }
    return n;
}

/* The number of the only WAL segment (the store's last). */
static uint64_t
wal_number(const fixture *f)
{
    char **names;
    size_t count;
    assert_int_equal(file_list_dir(f->dir, &names, &count, NULL), LSMKV_OK);
    uint64_t found = 0;
    int segments = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t n;
        if (filename_parse(names[i], &n) == FILE_KIND_WAL) {
            found = n;
            segments++;
        }
    }
    file_list_free(names, count);
    assert_int_equal(segments, 1);
    return found;
}

static const char *
table_path(const fixture *f, uint64_t id)
{
    static char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, id);
    return path;
}

static const char *
wal_path(const fixture *f, uint64_t number)
{
    static char path[FILENAME_PATH_MAX];
    filename_wal(path, f->dir, number);
    return path;
}

/* Offsets of the table's first `n` data blocks' middles, from its index. */
static void
block_handles(const char *path, sstable_handle *out, size_t n, size_t *total)
{
    sstable_reader *r = NULL;
    assert_int_equal(sstable_reader_open(path, &r, NULL), LSMKV_OK);
    iterator *it = sstable_reader_index_iterator_new(r);
    size_t i = 0;
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it), i++) {
        if (i < n) {
            assert_true(sstable_handle_decode(iterator_value(it), &out[i]));
        }
    }
    assert_true(i >= n);
    *total = i;
    iterator_free(it);
    sstable_reader_free(r);
}

/* Offset of the last record of a segment. */
static uint64_t
last_record_offset(const char *path)
{
    wal_reader *r = NULL;
    assert_int_equal(wal_reader_open(path, &r, NULL), LSMKV_OK);
    slice payload;
    uint64_t last = 0;
    while (wal_reader_next(r, &payload, NULL) == WAL_READ_RECORD) {
        last = wal_reader_offset(r);
    }
    wal_reader_close(r);
    return last;
}

static void
write_file(const char *path, const char *contents)
{
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(contents, out);
    fclose(out);
}

/* ---- clean store -------------------------------------------------------------------- */

static void
test_verify_clean_store(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    assert_true(tables_at(&m, 1) >= 2); /* the compaction split its output */
    assert_int_equal(tables_at(&m, 0), 1);

    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0);
    assert_contains(&r, "result: clean");
    assert_contains(&r, "errors: 0");
    assert_contains(&r, "warnings: 0");
    assert_contains(&r, "issues: none");
    run_free(&r);

    r = run_dump("verify '%s' --json", f->dir);
    assert_status(&r, 0);
    char count[32];
    snprintf(count, sizeof(count), "%zu", m.table_count);
    assert_json(f, &r, "len(d[\"tables\"])", count);
    assert_json(f, &r, "set(t[\"status\"] for t in d[\"tables\"])", "{'ok'}");
    assert_json(f, &r, "(d[\"errors\"], d[\"warnings\"], d[\"result\"])", "(0, 0, 'clean')");
    assert_json(f, &r, "[w[\"ops\"] for w in d[\"wal_segments\"]]", "[12]");
    run_free(&r);
    manifest_state_fini(&m);
}

static void
test_sst_dumps_table(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    const lsmkv_table_info *t = table_at(&m, 1, 0);
    const char *path = table_path(f, t->id);
    run_result r = run_dump("sst '%s'", path);
    assert_status(&r, 0);
    assert_contains(&r, "magic: 0x3154535654534d4c");
    assert_contains(&r, "format_version: 2");
    assert_contains(&r, "compression: lz4");
    assert_contains(&r, "bits_per_key: ");
    assert_contains(&r, "type=put");
    assert_contains(&r, "value_len="); /* values are longer than the preview */
    assert_contains(&r, "bad_blocks: 0");
    assert_contains(&r, "result: clean");
    run_free(&r);

    r = run_dump("sst '%s' --json --full", path);
    assert_status(&r, 0);
    char expected[64];
    snprintf(expected, sizeof(expected), "(%" PRIu64 ", %" PRIu64 ")", t->entries, t->entries);
    assert_json(f, &r, "(d[\"properties\"][\"entries\"], len(d[\"entries\"]))", expected);
    snprintf(expected, sizeof(expected), "%" PRIu64, t->size_bytes);
    assert_json(f, &r, "d[\"file_size\"]", expected);
    assert_json(f, &r, "any(\"value_len\" in e for e in d[\"entries\"])", "False");
    assert_json(f, &r, "d[\"check\"][\"bad_blocks\"], d[\"result\"]", "(0, 'clean')");
    run_free(&r);
    manifest_state_fini(&m);
}

/* Binary keys: \xNN in text, one code point per byte in JSON. */
static void
test_sst_escapes_binary_keys(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    const lsmkv_table_info *t = NULL;
    for (size_t i = 0; i < m.table_count; i++) {
        if (m.tables[i].min_key_len == 8 && memcmp(m.tables[i].min_key, "bin\0key\xff", 8) == 0) {
            t = &m.tables[i];
        }
    }
    assert_non_null(t);
    run_result r = run_dump("sst '%s' --limit 3", table_path(f, t->id));
    assert_status(&r, 0);
    assert_contains(&r, "min_key: \"bin\\x00key\\xff\"");
    assert_contains(&r, "key=\"bin\\x00key\\xff\"");
    assert_contains(&r, "value=\"v\\x00al\"");
    assert_contains(&r, "entries_listed: 3");
    run_free(&r);

    r = run_dump("sst '%s' --limit 3 --json", table_path(f, t->id));
    assert_contains(&r, "\"key\": \"bin\\u0000key\\u00ff\"");
    assert_json(f, &r, "d[\"entries\"][0][\"value\"].encode(\"latin-1\")", "b'v\\x00al'");
    assert_json(f, &r, "(len(d[\"entries\"]), d[\"entries_limited\"])", "(3, True)");
    run_free(&r);
    manifest_state_fini(&m);
}

static void
test_sst_lists_blocks(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    const char *path = table_path(f, table_at(&m, 1, 0)->id);
    sstable_handle first;
    size_t blocks;
    block_handles(path, &first, 1, &blocks);
    run_result r = run_dump("sst '%s' --blocks --no-entries", path);
    assert_status(&r, 0);
    assert_contains(&r, "offset=0 size=");
    assert_lacks(&r, "entries:\n");
    char line[64];
    snprintf(line, sizeof(line), "block_count: %zu", blocks);
    assert_contains(&r, line);
    run_free(&r);

    r = run_dump("sst '%s' --blocks --no-entries --json", path);
    snprintf(line, sizeof(line), "%zu", blocks);
    assert_json(f, &r, "len(d[\"index\"][\"blocks\"])", line);
    assert_json(f, &r, "\"entries\" in d", "False");
    assert_json(f, &r, "set(b[\"status\"] for b in d[\"index\"][\"blocks\"])", "{'ok'}");
    run_free(&r);
    manifest_state_fini(&m);
}

static void
test_wal_lists_records(void **state)
{
    fixture *f = *state;
    const char *path = wal_path(f, wal_number(f));
    run_result r = run_dump("wal '%s'", path);
    assert_status(&r, 0);
    assert_contains(&r, "magic: LSMKVWAL");
    assert_contains(&r, "offset=16 length=");
    assert_contains(&r, "type=put sequence=");
    assert_contains(&r, "key=\"wal-key-3\" value=\"in the log only\"");
    assert_contains(&r, "type=del");
    assert_contains(&r, "value_len=300");
    assert_contains(&r, "ops: 12");
    assert_contains(&r, "deletes: 1");
    assert_contains(&r, "result: clean");
    run_free(&r);

    r = run_dump("wal '%s' --full --limit 2 --json", path);
    assert_status(&r, 0);
    assert_json(f, &r, "(len(d[\"records\"]), d[\"records_listed\"])", "(2, 2)");
    assert_json(f, &r, "(d[\"summary\"][\"records\"], d[\"summary\"][\"puts\"])", "(12, 11)");
    assert_json(f, &r, "d[\"summary\"][\"max_sequence\"] - d[\"summary\"][\"min_sequence\"] + 1",
                "12");
    run_free(&r);

    r = run_dump("wal '%s' --full", path);
    assert_lacks(&r, "value_len=");
    run_free(&r);
}

static void
test_manifest_lists_levels(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    run_result r = run_dump("manifest '%s'", f->dir);
    assert_status(&r, 0);
    char line[128];
    snprintf(line, sizeof(line), "log_number: %" PRIu64, m.log_number);
    assert_contains(&r, line);
    snprintf(line, sizeof(line), "last_sequence: %" PRIu64, m.last_sequence);
    assert_contains(&r, line);
    assert_contains(&r, "level=0 table_count=1");
    snprintf(line, sizeof(line), "level=1 table_count=%zu", tables_at(&m, 1));
    assert_contains(&r, line);
    assert_contains(&r, "min_key=\"bin\\x00key\\xff\"");
    assert_contains(&r, "status=replay");
    assert_contains(&r, "orphans: none");
    run_free(&r);

    r = run_dump("manifest '%s' --json", f->dir);
    assert_status(&r, 0);
    snprintf(line, sizeof(line), "(%zu, %zu)", m.table_count, m.table_count);
    assert_json(f, &r, "(d[\"table_count\"], sum(l[\"table_count\"] for l in d[\"levels\"]))",
                line);
    assert_json(f, &r, "[l[\"level\"] for l in d[\"levels\"]]", "[0, 1]");
    assert_json(f, &r, "[w[\"status\"] for w in d[\"wal_segments\"]]", "['replay']");
    run_free(&r);
    manifest_state_fini(&m);
}

/* ---- damage ----------------------------------------------------------------------------- */

static void
test_flipped_bits_in_table_blocks(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    const lsmkv_table_info *t = table_at(&m, 1, 1);
    char path[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s", table_path(f, t->id));
    sstable_handle h[3];
    size_t blocks;
    block_handles(path, h, 3, &blocks);
    test_flip_bit(path, (long long)(h[0].offset + h[0].size / 2), 1);
    test_flip_bit(path, (long long)(h[2].offset + h[2].size / 2), 6);

    run_result r = run_dump("sst '%s' --blocks", path);
    assert_status(&r, 1);
    char line[256];
    snprintf(line, sizeof(line), "checksum mismatch in block at offset %" PRIu64, h[0].offset);
    assert_contains(&r, line);
    snprintf(line, sizeof(line), "checksum mismatch in block at offset %" PRIu64, h[2].offset);
    assert_contains(&r, line);
    snprintf(line, sizeof(line), "blocks_checked: %zu", blocks);
    assert_contains(&r, line);
    assert_contains(&r, "bad_blocks: 2");
    assert_contains(&r, "compression=? entries=0");
    assert_contains(&r, "result: damaged");
    run_free(&r);

    r = run_dump("sst '%s' --blocks --json", path);
    assert_status(&r, 1);
    assert_json(f, &r, "[b[\"status\"] for b in d[\"index\"][\"blocks\"]].count(\"bad\")", "2");
    assert_json(f, &r, "len(d[\"check\"][\"issues\"])", "2");
    run_free(&r);

    r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    snprintf(line, sizeof(line), "%06" PRIu64 ".sst: checksum mismatch", t->id);
    assert_contains(&r, line);
    assert_contains(&r, "status=damaged");
    assert_contains(&r, "result: damaged");
    run_free(&r);
    manifest_state_fini(&m);
}

static void
test_torn_wal_tail(void **state)
{
    fixture *f = *state;
    char path[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s", wal_path(f, wal_number(f)));
    uint64_t last = last_record_offset(path);
    long long size = test_file_size(path);
    assert_int_equal(truncate(path, size - 5), 0);

    run_result r = run_dump("wal '%s'", path);
    assert_status(&r, 1);
    char line[128];
    snprintf(line, sizeof(line), "offset: %" PRIu64, last);
    assert_contains(&r, "tail:");
    assert_contains(&r, line);
    snprintf(line, sizeof(line), "bytes: %lld", size - 5 - (long long)last);
    assert_contains(&r, line);
    assert_contains(&r, "records: 11");
    run_free(&r);

    r = run_dump("wal '%s' --json", path);
    snprintf(line, sizeof(line), "%" PRIu64, last);
    assert_json(f, &r, "d[\"tail\"][\"offset\"]", line);
    run_free(&r);

    /* What a crash leaves: a warning, and verify leaves the file alone. */
    r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0);
    assert_contains(&r, "warning: ");
    assert_contains(&r, "torn tail of the newest segment");
    assert_contains(&r, "status=torn-tail");
    assert_contains(&r, "errors: 0");
    run_free(&r);
    assert_int_equal(test_file_size(path), size - 5);
}

/* A segment cut inside its header (a crash while creating it) reads as empty. */
static void
test_torn_wal_header(void **state)
{
    fixture *f = *state;
    char path[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s", wal_path(f, wal_number(f)));
    assert_int_equal(truncate(path, WAL_HEADER_BYTES - 6), 0);
    run_result r = run_dump("wal '%s'", path);
    assert_status(&r, 1);
    assert_contains(&r, "status: torn");
    assert_contains(&r, "recovery reads the segment as empty");
    assert_contains(&r, "records: none");
    run_free(&r);

    r = run_dump("verify '%s' --json", f->dir);
    assert_status(&r, 0);
    assert_json(f, &r, "(d[\"errors\"], d[\"warnings\"])", "(0, 1)");
    assert_json(f, &r, "[w[\"status\"] for w in d[\"wal_segments\"]]", "['torn-tail']");
    run_free(&r);
}

/* Writes a segment numbered `number` holding one put. */
static void
write_segment(const fixture *f, uint64_t number, uint64_t sequence)
{
    wal_writer *w = NULL;
    assert_int_equal(wal_writer_open(wal_path(f, number), &w, NULL), LSMKV_OK);
    write_batch b;
    write_batch_init(&b);
    write_batch_put(&b, slice_make("later", 5), slice_make("segment", 7));
    write_batch_set_sequence(&b, sequence);
    buffer framed;
    buffer_init(&framed);
    wal_frame_record(&framed, write_batch_contents(&b));
    assert_int_equal(wal_writer_append(w, buffer_slice(&framed), NULL), LSMKV_OK);
    assert_int_equal(wal_writer_close(w, true, NULL), LSMKV_OK);
    buffer_fini(&framed);
    write_batch_fini(&b);
}

static void
test_bad_record_in_older_segment(void **state)
{
    fixture *f = *state;
    uint64_t older = wal_number(f);
    char path[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s", wal_path(f, older));
    write_segment(f, older + 10, 1000000);
    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0); /* two clean segments */
    run_free(&r);

    test_flip_bit(path, WAL_HEADER_BYTES + WAL_RECORD_HEADER + 3, 2);
    r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    char line[128];
    snprintf(line, sizeof(line), "%06" PRIu64 ".wal: bad WAL record at offset %d", older,
             WAL_HEADER_BYTES);
    assert_contains(&r, line);
    assert_contains(&r, "recovery fails here");
    run_free(&r);

    r = run_dump("wal '%s' --json", path);
    assert_status(&r, 1);
    assert_json(f, &r, "(d[\"tail\"][\"offset\"], d[\"summary\"][\"records\"])", "(16, 0)");
    run_free(&r);
}

/* Zeros after the records: the reserve of a segment still open, or of the
 * newest one after a crash; in an older segment they are damage. */
static void
test_reserved_zeros_in_wal_segments(void **state)
{
    fixture *f = *state;
    uint64_t older = wal_number(f);
    char path[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s", wal_path(f, older));
    static const uint8_t zeros[4096];
    FILE *out = fopen(path, "ab");
    assert_non_null(out);
    assert_int_equal(fwrite(zeros, 1, sizeof(zeros), out), sizeof(zeros));
    fclose(out);
    long long records_end = test_file_size(path) - (long long)sizeof(zeros);

    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0);
    assert_contains(&r, "result: clean");
    assert_contains(&r, "warnings: 0");
    run_free(&r);
    r = run_dump("wal '%s' --json", path);
    assert_status(&r, 0);
    assert_json(f, &r, "d[\"summary\"][\"reserved_bytes\"]", "4096");
    run_free(&r);

    write_segment(f, older + 10, 1000000); /* no longer the newest */
    r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    char line[160];
    snprintf(line, sizeof(line),
             "zeros from offset %lld to the end of a segment that is not the newest", records_end);
    assert_contains(&r, line);
    run_free(&r);
}

static void
test_missing_table(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    uint64_t id = table_at(&m, 1, 0)->id;
    assert_int_equal(unlink(table_path(f, id)), 0);
    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    char line[256];
    snprintf(line, sizeof(line), "%06" PRIu64 ".sst, which is missing", id);
    assert_contains(&r, line);
    assert_contains(&r, "status=missing");
    run_free(&r);

    r = run_dump("manifest '%s'", f->dir);
    assert_status(&r, 1);
    assert_contains(&r, "missing=true");
    assert_contains(&r, line);
    run_free(&r);
    manifest_state_fini(&m);
}

static void
test_orphan_files_are_warnings(void **state)
{
    fixture *f = *state;
    char path[FILENAME_PATH_MAX];
    snprintf(path, sizeof(path), "%s/000999.sst", f->dir);
    write_file(path, "not a table");
    write_file(test_path(f->dir, "MANIFEST.tmp"), "half a manifest");
    write_file(test_path(f->dir, "notes.txt"), "an operator's notes");

    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0);
    assert_contains(&r, "warning: ");
    assert_contains(&r, "000999.sst: a table the manifest does not name");
    assert_contains(&r, "MANIFEST.tmp: a temporary file");
    assert_contains(&r, "notes.txt: not a file a store writes");
    assert_contains(&r, "warnings: 3");
    run_free(&r);

    r = run_dump("verify '%s' --json", f->dir);
    assert_status(&r, 0);
    assert_json(f, &r, "(d[\"errors\"], d[\"warnings\"])", "(0, 3)");
    run_free(&r);

    r = run_dump("manifest '%s' --json", f->dir);
    assert_status(&r, 0);
    assert_json(f, &r, "sorted(o[\"file\"] for o in d[\"orphans\"])",
                "['000999.sst', 'MANIFEST.tmp', 'notes.txt']");
    run_free(&r);
}

static void
test_empty_manifest(void **state)
{
    fixture *f = *state;
    assert_int_equal(truncate(test_path(f->dir, FILENAME_MANIFEST), 0), 0);
    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    assert_contains(&r, "/MANIFEST: empty manifest");
    assert_contains(&r, "status=ok"); /* the tables present are still checked */
    run_free(&r);

    r = run_dump("manifest '%s'", f->dir);
    assert_status(&r, 1);
    assert_contains(&r, "/MANIFEST: empty manifest");
    run_free(&r);
}

static void
test_damaged_manifest(void **state)
{
    fixture *f = *state;
    test_flip_bit(test_path(f->dir, FILENAME_MANIFEST), MANIFEST_HEADER_BYTES + 2, 0);
    run_result r = run_dump("verify '%s' --json", f->dir);
    assert_status(&r, 1);
    assert_json(f, &r, "\"/MANIFEST: checksum mismatch\" in d[\"issues\"][0][\"message\"]", "True");
    run_free(&r);

    r = run_dump("manifest '%s'", f->dir);
    assert_status(&r, 1);
    assert_contains(&r, "/MANIFEST: checksum mismatch");
    run_free(&r);
}

/* Rewrites the manifest through the engine with one change made by `edit`. */
static void
rewrite_manifest(fixture *f, void (*edit)(manifest_state *m))
{
    manifest_state m;
    read_manifest(f, &m);
    edit(&m);
    lsmkv_error err = {0};
    if (manifest_write(f->dir, &m, &err) != LSMKV_OK) {
        fail_msg("manifest_write: %s", err.message);
    }
    manifest_state_fini(&m);
}

static void
move_level0_to_level1(manifest_state *m)
{
    for (size_t i = 0; i < m->table_count; i++) {
        if (m->tables[i].level == 0) {
            m->tables[i].level = 1;
        }
    }
}

static void
test_overlapping_level(void **state)
{
    fixture *f = *state;
    rewrite_manifest(f, move_level0_to_level1);
    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    assert_contains(&r, "level 1: table ");
    assert_contains(&r, " overlaps table ");
    run_free(&r);
}

static void
count_one_more_entry(manifest_state *m)
{
    m->tables[0].entries++;
}

static void
test_manifest_disagrees_with_table(void **state)
{
    fixture *f = *state;
    rewrite_manifest(f, count_one_more_entry);
    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 1);
    assert_contains(&r, "the manifest records entries ");
    run_free(&r);
}

static void
test_warns_when_store_is_open(void **state)
{
    fixture *f = *state;
    lsmkv *db = open_store(f);
    run_result r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0);
    assert_contains(&r, "LOCK is held");
    run_free(&r);
    assert_int_equal(lsmkv_close(db), LSMKV_OK);

    r = run_dump("verify '%s'", f->dir);
    assert_status(&r, 0);
    assert_lacks(&r, "LOCK is held");
    run_free(&r);
}

/* ---- usage and unreadable input ------------------------------------------------------ */

static void
test_usage_errors(void **state)
{
    fixture *f = *state;
    const char *bad[] = {
        "",
        "frobnicate x",
        "sst",
        "verify",
        "sst a b",
        "sst x --bogus",
        "verify x --limit 3",
        "manifest x --blocks",
        "sst x --limit",
        "sst x --limit many",
        "wal x --blocks",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run_result r = run_dump("%s 2>&1", bad[i]);
        if (r.status != 2 || strstr(r.out, "usage: lsmkv-dump") == NULL) {
            fail_msg("'%s': status %d, output:\n%s", bad[i], r.status, r.out);
        }
        run_free(&r);
    }
    run_result r = run_dump("--help");
    assert_status(&r, 0);
    assert_contains(&r, "Exit status: 0 clean");
    run_free(&r);
    r = run_dump("verify --help");
    assert_status(&r, 0);
    run_free(&r);

    r = run_dump("sst '%s/nonexistent.sst'", f->dir);
    assert_status(&r, 2);
    assert_contains(&r, "result: unreadable");
    run_free(&r);
    r = run_dump("verify '%s/nonexistent'", f->dir);
    assert_status(&r, 2);
    run_free(&r);
    r = run_dump("verify '%s'", f->scratch); /* an empty directory is no store */
    assert_status(&r, 2);
    assert_contains(&r, "not a store");
    run_free(&r);
}

/* A file of the wrong kind is damage to the reader that expects it: exit 1. */
static void
test_wrong_file_kind(void **state)
{
    fixture *f = *state;
    manifest_state m;
    read_manifest(f, &m);
    run_result r = run_dump("sst '%s'", wal_path(f, wal_number(f)));
    assert_status(&r, 1);
    assert_contains(&r, "bad magic");
    run_free(&r);
    r = run_dump("wal '%s' --json", table_path(f, m.tables[0].id));
    assert_status(&r, 1);
    assert_json(f, &r, "d[\"result\"]", "damaged");
    run_free(&r);
    manifest_state_fini(&m);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_verify_clean_store),
        T(test_sst_dumps_table),
        T(test_sst_escapes_binary_keys),
        T(test_sst_lists_blocks),
        T(test_wal_lists_records),
        T(test_manifest_lists_levels),
        T(test_flipped_bits_in_table_blocks),
        T(test_torn_wal_tail),
        T(test_torn_wal_header),
        T(test_bad_record_in_older_segment),
        T(test_reserved_zeros_in_wal_segments),
        T(test_missing_table),
        T(test_orphan_files_are_warnings),
        T(test_empty_manifest),
        T(test_damaged_manifest),
        T(test_overlapping_level),
        T(test_manifest_disagrees_with_table),
        T(test_warns_when_store_is_open),
        T(test_usage_errors),
        T(test_wrong_file_kind),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
