/*
 * Every RPC through the C client library against the real lsmkv-server, with
 * binary keys and values, and the bad-input cases as the client sees them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsmkv/client.h"
#include "test_server.h"
#include "test_support.h"

#define KEY_LIMIT   (64u << 10)
#define VALUE_LIMIT (16u << 20)

static lsmkv_client *
connect_to(const test_server *s, uint32_t timeout_ms)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    options.timeout_ms = timeout_ms;
    lsmkv_client *c = NULL;
    lsmkv_client_error err;
    assert_int_equal(lsmkv_client_open(s->url, &options, &c, &err), LSMKV_CLIENT_OK);
    return c;
}

static void
put_ok(lsmkv_client *c, const void *key, size_t key_len, const void *value, size_t value_len)
{
    lsmkv_client_error err;
    int rc =
        lsmkv_client_put(c, key, key_len, value, value_len, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err);
    if (rc != LSMKV_CLIENT_OK) {
        fail_msg("put: %s: %s", lsmkv_client_status_name(rc), err.message);
    }
}

/* Asserts key holds exactly value (value NULL: the key does not exist). */
static void
expect(lsmkv_client *c, const void *key, size_t key_len, const void *value, size_t value_len)
{
    uint8_t *got;
    size_t got_len;
    bool found;
    lsmkv_client_error err;
    int rc = lsmkv_client_get(c, key, key_len, &got, &got_len, &found, &err);
    if (rc != LSMKV_CLIENT_OK) {
        fail_msg("get: %s: %s", lsmkv_client_status_name(rc), err.message);
    }
    if (value == NULL) {
        assert_false(found);
        assert_null(got);
        return;
    }
    assert_true(found);
    assert_int_equal(got_len, value_len);
    assert_memory_equal(got, value, value_len);
    lsmkv_client_free(got);
}

/* The counters after test_every_rpc's calls. */
static void
check_stats(lsmkv_client *c, uint64_t last_sequence)
{
    lsmkv_client_error err;
    lsmkv_client_stats stats;
    assert_int_equal(lsmkv_client_get_stats(c, &stats, &err), LSMKV_CLIENT_OK);
    assert_int_equal(stats.puts, 3);
    assert_int_equal(stats.deletes, 2);
    assert_true(stats.gets >= 5);
    assert_true(stats.flushes >= 2);
    assert_true(stats.compactions >= 1);
    assert_true(stats.sstables >= 1);
    assert_true(stats.level_count >= 1);
    assert_true(stats.requests >= 10);
    assert_true(stats.last_sequence >= last_sequence);
    assert_non_null(stats.server_version);
    assert_true(strlen(stats.server_version) > 0);
    lsmkv_client_stats_fini(&stats);
}

