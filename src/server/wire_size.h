/*
 * Sizes in protobuf's wire format, for handlers that keep a response within
 * the transport's message limit while they build it (a Scan page, a MultiGet
 * answer) instead of packing it to find out. Only what those responses use:
 * length-delimited fields (bytes, sub-messages) with field numbers below 16,
 * whose tag is one byte.
 */
#ifndef LSMKV_SERVER_WIRE_SIZE_H
#define LSMKV_SERVER_WIRE_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of v as a varint (1 to 10). */
static inline size_t
wire_size_varint(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7) {
        n++;
    }
    return n;
}

/* Bytes of a present length-delimited field numbered 1..15 holding len bytes. */
static inline size_t
wire_size_field(size_t len)
{
    return 1 + wire_size_varint(len) + len;
}

/* The same for a proto3 bytes field, which is left out when empty. */
static inline size_t
wire_size_bytes(size_t len)
{
    return len > 0 ? wire_size_field(len) : 0;
}

#endif
