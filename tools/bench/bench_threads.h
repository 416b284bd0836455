/*
 * bench_threads — runs one workload's part on N threads that start together.
 *
 * Each thread first does its untimed setup (connecting, for instance); once
 * every thread is ready they all start the timed body at the same moment, so
 * no thread's throughput is measured while the others are still connecting,
 * and the workload's time is the span from the first start to the last end.
 * The calling thread is thread 0 itself, so N = 1 runs no thread at all and
 * costs nothing over a plain call.
 */
#ifndef LSMKV_TOOLS_BENCH_THREADS_H
#define LSMKV_TOOLS_BENCH_THREADS_H

typedef struct bench_threads_job {
    void (*setup)(void *arg);    /* may be NULL; before the common start */
    void (*body)(void *arg);     /* the timed part */
    void (*teardown)(void *arg); /* may be NULL; after this thread's body */
} bench_threads_job;

/*
 * Runs `job` on `count` (>= 1) threads, thread i with args[i], and returns
 * when all have finished. Prints the error and exits 1 if a thread cannot be
 * started.
 */
void bench_threads_run(const bench_threads_job *job, void *const *args, unsigned count);

#endif /* LSMKV_TOOLS_BENCH_THREADS_H */
