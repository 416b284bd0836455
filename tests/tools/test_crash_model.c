#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crash_model.h"
#include "crash_rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * lsmkv-crash's model (tools/crash/crash_model.h): the values it writes, and
 * its verdict on what a Get returns after a restart and on a batch in flight.
 * The harness is only as good as these verdicts, so each kind of loss,
 * phantom and torn batch is provoked here.
 */

#define FILLER 200

/* Writer w sends a put of key k in round r and (if ack) has it acknowledged;
 * the value sent goes to value/len if they are not NULL. */
static uint64_t
put(crash_model *m, uint32_t w, uint32_t r, uint32_t k, bool ack, uint8_t *value, size_t *len)
{
    uint8_t local[CRASH_VALUE_MAX];
    size_t local_len;
    uint64_t c =
        crash_model_begin(m, w, r, k, CRASH_OP_PUT, value ? value : local, len ? len : &local_len);
    if (ack) {
        crash_model_ack(m, w);
    }
    return c;
}

static uint64_t
del(crash_model *m, uint32_t w, uint32_t r, uint32_t k, bool ack)
{
    uint64_t c = crash_model_begin(m, w, r, k, CRASH_OP_DELETE, NULL, NULL);
    if (ack) {
        crash_model_ack(m, w);
    }
    return c;
}

/* Adds an op on key k to writer w's batch in flight; a put's value goes to value/len. */
static uint64_t
batch_add(crash_model *m, uint32_t w, uint32_t k, crash_op op, uint8_t *value, size_t *len)
{
    uint8_t local[CRASH_VALUE_MAX];
    size_t local_len;
    return crash_model_batch_add(m, w, k, op, value ? value : local, len ? len : &local_len);
}

static crash_flight
end_round(crash_model *m, uint32_t w, char *detail, size_t size)
{
    char local[512];
    return crash_model_end_round(m, w, detail ? detail : local, detail ? size : sizeof(local));
}

static crash_verdict
check(crash_model *m, uint32_t w, uint32_t k, const uint8_t *value, size_t len, bool *applied)
{
    char detail[512];
    crash_verdict v = crash_model_check(m, w, k, value, len, applied, detail, sizeof(detail));
    if (v != CRASH_OK) {
        assert_true(strlen(detail) > 0); /* every failure is explained */
    }
    return v;
}

static void
test_value_round_trips(void **state)
{
    const uint32_t fillers[] = {0, 1, FILLER, CRASH_FILLER_MAX};
    for (size_t f = 0; f < sizeof(fillers) / sizeof(fillers[0]); f++) {
        for (uint64_t c = 0; c < 300; c += 7) {
            crash_model_value_id id = {.writer = (uint32_t)(c % 5),
                                       .counter = c * 1000003u,
                                       .key = (uint32_t)(c * 3),
                                       .round = (uint32_t)(c / 10),
                                       .batch = (uint32_t)(c % 3 ? c * 11 : 0)};
            uint8_t value[CRASH_VALUE_MAX];
            size_t len = crash_model_value_format(&id, fillers[f], value);
            assert_true(len <= CRASH_VALUE_MAX);
            crash_model_value_id back;
            assert_true(crash_model_value_parse(value, len, fillers[f], &back));
            assert_int_equal(back.writer, id.writer);
            assert_int_equal(back.counter, id.counter);
            assert_int_equal(back.key, id.key);
            assert_int_equal(back.round, id.round);
            assert_int_equal(back.batch, id.batch);
            /* The same id always gives the same bytes. */
            uint8_t again[CRASH_VALUE_MAX];
            assert_int_equal(crash_model_value_format(&id, fillers[f], again), len);
            assert_memory_equal(again, value, len);
        }
    }
}

static void
test_value_lengths_vary(void **state)
{
    size_t shortest = SIZE_MAX, longest = 0;
    for (uint64_t c = 0; c < 500; c++) {
        crash_model_value_id id = {.writer = 1, .counter = c, .key = 2, .round = 3};
        uint8_t value[CRASH_VALUE_MAX];
        size_t len = crash_model_value_format(&id, FILLER, value);
        shortest = len < shortest ? len : shortest;
        longest = len > longest ? len : longest;
    }
    assert_true(longest - shortest > FILLER / 2);
    assert_true(longest <= 64 + FILLER);
}

