/*
 * bench_threads — see bench_threads.h. A barrier separates the setups from
 * the bodies; it is made for each run, as the thread count is a run's.
 */
#include "bench_threads.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct thread_arg {
    const bench_threads_job *job;
    pthread_barrier_t *start;
    void *arg;
} thread_arg;

static void *
thread_main(void *p)
{
    thread_arg *t = p;

    if (t->job->setup != NULL) {
        t->job->setup(t->arg);
    }
    pthread_barrier_wait(t->start);
    t->job->body(t->arg);
    if (t->job->teardown != NULL) {
        t->job->teardown(t->arg);
    }
    return NULL;
}

void
bench_threads_run(const bench_threads_job *job, void *const *args, unsigned count)
{
    pthread_barrier_t start;
    pthread_t *ids = calloc(count, sizeof(*ids));
    thread_arg *targs = calloc(count, sizeof(*targs));
    int rc;

    if (ids == NULL || targs == NULL) {
        fprintf(stderr, "lsmkv-bench: out of memory for %u threads\n", count);
        exit(1);
    }
    pthread_barrier_init(&start, NULL, count);
    for (unsigned i = 0; i < count; i++) {
        targs[i] = (thread_arg){.job = job, .start = &start, .arg = args[i]};
    }
    for (unsigned i = 1; i < count; i++) {
        if ((rc = pthread_create(&ids[i], NULL, thread_main, &targs[i])) != 0) {
            fprintf(stderr, "lsmkv-bench: cannot start thread %u: %s\n", i, strerror(rc));
            exit(1);
        }
    }
    thread_main(&targs[0]);
    for (unsigned i = 1; i < count; i++) {
        pthread_join(ids[i], NULL);
    }
    pthread_barrier_destroy(&start);
    free(targs);
    free(ids);
}
