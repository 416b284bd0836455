#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checksum.h"
#include "coding.h"
#include "file.h"
#include "filename.h"
#include "manifest.h"
#include "table_info.h"
#include "test_support.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "/store/MANIFEST"

/* ---- helpers -------------------------------------------------------------------- */

/* Appends a table with copies of the given keys to s. */
static lsmkv_table_info *
add_table(manifest_state *s, uint64_t id, uint32_t level, const void *min_key, size_t min_len,
          const void *max_key, size_t max_len)
{
    s->tables = realloc(s->tables, (s->table_count + 1) * sizeof(*s->tables));
    assert_non_null(s->tables);
    lsmkv_table_info *t = &s->tables[s->table_count++];
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->level = level;
    t->size_bytes = 4096 + id;
    t->entries = 100 + id;
    t->tombstones = id % 7;
    t->max_sequence = 1000 + id;
    table_info_set_keys(t, slice_make(min_key, min_len), slice_make(max_key, max_len));
    return t;
}

/* A small valid manifest with two tables, one with NUL bytes in its keys. */
static void
make_small_state(manifest_state *s)
{
    manifest_state_init(s);
    s->next_file_number = 10;
    s->last_sequence = 12345;
    s->log_number = 9;
    add_table(s, 3, 0, "apple", 5, "mango", 5);
    add_table(s, 7, 1, "\0a", 2, "\0b\0", 3);
}

static void
assert_table_equal(const lsmkv_table_info *a, const lsmkv_table_info *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->level, b->level);
    assert_int_equal(a->size_bytes, b->size_bytes);
    assert_int_equal(a->entries, b->entries);
    assert_int_equal(a->tombstones, b->tombstones);
    assert_int_equal(a->max_sequence, b->max_sequence);
    assert_true(slice_equal(table_info_min_key(a), table_info_min_key(b)));
    assert_true(slice_equal(table_info_max_key(a), table_info_max_key(b)));
}

static void
assert_state_equal(const manifest_state *a, const manifest_state *b)
{
    assert_int_equal(a->next_file_number, b->next_file_number);
    assert_int_equal(a->last_sequence, b->last_sequence);
    assert_int_equal(a->log_number, b->log_number);
    assert_int_equal(a->table_count, b->table_count);
    for (size_t i = 0; i < a->table_count; i++) {
        assert_table_equal(&a->tables[i], &b->tables[i]);
    }
}

/* Encodes s, decodes the bytes, and checks that everything came back. */
static void
assert_round_trip(const manifest_state *s)
{
    buffer buf;
    buffer_init(&buf);
    manifest_encode(s, &buf);
    manifest_state back;
    manifest_state_init(&back);
    lsmkv_error err = {0};
    int rc = manifest_decode(buffer_slice(&buf), WHAT, &back, &err);
    if (rc != LSMKV_OK) {
        fail_msg("decode failed: %s", err.message);
    }
    assert_state_equal(s, &back);
    manifest_state_fini(&back);
    buffer_fini(&buf);
}

/* Builds a file around an arbitrary payload with a valid header. */
static void
frame_payload(buffer *out, const void *payload, size_t len)
{
    buffer_clear(out);
    buffer_append(out, MANIFEST_MAGIC, 8);
    put_fixed32(out, MANIFEST_FORMAT_VERSION);
    put_fixed32(out, (uint32_t)len);
    put_fixed32(out, checksum32(payload, len, MANIFEST_CHECKSUM_SEED));
    buffer_append(out, payload, len);
}

/*
 * Decoding data must fail with CORRUPTION, a message that starts with WHAT and
 * contains fragment, and leave the output state as it was.
 */
static void
expect_corruption(slice data, const char *fragment)
{
    manifest_state out;
    manifest_state_init(&out);
    out.next_file_number = 77; /* sentinel: must survive a failed decode */
    lsmkv_error err = {0};
    int rc = manifest_decode(data, WHAT, &out, &err);
    assert_int_equal(rc, LSMKV_CORRUPTION);
    assert_int_equal(err.code, LSMKV_CORRUPTION);
    if (strncmp(err.message, WHAT ": ", strlen(WHAT ": ")) != 0 ||
        strstr(err.message, fragment) == NULL) {
        fail_msg("unexpected message \"%s\" (wanted \"%s\")", err.message, fragment);
    }
    assert_int_equal(out.next_file_number, 77);
    assert_int_equal(out.table_count, 0);
    assert_null(out.tables);
}

