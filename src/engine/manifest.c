/*
 * The manifest file: a fixed header (magic, version, payload length, payload
 * checksum) around one protobuf-c encoded lsmkv.v1.Manifest. Decoding trusts
 * nothing: the header is checked before the payload is parsed, and the parsed
 * table set is checked for contradictions (duplicate ids, ids the file counter
 * has not reached, impossible levels, inverted key ranges) before the store
 * may act on it, because acting on a wrong table set deletes live files.
 */
#include "manifest.h"

#include "checksum.h"
#include "coding.h"
#include "file.h"
#include "filename.h"
#include "status.h"
#include "table_info.h"

#include "lsmkv/v1/manifest.pb-c.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAGIC_BYTES 8

void
manifest_state_init(manifest_state *s)
{
    memset(s, 0, sizeof(*s));
}

void
manifest_state_fini(manifest_state *s)
{
    for (size_t i = 0; i < s->table_count; i++) {
        table_info_fini(&s->tables[i]);
    }
    free(s->tables);
    manifest_state_init(s);
}

/* ---- encoding ---------------------------------------------------------------- */

void
manifest_encode(const manifest_state *s, buffer *out)
{
    /* The generated message borrows the keys from s: nothing is copied but
     * the two arrays of table messages, freed before returning. */
    Lsmkv__V1__TableMeta *metas = xcalloc(s->table_count, sizeof(*metas));
    Lsmkv__V1__TableMeta **ptrs = xcalloc(s->table_count, sizeof(*ptrs));
    for (size_t i = 0; i < s->table_count; i++) {
        const lsmkv_table_info *t = &s->tables[i];
        lsmkv__v1__table_meta__init(&metas[i]);
        metas[i].id = t->id;
        metas[i].level = t->level;
        metas[i].size_bytes = t->size_bytes;
        metas[i].entries = t->entries;
        metas[i].tombstones = t->tombstones;
        metas[i].max_sequence = t->max_sequence;
        metas[i].min_key.data = t->min_key;
        metas[i].min_key.len = t->min_key_len;
        metas[i].max_key.data = t->max_key;
        metas[i].max_key.len = t->max_key_len;
        ptrs[i] = &metas[i];
    }
    Lsmkv__V1__Manifest msg = LSMKV__V1__MANIFEST__INIT;
    msg.next_file_number = s->next_file_number;
    msg.last_sequence = s->last_sequence;
    msg.log_number = s->log_number;
    msg.n_tables = s->table_count;
    msg.tables = ptrs;

    size_t payload_len = lsmkv__v1__manifest__get_packed_size(&msg);
    /* A 4 GiB manifest would mean hundreds of millions of tables. */
    assert(payload_len <= UINT32_MAX);

    buffer_clear(out);
    buffer_reserve(out, MANIFEST_HEADER_BYTES + payload_len);
    uint8_t *payload = out->data + MANIFEST_HEADER_BYTES;
    size_t packed = lsmkv__v1__manifest__pack(&msg, payload);
    assert(packed == payload_len);
    (void)packed;

    memcpy(out->data, MANIFEST_MAGIC, MANIFEST_MAGIC_BYTES);
    encode_fixed32(out->data + 8, MANIFEST_FORMAT_VERSION);
    encode_fixed32(out->data + 12, (uint32_t)payload_len);
    encode_fixed32(out->data + 16, checksum32(payload, payload_len, MANIFEST_CHECKSUM_SEED));
    out->len = MANIFEST_HEADER_BYTES + payload_len;

    free(ptrs);
    free(metas);
}

/* ---- validation ---------------------------------------------------------------- */

static int
compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y ? 1 : 0);
}

/* Fails with `code` if two tables share an id (sorting a copy: O(n log n)). */
static int
check_unique_ids(const manifest_state *s, const char *what, int code, lsmkv_error *err)
{
    if (s->table_count < 2) {
        return LSMKV_OK;
    }
    uint64_t *ids = xmalloc(s->table_count * sizeof(*ids));
    for (size_t i = 0; i < s->table_count; i++) {
        ids[i] = s->tables[i].id;
    }
    qsort(ids, s->table_count, sizeof(*ids), compare_u64);
    int rc = LSMKV_OK;
    for (size_t i = 1; i < s->table_count; i++) {
        if (ids[i] == ids[i - 1]) {
            rc = status_set(err, code, "%s: table %" PRIu64 " is listed twice", what, ids[i]);
            break;
        }
    }
    free(ids);
    return rc;
}

/* Checks one table's fields against each other and against the file counter. */
static int
check_table(const manifest_state *s, const lsmkv_table_info *t, const char *what, int code,
            lsmkv_error *err)
{
    if (t->id >= s->next_file_number) {
        return status_set(err, code,
                          "%s: table %" PRIu64 " is not below the next file number %" PRIu64, what,
                          t->id, s->next_file_number);
    }
    if (t->level >= LSMKV_MAX_LEVELS) {
        return status_set(err, code, "%s: table %" PRIu64 " has level %" PRIu32 " (at most %d)",
                          what, t->id, t->level, LSMKV_MAX_LEVELS - 1);
    }
    if (t->tombstones > t->entries) {
        return status_set(err, code,
                          "%s: table %" PRIu64 " has more tombstones (%" PRIu64
                          ") than entries (%" PRIu64 ")",
                          what, t->id, t->tombstones, t->entries);
    }
    /* Empty user keys are invalid, so only a table without entries may have
     * an empty key range. */
    if (t->entries > 0 && (t->min_key_len == 0 || t->max_key_len == 0)) {
        return status_set(err, code, "%s: table %" PRIu64 " has entries but an empty key", what,
                          t->id);
    }
    if (slice_compare(table_info_min_key(t), table_info_max_key(t)) > 0) {
        return status_set(err, code, "%s: table %" PRIu64 " has min key above max key", what,
                          t->id);
    }
    return LSMKV_OK;
}

