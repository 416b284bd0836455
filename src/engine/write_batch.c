/*
 * Write batches: building the encoding of write_batch.h and decoding it back.
 *
 * Decoding runs in two passes over the same bytes: the first only validates,
 * the second calls the callback. A batch read back from the WAL is therefore
 * applied entirely or not at all; a damaged batch never leaves half of its ops
 * in the memtable.
 */
#include "write_batch.h"

#include "coding.h"
#include "status.h"

#include <assert.h>
#include <stdlib.h>
#include <inttypes.h>

#define WRITE_BATCH_COUNT_OFFSET 8

/* Rewrites the header: an empty batch is its 12-byte header of zeros. */
static void
write_batch_reset(write_batch *b)
{
    uint8_t header[WRITE_BATCH_HEADER] = {0};
    buffer_set(&b->rep, header, sizeof(header));
    b->count = 0;
    b->user_bytes = 0;
}

void
write_batch_init(write_batch *b)
{
    buffer_init(&b->rep);
    write_batch_reset(b);
}

void
write_batch_fini(write_batch *b)
{
    buffer_fini(&b->rep);
}

void
write_batch_clear(write_batch *b)
{
    write_batch_reset(b);
}

static void
write_batch_add(write_batch *b, value_type type, slice key, const slice *value)
{
    /* One allocation per op at most: reserve its whole encoding up front. */
    buffer_reserve(&b->rep, 1 + 2 * VARINT64_MAX_BYTES + key.len + (value ? value->len : 0));
    uint8_t type_byte = (uint8_t)type;
    buffer_append(&b->rep, &type_byte, 1);
    put_length_prefixed(&b->rep, key);
    b->user_bytes += key.len;
    if (value != NULL) {
        put_length_prefixed(&b->rep, *value);
        b->user_bytes += value->len;
    }
    b->count++;
    encode_fixed32(b->rep.data + WRITE_BATCH_COUNT_OFFSET, b->count);
}

void
write_batch_put(write_batch *b, slice key, slice value)
{
    write_batch_add(b, VALUE_TYPE_VALUE, key, &value);
}

void
write_batch_delete(write_batch *b, slice key)
{
    write_batch_add(b, VALUE_TYPE_DELETION, key, NULL);
}

void
write_batch_set_sequence(write_batch *b, uint64_t sequence)
{
    encode_fixed64(b->rep.data, sequence);
}

uint64_t
write_batch_sequence(const write_batch *b)
{
    return decode_fixed64(b->rep.data);
}

/* ---- decoding --------------------------------------------------------------- */

typedef struct batch_op {
    value_type type;
    slice key;
    slice value;
} batch_op;

/*
 * Decodes the op at *p (not past limit) and advances *p. Returns NULL on
 * success, or what is wrong with the op.
 */
static const char *
decode_op(const uint8_t **p, const uint8_t *limit, batch_op *op)
{
    const uint8_t *q = *p;
    if (q >= limit) {
        return "ops end before the count in the header";
    }
    uint8_t type = *q++;
    if (type != VALUE_TYPE_DELETION && type != VALUE_TYPE_VALUE) {
        return "unknown op type";
    }
    op->type = (value_type)type;
    q = get_length_prefixed(q, limit, &op->key);
    if (q == NULL) {
        return "key length or key bytes out of bounds";
    }
    op->value = slice_make(NULL, 0);
    if (op->type == VALUE_TYPE_VALUE) {
        q = get_length_prefixed(q, limit, &op->value);
        if (q == NULL) {
            return "value length or value bytes out of bounds";
        }
    }
    *p = q;
    return NULL;
}

/* The first pass: checks every op without applying any. */
static int
validate(slice contents, uint64_t sequence, uint32_t count, lsmkv_error *err)
{
    /* Every op's own sequence must fit an internal key's 56 bits. */
    if (count > 0 && sequence > SEQUENCE_MAX - (count - 1)) {
        return status_set(err, LSMKV_CORRUPTION,
                          "write batch: sequence %" PRIu64 " with %" PRIu32
                          " ops exceeds the maximum sequence",
                          sequence, count);
    }
    const uint8_t *p = contents.data + WRITE_BATCH_HEADER;
    const uint8_t *limit = contents.data + contents.len;
    for (uint32_t i = 0; i < count; i++) {
        size_t at = (size_t)(p - contents.data);
        batch_op op;
        const char *problem = decode_op(&p, limit, &op);
        if (problem != NULL) {
            return status_set(err, LSMKV_CORRUPTION,
                              "write batch: op %" PRIu32 " of %" PRIu32 " at byte %zu: %s", i,
                              count, at, problem);
        }
    }
    if (p != limit) {
        return status_set(err, LSMKV_CORRUPTION,
                          "write batch: %zu trailing bytes after %" PRIu32 " ops",
                          (size_t)(limit - p), count);
    }
    return LSMKV_OK;
}

bool
write_batch_decode_header(slice contents, uint64_t *sequence, uint32_t *count)
{
    if (contents.len < WRITE_BATCH_HEADER) {
        return false;
    }
    *sequence = decode_fixed64(contents.data);
    *count = decode_fixed32(contents.data + WRITE_BATCH_COUNT_OFFSET);
    return true;
}

int
write_batch_iterate(slice contents, write_batch_op_fn fn, void *ctx, lsmkv_error *err)
{
    if (contents.len < WRITE_BATCH_HEADER) {
        return status_set(err, LSMKV_CORRUPTION,
                          "write batch: %zu bytes, shorter than its %d-byte header", contents.len,
                          WRITE_BATCH_HEADER);
    }
    uint64_t sequence = decode_fixed64(contents.data);
    uint32_t count = decode_fixed32(contents.data + WRITE_BATCH_COUNT_OFFSET);
    int rc = validate(contents, sequence, count, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    const uint8_t *p = contents.data + WRITE_BATCH_HEADER;
    const uint8_t *limit = contents.data + contents.len;
    for (uint32_t i = 0; i < count; i++) {
        batch_op op = {0};
        const char *problem = decode_op(&p, limit, &op);
        assert(problem == NULL); /* validated above */
        (void)problem;
        fn(ctx, sequence + i, op.type, op.key, op.value);
    }
    return LSMKV_OK;
}

/* ---- the public face: lsmkv_batch (lsmkv.h) ------------------------------------- */

struct lsmkv_batch {
    write_batch batch;
};

lsmkv_batch *
lsmkv_batch_new(void)
{
    lsmkv_batch *b = xmalloc(sizeof(*b));
    write_batch_init(&b->batch);
    return b;
}

void
lsmkv_batch_free(lsmkv_batch *b)
{
    if (b != NULL) {
        write_batch_fini(&b->batch);
        free(b);
    }
}

void
lsmkv_batch_clear(lsmkv_batch *b)
{
    write_batch_clear(&b->batch);
}

void
lsmkv_batch_put(lsmkv_batch *b, const uint8_t *key, size_t key_len, const uint8_t *value,
                size_t value_len)
{
    write_batch_put(&b->batch, slice_make(key, key_len), slice_make(value, value_len));
}

void
lsmkv_batch_delete(lsmkv_batch *b, const uint8_t *key, size_t key_len)
{
    write_batch_delete(&b->batch, slice_make(key, key_len));
}

size_t
lsmkv_batch_count(const lsmkv_batch *b)
{
    return write_batch_count(&b->batch);
}

size_t
lsmkv_batch_size(const lsmkv_batch *b)
{
    return write_batch_contents(&b->batch).len;
}

write_batch *
write_batch_of(const lsmkv_batch *b)
{
    return (write_batch *)&b->batch;
}
