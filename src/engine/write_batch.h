/*
 * Write batch: the unit of the write path. A put or delete is a batch of one;
 * a batch is applied atomically, takes a contiguous range of sequence numbers
 * (first op gets `sequence`, the next sequence + 1, ...) and is written to the
 * WAL as exactly one record, whose payload is the batch contents:
 *
 *   fixed64 sequence | fixed32 count | op * count
 *   op = byte type (0 delete, 1 put) | varint key_len | key
 *        | (put only) varint value_len | value
 */
#ifndef LSMKV_ENGINE_WRITE_BATCH_H
#define LSMKV_ENGINE_WRITE_BATCH_H

#include "buffer.h"
#include "internal_key.h"
#include "lsmkv/lsmkv.h"

#define WRITE_BATCH_HEADER 12

typedef struct write_batch {
    buffer rep; /* header + ops, as described above */
    uint32_t count;
    uint64_t user_bytes; /* sum of key and value lengths, for statistics */
} write_batch;

void write_batch_init(write_batch *b);
void write_batch_fini(write_batch *b);
void write_batch_clear(write_batch *b);

void write_batch_put(write_batch *b, slice key, slice value);
void write_batch_delete(write_batch *b, slice key);

void write_batch_set_sequence(write_batch *b, uint64_t sequence);
uint64_t write_batch_sequence(const write_batch *b);
static inline uint32_t
write_batch_count(const write_batch *b)
{
    return b->count;
}
/* The encoded contents (the WAL payload). */
static inline slice
write_batch_contents(const write_batch *b)
{
    return buffer_slice(&b->rep);
}

/* Called for each op of a batch, in order, with that op's own sequence. */
typedef void (*write_batch_op_fn)(void *ctx, uint64_t sequence, value_type type, slice key,
                                  slice value);

/*
 * The header of encoded contents: the first op's sequence and the op count.
 * false (out-params untouched) if contents is shorter than the header.
 */
bool write_batch_decode_header(slice contents, uint64_t *sequence, uint32_t *count);

/*
 * Decodes encoded contents (e.g. a WAL record) and calls fn for each op. Every
 * op is validated before fn is first called, so a malformed batch applies
 * nothing: LSMKV_CORRUPTION with a message saying what is wrong.
 */
int write_batch_iterate(slice contents, write_batch_op_fn fn, void *ctx, lsmkv_error *err);

/*
 * The write batch inside a public lsmkv_batch (lsmkv.h), which is this same
 * component's face to library users. The store sets its sequence when it
 * writes it, hence the non-const result.
 */
write_batch *write_batch_of(const lsmkv_batch *b);

#endif
