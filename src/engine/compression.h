/*
 * Block compression with Debian's LZ4 and zstd libraries. A compressed block
 * is stored as
 *   varint32 uncompressed length | the library's compressed bytes
 * and the block trailer's compression byte (sstable_format.h) says which
 * library made it.
 */
#ifndef LSMKV_ENGINE_COMPRESSION_H
#define LSMKV_ENGINE_COMPRESSION_H

#include "buffer.h"

#define COMPRESSION_NONE 0
#define COMPRESSION_LZ4  1
#define COMPRESSION_ZSTD 2

/* "none", "lz4", "zstd", or "unknown". */
const char *compression_name(int type);

/*
 * Replaces *out with raw compressed by `type` (LZ4 or ZSTD). Returns false
 * when compression does not pay (saves less than an eighth): store raw then.
 */
bool compression_compress(int type, slice raw, buffer *out);

/* Replaces *out with the decompressed block; LSMKV_CORRUPTION if it does not decode. */
int compression_decompress(int type, slice compressed, buffer *out);

#endif