static void
test_value_parse_rejects_any_changed_byte(void **state)
{
    crash_model_value_id id = {.writer = 3, .counter = 1207, .key = 42, .round = 9};
    uint8_t value[CRASH_VALUE_MAX];
    size_t len = crash_model_value_format(&id, FILLER, value);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            value[i] ^= (uint8_t)(1u << bit);
            crash_model_value_id got;
            /* A changed digit may name another id, but that id's filler differs. */
            assert_false(crash_model_value_parse(value, len, FILLER, &got));
            value[i] ^= (uint8_t)(1u << bit);
        }
    }
    crash_model_value_id got;
    assert_true(crash_model_value_parse(value, len, FILLER, &got));
    for (size_t cut = 0; cut < len; cut++) {
        assert_false(crash_model_value_parse(value, cut, FILLER, &got));
    }
    value[len] = 'a';
    assert_false(crash_model_value_parse(value, len + 1, FILLER, &got));
}

static void
test_value_parse_rejects_foreign_bytes(void **state)
{
    crash_model_value_id got;
    static const char *const bad[] = {
        "",
        "hello",
        "lsmkv-crash w=3 c=1 k=2 r=4",    /* no '|' */
        "lsmkv-crash w=03 c=1 k=2 r=4 |", /* not canonical */
        "lsmkv-crash w=+3 c=1 k=2 r=4 |",
        "lsmkv-crash w= 3 c=1 k=2 r=4 |",
        "lsmkv-crash w=-3 c=1 k=2 r=4 |",
        "lsmkv-crash w=3 c=99999999999999999999999 k=2 r=4 |",
        "lsmkv-crash w=3 c=1 k=2 r=4 b=0 |", /* batch 0 is no batch */
        "lsmkv-crash w=3 c=1 k=2 r=4 b=07 |",
        "lsmkv-crash w=3 c=1 k=2 r=4 b=7",
        "lsmkv-crash w=3 c=1 k=2 r=4 b=7 x |",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (crash_model_value_parse((const uint8_t *)bad[i], strlen(bad[i]), 0, &got)) {
            fail_msg("'%s' parsed", bad[i]);
        }
    }
    const uint8_t binary[] = {'l', 0, 's', 0xff, 0};
    assert_false(crash_model_value_parse(binary, sizeof(binary), FILLER, &got));
    /* With no filler the header alone is a value. */
    const char *ok = "lsmkv-crash w=3 c=1 k=2 r=4 |";
    assert_true(crash_model_value_parse((const uint8_t *)ok, strlen(ok), 0, &got));
    assert_int_equal(got.counter, 1);
    assert_int_equal(got.batch, 0);
    ok = "lsmkv-crash w=3 c=1 k=2 r=4 b=7 |";
    assert_true(crash_model_value_parse((const uint8_t *)ok, strlen(ok), 0, &got));
    assert_int_equal(got.batch, 7);
}

static void
test_keys_are_distinct_per_writer_and_index(void **state)
{
    uint8_t a[CRASH_KEY_MAX], b[CRASH_KEY_MAX];
    size_t la = crash_model_key(1, 23, a);
    size_t lb = crash_model_key(12, 3, b);
    assert_true(la != lb || memcmp(a, b, la) != 0);
    assert_int_equal(crash_model_key(0, 0, a), 12);
    assert_memory_equal(a, "w000-0000000", 12);
    la = crash_model_key(255, 999999, a);
    assert_memory_equal(a, "w255-0999999", la);
}

