#include "crash_model.h"

#include "crash_rng.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_KEY UINT32_MAX /* sent_op.key of a delete */

typedef struct key_state {
    uint64_t counter; /* of the last acknowledged put or delete */
    uint32_t round;   /* in which it was sent */
    uint32_t batch;   /* it was part of, 0 if none */
    uint8_t op;       /* crash_op */
} key_state;

/* What one op sent carried: enough to tell a value read back from a forged one. */
typedef struct sent_op {
    uint32_t key;   /* of a put; NO_KEY for a delete */
    uint32_t batch; /* 0 for a single op */
} sent_op;

/* What a check saw of one op in flight. */
typedef enum seen {
    SEEN_NOTHING = 0, /* not checked, or the read fits both outcomes */
    SEEN_APPLIED = 1,
    SEEN_ABSENT = 2, /* the key shows the state before the op */
} seen;

typedef struct flight_op {
    uint64_t counter;
    uint32_t key;
    uint8_t op;   /* crash_op */
    uint8_t seen; /* seen */
} flight_op;

typedef struct writer_model {
    key_state *keys;
    sent_op *sent_ops; /* indexed by counter */
    uint64_t sent;     /* operations sent so far: the next counter */
    uint64_t cap;
    uint32_t batches; /* batches begun so far: the last batch number */
    /* The operation in flight: flight_count ops, all of batch flight_batch (0: a single op). */
    uint32_t flight_count;
    bool in_flight;
    uint32_t flight_round;
    uint32_t flight_batch;
    flight_op flight[CRASH_BATCH_MAX];
} writer_model;

struct crash_model {
    uint32_t writers;
    uint32_t keys;
    uint32_t max_filler;
    writer_model *w;
};

static void *
must_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "lsmkv-crash: out of memory\n");
        abort();
    }
    return p;
}

/* ---- values --------------------------------------------------------------------------- */

size_t
crash_model_key(uint32_t writer, uint32_t key, uint8_t *out)
{
    int n = snprintf((char *)out, CRASH_KEY_MAX, "w%03" PRIu32 "-%07" PRIu32, writer, key);
    assert(n > 0 && n < CRASH_KEY_MAX);
    return (size_t)n;
}

size_t
crash_model_value_format(const crash_model_value_id *id, uint32_t max_filler, uint8_t *out)
{
    assert(max_filler <= CRASH_FILLER_MAX);
    int n = snprintf((char *)out, CRASH_VALUE_HEAD_MAX,
                     "lsmkv-crash w=%" PRIu32 " c=%" PRIu64 " k=%" PRIu32 " r=%" PRIu32, id->writer,
                     id->counter, id->key, id->round);
    assert(n > 0);
    if (id->batch != 0) {
        n += snprintf((char *)out + n, CRASH_VALUE_HEAD_MAX - (size_t)n, " b=%" PRIu32, id->batch);
    }
    n += snprintf((char *)out + n, CRASH_VALUE_HEAD_MAX - (size_t)n, " |");
    assert(n < CRASH_VALUE_HEAD_MAX);
    crash_rng rng;
    crash_rng_init(&rng, id->counter, id->writer, id->key, id->round);
    size_t filler = (size_t)crash_rng_below(&rng, (uint64_t)max_filler + 1);
    for (size_t i = 0; i < filler; i++) {
        out[n + i] = (uint8_t)('a' + crash_rng_below(&rng, 26));
    }
    return (size_t)n + filler;
}

bool
crash_model_value_parse(const uint8_t *value, size_t len, uint32_t max_filler,
                        crash_model_value_id *id)
{
    char head[CRASH_VALUE_HEAD_MAX + 8];
    size_t head_len = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
    memcpy(head, value, head_len);
    head[head_len] = '\0';
    crash_model_value_id parsed = {0};
    int fields = sscanf(
        head, "lsmkv-crash w=%" SCNu32 " c=%" SCNu64 " k=%" SCNu32 " r=%" SCNu32 " b=%" SCNu32,
        &parsed.writer, &parsed.counter, &parsed.key, &parsed.round, &parsed.batch);
    if (fields < 4) {
        return false;
    }
    /* sscanf accepts spaces, signs and leading zeros, and ignores what follows:
     * comparing with the canonical rendering rejects those ("b=0" too), and
     * checks the rest of the head and the filler byte by byte. */
    uint8_t canonical[CRASH_VALUE_MAX];
    size_t canonical_len = crash_model_value_format(&parsed, max_filler, canonical);
    if (canonical_len != len || memcmp(canonical, value, len) != 0) {
        return false;
    }
    *id = parsed;
    return true;
}

