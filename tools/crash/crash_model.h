/*
 * What lsmkv-crash knows about the store: for every key of every writer, the
 * last operation the server acknowledged, the one operation each writer had in
 * flight when the server died, and every put ever sent (so that a value read
 * back can be told apart from one that was never written).
 *
 * Each writer owns a key range ("w03-000042" is key 42 of writer 3) and is the
 * only one to write it, so the expected state of a key is exact: after a
 * restart a key must show its last acknowledged put (or be absent after an
 * acknowledged delete, or if never written), or else the outcome of the
 * writer's one operation in flight, if it was on that key. Anything else is a
 * loss (an acknowledged operation not visible: a key absent, or an older
 * value back) or a phantom (a value no put of this key ever carried).
 *
 * A value names its writer, counter (unique per writer, over all rounds), key
 * and round, followed by filler bytes that are a function of those, so damage
 * to any byte is seen:
 *     "lsmkv-crash w=3 c=1207 k=42 r=9 |" + filler (0..max_filler bytes)
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

#define CRASH_KEY_MAX   32
#define CRASH_VALUE_MAX (64 + 4096)

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

typedef struct crash_model crash_model;

/* A model of `writers` writers with `keys` keys each, all never written;
 * values carry up to max_filler filler bytes (<= 4096). */
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

/* The server acknowledged writer w's operation in flight: it becomes the key's state. */
void crash_model_ack(crash_model *m, uint32_t writer);

/* True if writer w has an operation in flight (sent, not acknowledged). */
bool crash_model_in_flight(const crash_model *m, uint32_t writer);

/*
 * Judges what a Get of writer w's `key` returned after a restart (value NULL
 * when not found). On CRASH_OK the key's state becomes what was read (so an op
 * in flight that turned out applied now counts as acknowledged; *applied, if
 * not NULL, says whether that happened). On a loss or phantom the state is
 * left alone; *detail (if not NULL, at least 256 bytes) explains the verdict.
 */
crash_verdict crash_model_check(crash_model *m, uint32_t writer, uint32_t key, const uint8_t *value,
                                size_t value_len, bool *applied, char *detail, size_t detail_size);

/* Ends writer w's round: its operation in flight, if any, is forgotten (each
 * of its keys has been checked, so it either showed applied or is gone). */
void crash_model_end_round(crash_model *m, uint32_t writer);

/* ---- values (exposed for the tests) ---------------------------------------------- */

typedef struct crash_model_value_id {
    uint32_t writer;
    uint64_t counter;
    uint32_t key;
    uint32_t round;
} crash_model_value_id;

/* Writes the value of id into out[CRASH_VALUE_MAX]; returns its length. */
size_t crash_model_value_format(const crash_model_value_id *id, uint32_t max_filler, uint8_t *out);

/* Parses a value: false unless it is exactly what crash_model_value_format wrote for some id. */
bool crash_model_value_parse(const uint8_t *value, size_t len, uint32_t max_filler,
                             crash_model_value_id *id);

#endif
