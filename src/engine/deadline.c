#include "deadline.h"

void
deadline_now(struct timespec *out)
{
    clock_gettime(CLOCK_MONOTONIC, out);
}

void
deadline_in_ms(struct timespec *out, uint64_t ms)
{
    deadline_now(out);
    out->tv_sec += (time_t)(ms / 1000);
    out->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

uint64_t
deadline_micros_since(const struct timespec *start)
{
    struct timespec now;
    deadline_now(&now);
    int64_t micros =
        (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
    return micros > 0 ? (uint64_t)micros : 0;
}

void
deadline_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}
