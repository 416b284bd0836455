/*
 * SSTable builder (format in sstable_format.h).
 *
 * Entries stream into the current data block; when it reaches block_bytes it
 * is written with its trailer and its last key goes into the index block. The
 * bloom filter is built at the end from the hashes of the distinct user keys,
 * which arrive sorted so a key differs from all before it iff it differs from
 * the previous one. The file is fsynced before finish returns; on any failure
 * it is removed, so a half-written table never outlives its builder.
 */
#include "sstable_builder.h"

#include "block.h"
#include "bloom.h"
#include "coding.h"
#include "compression.h"
#include "file.h"
#include "internal_key.h"
#include "status.h"

#include <assert.h>
#include <stdlib.h>

/* The index's keys are searched on every get: one restart per entry means a
 * binary search finds the entry without rebuilding prefix-compressed keys. */
#define INDEX_RESTART_INTERVAL 1

/*
 * Every this many bytes written, the builder starts their writeback (without
 * waiting), so the fsync that finishes the table, which the flush or
 * compaction thread waits for, finds little data left to write. The waits
 * otherwise idle a core that the merge could use (see
 * start_writeback_if_due).
 */
#define SSTABLE_WRITEBACK_BYTES (512 * 1024)

struct sstable_builder {
    file_writer *writer;
    char *path;
    sstable_builder_options options;
    block_builder data;
    block_builder index;
    buffer last_key; /* last internal key added */
    buffer scratch;  /* a block and its trailer, or an index value */
    buffer compressed;
    uint64_t *hashes; /* hash64 of each distinct user key (bloom only) */
    size_t num_hashes;
    size_t cap_hashes;
    sstable_properties props;
    uint64_t written_back; /* bytes before this were handed to writeback */
    int failed;            /* first error; afterwards the builder can only be abandoned */
};

int
sstable_builder_open(const char *path, const sstable_builder_options *options,
                     sstable_builder **out, lsmkv_error *err)
{
    file_writer *w;
    int rc = file_writer_open(path, true, &w, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    sstable_builder *b = xcalloc(1, sizeof(*b));
    b->writer = w;
    b->path = (char *)xmemdup(path, strlen(path) + 1);
    b->options = *options;
    if (b->options.block_bytes == 0) {
        b->options.block_bytes = 1; /* every entry its own block, rather than none */
    }
    if (b->options.format_version == 0) {
        b->options.format_version = SSTABLE_FORMAT_VERSION;
    }
    block_builder_init(&b->data, BLOCK_RESTART_INTERVAL,
                       sstable_data_block_keys(b->options.format_version));
    block_builder_init(&b->index, INDEX_RESTART_INTERVAL, BLOCK_KEYS_WHOLE);
    buffer_init(&b->last_key);
    buffer_init(&b->scratch);
    buffer_init(&b->compressed);
    sstable_properties_init(&b->props);
    b->props.compression = (uint64_t)options->compression;
    *out = b;
    return LSMKV_OK;
}

static void
builder_free(sstable_builder *b)
{
    block_builder_fini(&b->data);
    block_builder_fini(&b->index);
    buffer_fini(&b->last_key);
    buffer_fini(&b->scratch);
    buffer_fini(&b->compressed);
    sstable_properties_fini(&b->props);
    free(b->hashes);
    free(b->path);
    free(b);
}

void
sstable_builder_abandon(sstable_builder *b)
{
    if (b == NULL) {
        return;
    }
    file_writer_close(b->writer, NULL);
    file_remove(b->path, NULL);
    builder_free(b);
}

/*
 * Appends contents (compressed with `compression` if that pays) and its
 * trailer to the file; *handle says where they went.
 */
static int
write_block(sstable_builder *b, slice contents, int compression, sstable_handle *handle,
            lsmkv_error *err)
{
    if (compression == COMPRESSION_NONE ||
        !compression_compress(compression, contents, &b->compressed)) {
        compression = COMPRESSION_NONE;
    } else {
        contents = buffer_slice(&b->compressed);
    }
    handle->offset = file_writer_size(b->writer);
    handle->size = contents.len;
    /* The checksum covers the contents and the compression byte, which must
     * be contiguous for checksum32: copy them into one buffer. */
    buffer *s = &b->scratch;
    buffer_clear(s);
    buffer_reserve(s, contents.len + SSTABLE_BLOCK_TRAILER);
    buffer_append_slice(s, contents);
    uint8_t compression_byte = (uint8_t)compression;
    buffer_append(s, &compression_byte, 1);
    put_fixed32(s, sstable_block_checksum(s->data, s->len));
    return file_writer_append(b->writer, s->data, s->len, err);
}

/*
 * Hands the bytes written since the last call to writeback once there are
 * SSTABLE_WRITEBACK_BYTES of them. Measured on a 1M fillrandom + overwrite:
 * without fsyncs at all, overwrite ran 11% faster and left less compaction
 * behind, so the background threads' waits in fdatasync matter.
 */
static int
start_writeback_if_due(sstable_builder *b, lsmkv_error *err)
{
    uint64_t size = file_writer_size(b->writer);
    if (size - b->written_back < SSTABLE_WRITEBACK_BYTES) {
        return LSMKV_OK;
    }
    int rc = file_writer_flush(b->writer, err);
    if (rc == LSMKV_OK) {
        file_writer_start_writeback(b->writer, b->written_back, size - b->written_back);
        b->written_back = size;
    }
    return rc;
}

static int
flush_data_block(sstable_builder *b, lsmkv_error *err)
{
    sstable_handle handle;
    int rc = write_block(b, block_builder_finish(&b->data), b->options.compression, &handle, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    block_builder_reset(&b->data);
    b->props.data_blocks++;
    b->props.data_bytes += handle.size + SSTABLE_BLOCK_TRAILER;
    buffer_clear(&b->scratch);
    sstable_handle_encode(&b->scratch, handle);
    block_builder_add(&b->index, buffer_slice(&b->last_key), buffer_slice(&b->scratch));
    return start_writeback_if_due(b, err);
}

/* Updates entry counts, sequence range, key range and the bloom hashes. */
static void
track_entry(sstable_builder *b, const parsed_internal_key *k)
{
    sstable_properties *p = &b->props;
    bool new_user_key =
        p->entries == 0 ||
        !slice_equal(k->user_key, internal_key_user_key(buffer_slice(&b->last_key)));
    if (p->entries == 0) {
        buffer_set(&p->min_key, k->user_key.data, k->user_key.len);
        p->min_sequence = k->sequence;
        p->max_sequence = k->sequence;
    }
    p->min_sequence = k->sequence < p->min_sequence ? k->sequence : p->min_sequence;
    p->max_sequence = k->sequence > p->max_sequence ? k->sequence : p->max_sequence;
    p->entries++;
    p->tombstones += k->type == VALUE_TYPE_DELETION;
    if (!new_user_key) {
        return;
    }
    buffer_set(&p->max_key, k->user_key.data, k->user_key.len);
    if (b->options.bloom_bits_per_key > 0) {
        if (b->num_hashes == b->cap_hashes) {
            b->cap_hashes = b->cap_hashes ? 2 * b->cap_hashes : 256;
            b->hashes = xrealloc(b->hashes, b->cap_hashes * sizeof(*b->hashes));
        }
        b->hashes[b->num_hashes++] = hash64(k->user_key.data, k->user_key.len);
    }
}

int
sstable_builder_add(sstable_builder *b, slice internal_key, slice value, lsmkv_error *err)
{
    if (b->failed) {
        return status_set(err, b->failed, "%s: builder already failed", b->path);
    }
    parsed_internal_key k;
    if (!internal_key_parse(internal_key, &k)) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "%s: malformed internal key", b->path);
    }
    assert(b->props.entries == 0 ||
           internal_key_compare(internal_key, buffer_slice(&b->last_key)) > 0);
    track_entry(b, &k);
    block_builder_add(&b->data, internal_key, value);
    buffer_set(&b->last_key, internal_key.data, internal_key.len);
    if (block_builder_size_estimate(&b->data) >= b->options.block_bytes) {
        int rc = flush_data_block(b, err);
        if (rc != LSMKV_OK) {
            b->failed = rc;
            return rc;
        }
    }
    return LSMKV_OK;
}

