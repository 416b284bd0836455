#include "crash_round.h"

#include "crash_rng.h"

#include "lsmkv/client.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the threads of one round share. */
typedef struct round_state {
    crash_model *model;
    const crash_round_config *config;
    lsmkv_client *client;
    _Atomic uint64_t acked; /* acknowledged writes this round */
    atomic_bool killed;     /* set just before the SIGKILL is sent */
    pthread_mutex_t lock;   /* guards the fields below */
    pthread_cond_t wake;    /* maintenance: acked passed next_maintenance, or killed */
    uint64_t next_maintenance;
    crash_round_result *result;
} round_state;

typedef struct writer_thread {
    round_state *state;
    uint32_t writer;
    crash_rng rng;
    uint8_t *values; /* CRASH_BATCH_MAX values of CRASH_VALUE_MAX bytes each */
    uint64_t puts;   /* acknowledged, as the result's */
    uint64_t deletes;
    uint64_t batches;
    uint64_t batch_ops;
    pthread_t thread;
} writer_thread;

static void
die(const char *what, int rc)
{
    fprintf(stderr, "lsmkv-crash: %s: %s\n", what, strerror(rc));
    abort();
}

/* A call failed while the server was meant to be up: the first one is kept. */
static void
record_error(round_state *s, const char *who, const lsmkv_client_error *err)
{
    pthread_mutex_lock(&s->lock);
    if (s->result->errors++ == 0) {
        snprintf(s->result->first_error, sizeof(s->result->first_error), "%s: %s: %s", who,
                 lsmkv_client_status_name(err->code), err->message);
    }
    pthread_mutex_unlock(&s->lock);
}