static void
test_every_rpc(void **state)
{
    test_server s;
    test_server_start(&s, NULL, NULL);
    lsmkv_client *c = connect_to(&s, 20000);
    lsmkv_client_error err;

    uint64_t seq1 = 0, seq2 = 0;
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"alpha", 5, (const uint8_t *)"one", 3,
                                      LSMKV_CLIENT_SYNC_ALWAYS, &seq1, &err),
                     LSMKV_CLIENT_OK);
    assert_int_equal(lsmkv_client_put(c, (const uint8_t *)"beta", 4, (const uint8_t *)"two", 3,
                                      LSMKV_CLIENT_SYNC_NONE, &seq2, &err),
                     LSMKV_CLIENT_OK);
    assert_true(seq2 > seq1);
    expect(c, "alpha", 5, "one", 3);
    expect(c, "gamma", 5, NULL, 0);
    uint64_t seq3 = 0;
    assert_int_equal(
        lsmkv_client_delete(c, (const uint8_t *)"alpha", 5, LSMKV_CLIENT_SYNC_DEFAULT, &seq3, &err),
        LSMKV_CLIENT_OK);
    assert_true(seq3 > seq2);
    expect(c, "alpha", 5, NULL, 0);
    /* Deleting a missing key is fine. */
    assert_int_equal(
        lsmkv_client_delete(c, (const uint8_t *)"nope", 4, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
        LSMKV_CLIENT_OK);

    lsmkv_client_table_list tables;
    assert_int_equal(lsmkv_client_flush(c, &tables, &err), LSMKV_CLIENT_OK);
    assert_int_equal(tables.count, 1);
    assert_true(tables.tables[0].entries >= 2);
    assert_true(tables.tables[0].size_bytes > 0);
    assert_int_equal(tables.tables[0].min_key_len, 5);
    assert_memory_equal(tables.tables[0].min_key, "alpha", 5);
    lsmkv_client_table_list_fini(&tables);
    assert_int_equal(lsmkv_client_flush(c, &tables, &err), LSMKV_CLIENT_OK);
    assert_int_equal(tables.count, 0); /* nothing left in the memtable */
    lsmkv_client_table_list_fini(&tables);

    put_ok(c, "beta", 4, "three", 5);
    assert_int_equal(lsmkv_client_flush(c, NULL, &err), LSMKV_CLIENT_OK);
    lsmkv_client_compaction_result result;
    assert_int_equal(lsmkv_client_compact(c, &result, &err), LSMKV_CLIENT_OK);
    assert_int_equal(result.input_tables, 2);
    assert_true(result.dropped_entries >= 2); /* the old beta, alpha and its tombstone */
    assert_true(result.outputs.count >= 1);
    lsmkv_client_compaction_result_fini(&result);
    expect(c, "beta", 4, "three", 5);
    expect(c, "alpha", 5, NULL, 0);

    check_stats(c, seq3);

    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_binary_keys_and_values(void **state)
{
    test_server s;
    test_server_start(&s, NULL, NULL);
    lsmkv_client *c = connect_to(&s, 20000);
    static const uint8_t key1[] = {0, 'k', 0, 0xff};
    static const uint8_t value1[] = {'v', 0, 0, 0x80, 0};
    static const uint8_t key2[] = {0};
    put_ok(c, key1, sizeof(key1), value1, sizeof(value1));
    put_ok(c, key2, sizeof(key2), "", 0); /* an empty value is a value */
    expect(c, key1, 3, NULL, 0);          /* a prefix is another key */

    size_t big_len = 1u << 20;
    uint8_t *big = malloc(big_len);
    test_rng rng;
    test_rng_init(&rng, test_seed());
    test_rng_bytes(&rng, big, big_len);
    put_ok(c, "big", 3, big, big_len);
    uint8_t *longest_key = malloc(KEY_LIMIT);
    memset(longest_key, 0, KEY_LIMIT);
    put_ok(c, longest_key, KEY_LIMIT, "at the limit", 12);

    for (int round = 0; round < 2; round++) { /* from the memtable, then from an SSTable */
        expect(c, key1, sizeof(key1), value1, sizeof(value1));
        expect(c, key2, sizeof(key2), "", 0);
        expect(c, "big", 3, big, big_len);
        expect(c, longest_key, KEY_LIMIT, "at the limit", 12);
        assert_int_equal(lsmkv_client_flush(c, NULL, NULL), LSMKV_CLIENT_OK);
    }
    free(big);
    free(longest_key);
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

/* The call fails with INVALID_ARGUMENT and the server's own explanation. */
static void
expect_invalid(int rc, const lsmkv_client_error *err)
{
    assert_int_equal(rc, LSMKV_CLIENT_INVALID_ARGUMENT);
    assert_int_equal(err->code, LSMKV_CLIENT_INVALID_ARGUMENT);
    /* Not the bare default message: the server says what was wrong. */
    bool names_it = strstr(err->message, "key") != NULL || strstr(err->message, "value") != NULL;
    if (strcmp(err->message, "invalid argument") == 0 || !names_it) {
        fail_msg("unhelpful message: %s", err->message);
    }
}

static void
test_bad_input_gets_the_server_message(void **state)
{
    test_server s;
    test_server_start(&s, NULL, NULL);
    lsmkv_client *c = connect_to(&s, 20000);
    lsmkv_client_error err;
    uint8_t *value;
    size_t len;
    bool found;

    expect_invalid(lsmkv_client_put(c, NULL, 0, (const uint8_t *)"v", 1, LSMKV_CLIENT_SYNC_DEFAULT,
                                    NULL, &err),
                   &err);
    assert_non_null(strstr(err.message, "empty"));
    expect_invalid(lsmkv_client_get(c, (const uint8_t *)"", 0, &value, &len, &found, &err), &err);
    expect_invalid(lsmkv_client_delete(c, NULL, 0, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err), &err);

    uint8_t *huge = calloc(1, VALUE_LIMIT + 1);
    expect_invalid(lsmkv_client_put(c, huge, KEY_LIMIT + 1, (const uint8_t *)"v", 1,
                                    LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                   &err);
    expect_invalid(lsmkv_client_get(c, huge, KEY_LIMIT + 1, &value, &len, &found, &err), &err);
    expect_invalid(lsmkv_client_put(c, (const uint8_t *)"k", 1, huge, VALUE_LIMIT + 1,
                                    LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err),
                   &err);
    free(huge);

    /* Nothing of the above was stored, and the server goes on. */
    put_ok(c, "k", 1, "fine", 4);
    expect(c, "k", 1, "fine", 4);
    lsmkv_client_stats stats;
    assert_int_equal(lsmkv_client_get_stats(c, &stats, &err), LSMKV_CLIENT_OK);
    assert_int_equal(stats.puts, 1);
    assert_true(stats.request_errors >= 6);
    lsmkv_client_stats_fini(&stats);
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

static void
test_request_over_max_message_size_fails_and_server_goes_on(void **state)
{
    static const char *const args[] = {"--max-message-size", "64K", NULL};
    test_server s;
    test_server_start(&s, NULL, args);
    lsmkv_client *c = connect_to(&s, 3000);
    put_ok(c, "before", 6, "x", 1);

    size_t len = 100u << 10;
    uint8_t *value = calloc(1, len);
    lsmkv_client_error err;
    uint64_t start = nng_clock();
    int rc = lsmkv_client_put(c, (const uint8_t *)"k", 1, value, len, LSMKV_CLIENT_SYNC_DEFAULT,
                              NULL, &err);
    /* nng drops the oversize message by closing the connection, which the
     * client notices at once: UNAVAILABLE, well within the deadline. */
    assert_int_equal(rc, LSMKV_CLIENT_UNAVAILABLE);
    assert_non_null(strstr(err.message, "closed before the answer"));
    assert_true((uint64_t)nng_clock() - start < 3000);
    free(value);

    /* The client reconnects; the server answers the next call. */
    put_ok(c, "after", 5, "y", 1);
    expect(c, "before", 6, "x", 1);
    expect(c, "k", 1, NULL, 0);
    lsmkv_client_close(c);
    assert_int_equal(test_server_stop(&s), 0);
    test_server_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_rpc),
        cmocka_unit_test(test_binary_keys_and_values),
        cmocka_unit_test(test_bad_input_gets_the_server_message),
        cmocka_unit_test(test_request_over_max_message_size_fails_and_server_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
