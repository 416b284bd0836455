/*
 * Deadlines on the monotonic clock: every timed wait in the engine (write
 * stalls, retry pauses) uses a condition variable clocked by CLOCK_MONOTONIC
 * and an absolute deadline from here, so changes of the wall clock never
 * stretch or cut a wait.
 */
#ifndef LSMKV_ENGINE_DEADLINE_H
#define LSMKV_ENGINE_DEADLINE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Now, on the monotonic clock. */
void deadline_now(struct timespec *out);
/* The monotonic time ms milliseconds from now. */
void deadline_in_ms(struct timespec *out, uint64_t ms);
/* Microseconds elapsed since start (a deadline_now reading). */
uint64_t deadline_micros_since(const struct timespec *start);
/* Initialises cond so that pthread_cond_timedwait reads these deadlines. */
void deadline_cond_init(pthread_cond_t *cond);

#endif