uint64_t
sstable_builder_entries(const sstable_builder *b)
{
    return b->props.entries;
}

uint64_t
sstable_builder_estimated_size(const sstable_builder *b)
{
    uint64_t bloom = (uint64_t)b->num_hashes * (uint64_t)b->options.bloom_bits_per_key / 8;
    return file_writer_size(b->writer) + block_builder_size_estimate(&b->data) +
           block_builder_size_estimate(&b->index) + bloom + SSTABLE_FOOTER_BYTES;
}

/* Everything after the last data block: bloom, index, properties, footer. */
static int
write_meta(sstable_builder *b, lsmkv_error *err)
{
    sstable_footer footer = {{0, 0}, {0, 0}, {0, 0}, b->options.format_version};
    int rc = LSMKV_OK;
    if (b->options.bloom_bits_per_key > 0) {
        buffer filter;
        buffer_init(&filter);
        bloom_build(&filter, b->hashes, b->num_hashes, b->options.bloom_bits_per_key);
        rc = write_block(b, buffer_slice(&filter), COMPRESSION_NONE, &footer.bloom, err);
        buffer_fini(&filter);
    } else {
        footer.bloom.offset = file_writer_size(b->writer);
    }
    if (rc == LSMKV_OK) {
        rc = write_block(b, block_builder_finish(&b->index), COMPRESSION_NONE, &footer.index, err);
    }
    if (rc == LSMKV_OK) {
        buffer props;
        buffer_init(&props);
        sstable_properties_encode(&b->props, &props);
        rc = write_block(b, buffer_slice(&props), COMPRESSION_NONE, &footer.properties, err);
        buffer_fini(&props);
    }
    if (rc == LSMKV_OK) {
        uint8_t bytes[SSTABLE_FOOTER_BYTES];
        sstable_footer_encode(&footer, bytes);
        rc = file_writer_append(b->writer, bytes, sizeof(bytes), err);
    }
    return rc;
}

int
sstable_builder_finish(sstable_builder *b, sstable_properties *props, lsmkv_error *err)
{
    int rc = b->failed;
    if (rc != LSMKV_OK) {
        status_set(err, rc, "%s: builder already failed", b->path);
    } else if (b->props.entries == 0) {
        rc = status_set(err, LSMKV_INVALID_ARGUMENT, "%s: a table needs at least one entry",
                        b->path);
    }
    if (rc == LSMKV_OK && !block_builder_empty(&b->data)) {
        rc = flush_data_block(b, err);
    }
    if (rc == LSMKV_OK) {
        rc = write_meta(b, err);
    }
    if (rc == LSMKV_OK) {
        rc = file_writer_sync(b->writer, err);
    }
    if (rc != LSMKV_OK) {
        sstable_builder_abandon(b);
        return rc;
    }
    b->props.file_size = file_writer_size(b->writer);
    rc = file_writer_close(b->writer, err);
    b->writer = NULL;
    if (rc != LSMKV_OK) {
        sstable_builder_abandon(b);
        return rc;
    }
    if (props != NULL) {
        *props = b->props; /* ownership of the key buffers moves to the caller */
        sstable_properties_init(&b->props);
    }
    builder_free(b);
    return LSMKV_OK;
}
