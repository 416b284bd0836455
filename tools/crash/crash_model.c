#include "crash_model.h"

#include "crash_rng.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_KEY UINT32_MAX /* sent_key of a delete */

typedef struct key_state {
    uint64_t counter; /* of the last acknowledged put or delete */
    uint32_t round;   /* in which it was sent */
    uint8_t op;       /* crash_op */
} key_state;

typedef struct writer_model {
    key_state *keys;
    uint32_t *sent_key; /* counter -> key of that put, NO_KEY for a delete */
    uint64_t sent;      /* operations sent so far: the next counter */
    uint64_t cap;
    bool in_flight;
    uint32_t flight_key;
    uint32_t flight_round;
    uint8_t flight_op;
    uint64_t flight_counter;
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
    assert(max_filler <= CRASH_VALUE_MAX - 64);
    int n = snprintf((char *)out, 64,
                     "lsmkv-crash w=%" PRIu32 " c=%" PRIu64 " k=%" PRIu32 " r=%" PRIu32 " |",
                     id->writer, id->counter, id->key, id->round);
    assert(n > 0 && n < 64);
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
    char head[72];
    size_t head_len = len < sizeof(head) - 1 ? len : sizeof(head) - 1;
    memcpy(head, value, head_len);
    head[head_len] = '\0';
    crash_model_value_id parsed;
    if (sscanf(head, "lsmkv-crash w=%" SCNu32 " c=%" SCNu64 " k=%" SCNu32 " r=%" SCNu32 " |",
               &parsed.writer, &parsed.counter, &parsed.key, &parsed.round) != 4) {
        return false;
    }
    /* sscanf accepts spaces, signs and leading zeros: comparing with the canonical
     * rendering rejects those, and checks the filler byte by byte. */
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
    assert(writers > 0 && keys > 0 && max_filler <= CRASH_VALUE_MAX - 64);
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
        free(m->w[i].sent_key);
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

uint64_t
crash_model_begin(crash_model *m, uint32_t writer, uint32_t round, uint32_t key, crash_op op,
                  uint8_t *value, size_t *value_len)
{
    assert(writer < m->writers && key < m->keys);
    assert(op == CRASH_OP_PUT || op == CRASH_OP_DELETE);
    writer_model *w = &m->w[writer];
    assert(!w->in_flight);
    if (w->sent == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1024;
        w->sent_key = realloc(w->sent_key, w->cap * sizeof(*w->sent_key));
        if (w->sent_key == NULL) {
            fprintf(stderr, "lsmkv-crash: out of memory\n");
            abort();
        }
    }
    uint64_t counter = w->sent++;
    w->sent_key[counter] = op == CRASH_OP_PUT ? key : NO_KEY;
    w->in_flight = true;
    w->flight_key = key;
    w->flight_round = round;
    w->flight_op = (uint8_t)op;
    w->flight_counter = counter;
    if (op == CRASH_OP_PUT) {
        crash_model_value_id id = {
            .writer = writer, .counter = counter, .key = key, .round = round};
        *value_len = crash_model_value_format(&id, m->max_filler, value);
    }
    return counter;
}

void
crash_model_ack(crash_model *m, uint32_t writer)
{
    writer_model *w = &m->w[writer];
    assert(w->in_flight);
    key_state *k = &w->keys[w->flight_key];
    k->op = w->flight_op;
    k->counter = w->flight_counter;
    k->round = w->flight_round;
    w->in_flight = false;
}

bool
crash_model_in_flight(const crash_model *m, uint32_t writer)
{
    return m->w[writer].in_flight;
}

void
crash_model_end_round(crash_model *m, uint32_t writer)
{
    m->w[writer].in_flight = false;
}

/* "put c=12 (round 3)", "delete c=9 (round 2)" or "nothing". */
static void
describe_state(const key_state *k, char *out, size_t size)
{
    if (k->op == CRASH_OP_NONE) {
        snprintf(out, size, "no write");
    } else {
        snprintf(out, size, "%s c=%" PRIu64 " (round %" PRIu32 ")",
                 k->op == CRASH_OP_PUT ? "put" : "delete", k->counter, k->round);
    }
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

static void
set_state(key_state *k, crash_op op, uint64_t counter, uint32_t round)
{
    k->op = (uint8_t)op;
    k->counter = counter;
    k->round = round;
}

/* The key reads as absent. */
static crash_verdict
check_absent(writer_model *w, uint32_t key, bool *applied, char *detail, size_t size)
{
    key_state *k = &w->keys[key];
    if (k->op != CRASH_OP_PUT) {
        return CRASH_OK; /* never written or deleted: whatever was in flight, absent fits */
    }
    if (w->in_flight && w->flight_key == key && w->flight_op == CRASH_OP_DELETE) {
        set_state(k, CRASH_OP_DELETE, w->flight_counter, w->flight_round);
        *applied = true;
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
    crash_model_value_id id;
    if (!crash_model_value_parse(value, len, m->max_filler, &id) || id.writer != writer ||
        id.key != key || id.counter >= w->sent || w->sent_key[id.counter] != key) {
        char shown[256];
        escape_prefix(value, len, shown, sizeof(shown));
        snprintf(detail, size, "a value no put of this key wrote (%zu bytes): \"%s\"", len, shown);
        return CRASH_PHANTOM;
    }
    if (k->op == CRASH_OP_PUT && k->counter == id.counter) {
        return CRASH_OK;
    }
    if (w->in_flight && w->flight_key == key && w->flight_counter == id.counter) {
        set_state(k, CRASH_OP_PUT, id.counter, id.round);
        *applied = true;
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
