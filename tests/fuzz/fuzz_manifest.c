/*
 * Fuzz target: the manifest decoder (manifest_decode). The input is a
 * manifest file's bytes. Besides memory safety: what decodes must encode back
 * to bytes that decode to the same state (and encode to the same bytes), and
 * a failure is always LSMKV_CORRUPTION with a message.
 *
 * Every input runs twice: as it is, and with a valid header (magic, version,
 * length, checksum) around its bytes after the header, so that mutations
 * reach the protobuf decoder and the table-set checks behind the checksum.
 */
#include "checksum.h"
#include "coding.h"
#include "harness.h"
#include "manifest.h"

#include <string.h>

static bool
same_key(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static void
check_same_state(const manifest_state *a, const manifest_state *b)
{
    FUZZ_CHECK(a->next_file_number == b->next_file_number);
    FUZZ_CHECK(a->last_sequence == b->last_sequence);
    FUZZ_CHECK(a->log_number == b->log_number);
    FUZZ_CHECK(a->table_count == b->table_count);
    for (size_t i = 0; i < a->table_count; i++) {
        const lsmkv_table_info *x = &a->tables[i], *y = &b->tables[i];
        FUZZ_CHECK(x->id == y->id && x->level == y->level && x->size_bytes == y->size_bytes);
        FUZZ_CHECK(x->entries == y->entries && x->tombstones == y->tombstones);
        FUZZ_CHECK(x->max_sequence == y->max_sequence);
        FUZZ_CHECK(same_key(x->min_key, x->min_key_len, y->min_key, y->min_key_len));
        FUZZ_CHECK(same_key(x->max_key, x->max_key_len, y->max_key, y->max_key_len));
    }
}

static void
check_manifest(const uint8_t *data, size_t size)
{
    manifest_state state;
    manifest_state_init(&state);
    lsmkv_error err = {0};
    int rc = manifest_decode(slice_make(data, size), "fuzz", &state, &err);
    if (rc != LSMKV_OK) {
        FUZZ_CHECK(rc == LSMKV_CORRUPTION && err.code == rc && strstr(err.message, "fuzz"));
        FUZZ_CHECK(state.table_count == 0 && state.tables == NULL); /* untouched */
        return;
    }
    buffer encoded, again;
    buffer_init(&encoded);
    buffer_init(&again);
    manifest_encode(&state, &encoded);
    manifest_state decoded;
    manifest_state_init(&decoded);
    FUZZ_CHECK(manifest_decode(buffer_slice(&encoded), "re-encoded", &decoded, NULL) == LSMKV_OK);
    check_same_state(&state, &decoded);
    manifest_encode(&decoded, &again);
    FUZZ_CHECK(again.len == encoded.len && memcmp(again.data, encoded.data, again.len) == 0);
    manifest_state_fini(&decoded);
    manifest_state_fini(&state);
    buffer_fini(&encoded);
    buffer_fini(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_manifest(data, size);
    if (size >= MANIFEST_HEADER_BYTES) {
        uint8_t *repaired = malloc(size);
        memcpy(repaired, data, size);
        size_t payload = size - MANIFEST_HEADER_BYTES;
        memcpy(repaired, MANIFEST_MAGIC, 8);
        encode_fixed32(repaired + 8, MANIFEST_FORMAT_VERSION);
        encode_fixed32(repaired + 12, (uint32_t)payload);
        encode_fixed32(repaired + 16, checksum32(repaired + MANIFEST_HEADER_BYTES, payload,
                                                 MANIFEST_CHECKSUM_SEED));
        check_manifest(repaired, size);
        free(repaired);
    }
    return 0;
}
