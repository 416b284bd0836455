#include "internal_key.h"

#include "coding.h"

#include <assert.h>

void
internal_key_append(buffer *out, slice user_key, uint64_t sequence, value_type type)
{
    assert(sequence <= SEQUENCE_MAX);
    buffer_reserve(out, user_key.len + INTERNAL_KEY_TRAILER);
    buffer_append(out, user_key.data, user_key.len);
    put_fixed64(out, (sequence << 8) | (uint64_t)type);
}

bool
internal_key_parse(slice internal_key, parsed_internal_key *out)
{
    if (internal_key.len < INTERNAL_KEY_TRAILER) {
        return false;
    }
    uint64_t trailer = decode_fixed64(internal_key.data + internal_key.len - INTERNAL_KEY_TRAILER);
    uint8_t type = (uint8_t)(trailer & 0xff);
    if (type > VALUE_TYPE_VALUE) {
        return false;
    }
    out->user_key = internal_key_user_key(internal_key);
    out->sequence = trailer >> 8;
    out->type = (value_type)type;
    return true;
}

int
internal_key_compare(slice a, slice b)
{
    int c = slice_compare(internal_key_user_key(a), internal_key_user_key(b));
    if (c != 0) {
        return c;
    }
    uint64_t ta = decode_fixed64(a.data + a.len - INTERNAL_KEY_TRAILER);
    uint64_t tb = decode_fixed64(b.data + b.len - INTERNAL_KEY_TRAILER);
    return internal_key_trailer_compare(ta, tb);
}

void
lookup_result_init(lookup_result *r)
{
    r->memory_only = false;
    r->found = false;
    r->type = VALUE_TYPE_DELETION;
    r->sequence = 0;
    buffer_init(&r->value);
}

void
lookup_result_fini(lookup_result *r)
{
    buffer_fini(&r->value);
}

void
lookup_result_reset(lookup_result *r)
{
    r->found = false;
    r->type = VALUE_TYPE_DELETION;
    r->sequence = 0;
    buffer_clear(&r->value);
}