/* Encodes s, which breaks a table-set rule, and expects decode to refuse it. */
static void
expect_state_rejected(manifest_state *s, const char *fragment)
{
    buffer buf;
    buffer_init(&buf);
    manifest_encode(s, &buf);
    expect_corruption(buffer_slice(&buf), fragment);
    buffer_fini(&buf);
    manifest_state_fini(s);
}

/* ---- state ------------------------------------------------------------------------ */

static void
test_state_init_fini(void **state)
{
    manifest_state s;
    memset(&s, 0xab, sizeof(s));
    manifest_state_init(&s);
    assert_int_equal(s.next_file_number, 0);
    assert_int_equal(s.table_count, 0);
    assert_null(s.tables);
    manifest_state_fini(&s);

    make_small_state(&s);
    manifest_state_fini(&s);
    assert_int_equal(s.table_count, 0);
    assert_null(s.tables);
    manifest_state_fini(&s); /* a second fini is harmless */
}

/* ---- encoding and round trips ------------------------------------------------------ */

static void
test_encode_layout(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    buffer_set(&buf, "stale bytes that must be replaced", 33);
    manifest_encode(&s, &buf);

    assert_true(buf.len > MANIFEST_HEADER_BYTES);
    assert_memory_equal(buf.data, "LSMKVMAN", 8);
    assert_int_equal(decode_fixed32(buf.data + 8), 1);
    assert_int_equal(decode_fixed32(buf.data + 12), buf.len - MANIFEST_HEADER_BYTES);
    assert_int_equal(decode_fixed32(buf.data + 16),
                     checksum32(buf.data + MANIFEST_HEADER_BYTES, buf.len - MANIFEST_HEADER_BYTES,
                                MANIFEST_CHECKSUM_SEED));

    /* Encoding is deterministic and does not depend on the buffer's history. */
    buffer fresh;
    buffer_init(&fresh);
    manifest_encode(&s, &fresh);
    assert_int_equal(fresh.len, buf.len);
    assert_memory_equal(fresh.data, buf.data, buf.len);

    buffer_fini(&fresh);
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_round_trip_no_tables(void **state)
{
    manifest_state s;
    manifest_state_init(&s);
    assert_round_trip(&s); /* all zero: an empty payload */
    s.next_file_number = 1;
    s.last_sequence = UINT64_MAX;
    s.log_number = 1;
    assert_round_trip(&s);
    manifest_state_fini(&s);
}

static void
test_round_trip_one_table(void **state)
{
    manifest_state s;
    manifest_state_init(&s);
    s.next_file_number = 5;
    s.last_sequence = 42;
    s.log_number = 4;
    lsmkv_table_info *t = add_table(&s, 4, 0, "a", 1, "z", 1);
    t->size_bytes = 123456;
    t->entries = 3;
    t->tombstones = 3;
    t->max_sequence = 42;
    assert_round_trip(&s);
    manifest_state_fini(&s);
}

/* Fills key with random bytes, about a quarter of them NUL. */
static void
random_key(test_rng *rng, uint8_t *key, size_t len)
{
    test_rng_bytes(rng, key, len);
    for (size_t i = 0; i < len; i++) {
        if (test_rng_below(rng, 4) == 0) {
            key[i] = 0;
        }
    }
}

static void
test_round_trip_many_tables_binary_keys(void **state)
{
    test_rng rng;
    test_rng_init(&rng, test_seed());
    manifest_state s;
    manifest_state_init(&s);
    s.next_file_number = UINT64_MAX;
    s.last_sequence = UINT64_MAX - 1;
    s.log_number = UINT64_MAX - 2;

    uint8_t a[64], b[64];
    for (uint64_t id = 1; id <= 500; id++) {
        size_t alen = 1 + test_rng_below(&rng, sizeof(a)), blen = 1 + test_rng_below(&rng, 64);
        random_key(&rng, a, alen);
        random_key(&rng, b, blen);
        bool swap = slice_compare(slice_make(a, alen), slice_make(b, blen)) > 0;
        add_table(&s, id * 3, (uint32_t)(id % LSMKV_MAX_LEVELS), swap ? b : a, swap ? blen : alen,
                  swap ? a : b, swap ? alen : blen);
    }
    /* Keys that are all NUL, min == max, and an empty table with no keys. */
    add_table(&s, 2, 0, "\0\0\0", 3, "\0\0\0\0", 4);
    add_table(&s, 5, 3, "same", 4, "same", 4);
    lsmkv_table_info *empty = add_table(&s, 8, 6, "", 0, "", 0);
    empty->entries = 0;
    empty->tombstones = 0;
    /* Extremes of every numeric field. */
    lsmkv_table_info *big =
        add_table(&s, UINT64_MAX - 1, LSMKV_MAX_LEVELS - 1, "\xff", 1, "\xff\xff", 2);
    big->size_bytes = UINT64_MAX;
    big->entries = UINT64_MAX;
    big->tombstones = UINT64_MAX;
    big->max_sequence = UINT64_MAX;

    /* Large keys: past the default key limit and past 1 MiB. */
    size_t large = 1024 * 1024 + 17;
    uint8_t *k1 = malloc(large), *k2 = malloc(large);
    assert_non_null(k1);
    assert_non_null(k2);
    random_key(&rng, k1, large);
    memcpy(k2, k1, large);
    k1[0] = 0x00;
    k2[0] = 0x01;
    add_table(&s, 1, 2, k1, 70000, k2, large);
    free(k1);
    free(k2);

    assert_round_trip(&s);
    manifest_state_fini(&s);
}

/* ---- decode failures ------------------------------------------------------------------ */

static void
test_decode_empty_input(void **state)
{
    expect_corruption(slice_make(NULL, 0), "empty manifest");
    expect_corruption(slice_make("", 0), "empty manifest");
}

static void
test_decode_short_header(void **state)
{
    buffer buf;
    buffer_init(&buf);
    frame_payload(&buf, NULL, 0);
    assert_int_equal(buf.len, MANIFEST_HEADER_BYTES);
    for (size_t len = 1; len < MANIFEST_HEADER_BYTES; len++) {
        expect_corruption(slice_make(buf.data, len), "truncated manifest header");
    }
    buffer_fini(&buf);
}

static void
test_decode_wrong_magic(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);
    for (size_t i = 0; i < 8; i++) {
        buf.data[i] ^= 0x20;
        expect_corruption(buffer_slice(&buf), "bad magic");
        buf.data[i] ^= 0x20;
    }
    memcpy(buf.data, "LSMKVWAL", 8); /* another lsmkv file is not a manifest */
    expect_corruption(buffer_slice(&buf), "bad magic");
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_unsupported_version(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);
    const uint32_t versions[] = {0, 2, 256, UINT32_MAX};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        encode_fixed32(buf.data + 8, versions[i]);
        expect_corruption(buffer_slice(&buf), "unsupported manifest version");
    }
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_length_mismatch(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);
    uint32_t length = decode_fixed32(buf.data + 12);
    const uint32_t lies[] = {0, length - 1, length + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        encode_fixed32(buf.data + 12, lies[i]);
        expect_corruption(buffer_slice(&buf), "does not match");
    }
    /* A correct length with trailing bytes after the payload. */
    encode_fixed32(buf.data + 12, length);
    buffer_append(&buf, "\0", 1);
    expect_corruption(buffer_slice(&buf), "does not match");
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_checksum_mismatch(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);
    buf.data[16] ^= 1; /* the stored checksum */
    expect_corruption(buffer_slice(&buf), "checksum mismatch");
    buf.data[16] ^= 1;
    buf.data[buf.len - 1] ^= 0x80; /* the last payload byte */
    expect_corruption(buffer_slice(&buf), "checksum mismatch");
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_unparsable_protobuf(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } payloads[] = {
        {"\x08\x80", 2},                                          /* varint cut short */
        {"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12}, /* varint over 10 bytes */
        {"\x22\x05\x08", 3},                                      /* table runs past the payload */
        {"\x22\x02\x08\x80", 4},         /* table with a varint cut short */
        {"\x0f", 1},                     /* wire type 7 does not exist */
        {"\xff\xff\xff\xff\xff\xff", 6}, /* garbage */
    };
    buffer buf;
    buffer_init(&buf);
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        frame_payload(&buf, payloads[i].bytes, payloads[i].len);
        expect_corruption(buffer_slice(&buf), "does not parse");
    }
    buffer_fini(&buf);
}

