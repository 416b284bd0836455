/*
 * Fuzz target: the SSTable reader (sstable_reader.h). The input is a table
 * file. It is opened, iterated from the first entry to the last, sought, and
 * asked for a few keys (keys it holds, its min and max keys, a key it lacks),
 * three times: with pread, through a block cache, and through a memory map.
 * Besides memory safety: a table that fails to open fails with
 * LSMKV_CORRUPTION, and the three read paths give the same answers, errors
 * included.
 *
 * Every input runs twice: as it is, and with its checksums repaired (footer,
 * metadata blocks, and the data blocks the index points at), so that mutated
 * bytes reach the block, index, bloom, properties and decompression code
 * behind the checksums instead of stopping at them.
 */
#include "block.h"
#include "block_cache.h"
#include "checksum.h"
#include "coding.h"
#include "harness.h"
#include "internal_key.h"
#include "sstable_reader.h"

#include <string.h>

#define MAX_PROBES  12
#define MAX_ENTRIES 200000

/* What one pass saw, reduced to numbers to compare. */
typedef struct pass {
    uint64_t entries, digest;
    int status;
    int get_status[MAX_PROBES];
    uint64_t get_digest[MAX_PROBES];
    int seek_status;
    uint64_t seek_digest;
} pass;

typedef struct probes {
    size_t count;
    buffer keys[MAX_PROBES]; /* user keys */
} probes;

static uint64_t
mix(uint64_t digest, slice s)
{
    return digest * 0x100000001b3ull ^ hash64(s.data, s.len) ^ s.len;
}

static void
probe_add(probes *p, slice user_key)
{
    if (p->count < MAX_PROBES) {
        buffer_init(&p->keys[p->count]);
        buffer_append_slice(&p->keys[p->count++], user_key);
    }
}

/* Every entry in order; the first pass also picks keys to probe. */
static void
scan(sstable_reader *r, pass *out, probes *pick)
{
    iterator *it = sstable_reader_iterator_new(r);
    for (iterator_seek_to_first(it); iterator_valid(it) && out->entries < MAX_ENTRIES;
         iterator_next(it)) {
        slice key = iterator_key(it);
        out->digest = mix(mix(out->digest, key), iterator_value(it));
        if (pick != NULL && key.len >= INTERNAL_KEY_TRAILER && out->entries % 5 == 0) {
            probe_add(pick, internal_key_user_key(key));
        }
        out->entries++;
    }
    out->status = iterator_status(it, NULL);
    iterator_free(it);
}

static void
lookups(sstable_reader *r, const probes *keys, pass *out)
{
    lookup_result result;
    lookup_result_init(&result);
    for (size_t i = 0; i < keys->count; i++) {
        slice key = buffer_slice(&keys->keys[i]);
        lookup_result_reset(&result);
        out->get_status[i] =
            sstable_reader_get(r, key, hash64(key.data, key.len), SEQUENCE_MAX, &result, NULL);
        if (out->get_status[i] == LSMKV_OK && result.found) {
            out->get_digest[i] =
                mix(result.sequence * 2 + result.type, buffer_slice(&result.value));
        }
    }
    lookup_result_fini(&result);
    if (keys->count > 0) {
        /* A seek to the middle probe's newest version. */
        buffer target;
        buffer_init(&target);
        internal_key_append(&target, buffer_slice(&keys->keys[keys->count / 2]), SEQUENCE_MAX,
                            VALUE_TYPE_FOR_SEEK);
        iterator *it = sstable_reader_iterator_new(r);
        iterator_seek(it, buffer_slice(&target));
        for (int n = 0; n < 3 && iterator_valid(it); n++, iterator_next(it)) {
            out->seek_digest = mix(mix(out->seek_digest, iterator_key(it)), iterator_value(it));
        }
        out->seek_status = iterator_status(it, NULL);
        iterator_free(it);
        buffer_fini(&target);
    }
}

enum { PATH_PREAD, PATH_CACHE, PATH_MAP };