static void
test_never_written_key_must_be_absent(void **state)
{
    crash_model *m = crash_model_new(2, 10, FILLER);
    bool applied = true;
    assert_int_equal(check(m, 0, 5, NULL, 0, &applied), CRASH_OK);
    assert_false(applied);
    /* A value of another key, written and acknowledged, showing up here. */
    uint8_t value[CRASH_VALUE_MAX];
    size_t len;
    put(m, 0, 1, 4, true, value, &len);
    assert_int_equal(check(m, 0, 5, value, len, NULL), CRASH_PHANTOM);
    assert_int_equal(check(m, 1, 4, value, len, NULL), CRASH_PHANTOM); /* other writer */
    assert_int_equal(check(m, 0, 4, value, len, NULL), CRASH_OK);
    crash_model_free(m);
}

static void
test_acknowledged_put_must_be_visible(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v1[CRASH_VALUE_MAX], v2[CRASH_VALUE_MAX];
    size_t l1, l2;
    put(m, 0, 1, 3, true, v1, &l1);
    put(m, 0, 1, 3, true, v2, &l2);
    assert_int_equal(check(m, 0, 3, v2, l2, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 3, NULL, 0, NULL), CRASH_LOSS);
    assert_int_equal(check(m, 0, 3, v1, l1, NULL), CRASH_LOSS); /* the older value back */
    crash_model_free(m);
}

static void
test_acknowledged_delete_must_hide_the_value(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    put(m, 0, 1, 7, true, v, &l);
    del(m, 0, 1, 7, true);
    assert_int_equal(check(m, 0, 7, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 7, v, l, NULL), CRASH_LOSS);
    crash_model_free(m);
}

static void
test_in_flight_put_may_be_applied_or_not(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t old[CRASH_VALUE_MAX], fresh[CRASH_VALUE_MAX];
    size_t lo, lf;
    put(m, 0, 1, 2, true, old, &lo);
    put(m, 0, 1, 2, false, fresh, &lf);
    assert_true(crash_model_in_flight(m, 0));
    bool applied = true;
    assert_int_equal(check(m, 0, 2, old, lo, &applied), CRASH_OK);
    assert_false(applied);
    assert_int_equal(check(m, 0, 2, fresh, lf, &applied), CRASH_OK);
    assert_true(applied);
    assert_int_equal(check(m, 0, 2, NULL, 0, NULL), CRASH_LOSS); /* neither */
    /* Once seen applied it is the state: the old value is now a loss. */
    crash_model_end_round(m, 0, NULL, 0);
    assert_false(crash_model_in_flight(m, 0));
    assert_int_equal(check(m, 0, 2, fresh, lf, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 2, old, lo, NULL), CRASH_LOSS);
    crash_model_free(m);
}

static void
test_in_flight_delete_may_be_applied_or_not(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    put(m, 0, 1, 9, true, v, &l);
    del(m, 0, 2, 9, false);
    bool applied = false;
    assert_int_equal(check(m, 0, 9, NULL, 0, &applied), CRASH_OK);
    assert_true(applied);
    crash_model_end_round(m, 0, NULL, 0);
    assert_int_equal(check(m, 0, 9, v, l, NULL), CRASH_LOSS); /* deleted now */
    crash_model_free(m);
}

static void
test_in_flight_write_only_excuses_its_own_key(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    put(m, 0, 1, 1, true, v, &l);
    del(m, 0, 1, 2, false); /* in flight on key 2 */
    assert_int_equal(check(m, 0, 1, NULL, 0, NULL), CRASH_LOSS);
    crash_model_free(m);
}

static void
test_write_not_applied_that_comes_back_is_a_phantom(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    put(m, 0, 1, 4, false, v, &l);
    assert_int_equal(check(m, 0, 4, NULL, 0, NULL), CRASH_OK); /* not applied */
    crash_model_end_round(m, 0, NULL, 0);
    assert_int_equal(check(m, 0, 4, v, l, NULL), CRASH_PHANTOM);
    /* Likewise over an acknowledged older state. */
    uint8_t acked[CRASH_VALUE_MAX];
    size_t la;
    put(m, 0, 2, 5, true, acked, &la);
    uint8_t lost[CRASH_VALUE_MAX];
    size_t ll;
    put(m, 0, 2, 5, false, lost, &ll);
    assert_int_equal(check(m, 0, 5, acked, la, NULL), CRASH_OK);
    crash_model_end_round(m, 0, NULL, 0);
    assert_int_equal(check(m, 0, 5, lost, ll, NULL), CRASH_PHANTOM);
    crash_model_free(m);
}

