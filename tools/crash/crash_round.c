#include "crash_round.h"

#include "crash_rng.h"

#include "lsmkv/client.h"

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
    uint64_t puts;
    uint64_t deletes;
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

static void *
writer_main(void *arg)
{
    writer_thread *t = arg;
    round_state *s = t->state;
    const crash_round_config *c = s->config;
    uint32_t keys = crash_model_keys(s->model);
    crash_rng rng;
    crash_rng_init(&rng, c->seed, 1, c->round, t->writer);
    uint8_t key[CRASH_KEY_MAX];
    uint8_t *value = malloc(CRASH_VALUE_MAX);
    char who[64];
    while (!atomic_load(&s->killed)) {
        uint32_t k = (uint32_t)crash_rng_below(&rng, keys);
        crash_op op =
            crash_rng_below(&rng, 100) < c->delete_percent ? CRASH_OP_DELETE : CRASH_OP_PUT;
        size_t key_len = crash_model_key(t->writer, k, key);
        size_t value_len = 0;
        crash_model_begin(s->model, t->writer, c->round, k, op, value, &value_len);
        lsmkv_client_error err;
        int rc = op == CRASH_OP_PUT ? lsmkv_client_put(s->client, key, key_len, value, value_len,
                                                       LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err)
                                    : lsmkv_client_delete(s->client, key, key_len,
                                                          LSMKV_CLIENT_SYNC_DEFAULT, NULL, &err);
        if (rc != LSMKV_CLIENT_OK) {
            if (!atomic_load(&s->killed)) {
                snprintf(who, sizeof(who), "writer %" PRIu32 " %s", t->writer,
                         op == CRASH_OP_PUT ? "Put" : "Delete");
                record_error(s, who, &err);
            }
            break; /* the operation stays in flight: applied or not, the check will tell */
        }
        crash_model_ack(s->model, t->writer);
        op == CRASH_OP_PUT ? t->puts++ : t->deletes++;
        count_ack(s);
    }
    free(value);
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
            r->in_flight += crash_model_in_flight(m, w) ? 1 : 0;
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

static void
check_report(check_thread *t, crash_verdict v, uint32_t k, const char *detail)
{
    crash_check_result *r = t->result;
    pthread_mutex_lock(t->lock);
    v == CRASH_LOSS ? r->losses++ : r->phantoms++;
    if (r->reported < CRASH_MAX_REPORTED) {
        uint8_t key[CRASH_KEY_MAX + 1];
        key[crash_model_key(t->writer, k, key)] = '\0';
        snprintf(r->report[r->reported++], sizeof(r->report[0]), "%s %s: %s",
                 v == CRASH_LOSS ? "LOSS" : "PHANTOM", (const char *)key, detail);
    }
    pthread_mutex_unlock(t->lock);
}

static void *
check_main(void *arg)
{
    check_thread *t = arg;
    crash_check_result *r = t->result;
    bool had_flight = crash_model_in_flight(t->model, t->writer);
    bool applied_any = false;
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
            break;
        }
        bool applied = false;
        char detail[320];
        crash_verdict v = crash_model_check(t->model, t->writer, k, found ? value : NULL, value_len,
                                            &applied, detail, sizeof(detail));
        lsmkv_client_free(value);
        applied_any |= applied;
        if (v != CRASH_OK) {
            check_report(t, v, k, detail);
        }
    }
    crash_model_end_round(t->model, t->writer);
    pthread_mutex_lock(t->lock);
    r->keys += keys;
    if (had_flight) {
        applied_any ? r->applied++ : r->not_applied++;
    }
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
