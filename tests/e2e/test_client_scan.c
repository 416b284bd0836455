/*
 * Scan, Batch and MultiGet through the C client against the real
 * lsmkv-server: paging through a million keys (written, a tenth overwritten,
 * a thirteenth deleted, across memtables, flushes and compactions) in pages
 * cut by a small --max-message-size (every live key exactly once, in order,
 * with its newest value, no answer over the limit), prefix and range scans
 * over binary keys checked against a model, and MultiGet answers in the
 * order asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/client.h"
#include "test_server.h"
#include "test_support.h"

/* The server's --max-message-size in the paging test, and the client's own limit. */
#define SMALL_MESSAGE (64u << 10)

static lsmkv_client *
connect_to(const test_server *s, uint32_t timeout_ms, size_t max_message)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    options.timeout_ms = timeout_ms;
    options.max_message_size = max_message;
    lsmkv_client *c = NULL;
    assert_int_equal(lsmkv_client_open(s->url, &options, &c, NULL), LSMKV_CLIENT_OK);
    return c;
}

static void
batch_ok(lsmkv_client *c, const lsmkv_client_op *ops, size_t n)
{
    lsmkv_client_error err;
    int rc = lsmkv_client_batch(c, ops, n, LSMKV_CLIENT_SYNC_NONE, NULL, &err);
    if (rc != LSMKV_CLIENT_OK) {
        fail_msg("batch of %zu: %s: %s", n, lsmkv_client_status_name(rc), err.message);
    }
}

/* ---- paging through a large range ----------------------------------------------------------- */

#define KEYS      1000000
#define VALUE_LEN 40
#define PER_BATCH 1000

static size_t
key_of(int i, char *buf)
{
    return (size_t)snprintf(buf, 16, "key%08d", i);
}

/* Key i's value: version 1 for all, version 2 for every 10th (overwritten). */
static void
value_of(int i, int version, char *buf)
{
    snprintf(buf, VALUE_LEN + 1, "v%d-%037d", version, i); /* VALUE_LEN bytes */
}

static bool
deleted(int i)
{
    return i % 13 == 0;
}

/* Writes every key (version 1), overwrites every 10th, deletes every 13th. */
static void
load(lsmkv_client *c)
{
    static char keys[PER_BATCH][16], values[PER_BATCH][VALUE_LEN + 1];
    lsmkv_client_op ops[PER_BATCH];
    for (int pass = 0; pass < 3; pass++) {
        size_t n = 0;
        for (int i = 0; i < KEYS; i++) {
            if ((pass == 1 && i % 10 != 0) || (pass == 2 && !deleted(i))) {
                continue;
            }
            size_t key_len = key_of(i, keys[n]);
            value_of(i, pass + 1, values[n]);
            ops[n] = (lsmkv_client_op){
                .type = pass == 2 ? LSMKV_CLIENT_OP_DELETE : LSMKV_CLIENT_OP_PUT,
                .key = (const uint8_t *)keys[n],
                .key_len = key_len,
                .value = pass == 2 ? NULL : (const uint8_t *)values[n],
                .value_len = pass == 2 ? 0 : VALUE_LEN,
            };
            if (++n == PER_BATCH) {
                batch_ok(c, ops, n);
                n = 0;
            }
        }
        if (n > 0) {
            batch_ok(c, ops, n);
        }
    }
}

typedef struct checker {
    int next;  /* the next key expected */
    int pairs; /* seen */
    char failure[256];
} checker;

/* Advances past deleted keys to the next live one. */
static int
next_live(int i)
{
    while (i < KEYS && deleted(i)) {
        i++;
    }
    return i;
}

static bool
check_pair(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    checker *ck = ctx;
    ck->next = next_live(ck->next);
    char want_key[16], want_value[VALUE_LEN + 1];
    size_t want_len = key_of(ck->next, want_key);
    value_of(ck->next, ck->next % 10 == 0 ? 2 : 1, want_value);
    if (key_len != want_len || memcmp(key, want_key, key_len) != 0) {
        snprintf(ck->failure, sizeof(ck->failure), "pair %d: key %.*s, expected %s", ck->pairs,
                 (int)key_len, (const char *)key, want_key);
        return false;
    }
    if (value_len != VALUE_LEN || memcmp(value, want_value, VALUE_LEN) != 0) {
        snprintf(ck->failure, sizeof(ck->failure), "%s: wrong value", want_key);
        return false;
    }
    ck->next++;
    ck->pairs++;
    return true;
}