/* ---- the model ------------------------------------------------------------------------- */

crash_model *
crash_model_new(uint32_t writers, uint32_t keys, uint32_t max_filler)
{
    assert(writers > 0 && keys > 0 && max_filler <= CRASH_FILLER_MAX);
    crash_model *m = must_calloc(1, sizeof(*m));
    m->writers = writers;
    m->keys = keys;
    m->max_filler = max_filler;
    m->w = must_calloc(writers, sizeof(*m->w));
    for (uint32_t i = 0; i < writers; i++) {
        m->w[i].keys = must_calloc(keys, sizeof(key_state));
    }
    return m;
}

void
crash_model_free(crash_model *m)
{
    if (m == NULL) {
        return;
    }
    for (uint32_t i = 0; i < m->writers; i++) {
        free(m->w[i].keys);
        free(m->w[i].sent_ops);
    }
    free(m->w);
    free(m);
}

uint32_t
crash_model_writers(const crash_model *m)
{
    return m->writers;
}

uint32_t
crash_model_keys(const crash_model *m)
{
    return m->keys;
}

/* Opens writer w's operation in flight, with no ops yet. */
static void
begin_flight(writer_model *w, uint32_t round, uint32_t batch)
{
    assert(!w->in_flight);
    w->in_flight = true;
    w->flight_count = 0;
    w->flight_round = round;
    w->flight_batch = batch;
}

/* Adds one op to writer w's operation in flight, and records it as sent. */
static uint64_t
add_to_flight(crash_model *m, uint32_t writer, uint32_t key, crash_op op, uint8_t *value,
              size_t *value_len)
{
    assert(writer < m->writers && key < m->keys);
    assert(op == CRASH_OP_PUT || op == CRASH_OP_DELETE);
    writer_model *w = &m->w[writer];
    assert(w->in_flight && w->flight_count < CRASH_BATCH_MAX);
    for (uint32_t i = 0; i < w->flight_count; i++) {
        assert(w->flight[i].key != key); /* a batch's keys are distinct */
    }
    if (w->sent == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->sent_ops = realloc(w->sent_ops, w->cap * sizeof(*w->sent_ops));
        if (w->sent_ops == NULL) {
            fprintf(stderr, "lsmkv-crash: out of memory\n");
            abort();
        }
    }
    uint64_t counter = w->sent++;
    w->sent_ops[counter] =
        (sent_op){.key = op == CRASH_OP_PUT ? key : NO_KEY, .batch = w->flight_batch};
    w->flight[w->flight_count++] =
        (flight_op){.counter = counter, .key = key, .op = (uint8_t)op, .seen = SEEN_NOTHING};
    if (op == CRASH_OP_PUT) {
        crash_model_value_id id = {.writer = writer,
                                   .counter = counter,
                                   .key = key,
                                   .round = w->flight_round,
                                   .batch = w->flight_batch};
        *value_len = crash_model_value_format(&id, m->max_filler, value);
    }
    return counter;
}

uint64_t
crash_model_begin(crash_model *m, uint32_t writer, uint32_t round, uint32_t key, crash_op op,
                  uint8_t *value, size_t *value_len)
{
    assert(writer < m->writers);
    begin_flight(&m->w[writer], round, 0);
    return add_to_flight(m, writer, key, op, value, value_len);
}

uint32_t
crash_model_begin_batch(crash_model *m, uint32_t writer, uint32_t round)
{
    assert(writer < m->writers);
    writer_model *w = &m->w[writer];
    begin_flight(w, round, ++w->batches);
    return w->batches;
}

uint64_t
crash_model_batch_add(crash_model *m, uint32_t writer, uint32_t key, crash_op op, uint8_t *value,
                      size_t *value_len)
{
    assert(writer < m->writers && m->w[writer].flight_batch != 0);
    return add_to_flight(m, writer, key, op, value, value_len);
}

static void
set_state(key_state *k, crash_op op, uint64_t counter, uint32_t round, uint32_t batch)
{
    k->op = (uint8_t)op;
    k->counter = counter;
    k->round = round;
    k->batch = batch;
}

