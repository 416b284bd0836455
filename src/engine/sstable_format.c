/* Encodings shared by sstable_builder.c and sstable_reader.c (layout in sstable_format.h). */
#include "sstable_format.h"

#include "coding.h"
#include "status.h"

void
sstable_properties_init(sstable_properties *p)
{
    memset(p, 0, sizeof(*p));
    buffer_init(&p->min_key);
    buffer_init(&p->max_key);
}

void
sstable_properties_fini(sstable_properties *p)
{
    buffer_fini(&p->min_key);
    buffer_fini(&p->max_key);
}

void
sstable_handle_encode(buffer *out, sstable_handle h)
{
    put_varint64(out, h.offset);
    put_varint64(out, h.size);
}

bool
sstable_handle_decode(slice in, sstable_handle *out)
{
    if (in.len == 0) {
        return false;
    }
    const uint8_t *limit = in.data + in.len;
    sstable_handle h;
    const uint8_t *p = get_varint64(in.data, limit, &h.offset);
    if (p != NULL) {
        p = get_varint64(p, limit, &h.size);
    }
    if (p != limit) {
        return false;
    }
    *out = h;
    return true;
}

/* Offsets of the footer's fields. */
enum {
    FOOTER_HANDLES = 0,
    FOOTER_VERSION = 48,
    FOOTER_CHECKSUM = 52,
    FOOTER_MAGIC = 56,
};

void
sstable_footer_encode(const sstable_footer *f, uint8_t *dst)
{
    const sstable_handle *handles[3] = {&f->bloom, &f->index, &f->properties};
    for (int i = 0; i < 3; i++) {
        encode_fixed64(dst + FOOTER_HANDLES + 16 * i, handles[i]->offset);
        encode_fixed64(dst + FOOTER_HANDLES + 16 * i + 8, handles[i]->size);
    }
    encode_fixed32(dst + FOOTER_VERSION, f->version);
    encode_fixed32(dst + FOOTER_CHECKSUM, checksum32(dst, FOOTER_CHECKSUM, SSTABLE_CHECKSUM_SEED));
    encode_fixed64(dst + FOOTER_MAGIC, SSTABLE_MAGIC);
}

int
sstable_footer_decode(const uint8_t *src, const char *path, uint64_t offset, sstable_footer *out,
                      lsmkv_error *err)
{
    unsigned long long off = (unsigned long long)offset;
    /* Magic first: a file that is not a table at all deserves that message. */
    if (decode_fixed64(src + FOOTER_MAGIC) != SSTABLE_MAGIC) {
        return status_set(err, LSMKV_CORRUPTION, "%s: bad magic in footer at offset %llu", path,
                          off);
    }
    if (decode_fixed32(src + FOOTER_CHECKSUM) !=
        checksum32(src, FOOTER_CHECKSUM, SSTABLE_CHECKSUM_SEED)) {
        return status_set(err, LSMKV_CORRUPTION, "%s: checksum mismatch in footer at offset %llu",
                          path, off);
    }
    uint32_t version = decode_fixed32(src + FOOTER_VERSION);
    if (version < SSTABLE_FORMAT_OLDEST || version > SSTABLE_FORMAT_VERSION) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: unsupported format version %u in footer at offset %llu", path,
                          version, off);
    }
    sstable_handle *handles[3] = {&out->bloom, &out->index, &out->properties};
    for (int i = 0; i < 3; i++) {
        handles[i]->offset = decode_fixed64(src + FOOTER_HANDLES + 16 * i);
        handles[i]->size = decode_fixed64(src + FOOTER_HANDLES + 16 * i + 8);
    }
    out->version = version;
    return LSMKV_OK;
}

void
sstable_properties_encode(const sstable_properties *p, buffer *out)
{
    put_varint64(out, p->entries);
    put_varint64(out, p->tombstones);
    put_varint64(out, p->min_sequence);
    put_varint64(out, p->max_sequence);
    put_varint64(out, p->data_blocks);
    put_varint64(out, p->data_bytes);
    put_length_prefixed(out, buffer_slice(&p->min_key));
    put_length_prefixed(out, buffer_slice(&p->max_key));
    put_varint64(out, p->compression);
}

int
sstable_properties_decode(slice in, const char *path, uint64_t offset, sstable_properties *out,
                          lsmkv_error *err)
{
    if (in.len == 0) {
        return status_set(err, LSMKV_CORRUPTION, "%s: empty properties block at offset %llu", path,
                          (unsigned long long)offset);
    }
    const uint8_t *p = in.data, *limit = in.data + in.len;
    uint64_t v[6];
    for (int i = 0; i < 6 && p != NULL; i++) {
        p = get_varint64(p, limit, &v[i]);
    }
    slice min_key = {0}, max_key = {0};
    if (p != NULL) {
        p = get_length_prefixed(p, limit, &min_key);
    }
    if (p != NULL) {
        p = get_length_prefixed(p, limit, &max_key);
    }
    uint64_t compression = 0;
    if (p != NULL) {
        p = get_varint64(p, limit, &compression);
    }
    if (p != limit) {
        return status_set(err, LSMKV_CORRUPTION, "%s: malformed properties block at offset %llu",
                          path, (unsigned long long)offset);
    }
    out->entries = v[0];
    out->tombstones = v[1];
    out->min_sequence = v[2];
    out->max_sequence = v[3];
    out->data_blocks = v[4];
    out->data_bytes = v[5];
    out->compression = compression;
    buffer_set(&out->min_key, min_key.data, min_key.len);
    buffer_set(&out->max_key, max_key.data, max_key.len);
    return LSMKV_OK;
}