static void
test_decode_accepts_unknown_fields(void **state)
{
    /* A newer writer may add fields; protobuf skips them and so do we. */
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);
    buffer payload;
    buffer_init(&payload);
    buffer_append(&payload, buf.data + MANIFEST_HEADER_BYTES, buf.len - MANIFEST_HEADER_BYTES);
    buffer_append(&payload, "\x78\x01", 2); /* field 15, varint 1 */
    frame_payload(&buf, payload.data, payload.len);

    manifest_state back;
    manifest_state_init(&back);
    assert_int_equal(manifest_decode(buffer_slice(&buf), WHAT, &back, NULL), LSMKV_OK);
    assert_state_equal(&s, &back);
    manifest_state_fini(&back);
    buffer_fini(&payload);
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_rejects_duplicate_table_ids(void **state)
{
    manifest_state s;
    make_small_state(&s);
    add_table(&s, 5, 0, "a", 1, "b", 1);
    add_table(&s, 3, 2, "c", 1, "d", 1); /* same id as the first table */
    expect_state_rejected(&s, "table 3 is listed twice");
}

static void
test_decode_rejects_id_not_below_next_file_number(void **state)
{
    manifest_state s;
    make_small_state(&s);
    add_table(&s, 10, 0, "a", 1, "b", 1); /* == next_file_number */
    expect_state_rejected(&s, "table 10 is not below the next file number 10");

    make_small_state(&s);
    add_table(&s, UINT64_MAX, 0, "a", 1, "b", 1);
    expect_state_rejected(&s, "is not below the next file number");

    manifest_state_init(&s); /* next_file_number 0: no table can exist */
    add_table(&s, 0, 0, "a", 1, "b", 1);
    expect_state_rejected(&s, "table 0 is not below");
}