/* One pass over the file by one read path; false if the table does not open. */
static bool
run_pass(const char *path, int how, block_cache *cache, uint64_t number, probes *keys, pass *out)
{
    sstable_reader *r;
    lsmkv_error err = {0};
    int rc = sstable_reader_open(path, &r, &err);
    if (rc != LSMKV_OK) {
        FUZZ_CHECK(rc == LSMKV_CORRUPTION && err.code == rc && strstr(err.message, path));
        return false;
    }
    if (how == PATH_CACHE) {
        sstable_reader_set_cache(r, cache, number);
    } else if (how == PATH_MAP) {
        FUZZ_CHECK(sstable_reader_map(r, NULL) == LSMKV_OK);
    }
    const sstable_properties *props = sstable_reader_properties(r);
    if (how == PATH_PREAD) {
        probe_add(keys, buffer_slice(&props->min_key));
        probe_add(keys, buffer_slice(&props->max_key));
        probe_add(keys, slice_make((const uint8_t *)"\xff\xff-absent", 9));
    }
    scan(r, out, how == PATH_PREAD ? keys : NULL);
    lookups(r, keys, out);
    sstable_reader_free(r);
    return true;
}

/* Rewrites the trailer checksum of the block h points at, if it lies in the file. */
static void
repair_block(uint8_t *file, uint64_t blocks_end, sstable_handle h)
{
    if (h.offset <= blocks_end && h.size <= blocks_end - h.offset &&
        SSTABLE_BLOCK_TRAILER <= blocks_end - h.offset - h.size) {
        uint8_t *contents = file + h.offset;
        encode_fixed32(contents + h.size + 1, sstable_block_checksum(contents, h.size + 1));
    }
}

/* Makes the footer valid and every block checksum it leads to match. */
static void
repair_checksums(uint8_t *file, size_t size)
{
    if (size < SSTABLE_FOOTER_BYTES) {
        return;
    }
    uint8_t *footer = file + size - SSTABLE_FOOTER_BYTES;
    uint32_t version = decode_fixed32(footer + 48);
    if (version < SSTABLE_FORMAT_OLDEST || version > SSTABLE_FORMAT_VERSION) {
        /* Every version read stays reachable: the input's low bit picks one. */
        version = (version & 1) ? SSTABLE_FORMAT_OLDEST : SSTABLE_FORMAT_VERSION;
    }
    encode_fixed32(footer + 48, version);
    encode_fixed32(footer + 52, checksum32(footer, 52, SSTABLE_CHECKSUM_SEED));
    encode_fixed64(footer + 56, SSTABLE_MAGIC);
    sstable_footer f;
    FUZZ_CHECK(sstable_footer_decode(footer, "repaired", 0, &f, NULL) == LSMKV_OK);
    uint64_t blocks_end = size - SSTABLE_FOOTER_BYTES;
    repair_block(file, blocks_end, f.bloom);
    repair_block(file, blocks_end, f.properties);
    repair_block(file, blocks_end, f.index);
    if (f.index.offset > blocks_end || f.index.size > blocks_end - f.index.offset) {
        return;
    }
    block_cursor c;
    slice index = slice_make(file + f.index.offset, (size_t)f.index.size);
    if (block_cursor_init(&c, index, BLOCK_KEYS_WHOLE, "repaired", f.index.offset, NULL) ==
        LSMKV_OK) {
        for (block_cursor_seek_to_first(&c); block_cursor_valid(&c); block_cursor_next(&c)) {
            sstable_handle h;
            if (sstable_handle_decode(block_cursor_value(&c), &h)) {
                repair_block(file, blocks_end, h);
            }
        }
    }
    block_cursor_fini(&c);
}

/* The three read paths over one file's bytes. */
static void
check_table(const uint8_t *data, size_t size)
{
    /* A cache per input: one kept across inputs holds memory that libFuzzer
     * would take for a leak and check for, slowly, after every input. */
    block_cache *cache = block_cache_new(256u << 10);
    char path[4096];
    harness_path(path, "000001.sst");
    harness_write_file(path, data, size);

    probes keys = {0};
    pass passes[3];
    memset(passes, 0, sizeof(passes));
    bool opened = run_pass(path, PATH_PREAD, cache, 0, &keys, &passes[0]);
    for (int how = PATH_CACHE; opened && how <= PATH_MAP; how++) {
        /* The cache pass runs twice: from the file, then from the cache. */
        for (int round = 0; round < (how == PATH_CACHE ? 2 : 1); round++) {
            pass p;
            memset(&p, 0, sizeof(p));
            FUZZ_CHECK(run_pass(path, how, cache, 1, &keys, &p));
            FUZZ_CHECK(memcmp(&p, &passes[0], sizeof(p)) == 0);
        }
    }
    for (size_t i = 0; i < keys.count; i++) {
        buffer_fini(&keys.keys[i]);
    }
    block_cache_free(cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_table(data, size);
    uint8_t *repaired = malloc(size + 1);
    memcpy(repaired, data, size);
    repair_checksums(repaired, size);
    check_table(repaired, size);
    free(repaired);
    return 0;
}
