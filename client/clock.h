/*
 * clock — milliseconds on the monotonic clock, the unit of every deadline in
 * the client: a call's deadline is clock_now_ms() + its timeout, and every
 * wait (poll, condition variable, back-off sleep) is bounded by it.
 */
#ifndef LSMKV_CLIENT_CLOCK_H
#define LSMKV_CLIENT_CLOCK_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

static inline uint64_t
clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Milliseconds left until `deadline`, 0 once it has passed; fits poll's timeout. */
static inline int
clock_remaining_ms(uint64_t deadline)
{
    uint64_t now = clock_now_ms();
    if (now >= deadline) {
        return 0;
    }
    uint64_t left = deadline - now;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* `ms` on the monotonic clock as a timespec, for pthread_cond_timedwait. */
static inline struct timespec
clock_timespec(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000u), .tv_nsec = (long)(ms % 1000u) * 1000000L};
    return ts;
}

/* The realtime clock's time at the monotonic `ms`, for the waits that only take that clock. */
static inline struct timespec
clock_realtime_timespec(uint64_t ms)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t at = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u +
                  (uint64_t)clock_remaining_ms(ms);
    return clock_timespec(at);
}

#endif