static void
test_garbage_and_unsent_values_are_phantoms(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    put(m, 0, 1, 0, true, NULL, NULL);
    char detail[512];
    const uint8_t garbage[] = {'x', 0, '\\', 0x80};
    assert_int_equal(
        crash_model_check(m, 0, 0, garbage, sizeof(garbage), NULL, detail, sizeof(detail)),
        CRASH_PHANTOM);
    assert_non_null(strstr(detail, "x\\x00\\x5c\\x80")); /* shown escaped */
    /* A well-formed value with a counter never sent. */
    crash_model_value_id id = {.writer = 0, .counter = 99, .key = 0, .round = 1};
    uint8_t v[CRASH_VALUE_MAX];
    size_t l = crash_model_value_format(&id, FILLER, v);
    assert_int_equal(check(m, 0, 0, v, l, NULL), CRASH_PHANTOM);
    /* The counter of a delete never carried a value. */
    uint64_t c = del(m, 0, 1, 0, true);
    id.counter = c;
    l = crash_model_value_format(&id, FILLER, v);
    assert_int_equal(check(m, 0, 0, v, l, NULL), CRASH_PHANTOM);
    crash_model_free(m);
}

static void
test_failed_check_leaves_state_alone(void **state)
{
    crash_model *m = crash_model_new(1, 4, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    put(m, 0, 1, 3, true, v, &l);
    assert_int_equal(check(m, 0, 3, NULL, 0, NULL), CRASH_LOSS);
    assert_int_equal(check(m, 0, 3, v, l, NULL), CRASH_OK);
    crash_model_free(m);
}

static void
test_counters_are_unique_across_rounds(void **state)
{
    crash_model *m = crash_model_new(2, 4, 0);
    uint64_t last = 0;
    for (uint32_t r = 1; r <= 3; r++) {
        for (int i = 0; i < 3000; i++) { /* past the history's first growth */
            uint64_t c = i % 3 ? put(m, 1, r, (uint32_t)i % 4, true, NULL, NULL)
                               : del(m, 1, r, (uint32_t)i % 4, true);
            assert_true(r == 1 && i == 0 ? c == 0 : c == last + 1);
            last = c;
        }
        crash_model_end_round(m, 1, NULL, 0);
    }
    assert_int_equal(put(m, 0, 1, 0, true, NULL, NULL), 0); /* per writer */
    crash_model_free(m);
}

/* ---- batches ----------------------------------------------------------------------------- */

static void
test_batches_are_numbered_and_share_the_counters(void **state)
{
    crash_model *m = crash_model_new(2, 10, FILLER);
    assert_int_equal(put(m, 0, 1, 0, true, NULL, NULL), 0);
    assert_int_equal(crash_model_in_flight_batch(m, 0), 0);
    assert_int_equal(crash_model_begin_batch(m, 0, 1), 1);
    assert_true(crash_model_in_flight(m, 0));
    assert_int_equal(crash_model_in_flight_batch(m, 0), 1);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    assert_int_equal(batch_add(m, 0, 3, CRASH_OP_PUT, v, &l), 1);
    assert_int_equal(batch_add(m, 0, 4, CRASH_OP_DELETE, NULL, NULL), 2);
    crash_model_value_id id;
    assert_true(crash_model_value_parse(v, l, FILLER, &id));
    assert_int_equal(id.batch, 1);
    assert_int_equal(id.counter, 1);
    assert_int_equal(id.key, 3);
    crash_model_ack(m, 0);
    assert_false(crash_model_in_flight(m, 0));
    assert_int_equal(crash_model_in_flight_batch(m, 0), 0);
    assert_int_equal(del(m, 0, 1, 5, true), 3);
    assert_int_equal(crash_model_begin_batch(m, 0, 2), 2);
    assert_int_equal(crash_model_begin_batch(m, 1, 2), 1); /* per writer */
    crash_model_free(m);
}

static void
test_acknowledged_batch_must_be_wholly_visible(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t old[CRASH_VALUE_MAX], v1[CRASH_VALUE_MAX], v2[CRASH_VALUE_MAX];
    size_t lo, l1, l2;
    put(m, 0, 1, 5, true, old, &lo);
    crash_model_begin_batch(m, 0, 1);
    batch_add(m, 0, 1, CRASH_OP_PUT, v1, &l1);
    batch_add(m, 0, 2, CRASH_OP_PUT, v2, &l2);
    batch_add(m, 0, 5, CRASH_OP_DELETE, NULL, NULL);
    crash_model_ack(m, 0);
    assert_int_equal(check(m, 0, 1, v1, l1, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 2, v2, l2, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 5, NULL, 0, NULL), CRASH_OK);
    /* Any op of it missing is a loss, and the report names the batch. */
    char detail[512];
    assert_int_equal(crash_model_check(m, 0, 2, NULL, 0, NULL, detail, sizeof(detail)), CRASH_LOSS);
    assert_non_null(strstr(detail, "batch 1"));
    assert_int_equal(check(m, 0, 5, old, lo, NULL), CRASH_LOSS);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NONE);
    crash_model_free(m);
}