static void
test_decode_rejects_bad_level(void **state)
{
    manifest_state s;
    make_small_state(&s);
    add_table(&s, 5, LSMKV_MAX_LEVELS, "a", 1, "b", 1);
    expect_state_rejected(&s, "table 5 has level 7");

    make_small_state(&s);
    add_table(&s, 5, UINT32_MAX, "a", 1, "b", 1);
    expect_state_rejected(&s, "has level 4294967295");
}

static void
test_decode_rejects_min_key_above_max_key(void **state)
{
    manifest_state s;
    make_small_state(&s);
    add_table(&s, 5, 0, "b", 1, "a", 1);
    expect_state_rejected(&s, "table 5 has min key above max key");

    /* Bytewise order: a longer key with the same prefix sorts after. */
    make_small_state(&s);
    add_table(&s, 5, 0, "a\0", 2, "a", 1);
    expect_state_rejected(&s, "min key above max key");
}

static void
test_decode_rejects_inconsistent_counts(void **state)
{
    manifest_state s;
    make_small_state(&s);
    lsmkv_table_info *t = add_table(&s, 5, 0, "a", 1, "b", 1);
    t->entries = 2;
    t->tombstones = 3;
    expect_state_rejected(&s, "table 5 has more tombstones (3) than entries (2)");

    make_small_state(&s);
    t = add_table(&s, 5, 0, "", 0, "b", 1);
    t->entries = 1;
    t->tombstones = 0;
    expect_state_rejected(&s, "table 5 has entries but an empty key");

    make_small_state(&s);
    t = add_table(&s, 5, 0, "", 0, "", 0);
    t->entries = 1;
    t->tombstones = 0;
    expect_state_rejected(&s, "has entries but an empty key");
}

