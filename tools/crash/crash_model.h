/*
 * What lsmkv-crash knows about the store: for every key of every writer, the
 * last operation the server acknowledged, the one operation each writer had in
 * flight when the server died, and every put ever sent (so that a value read
 * back can be told apart from one that was never written).
 *
 * Each writer owns a key range ("w003-0000042" is key 42 of writer 3) and is the
 * only one to write it, so the expected state of a key is exact: after a
 * restart a key must show its last acknowledged put (or be absent after an
 * acknowledged delete, or if never written), or else the outcome of the
 * writer's one operation in flight, if it was on that key. Anything else is a
 * loss (an acknowledged operation not visible: a key absent, or an older
 * value back) or a phantom (a value no put of this key ever carried).
 *
 * A writer's operation is a single put or delete, or a batch: up to
 * CRASH_BATCH_MAX puts and deletes over distinct keys of its range, sent in
 * one atomic Batch call. The model treats a batch as one operation in flight
 * covering several keys, so the per-key check above stays exact; each key
 * checked also tells whether the batch's op on it shows applied, shows not
 * applied, or cannot tell (a delete of a key that was absent anyway). A batch
 * in flight with ops of both kinds is *torn*: the store applied part of it.
 * (A torn acknowledged batch shows up as losses on its keys.)
 *
 * A value names its writer, counter (unique per writer and op, over all
 * rounds), key, round and, for an op of a batch, the batch (numbered from 1
 * per writer, shared by all its values), followed by filler bytes that are a
 * function of those, so damage to any byte is seen:
 *     "lsmkv-crash w=3 c=1207 k=42 r=9 |" + filler (0..max_filler bytes)
 *     "lsmkv-crash w=3 c=1208 k=17 r=9 b=25 |" + filler
 *
 * Threads: the model of writer w is used by one thread at a time (its writer
 * during a round, its checker after the restart); different writers' models
 * may be used at once.
 */
#ifndef LSMKV_TOOLS_CRASH_MODEL_H
#define LSMKV_TOOLS_CRASH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRASH_KEY_MAX        32
#define CRASH_VALUE_HEAD_MAX 96   /* the text before the filler */
#define CRASH_FILLER_MAX     4096 /* the largest max_filler */
#define CRASH_VALUE_MAX      (CRASH_VALUE_HEAD_MAX + CRASH_FILLER_MAX)
#define CRASH_BATCH_MAX      16 /* ops in one batch */

typedef enum crash_op {
    CRASH_OP_NONE = 0, /* never written */
    CRASH_OP_PUT = 1,
    CRASH_OP_DELETE = 2,
} crash_op;

/* What one Get after a restart tells about one key. */
typedef enum crash_verdict {
    CRASH_OK = 0,      /* the last acknowledged state, or the op in flight applied */
    CRASH_LOSS = 1,    /* an acknowledged operation is not visible */
    CRASH_PHANTOM = 2, /* a value that no put of this key carried */
} crash_verdict;

/* What became of a writer's operation in flight, once each of its keys was checked. */
typedef enum crash_flight {
    CRASH_FLIGHT_NONE = 0,        /* nothing was in flight */
    CRASH_FLIGHT_APPLIED = 1,     /* visible (a batch: every op that can tell) */
    CRASH_FLIGHT_NOT_APPLIED = 2, /* not visible, or nothing could tell */
    CRASH_FLIGHT_TORN = 3,        /* a batch with some ops visible and others not */
} crash_flight;

typedef struct crash_model crash_model;

/* A model of `writers` writers with `keys` keys each, all never written;
 * values carry up to max_filler filler bytes (<= CRASH_FILLER_MAX). */
crash_model *crash_model_new(uint32_t writers, uint32_t keys, uint32_t max_filler);

/* NULL is a no-op. */
void crash_model_free(crash_model *m);

uint32_t crash_model_writers(const crash_model *m);
uint32_t crash_model_keys(const crash_model *m);

/* The key `key` of writer w into out[CRASH_KEY_MAX]; returns its length. */
size_t crash_model_key(uint32_t writer, uint32_t key, uint8_t *out);

/*
 * Writer w is about to send `op` on `key` in `round`: records it as the
 * writer's operation in flight (there must be none) and, for a put, writes the
 * value into value[CRASH_VALUE_MAX] and sets *value_len. Returns the counter.
 */
uint64_t crash_model_begin(crash_model *m, uint32_t writer, uint32_t round, uint32_t key,
                           crash_op op, uint8_t *value, size_t *value_len);

/*
 * Writer w is about to send a batch in `round`: records an empty batch as its
 * operation in flight (there must be none) and returns the batch's number
 * (1, 2, ... per writer). Its ops are then added with crash_model_batch_add.
 */
uint32_t crash_model_begin_batch(crash_model *m, uint32_t writer, uint32_t round);

/*
 * Adds `op` on `key` to writer w's batch in flight (begun, not yet sent; fewer
 * than CRASH_BATCH_MAX ops, none on `key`), writing a put's value as
 * crash_model_begin does. Returns the op's counter.
 */
uint64_t crash_model_batch_add(crash_model *m, uint32_t writer, uint32_t key, crash_op op,
                               uint8_t *value, size_t *value_len);

/* The server acknowledged writer w's operation in flight: it becomes the state
 * of its key (of each key of a batch). */
void crash_model_ack(crash_model *m, uint32_t writer);

/* True if writer w has an operation in flight (sent, not acknowledged). */
bool crash_model_in_flight(const crash_model *m, uint32_t writer);

/* The number of writer w's batch in flight; 0 if none is (or a single op is). */
uint32_t crash_model_in_flight_batch(const crash_model *m, uint32_t writer);

/*
 * Judges what a Get of writer w's `key` returned after a restart (value NULL
 * when not found). On CRASH_OK the key's state becomes what was read (so an op
 * in flight that turned out applied now counts as acknowledged; *applied, if
 * not NULL, says whether that happened), and the op in flight on that key, if
 * any, is marked as seen applied or not. On a loss or phantom the state is
 * left alone; *detail (if not NULL, at least 256 bytes) explains the verdict.
 */
crash_verdict crash_model_check(crash_model *m, uint32_t writer, uint32_t key, const uint8_t *value,
                                size_t value_len, bool *applied, char *detail, size_t detail_size);

/*
 * Ends writer w's round once each of its keys has been checked: returns what
 * became of its operation in flight and forgets it. On CRASH_FLIGHT_TORN,
 * *detail (if not NULL, at least 256 bytes) names the batch and which of its
 * keys showed applied and which did not.
 */
crash_flight crash_model_end_round(crash_model *m, uint32_t writer, char *detail,
                                   size_t detail_size);

/* ---- values (exposed for the tests) ---------------------------------------------- */

typedef struct crash_model_value_id {
    uint32_t writer;
    uint64_t counter;
    uint32_t key;
    uint32_t round;
    uint32_t batch; /* 0: a single put */
} crash_model_value_id;

/* Writes the value of id into out[CRASH_VALUE_MAX]; returns its length. */
size_t crash_model_value_format(const crash_model_value_id *id, uint32_t max_filler, uint8_t *out);

/* Parses a value: false unless it is exactly what crash_model_value_format wrote for some id. */
bool crash_model_value_parse(const uint8_t *value, size_t len, uint32_t max_filler,
                             crash_model_value_id *id);

#endif
