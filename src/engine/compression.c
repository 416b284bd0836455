#include "compression.h"

#include "coding.h"
#include "lsmkv/lsmkv.h"

#include <lz4.h>
#include <zstd.h>

/* Fast settings: the point is cheaper I/O and a fuller cache, not the last byte. */
#define ZSTD_LEVEL      1
#define MAX_BLOCK_BYTES (1u << 31)

const char *
compression_name(int type)
{
    switch (type) {
    case COMPRESSION_NONE:
        return "none";
    case COMPRESSION_LZ4:
        return "lz4";
    case COMPRESSION_ZSTD:
        return "zstd";
    default:
        return "unknown";
    }
}

bool
compression_compress(int type, slice raw, buffer *out)
{
    if (raw.len > LZ4_MAX_INPUT_SIZE) {
        return false;
    }
    size_t bound = type == COMPRESSION_LZ4 ? (size_t)LZ4_compressBound((int)raw.len)
                                           : ZSTD_compressBound(raw.len);
    buffer_clear(out);
    buffer_reserve(out, VARINT64_MAX_BYTES + bound);
    out->len = encode_varint64(out->data, raw.len);
    size_t n = 0;
    if (type == COMPRESSION_LZ4) {
        int r = LZ4_compress_default((const char *)raw.data, (char *)out->data + out->len,
                                     (int)raw.len, (int)bound);
        n = r > 0 ? (size_t)r : 0;
    } else if (type == COMPRESSION_ZSTD) {
        size_t r = ZSTD_compress(out->data + out->len, bound, raw.data, raw.len, ZSTD_LEVEL);
        n = ZSTD_isError(r) ? 0 : r;
    }
    out->len += n;
    return n > 0 && out->len < raw.len - raw.len / 8;
}

/*
 * Whether in_len bytes can decode to raw_len at all. The length prefix sizes
 * an allocation, so a damaged one must be refuted before it is trusted: an
 * LZ4 byte expands to at most 255 (a match-length byte adds 255), and our
 * zstd frames declare their size in the header.
 */
static bool
raw_length_possible(int type, const uint8_t *p, size_t in_len, uint64_t raw_len)
{
    if (type == COMPRESSION_LZ4) {
        return raw_len <= (uint64_t)in_len * 255;
    }
    return type == COMPRESSION_ZSTD && ZSTD_getFrameContentSize(p, in_len) == raw_len;
}

int
compression_decompress(int type, slice compressed, buffer *out)
{
    uint64_t raw_len;
    const uint8_t *p = get_varint64(compressed.data, compressed.data + compressed.len, &raw_len);
    if (p == NULL || raw_len > MAX_BLOCK_BYTES) {
        return LSMKV_CORRUPTION;
    }
    size_t in_len = (size_t)(compressed.data + compressed.len - p);
    if (!raw_length_possible(type, p, in_len, raw_len)) {
        return LSMKV_CORRUPTION;
    }
    buffer_clear(out);
    buffer_reserve(out, (size_t)raw_len + 1);
    bool ok = false;
    if (type == COMPRESSION_LZ4 && in_len <= (size_t)LZ4_MAX_INPUT_SIZE) {
        int r = LZ4_decompress_safe((const char *)p, (char *)out->data, (int)in_len, (int)raw_len);
        ok = r >= 0 && (uint64_t)r == raw_len;
    } else if (type == COMPRESSION_ZSTD) {
        size_t r = ZSTD_decompress(out->data, (size_t)raw_len, p, in_len);
        ok = !ZSTD_isError(r) && r == raw_len;
    }
    out->len = ok ? (size_t)raw_len : 0;
    return ok ? LSMKV_OK : LSMKV_CORRUPTION;
}