static void
test_batch_in_flight_applied_whole(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t old[CRASH_VALUE_MAX], v1[CRASH_VALUE_MAX], v2[CRASH_VALUE_MAX];
    size_t lo, l1, l2;
    put(m, 0, 1, 1, true, old, &lo);
    put(m, 0, 1, 7, true, NULL, NULL);
    crash_model_begin_batch(m, 0, 2);
    batch_add(m, 0, 1, CRASH_OP_PUT, v1, &l1);       /* over an acknowledged put */
    batch_add(m, 0, 2, CRASH_OP_PUT, v2, &l2);       /* a new key */
    batch_add(m, 0, 7, CRASH_OP_DELETE, NULL, NULL); /* of a present key */
    batch_add(m, 0, 8, CRASH_OP_DELETE, NULL, NULL); /* of an absent key: tells nothing */
    bool applied = false;
    assert_int_equal(check(m, 0, 1, v1, l1, &applied), CRASH_OK);
    assert_true(applied);
    assert_int_equal(check(m, 0, 2, v2, l2, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 7, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 8, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_APPLIED);
    assert_false(crash_model_in_flight(m, 0));
    /* It is the state now. */
    assert_int_equal(check(m, 0, 1, old, lo, NULL), CRASH_LOSS);
    assert_int_equal(check(m, 0, 1, v1, l1, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 7, NULL, 0, NULL), CRASH_OK);
    crash_model_free(m);
}

static void
test_batch_in_flight_absent(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t old[CRASH_VALUE_MAX], v1[CRASH_VALUE_MAX], v2[CRASH_VALUE_MAX], gone[CRASH_VALUE_MAX];
    size_t lo, l1, l2, lg;
    put(m, 0, 1, 1, true, old, &lo);
    put(m, 0, 1, 7, true, gone, &lg);
    crash_model_begin_batch(m, 0, 2);
    batch_add(m, 0, 1, CRASH_OP_PUT, v1, &l1);
    batch_add(m, 0, 2, CRASH_OP_PUT, v2, &l2);
    batch_add(m, 0, 7, CRASH_OP_DELETE, NULL, NULL);
    bool applied = true;
    assert_int_equal(check(m, 0, 1, old, lo, &applied), CRASH_OK);
    assert_false(applied);
    assert_int_equal(check(m, 0, 2, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 7, gone, lg, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NOT_APPLIED);
    /* Found not applied: its values coming back later are phantoms. */
    assert_int_equal(check(m, 0, 1, v1, l1, NULL), CRASH_PHANTOM);
    assert_int_equal(check(m, 0, 2, v2, l2, NULL), CRASH_PHANTOM);
    assert_int_equal(check(m, 0, 7, NULL, 0, NULL), CRASH_LOSS);
    crash_model_free(m);
}

/* A batch in flight over keys 0..3 and what each key reads as before and after it. */
typedef struct four_op_batch {
    uint8_t values[5][CRASH_VALUE_MAX];
    const uint8_t *before[4], *after[4]; /* NULL: absent */
    size_t before_len[4], after_len[4];
} four_op_batch;

/* Puts on 0 and 1 (never written), a delete of the acknowledged put on 2, a put on 3
 * over an acknowledged put. */
static void
begin_four_op_batch(crash_model *m, four_op_batch *b)
{
    memset(b, 0, sizeof(*b));
    put(m, 0, 1, 2, true, b->values[2], &b->before_len[2]);
    put(m, 0, 1, 3, true, b->values[4], &b->before_len[3]);
    b->before[2] = b->values[2];
    b->before[3] = b->values[4];
    crash_model_begin_batch(m, 0, 2);
    batch_add(m, 0, 0, CRASH_OP_PUT, b->values[0], &b->after_len[0]);
    batch_add(m, 0, 1, CRASH_OP_PUT, b->values[1], &b->after_len[1]);
    batch_add(m, 0, 2, CRASH_OP_DELETE, NULL, NULL);
    batch_add(m, 0, 3, CRASH_OP_PUT, b->values[3], &b->after_len[3]);
    b->after[0] = b->values[0];
    b->after[1] = b->values[1];
    b->after[3] = b->values[3];
}

/* Checks key k of the four-op batch as showing the batch (after) or not. */
static crash_verdict
check_four(crash_model *m, const four_op_batch *b, uint32_t k, bool after)
{
    return after ? check(m, 0, k, b->after[k], b->after_len[k], NULL)
                 : check(m, 0, k, b->before[k], b->before_len[k], NULL);
}

static void
test_torn_batch_is_detected(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    four_op_batch *b = malloc(sizeof(*b));
    begin_four_op_batch(m, b);
    /* Keys 0 and 2 show the batch, 1 and 3 the state before it: each key on its
     * own is fine, the batch as a whole is not. */
    assert_int_equal(check_four(m, b, 0, true), CRASH_OK);
    assert_int_equal(check_four(m, b, 1, false), CRASH_OK);
    assert_int_equal(check_four(m, b, 2, true), CRASH_OK);
    assert_int_equal(check_four(m, b, 3, false), CRASH_OK);
    char detail[512];
    assert_int_equal(end_round(m, 0, detail, sizeof(detail)), CRASH_FLIGHT_TORN);
    assert_non_null(strstr(detail, "batch 1 of writer 0 (round 2, 4 ops)"));
    const char *applied = strstr(detail, " applied:");
    const char *not_applied = strstr(detail, "not applied:");
    assert_non_null(applied);
    assert_non_null(not_applied);
    assert_true(applied < not_applied);
    const char *k0 = strstr(detail, "w000-0000000 (put"),
               *k2 = strstr(detail, "w000-0000002 (delete");
    const char *k1 = strstr(detail, "w000-0000001 (put"), *k3 = strstr(detail, "w000-0000003 (put");
    assert_true(k0 != NULL && k0 < not_applied && k2 != NULL && k2 < not_applied);
    assert_true(k1 != NULL && k1 > not_applied && k3 != NULL && k3 > not_applied);
    /* The model follows what was read, so the next round judges from there. */
    assert_int_equal(check_four(m, b, 0, true), CRASH_OK);
    assert_int_equal(check_four(m, b, 3, false), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NONE);
    free(b);
    crash_model_free(m);
}

static void
test_torn_batch_detected_whichever_op_is_missing(void **state)
{
    four_op_batch *b = malloc(sizeof(*b));
    for (uint32_t missing = 0; missing < 4; missing++) {
        crash_model *m = crash_model_new(1, 10, FILLER);
        begin_four_op_batch(m, b);
        for (uint32_t k = 0; k < 4; k++) {
            assert_int_equal(check_four(m, b, k, k != missing), CRASH_OK);
        }
        assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_TORN);
        crash_model_free(m);
    }
    /* ... and only one op applied. */
    for (uint32_t shown = 0; shown < 4; shown++) {
        crash_model *m = crash_model_new(1, 10, FILLER);
        begin_four_op_batch(m, b);
        for (uint32_t k = 0; k < 4; k++) {
            assert_int_equal(check_four(m, b, k, k == shown), CRASH_OK);
        }
        assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_TORN);
        crash_model_free(m);
    }
    free(b);
}