static int
live_keys(void)
{
    return KEYS - (KEYS + 12) / 13;
}

static void
test_paging_through_1m_keys_in_pages_cut_by_size(void **state)
{
    static const char *const args[] = {
        "--max-message-size", "64K", "--memtable-size", "1M", "--sync", "none", NULL};
    test_server s;
    test_server_start(&s, NULL, args);
    /* The client accepts no answer larger than the server's limit: one would fail the call. */
    lsmkv_client *c = connect_to(&s, 60000, SMALL_MESSAGE);
    load(c);

    /* Everything, by the helper: every live key once, in order, with its newest value. */
    lsmkv_client_range all = {0};
    checker ck = {0};
    uint64_t seen = 0;
    lsmkv_client_error err;
    int rc = lsmkv_client_scan_each(c, &all, 0, check_pair, &ck, &seen, &err);
    if (ck.failure[0] != '\0') {
        fail_msg("%s", ck.failure);
    }
    assert_int_equal(rc, LSMKV_CLIENT_OK);
    assert_int_equal(seen, live_keys());
    assert_int_equal(next_live(ck.next), KEYS);

    /* Page by page: the size limit, not the pair limit, ends the pages. */
    ck = (checker){0};
    lsmkv_client_range r = {0};
    uint8_t resume[32];
    int pages = 0;
    for (;;) {
        lsmkv_client_scan_page page;
        rc = lsmkv_client_scan(c, &r, LSMKV_CLIENT_SCAN_MAX_PAGE, &page, &err);
        if (rc != LSMKV_CLIENT_OK) {
            fail_msg("page %d: %s", pages, err.message);
        }
        pages++;
        for (size_t i = 0; i < page.count; i++) {
            const lsmkv_client_pair *p = &page.pairs[i];
            if (!check_pair(&ck, p->key, p->key_len, p->value, p->value_len)) {
                fail_msg("page %d: %s", pages, ck.failure);
            }
        }
        if (page.resume_key == NULL) {
            lsmkv_client_scan_page_fini(&page);
            break;
        }
        /* ~60 bytes a pair: about 1000 to a 64 KiB page, far below the 10000 asked for. */
        assert_true(page.count > 500 && page.count < LSMKV_CLIENT_SCAN_MAX_PAGE);
        assert_true(page.resume_key_len <= sizeof(resume));
        memcpy(resume, page.resume_key, page.resume_key_len);
        r.start = resume;
        r.start_len = page.resume_key_len;
        lsmkv_client_scan_page_fini(&page);
    }
    assert_int_equal(ck.pairs, live_keys());
    assert_true(pages > live_keys() / 1500);

    /* With a cap the helper stops exactly there, mid-page. */
    ck = (checker){0};
    assert_int_equal(lsmkv_client_scan_each(c, &all, 12345, check_pair, &ck, &seen, &err),
                     LSMKV_CLIENT_OK);
    assert_int_equal(seen, 12345);

    /* keys_only pages carry more keys. */
    lsmkv_client_range keys_only = {.keys_only = true};
    lsmkv_client_scan_page page;
    assert_int_equal(lsmkv_client_scan(c, &keys_only, LSMKV_CLIENT_SCAN_MAX_PAGE, &page, &err),
                     LSMKV_CLIENT_OK);
    assert_true(page.count > 3000);
    assert_int_equal(page.pairs[0].value_len, 0);
    lsmkv_client_scan_page_fini(&page);
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

/* ---- binary keys against a model ---------------------------------------------------------- */

#define MODEL_KEYS 600

typedef struct bkey {
    uint8_t data[6];
    size_t len;
} bkey;

static int
bkey_compare(const void *a, const void *b)
{
    const bkey *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->data, y->data, n);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* Keys over the alphabet {0x00, 0x01, 'a', 0xfe, 0xff}, 1 to 5 bytes: prefixes collide often. */
static void
random_key(test_rng *rng, bkey *k)
{
    static const uint8_t alphabet[] = {0x00, 0x01, 'a', 0xfe, 0xff};
    k->len = 1 + (size_t)test_rng_below(rng, 5);
    for (size_t i = 0; i < k->len; i++) {
        k->data[i] = alphabet[test_rng_below(rng, sizeof(alphabet))];
    }
}

static bool
model_in_range(const bkey *k, const bkey *start, const bkey *end, const bkey *prefix)
{
    if (start->len > 0 && bkey_compare(k, start) < 0) {
        return false;
    }
    if (end->len > 0 && bkey_compare(k, end) >= 0) {
        return false;
    }
    return k->len >= prefix->len && memcmp(k->data, prefix->data, prefix->len) == 0;
}

typedef struct gathered {
    bkey keys[MODEL_KEYS];
    size_t count;
} gathered;

static bool
gather(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    gathered *g = ctx;
    if (g->count == MODEL_KEYS || key_len > sizeof(g->keys[0].data)) {
        return false;
    }
    memcpy(g->keys[g->count].data, key, key_len);
    g->keys[g->count++].len = key_len;
    return true;
}

/* Scans [start, end) ∩ prefix by paging with `limit` and checks the keys against the model. */
static void
check_scan(lsmkv_client *c, const bkey *model, size_t n, const bkey *start, const bkey *end,
           const bkey *prefix, uint32_t limit)
{
    static gathered got;
    got.count = 0;
    lsmkv_client_range r = {
        .start = start->data,
        .start_len = start->len,
        .end = end->data,
        .end_len = end->len,
        .prefix = prefix->data,
        .prefix_len = prefix->len,
        .keys_only = true,
    };
    uint8_t resume[16];
    lsmkv_client_error err;
    for (;;) {
        lsmkv_client_scan_page page;
        if (lsmkv_client_scan(c, &r, limit, &page, &err) != LSMKV_CLIENT_OK) {
            fail_msg("scan: %s", err.message);
        }
        for (size_t i = 0; i < page.count; i++) {
            gather(&got, page.pairs[i].key, page.pairs[i].key_len, NULL, 0);
        }
        bool more = page.resume_key != NULL;
        if (more) {
            memcpy(resume, page.resume_key, page.resume_key_len);
            r.start = resume;
            r.start_len = page.resume_key_len;
        }
        lsmkv_client_scan_page_fini(&page);
        if (!more) {
            break;
        }
    }
    size_t want = 0;
    for (size_t i = 0; i < n; i++) {
        if (!model_in_range(&model[i], start, end, prefix)) {
            continue;
        }
        if (want >= got.count || bkey_compare(&model[i], &got.keys[want]) != 0) {
            fail_msg("key %zu of the range differs (got %zu keys)", want, got.count);
        }
        want++;
    }
    assert_int_equal(got.count, want);
}

static void
test_prefix_and_range_scans_over_binary_keys_match_a_model(void **state)
{
    test_server s;
    test_server_start(&s, NULL, NULL);
    lsmkv_client *c = connect_to(&s, 20000, 0);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    static bkey model[MODEL_KEYS];
    lsmkv_client_op ops[MODEL_KEYS];
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        random_key(&rng, &model[i]);
        ops[i] = (lsmkv_client_op){LSMKV_CLIENT_OP_PUT, model[i].data, model[i].len,
                                   (const uint8_t *)"v", 1};
    }
    batch_ok(c, ops, MODEL_KEYS / 2);
    assert_int_equal(lsmkv_client_flush(c, NULL, NULL), LSMKV_CLIENT_OK); /* half in a table */
    batch_ok(c, ops + MODEL_KEYS / 2, MODEL_KEYS - MODEL_KEYS / 2);
    qsort(model, MODEL_KEYS, sizeof(model[0]), bkey_compare);
    size_t n = 0; /* unique */
    for (size_t i = 0; i < MODEL_KEYS; i++) {
        if (n == 0 || bkey_compare(&model[n - 1], &model[i]) != 0) {
            model[n++] = model[i];
        }
    }
    bkey none = {.len = 0};
    check_scan(c, model, n, &none, &none, &none, 10000);
    for (int round = 0; round < 150; round++) {
        bkey start = none, end = none, prefix = none;
        if (test_rng_below(&rng, 2)) {
            random_key(&rng, &start);
        }
        if (test_rng_below(&rng, 2)) {
            random_key(&rng, &end);
        }
        if (start.len > 0 && end.len > 0 && bkey_compare(&start, &end) > 0) {
            bkey t = start;
            start = end;
            end = t;
        }
        if (test_rng_below(&rng, 3)) {
            random_key(&rng, &prefix);
            prefix.len = 1 + (size_t)test_rng_below(&rng, 2);
        }
        check_scan(c, model, n, &start, &end, &prefix, 1 + (uint32_t)test_rng_below(&rng, 40));
    }
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

/* ---- MultiGet and bad input as the client sees it ---------------------------------------------
 */

static void
test_multi_get_and_batch_errors_end_to_end(void **state)
{
    test_server s;
    test_server_start(&s, NULL, NULL);
    lsmkv_client *c = connect_to(&s, 20000, 0);
    lsmkv_client_error err;
    lsmkv_client_op ops[] = {
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1},
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"b\0", 2, (const uint8_t *)"\0\xff", 2},
        {LSMKV_CLIENT_OP_DELETE, (const uint8_t *)"a", 1, NULL, 0},
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"c", 1, (const uint8_t *)"", 0},
    };
    uint64_t seq = 0;
    assert_int_equal(lsmkv_client_batch(c, ops, 4, LSMKV_CLIENT_SYNC_ALWAYS, &seq, &err),
                     LSMKV_CLIENT_OK);
    assert_int_equal(seq, 4);
    const uint8_t *keys[] = {(const uint8_t *)"a", (const uint8_t *)"b\0", (const uint8_t *)"c",
                             (const uint8_t *)"b\0"};
    const size_t lens[] = {1, 2, 1, 2};
    lsmkv_client_value values[4];
    assert_int_equal(lsmkv_client_multi_get(c, 4, keys, lens, values, &err), LSMKV_CLIENT_OK);
    assert_false(values[0].found);
    assert_true(values[1].found);
    assert_int_equal(values[1].value_len, 2);
    assert_memory_equal(values[1].value, "\0\xff", 2);
    assert_true(values[2].found);
    assert_int_equal(values[2].value_len, 0);
    assert_true(values[3].found);
    lsmkv_client_values_fini(values, 4);

    /* A bad op: nothing of the batch is written. */
    lsmkv_client_op bad[] = {
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"new", 3, (const uint8_t *)"1", 1},
        {LSMKV_CLIENT_OP_PUT, (const uint8_t *)"", 0, (const uint8_t *)"2", 1},
    };
    assert_int_equal(lsmkv_client_batch(c, bad, 2, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_string_equal(err.message, "op 1: the key is empty");
    const uint8_t *new_key = (const uint8_t *)"new";
    size_t new_len = 3;
    assert_int_equal(lsmkv_client_multi_get(c, 1, &new_key, &new_len, values, &err),
                     LSMKV_CLIENT_OK);
    assert_false(values[0].found);
    lsmkv_client_values_fini(values, 1);

    /* Bad scans. */
    lsmkv_client_range range = {
        .start = (const uint8_t *)"b", .start_len = 1, .end = (const uint8_t *)"a", .end_len = 1};
    lsmkv_client_scan_page page;
    assert_int_equal(lsmkv_client_scan(c, &range, 10, &page, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "sorts after end"));
    range = (lsmkv_client_range){0};
    assert_int_equal(lsmkv_client_scan(c, &range, 0, &page, &err), LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "the limit is 0"));

    /* Too many keys for one MultiGet. */
    size_t many = LSMKV_CLIENT_MULTI_GET_MAX_KEYS + 1;
    const uint8_t **mk = calloc(many, sizeof(*mk));
    size_t *ml = calloc(many, sizeof(*ml));
    lsmkv_client_value *mv = calloc(many, sizeof(*mv));
    for (size_t i = 0; i < many; i++) {
        mk[i] = (const uint8_t *)"c";
        ml[i] = 1;
    }
    assert_int_equal(lsmkv_client_multi_get(c, many, mk, ml, mv, &err),
                     LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(lsmkv_client_multi_get(c, many - 1, mk, ml, mv, &err), LSMKV_CLIENT_OK);
    assert_true(mv[many - 2].found);
    lsmkv_client_values_fini(mv, many - 1);
    free(mv);
    free(ml);
    free(mk);

    lsmkv_client_stats stats;
    assert_int_equal(lsmkv_client_get_stats(c, &stats, &err), LSMKV_CLIENT_OK);
    assert_int_equal(stats.batches, 1);
    assert_int_equal(stats.multi_gets, 3);
    assert_int_equal(stats.scans, 0);
    lsmkv_client_stats_fini(&stats);
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paging_through_1m_keys_in_pages_cut_by_size),
        cmocka_unit_test(test_prefix_and_range_scans_over_binary_keys_match_a_model),
        cmocka_unit_test(test_multi_get_and_batch_errors_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