static void
kill_server(round_state *s)
{
    pthread_mutex_lock(&s->lock);
    bool first = !atomic_exchange(&s->killed, true);
    if (first) {
        crash_server_kill(s->config->server);
    }
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* After each acknowledged write: the kill, or a wake-up for the maintenance thread. */
static void
count_ack(round_state *s)
{
    uint64_t n = atomic_fetch_add(&s->acked, 1) + 1;
    if (n == s->config->kill_after) {
        kill_server(s);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (n >= s->next_maintenance) {
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
}

static crash_op
pick_op(writer_thread *t)
{
    return crash_rng_below(&t->rng, 100) < t->state->config->delete_percent ? CRASH_OP_DELETE
                                                                            : CRASH_OP_PUT;
}

/* One Put or Delete of a random key, recorded in the model before it is sent. */
static int
send_single(writer_thread *t, const char **what, lsmkv_client_error *err)
{
    round_state *s = t->state;
    uint32_t k = (uint32_t)crash_rng_below(&t->rng, crash_model_keys(s->model));
    crash_op op = pick_op(t);
    uint8_t key[CRASH_KEY_MAX];
    size_t key_len = crash_model_key(t->writer, k, key);
    size_t value_len = 0;
    crash_model_begin(s->model, t->writer, s->config->round, k, op, t->values, &value_len);
    *what = op == CRASH_OP_PUT ? "Put" : "Delete";
    int rc = op == CRASH_OP_PUT ? lsmkv_client_put(s->client, key, key_len, t->values, value_len,
                                                   LSMKV_CLIENT_SYNC_DEFAULT, NULL, err)
                                : lsmkv_client_delete(s->client, key, key_len,
                                                      LSMKV_CLIENT_SYNC_DEFAULT, NULL, err);
    if (rc == LSMKV_CLIENT_OK) {
        op == CRASH_OP_PUT ? t->puts++ : t->deletes++;
    }
    return rc;
}

/* A random key of the writer's range that is not among chosen[0..n). */
static uint32_t
distinct_key(writer_thread *t, const uint32_t *chosen, uint32_t n)
{
    uint32_t keys = crash_model_keys(t->state->model);
    for (;;) {
        uint32_t k = (uint32_t)crash_rng_below(&t->rng, keys);
        uint32_t i = 0;
        while (i < n && chosen[i] != k) {
            i++;
        }
        if (i == n) {
            return k;
        }
    }
}

/* One Batch of 2..CRASH_BATCH_MAX puts and deletes over distinct keys, recorded in
 * the model as one operation before it is sent. */
static int
send_batch(writer_thread *t, lsmkv_client_error *err)
{
    round_state *s = t->state;
    uint32_t count = 2 + (uint32_t)crash_rng_below(&t->rng, CRASH_BATCH_MAX - 1);
    if (count > crash_model_keys(s->model)) {
        count = crash_model_keys(s->model);
    }
    uint32_t chosen[CRASH_BATCH_MAX];
    uint8_t keys[CRASH_BATCH_MAX][CRASH_KEY_MAX];
    lsmkv_client_op ops[CRASH_BATCH_MAX];
    crash_model_begin_batch(s->model, t->writer, s->config->round);
    for (uint32_t i = 0; i < count; i++) {
        chosen[i] = distinct_key(t, chosen, i);
        crash_op op = pick_op(t);
        uint8_t *value = t->values + (size_t)i * CRASH_VALUE_MAX;
        size_t value_len = 0;
        crash_model_batch_add(s->model, t->writer, chosen[i], op, value, &value_len);
        ops[i] = (lsmkv_client_op){
            .type = op == CRASH_OP_PUT ? LSMKV_CLIENT_OP_PUT : LSMKV_CLIENT_OP_DELETE,
            .key = keys[i],
            .key_len = crash_model_key(t->writer, chosen[i], keys[i]),
            .value = op == CRASH_OP_PUT ? value : NULL,
            .value_len = value_len,
        };
    }
    int rc = lsmkv_client_batch(s->client, ops, count, LSMKV_CLIENT_SYNC_DEFAULT, NULL, err);
    if (rc == LSMKV_CLIENT_OK) {
        t->batches++;
        t->batch_ops += count;
    }
    return rc;
}

static void *
writer_main(void *arg)
{
    writer_thread *t = arg;
    round_state *s = t->state;
    const crash_round_config *c = s->config;
    crash_rng_init(&t->rng, c->seed, 1, c->round, t->writer);
    t->values = malloc((size_t)CRASH_BATCH_MAX * CRASH_VALUE_MAX);
    if (t->values == NULL) {
        die("malloc", ENOMEM);
    }
    while (!atomic_load(&s->killed)) {
        bool batch = c->batch_every > 0 && crash_rng_below(&t->rng, c->batch_every) == 0;
        const char *what = "Batch";
        lsmkv_client_error err;
        int rc = batch ? send_batch(t, &err) : send_single(t, &what, &err);
        if (rc != LSMKV_CLIENT_OK) {
            if (!atomic_load(&s->killed)) {
                char who[64];
                snprintf(who, sizeof(who), "writer %" PRIu32 " %s", t->writer, what);
                record_error(s, who, &err);
            }
            break; /* the operation stays in flight: applied or not, the check will tell */
        }
        crash_model_ack(s->model, t->writer);
        count_ack(s);
    }
    free(t->values);
    return NULL;
}

/* Flush, or Compact; returns false once a call fails. */
static bool
maintenance_call(round_state *s, bool compact)
{
    lsmkv_client_error err;
    int rc = compact ? lsmkv_client_compact(s->client, NULL, &err)
                     : lsmkv_client_flush(s->client, NULL, &err);
    pthread_mutex_lock(&s->lock);
    if (rc == LSMKV_CLIENT_OK) {
        compact ? s->result->compactions++ : s->result->flushes++;
    } else if (atomic_load(&s->killed)) {
        s->result->maintenance_cut = true;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != LSMKV_CLIENT_OK && !atomic_load(&s->killed)) {
        record_error(s, compact ? "Compact" : "Flush", &err);
    }
    return rc == LSMKV_CLIENT_OK;
}

static void *
maintenance_main(void *arg)
{
    round_state *s = arg;
    const crash_round_config *c = s->config;
    crash_rng rng;
    crash_rng_init(&rng, c->seed, 2, c->round, 0);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        s->next_maintenance =
            atomic_load(&s->acked) + 1 + crash_rng_below(&rng, 2 * c->flush_every);
        while (!atomic_load(&s->killed) && atomic_load(&s->acked) < s->next_maintenance) {
            pthread_cond_wait(&s->wake, &s->lock);
        }
        pthread_mutex_unlock(&s->lock);
        if (atomic_load(&s->killed)) {
            break;
        }
        bool compact = crash_rng_below(&rng, 100) < c->compact_percent;
        if (!maintenance_call(s, compact)) {
            break;
        }
    }
    return NULL;
}

void
crash_round_run(crash_model *m, const crash_round_config *c, crash_round_result *r)
{
    memset(r, 0, sizeof(*r));
    round_state s = {.model = m, .config = c, .result = r, .next_maintenance = UINT64_MAX};
    atomic_init(&s.acked, 0);
    atomic_init(&s.killed, false);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.wake, NULL);
    lsmkv_client_options o;
    lsmkv_client_options_init(&o);
    o.timeout_ms = c->timeout_ms;
    lsmkv_client_error err;
    if (lsmkv_client_open(c->server->url, &o, &s.client, &err) != LSMKV_CLIENT_OK) {
        record_error(&s, "connect", &err);
        kill_server(&s);
    }
    uint32_t writers = crash_model_writers(m);
    writer_thread *threads = calloc(writers, sizeof(*threads));
    pthread_t maintenance;
    int rc = 0;
    if (s.client != NULL) {
        for (uint32_t w = 0; w < writers && rc == 0; w++) {
            threads[w] = (writer_thread){.state = &s, .writer = w};
            rc = pthread_create(&threads[w].thread, NULL, writer_main, &threads[w]);
        }
        if (rc == 0) {
            rc = pthread_create(&maintenance, NULL, maintenance_main, &s);
        }
        if (rc != 0) {
            die("pthread_create", rc);
        }
        for (uint32_t w = 0; w < writers; w++) {
            pthread_join(threads[w].thread, NULL);
            r->puts += threads[w].puts;
            r->deletes += threads[w].deletes;
            r->batches += threads[w].batches;
            r->batch_ops += threads[w].batch_ops;
            r->in_flight += crash_model_in_flight(m, w) ? 1 : 0;
            r->batches_in_flight += crash_model_in_flight_batch(m, w) != 0 ? 1 : 0;
        }
        kill_server(&s); /* if every writer stopped (on errors) before the kill point */
        pthread_join(maintenance, NULL);
    }
    lsmkv_client_close(s.client);
    free(threads);
    pthread_cond_destroy(&s.wake);
    pthread_mutex_destroy(&s.lock);
}

/* ---- the check -------------------------------------------------------------------------- */

typedef struct check_thread {
    crash_model *model;
    lsmkv_client *client;
    uint32_t writer;
    crash_check_result *result; /* shared: guarded by lock */
    pthread_mutex_t *lock;
    pthread_t thread;
} check_thread;

/* Counts one failure (a loss, phantom or torn batch) and keeps the first few lines. */
static void
check_report(check_thread *t, uint64_t *count, const char *line)
{
    crash_check_result *r = t->result;
    pthread_mutex_lock(t->lock);
    (*count)++;
    if (r->reported < CRASH_MAX_REPORTED) {
        snprintf(r->report[r->reported++], sizeof(r->report[0]), "%s", line);
    }
    pthread_mutex_unlock(t->lock);
}

static void
check_report_key(check_thread *t, crash_verdict v, uint32_t k, const char *detail)
{
    uint8_t key[CRASH_KEY_MAX + 1];
    key[crash_model_key(t->writer, k, key)] = '\0';
    char line[sizeof(t->result->report[0])];
    snprintf(line, sizeof(line), "%s %s: %s", v == CRASH_LOSS ? "LOSS" : "PHANTOM",
             (const char *)key, detail);
    check_report(t, v == CRASH_LOSS ? &t->result->losses : &t->result->phantoms, line);
}

/* Gets and judges every key of the writer; false if a Get failed. */
static bool
check_keys(check_thread *t)
{
    crash_check_result *r = t->result;
    uint32_t keys = crash_model_keys(t->model);
    for (uint32_t k = 0; k < keys; k++) {
        uint8_t key[CRASH_KEY_MAX];
        size_t key_len = crash_model_key(t->writer, k, key);
        uint8_t *value;
        size_t value_len;
        bool found;
        lsmkv_client_error err;
        if (lsmkv_client_get(t->client, key, key_len, &value, &value_len, &found, &err) !=
            LSMKV_CLIENT_OK) {
            pthread_mutex_lock(t->lock);
            if (r->errors++ == 0) {
                snprintf(r->first_error, sizeof(r->first_error), "Get %.*s: %s: %s", (int)key_len,
                         (const char *)key, lsmkv_client_status_name(err.code), err.message);
            }
            pthread_mutex_unlock(t->lock);
            return false;
        }
        char detail[320];
        crash_verdict v = crash_model_check(t->model, t->writer, k, found ? value : NULL, value_len,
                                            NULL, detail, sizeof(detail));
        lsmkv_client_free(value);
        if (v != CRASH_OK) {
            check_report_key(t, v, k, detail);
        }
    }
    return true;
}

static void *
check_main(void *arg)
{
    check_thread *t = arg;
    crash_check_result *r = t->result;
    bool batch = crash_model_in_flight_batch(t->model, t->writer) != 0;
    bool complete = check_keys(t);
    char detail[sizeof(r->report[0]) - 8];
    crash_flight f = crash_model_end_round(t->model, t->writer, detail, sizeof(detail));
    if (f == CRASH_FLIGHT_TORN) {
        char line[sizeof(r->report[0])];
        snprintf(line, sizeof(line), "TORN %s", detail);
        check_report(t, &r->torn, line);
    }
    pthread_mutex_lock(t->lock);
    if (complete) {
        r->keys += crash_model_keys(t->model);
    }
    r->applied += f == CRASH_FLIGHT_APPLIED;
    r->not_applied += f == CRASH_FLIGHT_NOT_APPLIED;
    r->batches += batch && f != CRASH_FLIGHT_NONE;
    r->batches_applied += batch && f == CRASH_FLIGHT_APPLIED;
    pthread_mutex_unlock(t->lock);
    return NULL;
}

void
crash_round_check(crash_model *m, const char *url, uint32_t timeout_ms, crash_check_result *r)
{
    memset(r, 0, sizeof(*r));
    lsmkv_client_options o;
    lsmkv_client_options_init(&o);
    o.timeout_ms = timeout_ms;
    lsmkv_client *client;
    lsmkv_client_error err;
    if (lsmkv_client_open(url, &o, &client, &err) != LSMKV_CLIENT_OK) {
        r->errors = 1;
        snprintf(r->first_error, sizeof(r->first_error), "connect: %s", err.message);
        return;
    }
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    uint32_t writers = crash_model_writers(m);
    check_thread *threads = calloc(writers, sizeof(*threads));
    for (uint32_t w = 0; w < writers; w++) {
        threads[w] =
            (check_thread){.model = m, .client = client, .writer = w, .result = r, .lock = &lock};
        int rc = pthread_create(&threads[w].thread, NULL, check_main, &threads[w]);
        if (rc != 0) {
            die("pthread_create", rc);
        }
    }
    for (uint32_t w = 0; w < writers; w++) {
        pthread_join(threads[w].thread, NULL);
    }
    free(threads);
    lsmkv_client_close(client);
}
