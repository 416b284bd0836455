/*
 * Internal keys: how every version of a user key is named inside the engine.
 *
 *   internal key = user key bytes | fixed64 little-endian (sequence << 8 | type)
 *
 * Order: user key ascending (bytewise), then sequence descending, so the
 * newest version of a key comes first and a seek to (key, snapshot) lands on
 * the newest version visible at that snapshot. Memtables, SSTables and merge
 * iterators all order entries this way.
 */
#ifndef LSMKV_ENGINE_INTERNAL_KEY_H
#define LSMKV_ENGINE_INTERNAL_KEY_H

#include "buffer.h"

typedef enum value_type {
    VALUE_TYPE_DELETION = 0, /* a tombstone; its value is empty */
    VALUE_TYPE_VALUE = 1,
} value_type;

/* Seeks use the highest type so they land before every entry of that sequence. */
#define VALUE_TYPE_FOR_SEEK  VALUE_TYPE_VALUE
#define SEQUENCE_MAX         ((UINT64_C(1) << 56) - 1)
#define INTERNAL_KEY_TRAILER 8

typedef struct parsed_internal_key {
    slice user_key;
    uint64_t sequence;
    value_type type;
} parsed_internal_key;

/* Appends user_key | trailer(sequence, type) to out. */
void internal_key_append(buffer *out, slice user_key, uint64_t sequence, value_type type);

/* Splits an internal key; false if it is shorter than the trailer or the type is unknown. */
bool internal_key_parse(slice internal_key, parsed_internal_key *out);

/* The user-key part; internal_key must be at least INTERNAL_KEY_TRAILER long. */
static inline slice
internal_key_user_key(slice internal_key)
{
    return slice_make(internal_key.data, internal_key.len - INTERNAL_KEY_TRAILER);
}

/* Order described above. Both keys must be at least INTERNAL_KEY_TRAILER long. */
int internal_key_compare(slice a, slice b);

/* The order of two trailers (sequence << 8 | type) of one user key: newest first. */
static inline int
internal_key_trailer_compare(uint64_t a, uint64_t b)
{
    return a > b ? -1 : (a < b ? 1 : 0);
}

/*
 * The answer of a point lookup in one source (memtable, table, manager):
 * found says whether some version of the key with sequence <= the snapshot
 * exists there; type tells a value from a tombstone. value is owned by the
 * result (init/fini).
 */
typedef struct lookup_result {
    /* In: answer from memory only (lsmkv_get_no_wait); a lookup that would
     * open a table file or read a block from disk fails with
     * LSMKV_WOULD_BLOCK instead. Kept by lookup_result_reset. */
    bool memory_only;
    /* Out: the newest visible version, if any. */
    bool found;
    value_type type;
    uint64_t sequence;
    buffer value;
} lookup_result;

void lookup_result_init(lookup_result *r);
void lookup_result_fini(lookup_result *r);
/* Forgets a previous answer, keeping the value buffer's memory. */
void lookup_result_reset(lookup_result *r);

#endif