void
crash_model_ack(crash_model *m, uint32_t writer)
{
    writer_model *w = &m->w[writer];
    assert(w->in_flight);
    for (uint32_t i = 0; i < w->flight_count; i++) {
        const flight_op *f = &w->flight[i];
        set_state(&w->keys[f->key], f->op, f->counter, w->flight_round, w->flight_batch);
    }
    w->in_flight = false;
}

bool
crash_model_in_flight(const crash_model *m, uint32_t writer)
{
    return m->w[writer].in_flight;
}

uint32_t
crash_model_in_flight_batch(const crash_model *m, uint32_t writer)
{
    const writer_model *w = &m->w[writer];
    return w->in_flight ? w->flight_batch : 0;
}

/* ---- the check -------------------------------------------------------------------------- */

/* "put c=12 (round 3)", "delete c=9 (round 2, batch 4)" or "no write". */
static void
describe_state(const key_state *k, char *out, size_t size)
{
    if (k->op == CRASH_OP_NONE) {
        snprintf(out, size, "no write");
        return;
    }
    char batch[32] = "";
    if (k->batch != 0) {
        snprintf(batch, sizeof(batch), ", batch %" PRIu32, k->batch);
    }
    snprintf(out, size, "%s c=%" PRIu64 " (round %" PRIu32 "%s)",
             k->op == CRASH_OP_PUT ? "put" : "delete", k->counter, k->round, batch);
}

/* The first bytes of a value, printable, for a phantom's report. */
static void
escape_prefix(const uint8_t *value, size_t len, char *out, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < len && i < 48 && used + 5 < size; i++) {
        if (isprint(value[i]) && value[i] != '\\') {
            out[used++] = (char)value[i];
        } else {
            used += (size_t)snprintf(out + used, size - used, "\\x%02x", value[i]);
        }
    }
    out[used] = '\0';
}

/* Writer w's op in flight on `key`, or NULL. */
static flight_op *
flight_on(writer_model *w, uint32_t key)
{
    for (uint32_t i = 0; w->in_flight && i < w->flight_count; i++) {
        if (w->flight[i].key == key) {
            return &w->flight[i];
        }
    }
    return NULL;
}

/* The op in flight f turned out applied: it becomes its key's state. */
static void
mark_applied(writer_model *w, flight_op *f, bool *applied)
{
    set_state(&w->keys[f->key], f->op, f->counter, w->flight_round, w->flight_batch);
    f->seen = SEEN_APPLIED;
    *applied = true;
}

/* The key reads as absent. */
static crash_verdict
check_absent(writer_model *w, uint32_t key, bool *applied, char *detail, size_t size)
{
    key_state *k = &w->keys[key];
    flight_op *f = flight_on(w, key);
    if (k->op != CRASH_OP_PUT) {
        /* Never written or deleted: absent fits. A put in flight was not applied; a
         * delete in flight may have been or not, nothing tells. */
        if (f != NULL && f->op == CRASH_OP_PUT) {
            f->seen = SEEN_ABSENT;
        }
        return CRASH_OK;
    }
    if (f != NULL && f->op == CRASH_OP_DELETE) {
        mark_applied(w, f, applied);
        return CRASH_OK;
    }
    char state[96];
    describe_state(k, state, sizeof(state));
    snprintf(detail, size, "absent, but the last acknowledged write was %s", state);
    return CRASH_LOSS;
}