static void
test_decode_replaces_previous_contents(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);

    manifest_state out;
    manifest_state_init(&out);
    out.next_file_number = 1000;
    for (uint64_t id = 0; id < 20; id++) {
        add_table(&out, id, 0, "old", 3, "older", 5);
    }
    /* The old tables are freed (ASan's leak check) and replaced. */
    assert_int_equal(manifest_decode(buffer_slice(&buf), WHAT, &out, NULL), LSMKV_OK);
    assert_state_equal(&s, &out);

    manifest_state_fini(&out);
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_detects_every_bit_flip(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);

    int detected = 0, total = 0;
    for (size_t i = 0; i < buf.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf.data[i] ^= (uint8_t)(1u << bit);
            manifest_state back;
            manifest_state_init(&back);
            lsmkv_error err = {0};
            int rc = manifest_decode(buffer_slice(&buf), WHAT, &back, &err);
            if (rc == LSMKV_OK) {
                /* Only acceptable if nothing the store relies on changed. */
                assert_state_equal(&s, &back);
            } else {
                assert_int_equal(rc, LSMKV_CORRUPTION);
                assert_int_equal(strncmp(err.message, WHAT ": ", strlen(WHAT ": ")), 0);
                detected++;
            }
            total++;
            manifest_state_fini(&back);
            buf.data[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* With every byte under magic, version, length or checksum, all are caught. */
    assert_int_equal(detected, total);
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

static void
test_decode_detects_truncation_at_every_length(void **state)
{
    manifest_state s;
    make_small_state(&s);
    buffer buf;
    buffer_init(&buf);
    manifest_encode(&s, &buf);
    for (size_t len = 0; len < buf.len; len++) {
        manifest_state back;
        manifest_state_init(&back);
        lsmkv_error err = {0};
        assert_int_equal(manifest_decode(slice_make(buf.data, len), WHAT, &back, &err),
                         LSMKV_CORRUPTION);
        assert_int_equal(strncmp(err.message, WHAT ": ", strlen(WHAT ": ")), 0);
        assert_int_equal(back.table_count, 0);
    }
    buffer_fini(&buf);
    manifest_state_fini(&s);
}

/* ---- files ---------------------------------------------------------------------- */

static void
write_raw(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len > 0) {
        assert_int_equal(fwrite(data, 1, len, f), len);
    }
    assert_int_equal(fclose(f), 0);
}

/* Entries in dir other than "." and "..". */
static size_t
count_entries(const char *dir)
{
    char **names;
    size_t count;
    assert_int_equal(file_list_dir(dir, &names, &count, NULL), LSMKV_OK);
    file_list_free(names, count);
    return count;
}

/* Reads dir/MANIFEST and checks it holds s. */
static void
assert_read_equals(const char *dir, const manifest_state *s)
{
    manifest_state back;
    manifest_state_init(&back);
    lsmkv_error err = {0};
    int rc = manifest_read(dir, &back, &err);
    if (rc != LSMKV_OK) {
        fail_msg("manifest_read: %s", err.message);
    }
    assert_state_equal(s, &back);
    manifest_state_fini(&back);
}

static void
test_read_missing_file_is_not_found(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state out;
    manifest_state_init(&out);
    lsmkv_error err = {0};
    assert_int_equal(manifest_read(dir, &out, &err), LSMKV_NOT_FOUND);
    assert_int_equal(err.code, LSMKV_NOT_FOUND);
    assert_non_null(strstr(err.message, "MANIFEST"));
    assert_int_equal(out.table_count, 0);

    /* A store directory that does not exist at all has no manifest either. */
    assert_int_equal(manifest_read(test_path(dir, "nowhere"), &out, NULL), LSMKV_NOT_FOUND);
    test_remove_dir(dir);
}

static void
test_read_empty_file_is_corruption(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    char path[FILENAME_PATH_MAX];
    filename_join(path, dir, FILENAME_MANIFEST);
    write_raw(path, "", 0);

    manifest_state out;
    manifest_state_init(&out);
    lsmkv_error err = {0};
    assert_int_equal(manifest_read(dir, &out, &err), LSMKV_CORRUPTION);
    char expected[FILENAME_PATH_MAX + 32];
    snprintf(expected, sizeof(expected), "%s: empty manifest", path);
    assert_string_equal(err.message, expected);
    test_remove_dir(dir);
}

static void
test_read_damaged_file_names_it(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state s;
    make_small_state(&s);
    assert_int_equal(manifest_write(dir, &s, NULL), LSMKV_OK);
    char path[FILENAME_PATH_MAX];
    filename_join(path, dir, FILENAME_MANIFEST);
    test_flip_bit(path, test_file_size(path) - 3, 5);

    manifest_state out;
    manifest_state_init(&out);
    lsmkv_error err = {0};
    assert_int_equal(manifest_read(dir, &out, &err), LSMKV_CORRUPTION);
    assert_int_equal(strncmp(err.message, path, strlen(path)), 0);
    assert_non_null(strstr(err.message, "checksum mismatch"));
    assert_int_equal(out.table_count, 0);
    manifest_state_fini(&s);
    test_remove_dir(dir);
}

static void
test_write_then_read(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state s;
    make_small_state(&s);
    assert_int_equal(manifest_write(dir, &s, NULL), LSMKV_OK);
    assert_read_equals(dir, &s);

    /* The file is exactly what manifest_encode produces. */
    buffer expected, actual;
    buffer_init(&expected);
    buffer_init(&actual);
    manifest_encode(&s, &expected);
    assert_int_equal(file_read_all(test_path(dir, FILENAME_MANIFEST), &actual, NULL), LSMKV_OK);
    assert_int_equal(actual.len, expected.len);
    assert_memory_equal(actual.data, expected.data, expected.len);
    buffer_fini(&actual);
    buffer_fini(&expected);
    manifest_state_fini(&s);
    test_remove_dir(dir);
}

static void
test_write_replaces_atomically(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state first, second;
    make_small_state(&first);
    manifest_state_init(&second);
    second.next_file_number = 40;
    second.last_sequence = 99999;
    second.log_number = 39;
    add_table(&second, 30, 1, "k\0ey", 4, "kez", 3);

    /* A MANIFEST.tmp left by a crash is simply overwritten. */
    write_raw(test_path(dir, FILENAME_MANIFEST_TEMP), "garbage", 7);
    assert_int_equal(manifest_write(dir, &first, NULL), LSMKV_OK);
    assert_int_equal(manifest_write(dir, &second, NULL), LSMKV_OK);
    assert_read_equals(dir, &second);
    assert_false(file_exists(test_path(dir, FILENAME_MANIFEST_TEMP)));
    assert_int_equal(count_entries(dir), 1); /* MANIFEST alone */

    manifest_state_fini(&second);
    manifest_state_fini(&first);
    test_remove_dir(dir);
}

static void
test_write_refuses_invalid_state(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state good, bad;
    make_small_state(&good);
    assert_int_equal(manifest_write(dir, &good, NULL), LSMKV_OK);

    make_small_state(&bad);
    add_table(&bad, 7, 0, "x", 1, "y", 1); /* 7 is already listed */
    lsmkv_error err = {0};
    assert_int_equal(manifest_write(dir, &bad, &err), LSMKV_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "table 7 is listed twice"));
    assert_non_null(strstr(err.message, "not written"));
    assert_read_equals(dir, &good);
    assert_false(file_exists(test_path(dir, FILENAME_MANIFEST_TEMP)));

    manifest_state_fini(&bad);
    manifest_state_fini(&good);
    test_remove_dir(dir);
}