/* Everything a manifest must satisfy besides parsing; fails with `code`. */
static int
check_state(const manifest_state *s, const char *what, int code, lsmkv_error *err)
{
    for (size_t i = 0; i < s->table_count; i++) {
        int rc = check_table(s, &s->tables[i], what, code, err);
        if (rc != LSMKV_OK) {
            return rc;
        }
    }
    return check_unique_ids(s, what, code, err);
}

/* ---- decoding ------------------------------------------------------------------ */

/* Checks the header of data; on success *payload is the checksummed payload. */
static int
decode_header(slice data, const char *what, slice *payload, lsmkv_error *err)
{
    if (data.len == 0) {
        return status_set(err, LSMKV_CORRUPTION, "%s: empty manifest", what);
    }
    if (data.len < MANIFEST_HEADER_BYTES) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: truncated manifest header (%zu bytes, need %d)", what, data.len,
                          MANIFEST_HEADER_BYTES);
    }
    if (memcmp(data.data, MANIFEST_MAGIC, MANIFEST_MAGIC_BYTES) != 0) {
        return status_set(err, LSMKV_CORRUPTION, "%s: bad magic (not a manifest)", what);
    }
    uint32_t version = decode_fixed32(data.data + 8);
    if (version != MANIFEST_FORMAT_VERSION) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: unsupported manifest version %" PRIu32 " (expected %d)", what,
                          version, MANIFEST_FORMAT_VERSION);
    }
    uint32_t length = decode_fixed32(data.data + 12);
    size_t remaining = data.len - MANIFEST_HEADER_BYTES;
    if (length != remaining) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: payload length %" PRIu32 " does not match the %zu bytes present",
                          what, length, remaining);
    }
    const uint8_t *p = data.data + MANIFEST_HEADER_BYTES;
    uint32_t stored = decode_fixed32(data.data + 16);
    uint32_t actual = checksum32(p, remaining, MANIFEST_CHECKSUM_SEED);
    if (stored != actual) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: checksum mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")",
                          what, stored, actual);
    }
    *payload = slice_make(p, remaining);
    return LSMKV_OK;
}

/* Copies the unpacked message into s (keys included). */
static void
state_from_message(const Lsmkv__V1__Manifest *msg, manifest_state *s)
{
    s->next_file_number = msg->next_file_number;
    s->last_sequence = msg->last_sequence;
    s->log_number = msg->log_number;
    s->table_count = msg->n_tables;
    s->tables = xcalloc(msg->n_tables, sizeof(*s->tables));
    for (size_t i = 0; i < msg->n_tables; i++) {
        const Lsmkv__V1__TableMeta *m = msg->tables[i];
        lsmkv_table_info *t = &s->tables[i];
        t->id = m->id;
        t->level = m->level;
        t->size_bytes = m->size_bytes;
        t->entries = m->entries;
        t->tombstones = m->tombstones;
        t->max_sequence = m->max_sequence;
        table_info_set_keys(t, slice_make(m->min_key.data, m->min_key.len),
                            slice_make(m->max_key.data, m->max_key.len));
    }
}

int
manifest_decode(slice data, const char *what, manifest_state *out, lsmkv_error *err)
{
    slice payload = slice_make(NULL, 0);
    int rc = decode_header(data, what, &payload, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    Lsmkv__V1__Manifest *msg = lsmkv__v1__manifest__unpack(NULL, payload.len, payload.data);
    if (msg == NULL) {
        return status_set(err, LSMKV_CORRUPTION, "%s: manifest payload (%zu bytes) does not parse",
                          what, payload.len);
    }
    manifest_state decoded;
    manifest_state_init(&decoded);
    state_from_message(msg, &decoded);
    lsmkv__v1__manifest__free_unpacked(msg, NULL);

    rc = check_state(&decoded, what, LSMKV_CORRUPTION, err);
    if (rc != LSMKV_OK) {
        manifest_state_fini(&decoded);
        return rc;
    }
    manifest_state_fini(out);
    *out = decoded;
    return LSMKV_OK;
}

/* ---- files ----------------------------------------------------------------------- */

int
manifest_read(const char *dir, manifest_state *out, lsmkv_error *err)
{
    char path[FILENAME_PATH_MAX];
    filename_join(path, dir, FILENAME_MANIFEST);
    if (!file_exists(path)) {
        return status_set(err, LSMKV_NOT_FOUND, "%s: no manifest", path);
    }
    buffer data;
    buffer_init(&data);
    int rc = file_read_all(path, &data, err);
    if (rc == LSMKV_OK) {
        rc = manifest_decode(buffer_slice(&data), path, out, err);
    }
    buffer_fini(&data);
    return rc;
}

int
manifest_write(const char *dir, const manifest_state *s, lsmkv_error *err)
{
    char what[FILENAME_PATH_MAX + 32];
    char path[FILENAME_PATH_MAX];
    filename_join(path, dir, FILENAME_MANIFEST);
    snprintf(what, sizeof(what), "%s (not written)", path);
    /* Refuse to install a table set that the next open would reject as
     * corrupt: the bug is the caller's, and the old manifest stays usable. */
    int rc = check_state(s, what, LSMKV_INVALID_ARGUMENT, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    buffer data;
    buffer_init(&data);
    manifest_encode(s, &data);
    rc =
        file_write_atomic(dir, FILENAME_MANIFEST, FILENAME_MANIFEST_TEMP, data.data, data.len, err);
    buffer_fini(&data);
    return rc;
}
