/*
 * bench_backend — the registry of back ends built into this binary. LevelDB
 * and RocksDB are compiled in only with -DLSMKV_BENCH_COMPARE=ON; rpc (a
 * running lsmkv-server, through the C client) always is.
 */
#include "bench_backend.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static const bench_backend *const backends[] = {
    &bench_backend_lsmkv,
    &bench_backend_rpc,
#ifdef LSMKV_BENCH_HAVE_LEVELDB
    &bench_backend_leveldb,
#endif
#ifdef LSMKV_BENCH_HAVE_ROCKSDB
    &bench_backend_rocksdb,
#endif
};

const bench_backend *
bench_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
        if (strcmp(backends[i]->name, name) == 0) {
            return backends[i];
        }
    }
    return NULL;
}

const char *
bench_backend_names(void)
{
    return "lsmkv,rpc"
#ifdef LSMKV_BENCH_HAVE_LEVELDB
           ",leveldb"
#endif
#ifdef LSMKV_BENCH_HAVE_ROCKSDB
           ",rocksdb"
#endif
        ;
}

void
bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
