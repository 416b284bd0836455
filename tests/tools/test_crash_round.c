#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crash_model.h"
#include "crash_round.h"
#include "test_server.h"
#include "test_support.h"
#include "lsmkv/client.h"

#include <stdlib.h>
#include <string.h>

/* ctest-labels: crash */

/*
 * lsmkv-crash's check after a restart (crash_round_check) against the real
 * lsmkv-server: a batch in flight at a kill must be reported torn when the
 * store holds only part of it. lsmkv-server never tears a batch, so the test
 * plays a server that does: of the batch the model records as sent, it sends
 * only some ops (as a smaller Batch), kills the server with SIGKILL, restarts
 * it on the same directory and runs the check. A whole batch in flight and an
 * acknowledged one, later partly overwritten, must pass in the same check.
 */

#define KEYS    16
#define FILLER  100
#define TIMEOUT 10000
#define MAX_OPS CRASH_BATCH_MAX

/* A batch recorded in the model and held as client ops, ready to send (or to tear). */
typedef struct batch {
    uint32_t count;
    uint8_t keys[MAX_OPS][CRASH_KEY_MAX];
    uint8_t values[MAX_OPS][CRASH_VALUE_MAX];
    lsmkv_client_op ops[MAX_OPS];
} batch;

/* Begins a batch of writer w in the model: puts on keys[i] where put[i], else deletes. */
static void
batch_begin(crash_model *m, uint32_t w, uint32_t round, const uint32_t *keys, const bool *put,
            uint32_t count, batch *b)
{
    b->count = count;
    crash_model_begin_batch(m, w, round);
    for (uint32_t i = 0; i < count; i++) {
        size_t value_len = 0;
        crash_op op = put[i] ? CRASH_OP_PUT : CRASH_OP_DELETE;
        crash_model_batch_add(m, w, keys[i], op, b->values[i], &value_len);
        b->ops[i] = (lsmkv_client_op){
            .type = put[i] ? LSMKV_CLIENT_OP_PUT : LSMKV_CLIENT_OP_DELETE,
            .key = b->keys[i],
            .key_len = crash_model_key(w, keys[i], b->keys[i]),
            .value = put[i] ? b->values[i] : NULL,
            .value_len = value_len,
        };
    }
}

/* Sends ops[first..first+count) of b as one Batch call. */
static void
send_ops(lsmkv_client *c, const batch *b, uint32_t first, uint32_t count)
{
    lsmkv_client_error err;
    int rc = lsmkv_client_batch(c, b->ops + first, count, LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err);
    if (rc != LSMKV_CLIENT_OK) {
        fail_msg("Batch: %s: %s", lsmkv_client_status_name(err.code), err.message);
    }
}

static void
print_report(const crash_check_result *r)
{
    for (int i = 0; i < r->reported; i++) {
        print_message("  %s\n", r->report[i]);
    }
}

/*
 * Round 1 against the server at url. Writer 0: an acknowledged batch over keys
 * 0..5, a single put over key 1, then a batch in flight (puts on 2, 6, 7,
 * deletes of 3 and 5) of which only the first two ops reach the store. Writer
 * 1: a batch in flight that reaches it whole.
 */
static void
write_round(crash_model *m, const char *url)
{
    lsmkv_client *c;
    assert_int_equal(lsmkv_client_open(url, NULL, &c, NULL), LSMKV_CLIENT_OK);
    batch *b = malloc(sizeof(*b));
    const uint32_t acked_keys[] = {0, 1, 2, 3, 4, 5};
    const bool acked_put[] = {true, true, true, true, false, true};
    batch_begin(m, 0, 1, acked_keys, acked_put, 6, b);
    send_ops(c, b, 0, 6);
    crash_model_ack(m, 0);
    uint8_t key[CRASH_KEY_MAX], value[CRASH_VALUE_MAX];
    size_t key_len = crash_model_key(0, 1, key), value_len;
    crash_model_begin(m, 0, 1, 1, CRASH_OP_PUT, value, &value_len);
    assert_int_equal(
        lsmkv_client_put(c, key, key_len, value, value_len, LSMKV_CLIENT_SYNC_DEFAULT, NULL, NULL),
        LSMKV_CLIENT_OK);
    crash_model_ack(m, 0);

    const uint32_t torn_keys[] = {2, 6, 3, 7, 5};
    const bool torn_put[] = {true, true, false, true, false};
    batch_begin(m, 0, 1, torn_keys, torn_put, 5, b);
    send_ops(c, b, 0, 2);

    const uint32_t whole_keys[] = {9, 3, 12};
    const bool whole_put[] = {true, true, false};
    batch_begin(m, 1, 1, whole_keys, whole_put, 3, b);
    send_ops(c, b, 0, 3);
    free(b);
    lsmkv_client_close(c);
}

static void
test_check_reports_a_torn_batch_in_flight(void **state)
{
    test_server first;
    test_server_start(&first, NULL, NULL);
    crash_model *m = crash_model_new(2, KEYS, FILLER);
    write_round(m, first.url);
    test_server_kill(&first);
    test_server second;
    test_server_start(&second, first.data_dir, NULL);
    crash_check_result *r = malloc(sizeof(*r));
    crash_round_check(m, second.url, TIMEOUT, r);
    print_report(r);
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->keys, 2 * KEYS);
    assert_int_equal(r->losses, 0);
    assert_int_equal(r->phantoms, 0);
    assert_int_equal(r->torn, 1);
    assert_int_equal(r->batches, 2);
    assert_int_equal(r->batches_applied, 1);
    assert_int_equal(r->applied, 1);
    assert_int_equal(r->not_applied, 0);
    assert_int_equal(r->reported, 1);
    assert_non_null(strstr(r->report[0], "TORN batch 2 of writer 0 (round 1, 5 ops) is torn"));
    assert_non_null(strstr(r->report[0], "w000-0000007 (put"));

    /* The model now follows the store: a second check finds nothing wrong. */
    crash_round_check(m, second.url, TIMEOUT, r);
    print_report(r);
    assert_int_equal(r->losses + r->phantoms + r->torn + r->errors, 0);
    assert_int_equal(r->batches, 0);

    free(r);
    crash_model_free(m);
    test_server_fini(&second);
    test_server_fini(&first);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_reports_a_torn_batch_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