/* Fails operations of one kind on paths ending with one suffix. */
typedef struct fault {
    file_op op;
    const char *suffix;
    int error;
    int hits;
} fault;

static int
fault_hook(void *ctx, file_op op, const char *path)
{
    fault *f = ctx;
    size_t n = strlen(path), m = strlen(f->suffix);
    if (op != f->op || n < m || strcmp(path + n - m, f->suffix) != 0) {
        return 0;
    }
    f->hits++;
    return f->error;
}

/* Writes a first manifest, fails the second write with f, checks the damage. */
static void
check_failed_write_keeps_previous(fault *f, int expected_code)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state first, second;
    make_small_state(&first);
    make_small_state(&second);
    second.next_file_number = 11;
    add_table(&second, 10, 0, "new", 3, "newer", 5);
    assert_int_equal(manifest_write(dir, &first, NULL), LSMKV_OK);

    file_set_fault_hook(fault_hook, f);
    lsmkv_error err = {0};
    int rc = manifest_write(dir, &second, &err);
    file_set_fault_hook(NULL, NULL);

    assert_int_equal(f->hits, 1);
    assert_int_equal(rc, expected_code);
    assert_int_equal(err.code, expected_code);
    assert_non_null(strstr(err.message, strerror(f->error)));
    assert_read_equals(dir, &first);
    assert_false(file_exists(test_path(dir, FILENAME_MANIFEST_TEMP)));
    assert_int_equal(count_entries(dir), 1);

    manifest_state_fini(&second);
    manifest_state_fini(&first);
    test_remove_dir(dir);
}

