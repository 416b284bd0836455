/*
 * A minimal protobuf wire-format writer and reader for tests: they build
 * server answers and inspect client requests by field number, independently
 * of protobuf-c's generated code, so a test also checks that the bytes on the
 * wire are what rpc.proto and kv.proto say. Only varint (type 0) and
 * length-delimited (type 2) fields, which are all lsmkv's messages use.
 */
#ifndef LSMKV_TESTS_TEST_WIRE_H
#define LSMKV_TESTS_TEST_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_wire {
    uint8_t *data;
    size_t len;
    size_t cap;
} test_wire;

static inline void
test_wire_raw(test_wire *w, const void *data, size_t len)
{
    if (w->len + len > w->cap) {
        w->cap = (w->len + len) * 2 + 16;
        w->data = realloc(w->data, w->cap);
        if (w->data == NULL) {
            abort();
        }
    }
    if (len > 0) {
        memcpy(w->data + w->len, data, len);
    }
    w->len += len;
}

static inline void
test_wire_varint(test_wire *w, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0) {
            b |= 0x80;
        }
        test_wire_raw(w, &b, 1);
    } while (v != 0);
}

/* Field `field` as a varint (uint32/uint64/bool/enum). */
static inline void
test_wire_uint(test_wire *w, int field, uint64_t v)
{
    test_wire_varint(w, (uint64_t)field << 3 | 0);
    test_wire_varint(w, v);
}

/* Field `field` as length-delimited bytes (bytes, string, sub-message). */
static inline void
test_wire_bytes(test_wire *w, int field, const void *data, size_t len)
{
    test_wire_varint(w, (uint64_t)field << 3 | 2);
    test_wire_varint(w, len);
    test_wire_raw(w, data, len);
}

static inline void
test_wire_message(test_wire *w, int field, const test_wire *sub)
{
    test_wire_bytes(w, field, sub->data, sub->len);
}

static inline void
test_wire_free(test_wire *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}

/* Reads a varint at *p; false if it runs past end. */
static inline bool
test_wire_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Finds the last occurrence of `field` in a message (as protobuf does for
 * scalars). For a varint field *v receives the value; for a length-delimited
 * one *data and *len the bytes. False if absent or the bytes are malformed.
 */
static inline bool
test_wire_find(const uint8_t *msg, size_t msg_len, int field, uint64_t *v, const uint8_t **data,
               size_t *len)
{
    const uint8_t *p = msg, *end = msg + msg_len;
    bool found = false;
    while (p < end) {
        uint64_t key, value;
        if (!test_wire_read_varint(&p, end, &key)) {
            return false;
        }
        int type = (int)(key & 7);
        if (type == 0) {
            if (!test_wire_read_varint(&p, end, &value)) {
                return false;
            }
            if ((int)(key >> 3) == field && v != NULL) {
                *v = value;
                found = true;
            }
        } else if (type == 2) {
            if (!test_wire_read_varint(&p, end, &value) || value > (uint64_t)(end - p)) {
                return false;
            }
            if ((int)(key >> 3) == field && data != NULL) {
                *data = p;
                *len = (size_t)value;
                found = true;
            }
            p += value;
        } else {
            return false;
        }
    }
    return found;
}

#endif