/* The key reads as `value`. */
static crash_verdict
check_value(const crash_model *m, writer_model *w, uint32_t writer, uint32_t key,
            const uint8_t *value, size_t len, bool *applied, char *detail, size_t size)
{
    key_state *k = &w->keys[key];
    flight_op *f = flight_on(w, key);
    crash_model_value_id id;
    if (!crash_model_value_parse(value, len, m->max_filler, &id) || id.writer != writer ||
        id.key != key || id.counter >= w->sent || w->sent_ops[id.counter].key != key ||
        w->sent_ops[id.counter].batch != id.batch) {
        char shown[256];
        escape_prefix(value, len, shown, sizeof(shown));
        snprintf(detail, size, "a value no put of this key wrote (%zu bytes): \"%s\"", len, shown);
        return CRASH_PHANTOM;
    }
    if (k->op == CRASH_OP_PUT && k->counter == id.counter) {
        if (f != NULL) {
            f->seen = SEEN_ABSENT; /* the acknowledged state, not the op in flight */
        }
        return CRASH_OK;
    }
    if (f != NULL && f->counter == id.counter) {
        mark_applied(w, f, applied);
        return CRASH_OK;
    }
    if (k->op == CRASH_OP_NONE || id.counter > k->counter) {
        /* Newer than anything acknowledged, and not in flight now: it was in flight at
         * an earlier kill, that round's check found it not applied, and it is back. */
        snprintf(detail, size,
                 "put c=%" PRIu64 " (round %" PRIu32 ") is visible, but it was never "
                 "acknowledged and an earlier check found it not applied",
                 id.counter, id.round);
        return CRASH_PHANTOM;
    }
    char state[96];
    describe_state(k, state, sizeof(state));
    snprintf(detail, size,
             "shows the older put c=%" PRIu64 " (round %" PRIu32 "), but the last "
             "acknowledged write was %s",
             id.counter, id.round, state);
    return CRASH_LOSS;
}

crash_verdict
crash_model_check(crash_model *m, uint32_t writer, uint32_t key, const uint8_t *value,
                  size_t value_len, bool *applied, char *detail, size_t detail_size)
{
    assert(writer < m->writers && key < m->keys);
    bool applied_local = false;
    char detail_local[256];
    if (detail == NULL) {
        detail = detail_local;
        detail_size = sizeof(detail_local);
    }
    detail[0] = '\0';
    writer_model *w = &m->w[writer];
    crash_verdict v = value == NULL ? check_absent(w, key, &applied_local, detail, detail_size)
                                    : check_value(m, w, writer, key, value, value_len,
                                                  &applied_local, detail, detail_size);
    if (applied != NULL) {
        *applied = applied_local;
    }
    return v;
}

/* Appends the keys of the flight's ops seen as `which` to out: " w000-0000004 (put c=7), ...". */
static size_t
list_seen(uint32_t writer, const writer_model *w, seen which, char *out, size_t size)
{
    size_t used = 0;
    for (uint32_t i = 0; i < w->flight_count && used < size; i++) {
        const flight_op *f = &w->flight[i];
        if (f->seen != which) {
            continue;
        }
        uint8_t key[CRASH_KEY_MAX + 1];
        key[crash_model_key(writer, f->key, key)] = '\0';
        int n = snprintf(out + used, size - used, " %s (%s c=%" PRIu64 ")", (const char *)key,
                         f->op == CRASH_OP_PUT ? "put" : "delete", f->counter);
        used += n > 0 ? (size_t)n : 0;
    }
    return used < size ? used : size;
}

/* "batch 4 of writer 1 (round 2, 5 ops) is torn: applied: ...; not applied: ...". */
static void
describe_torn(uint32_t writer, const writer_model *w, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size,
                                   "batch %" PRIu32 " of writer %" PRIu32 " (round %" PRIu32
                                   ", %" PRIu32 " ops) is torn: applied:",
                                   w->flight_batch, writer, w->flight_round, w->flight_count);
    used = used < size ? used : size - 1;
    used += list_seen(writer, w, SEEN_APPLIED, out + used, size - used);
    used = used < size ? used : size - 1;
    used += (size_t)snprintf(out + used, size - used, "; not applied:");
    used = used < size ? used : size - 1;
    list_seen(writer, w, SEEN_ABSENT, out + used, size - used);
}

crash_flight
crash_model_end_round(crash_model *m, uint32_t writer, char *detail, size_t detail_size)
{
    writer_model *w = &m->w[writer];
    if (detail != NULL && detail_size > 0) {
        detail[0] = '\0';
    }
    if (!w->in_flight) {
        return CRASH_FLIGHT_NONE;
    }
    w->in_flight = false;
    uint32_t applied = 0, absent = 0;
    for (uint32_t i = 0; i < w->flight_count; i++) {
        applied += w->flight[i].seen == SEEN_APPLIED;
        absent += w->flight[i].seen == SEEN_ABSENT;
    }
    if (applied > 0 && absent > 0) {
        if (detail != NULL && detail_size > 0) {
            describe_torn(writer, w, detail, detail_size);
        }
        return CRASH_FLIGHT_TORN;
    }
    return applied > 0 ? CRASH_FLIGHT_APPLIED : CRASH_FLIGHT_NOT_APPLIED;
}