static void
test_write_enospc_keeps_previous(void **state)
{
    fault f = {FILE_OP_WRITE, "/" FILENAME_MANIFEST_TEMP, ENOSPC, 0};
    check_failed_write_keeps_previous(&f, LSMKV_NO_SPACE);
}

static void
test_write_sync_eio_keeps_previous(void **state)
{
    fault f = {FILE_OP_SYNC, "/" FILENAME_MANIFEST_TEMP, EIO, 0};
    check_failed_write_keeps_previous(&f, LSMKV_IO_ERROR);
}

static void
test_write_create_failure_keeps_previous(void **state)
{
    fault f = {FILE_OP_OPEN, "/" FILENAME_MANIFEST_TEMP, EDQUOT, 0};
    check_failed_write_keeps_previous(&f, LSMKV_NO_SPACE);
}

static void
test_write_rename_failure_keeps_previous(void **state)
{
    fault f = {FILE_OP_RENAME, "/" FILENAME_MANIFEST, EIO, 0};
    check_failed_write_keeps_previous(&f, LSMKV_IO_ERROR);
}

static void
test_first_write_failure_leaves_no_manifest(void **state)
{
    char *dir = test_make_temp_dir("manifest");
    manifest_state s;
    make_small_state(&s);
    fault f = {FILE_OP_WRITE, "/" FILENAME_MANIFEST_TEMP, ENOSPC, 0};
    file_set_fault_hook(fault_hook, &f);
    int rc = manifest_write(dir, &s, NULL);
    file_set_fault_hook(NULL, NULL);
    assert_int_equal(rc, LSMKV_NO_SPACE);
    assert_int_equal(count_entries(dir), 0);

    manifest_state out;
    manifest_state_init(&out);
    assert_int_equal(manifest_read(dir, &out, NULL), LSMKV_NOT_FOUND);
    manifest_state_fini(&s);
    test_remove_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_init_fini),
        cmocka_unit_test(test_encode_layout),
        cmocka_unit_test(test_round_trip_no_tables),
        cmocka_unit_test(test_round_trip_one_table),
        cmocka_unit_test(test_round_trip_many_tables_binary_keys),
        cmocka_unit_test(test_decode_empty_input),
        cmocka_unit_test(test_decode_short_header),
        cmocka_unit_test(test_decode_wrong_magic),
        cmocka_unit_test(test_decode_unsupported_version),
        cmocka_unit_test(test_decode_length_mismatch),
        cmocka_unit_test(test_decode_checksum_mismatch),
        cmocka_unit_test(test_decode_unparsable_protobuf),
        cmocka_unit_test(test_decode_accepts_unknown_fields),
        cmocka_unit_test(test_decode_rejects_duplicate_table_ids),
        cmocka_unit_test(test_decode_rejects_id_not_below_next_file_number),
        cmocka_unit_test(test_decode_rejects_bad_level),
        cmocka_unit_test(test_decode_rejects_min_key_above_max_key),
        cmocka_unit_test(test_decode_rejects_inconsistent_counts),
        cmocka_unit_test(test_decode_replaces_previous_contents),
        cmocka_unit_test(test_decode_detects_every_bit_flip),
        cmocka_unit_test(test_decode_detects_truncation_at_every_length),
        cmocka_unit_test(test_read_missing_file_is_not_found),
        cmocka_unit_test(test_read_empty_file_is_corruption),
        cmocka_unit_test(test_read_damaged_file_names_it),
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_write_replaces_atomically),
        cmocka_unit_test(test_write_refuses_invalid_state),
        cmocka_unit_test(test_write_enospc_keeps_previous),
        cmocka_unit_test(test_write_sync_eio_keeps_previous),
        cmocka_unit_test(test_write_create_failure_keeps_previous),
        cmocka_unit_test(test_write_rename_failure_keeps_previous),
        cmocka_unit_test(test_first_write_failure_leaves_no_manifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
