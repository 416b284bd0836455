/*
 * SSTable file format: one immutable, sorted file.
 *
 *   data block 0 | trailer
 *   ...
 *   data block N-1 | trailer
 *   bloom block | trailer        (absent when bloom_bits_per_key is 0: size 0)
 *   index block | trailer
 *   properties block | trailer
 *   footer (SSTABLE_FOOTER_BYTES, fixed size, at the very end)
 *
 * Data blocks (block.h) hold internal keys (internal_key.h) → values, sorted,
 * about block_bytes each. A key's versions may span two blocks. Format 2
 * stores their keys as BLOCK_KEYS_SPLIT (the trailer as a varint), format 1
 * as BLOCK_KEYS_WHOLE; both are read, only format 2 is written.
 *
 * Block trailer (SSTABLE_BLOCK_TRAILER bytes):
 *   byte compression | fixed32 checksum32(contents + compression byte,
 *                                          SSTABLE_CHECKSUM_SEED)
 * compression: 0 none, 1 lz4, 2 zstd (compression.h: the stored contents are
 * then the compressed form of the block). Only data blocks are compressed; the
 * checksum covers what is stored, so damage is caught before decompression.
 *
 * Index block: a block (block.h, BLOCK_KEYS_WHOLE in every format) whose keys are the last internal
 * key of each data block and whose values are block handles: varint64 offset | varint64 size (size
 * excludes the trailer)
 *
 * Bloom block: a bloom filter (bloom.h) over the table's distinct user keys.
 *
 * Properties block (plain bytes, not block.h entries):
 *   varint64 entries | varint64 tombstones | varint64 min_sequence
 *   | varint64 max_sequence | varint64 data_blocks | varint64 data_bytes
 *   | varint64 min_key_len | min user key | varint64 max_key_len | max user key
 *   | varint64 compression (0 none, 1 lz4, 2 zstd: the table's setting; each
 *     block's trailer says whether that block is compressed)
 *
 * Footer (little-endian):
 *   fixed64 bloom_offset | fixed64 bloom_size
 *   | fixed64 index_offset | fixed64 index_size
 *   | fixed64 properties_offset | fixed64 properties_size
 *   | fixed32 format_version | fixed32 checksum32(the 52 bytes before, seed)
 *   | fixed64 magic
 * Sizes exclude block trailers. Together, the footer and the properties block
 * give magic, format version, entry count, min/max key and max sequence.
 */
#ifndef LSMKV_ENGINE_SSTABLE_FORMAT_H
#define LSMKV_ENGINE_SSTABLE_FORMAT_H

#include "block.h"
#include "buffer.h"
#include "checksum.h"
#include "lsmkv/lsmkv.h"

#define SSTABLE_MAGIC            UINT64_C(0x3154535654534d4c) /* "LMSTSVT1" little-endian */
#define SSTABLE_FORMAT_VERSION   2                            /* what the builder writes */
#define SSTABLE_FORMAT_OLDEST    1 /* the oldest the reader still reads */
#define SSTABLE_FOOTER_BYTES     64
#define SSTABLE_BLOCK_TRAILER    5
#define SSTABLE_CHECKSUM_SEED    UINT64_C(0x53535441424c4521) /* "SSTABLE!" */
#define SSTABLE_COMPRESSION_NONE 0

/* What the properties block records; keys are owned (init/fini). */
typedef struct sstable_properties {
    uint64_t entries;
    uint64_t tombstones;
    uint64_t min_sequence;
    uint64_t max_sequence;
    uint64_t data_blocks;
    uint64_t data_bytes;
    buffer min_key;       /* smallest user key */
    buffer max_key;       /* largest user key */
    uint64_t compression; /* the data blocks' setting (compression.h) */
    uint64_t file_size;   /* filled by the builder/reader, not stored */
} sstable_properties;

void sstable_properties_init(sstable_properties *p);
void sstable_properties_fini(sstable_properties *p);

/*
 * The encodings below are shared by the builder and the reader so that the
 * format is written down in code exactly once.
 */

/* Where a block lives in the file; size excludes the trailer. */
typedef struct sstable_handle {
    uint64_t offset;
    uint64_t size;
} sstable_handle;

typedef struct sstable_footer {
    sstable_handle bloom; /* size 0: the table has no bloom filter */
    sstable_handle index;
    sstable_handle properties;
    uint32_t version; /* format version, SSTABLE_FORMAT_OLDEST .. SSTABLE_FORMAT_VERSION */
} sstable_footer;

/* How the data blocks of a table of this format version store their keys. */
static inline block_keys
sstable_data_block_keys(uint32_t format_version)
{
    return format_version >= 2 ? BLOCK_KEYS_SPLIT : BLOCK_KEYS_WHOLE;
}

/* Checksum stored in a block trailer over `len` bytes: the contents followed
 * by the compression byte. */
static inline uint32_t
sstable_block_checksum(const uint8_t *contents_and_type, size_t len)
{
    return checksum32(contents_and_type, len, SSTABLE_CHECKSUM_SEED);
}

/* Appends varint64 offset | varint64 size. */
void sstable_handle_encode(buffer *out, sstable_handle h);
/* false if `in` is not exactly one well-formed handle. */
bool sstable_handle_decode(slice in, sstable_handle *out);

/* Writes the SSTABLE_FOOTER_BYTES footer (format version f->version) to dst. */
void sstable_footer_encode(const sstable_footer *f, uint8_t *dst);
/*
 * Decodes and verifies (magic, checksum, version) the footer read from
 * `path` at `offset`; LSMKV_CORRUPTION with a message naming path and offset.
 */
int sstable_footer_decode(const uint8_t *src, const char *path, uint64_t offset,
                          sstable_footer *out, lsmkv_error *err);

/* Appends the properties block (file_size is not stored). */
void sstable_properties_encode(const sstable_properties *p, buffer *out);
/*
 * Parses a properties block read from `path` at `offset` into *out, which must
 * be initialized; LSMKV_CORRUPTION naming path and offset if it is malformed.
 */
int sstable_properties_decode(slice in, const char *path, uint64_t offset, sstable_properties *out,
                              lsmkv_error *err);

#endif