static void
test_ops_that_cannot_tell_do_not_tear_a_batch(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    /* Applied put + delete of a never-written key (absent either way). */
    crash_model_begin_batch(m, 0, 1);
    batch_add(m, 0, 0, CRASH_OP_PUT, v, &l);
    batch_add(m, 0, 1, CRASH_OP_DELETE, NULL, NULL);
    assert_int_equal(check(m, 0, 0, v, l, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 1, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_APPLIED);
    /* Only deletes of absent keys: nothing tells, counted as not applied. */
    crash_model_begin_batch(m, 0, 2);
    batch_add(m, 0, 1, CRASH_OP_DELETE, NULL, NULL);
    batch_add(m, 0, 2, CRASH_OP_DELETE, NULL, NULL);
    assert_int_equal(check(m, 0, 1, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 2, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NOT_APPLIED);
    /* A key not read back (a failed Get) tells nothing either. */
    crash_model_begin_batch(m, 0, 3);
    batch_add(m, 0, 3, CRASH_OP_PUT, NULL, NULL);
    batch_add(m, 0, 4, CRASH_OP_PUT, v, &l);
    assert_int_equal(check(m, 0, 4, v, l, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_APPLIED);
    crash_model_free(m);
}

static void
test_later_single_writes_over_a_batch(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t b1[CRASH_VALUE_MAX], b2[CRASH_VALUE_MAX], b3[CRASH_VALUE_MAX], s2[CRASH_VALUE_MAX];
    size_t l1, l2, l3, ls;
    crash_model_begin_batch(m, 0, 1);
    batch_add(m, 0, 1, CRASH_OP_PUT, b1, &l1);
    batch_add(m, 0, 2, CRASH_OP_PUT, b2, &l2);
    batch_add(m, 0, 3, CRASH_OP_PUT, b3, &l3);
    crash_model_ack(m, 0);
    put(m, 0, 1, 2, true, s2, &ls);
    del(m, 0, 1, 3, true);
    /* Key 1 keeps the batch's value; 2 and 3 show the later writes. */
    assert_int_equal(check(m, 0, 1, b1, l1, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 2, s2, ls, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 3, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(check(m, 0, 2, b2, l2, NULL), CRASH_LOSS);
    assert_int_equal(check(m, 0, 3, b3, l3, NULL), CRASH_LOSS);
    /* A single put in flight over key 1: the batch's value means not applied. */
    uint8_t s1[CRASH_VALUE_MAX];
    size_t ls1;
    put(m, 0, 2, 1, false, s1, &ls1);
    assert_int_equal(check(m, 0, 1, b1, l1, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NOT_APPLIED);
    assert_int_equal(check(m, 0, 1, s1, ls1, NULL), CRASH_PHANTOM);
    crash_model_free(m);
}

static void
test_value_claiming_another_batch_is_a_phantom(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    crash_model_begin_batch(m, 0, 1);
    uint64_t c = batch_add(m, 0, 4, CRASH_OP_PUT, v, &l);
    crash_model_ack(m, 0);
    assert_int_equal(check(m, 0, 4, v, l, NULL), CRASH_OK);
    /* The same counter, key and round, rendered as another batch or as no batch. */
    const uint32_t forged[] = {0, 2};
    for (size_t i = 0; i < 2; i++) {
        crash_model_value_id id = {
            .writer = 0, .counter = c, .key = 4, .round = 1, .batch = forged[i]};
        uint8_t f[CRASH_VALUE_MAX];
        size_t lf = crash_model_value_format(&id, FILLER, f);
        assert_int_equal(check(m, 0, 4, f, lf, NULL), CRASH_PHANTOM);
    }
    /* And a single put's counter rendered as part of a batch. */
    uint64_t single = put(m, 0, 1, 5, true, v, &l);
    crash_model_value_id id = {.writer = 0, .counter = single, .key = 5, .round = 1, .batch = 1};
    uint8_t f[CRASH_VALUE_MAX];
    size_t lf = crash_model_value_format(&id, FILLER, f);
    assert_int_equal(check(m, 0, 5, f, lf, NULL), CRASH_PHANTOM);
    crash_model_free(m);
}

static void
test_single_op_in_flight_outcomes(void **state)
{
    crash_model *m = crash_model_new(1, 10, FILLER);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NONE);
    uint8_t v[CRASH_VALUE_MAX];
    size_t l;
    put(m, 0, 1, 1, false, v, &l);
    assert_int_equal(check(m, 0, 1, v, l, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_APPLIED);
    put(m, 0, 2, 2, false, NULL, NULL);
    assert_int_equal(check(m, 0, 2, NULL, 0, NULL), CRASH_OK);
    assert_int_equal(end_round(m, 0, NULL, 0), CRASH_FLIGHT_NOT_APPLIED);
    crash_model_free(m);
}

static void
test_rng_is_deterministic_and_varied(void **state)
{
    crash_rng a, b, c;
    crash_rng_init(&a, 7, 1, 2, 3);
    crash_rng_init(&b, 7, 1, 2, 3);
    crash_rng_init(&c, 7, 1, 2, 4);
    int same_c = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = crash_rng_next(&a);
        assert_int_equal(x, crash_rng_next(&b));
        same_c += x == crash_rng_next(&c);
    }
    assert_int_equal(same_c, 0);
    int seen[10] = {0};
    for (int i = 0; i < 1000; i++) {
        uint64_t v = crash_rng_below(&a, 10);
        assert_true(v < 10);
        seen[v]++;
    }
    for (int i = 0; i < 10; i++) {
        assert_true(seen[i] > 50);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_round_trips),
        cmocka_unit_test(test_value_lengths_vary),
        cmocka_unit_test(test_value_parse_rejects_any_changed_byte),
        cmocka_unit_test(test_value_parse_rejects_foreign_bytes),
        cmocka_unit_test(test_keys_are_distinct_per_writer_and_index),
        cmocka_unit_test(test_never_written_key_must_be_absent),
        cmocka_unit_test(test_acknowledged_put_must_be_visible),
        cmocka_unit_test(test_acknowledged_delete_must_hide_the_value),
        cmocka_unit_test(test_in_flight_put_may_be_applied_or_not),
        cmocka_unit_test(test_in_flight_delete_may_be_applied_or_not),
        cmocka_unit_test(test_in_flight_write_only_excuses_its_own_key),
        cmocka_unit_test(test_write_not_applied_that_comes_back_is_a_phantom),
        cmocka_unit_test(test_garbage_and_unsent_values_are_phantoms),
        cmocka_unit_test(test_failed_check_leaves_state_alone),
        cmocka_unit_test(test_counters_are_unique_across_rounds),
        cmocka_unit_test(test_batches_are_numbered_and_share_the_counters),
        cmocka_unit_test(test_acknowledged_batch_must_be_wholly_visible),
        cmocka_unit_test(test_batch_in_flight_applied_whole),
        cmocka_unit_test(test_batch_in_flight_absent),
        cmocka_unit_test(test_torn_batch_is_detected),
        cmocka_unit_test(test_torn_batch_detected_whichever_op_is_missing),
        cmocka_unit_test(test_ops_that_cannot_tell_do_not_tear_a_batch),
        cmocka_unit_test(test_later_single_writes_over_a_batch),
        cmocka_unit_test(test_value_claiming_another_batch_is_a_phantom),
        cmocka_unit_test(test_single_op_in_flight_outcomes),
        cmocka_unit_test(test_rng_is_deterministic_and_varied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
