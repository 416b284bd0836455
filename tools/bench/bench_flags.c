/*
 * bench_flags — see bench_flags.h. Flags are db_bench's `--name=value` form
 * only (a boolean flag may also stand alone: `--stats`); anything else is an
 * error (exit 2) rather than a guess, so a typo never silently benchmarks the
 * wrong thing. db_bench spells its flags with '_', the RPC flags read better
 * with '-' (--compare-echo): either is accepted in every name.
 */
#include "bench_flags.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench_backend.h"
#include "bench_workloads.h"

#define DEFAULT_BENCHMARKS                                                                         \
    "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq,deleterandom,fillsync"

/* LevelDB clamps its write buffer to this range: staying inside keeps the
 * engines' settings truly equal. */
#define MIN_WRITE_BUFFER ((uint64_t)64 << 10)
#define MAX_WRITE_BUFFER ((uint64_t)1 << 30)
/* lsmkv's default value limit; a key is never empty, nor (here) a value. */
#define MAX_VALUE_SIZE ((uint64_t)16 << 20)

typedef bool (*flag_parse_fn)(const char *value, bench_config *cfg);

/* ---- values ---------------------------------------------------------------- */

/* A decimal number in [min, max] with an optional K/M/G (binary) suffix. */
static bool
parse_number(const char *s, uint64_t min, uint64_t max, bool suffix, uint64_t *out)
{
    char *end;
    uint64_t v;
    uint64_t scale = 1;

    if (*s < '0' || *s > '9') {
        return false; /* no sign, no blanks, not empty */
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return false;
    }
    if (suffix && *end != '\0' && end[1] == '\0') {
        const char *units = "KMG";
        const char *unit = strchr(units, *end >= 'a' ? *end - 'a' + 'A' : *end);

        if (unit != NULL) {
            scale = (uint64_t)1 << (10 * (unit - units + 1));
            end++;
        }
    }
    if (*end != '\0' || v > UINT64_MAX / scale || v * scale < min || v * scale > max) {
        return false;
    }
    *out = v * scale;
    return true;
}

typedef bool (*list_add_fn)(bench_config *cfg, const char *name);

/* Splits a comma list and hands each element to `add`, which checks it. */
static bool
parse_list(const char *s, bench_config *cfg, list_add_fn add)
{
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char name[64] = "";

        if (len < sizeof(name)) { /* longer names are unknown anyway */
            memcpy(name, s, len);
            name[len] = '\0';
        }
        if (!add(cfg, name)) {
            return false;
        }
        if (comma == NULL) {
            return true;
        }
        s = comma + 1;
    }
}

static bool
add_benchmark(bench_config *cfg, const char *name)
{
    const char *canonical = bench_workloads_find(name);

    if (canonical == NULL) {
        fprintf(stderr, "lsmkv-bench: unknown benchmark '%s' (known: %s)\n", name,
                bench_workloads_names());
        return false;
    }
    if (cfg->benchmark_count == BENCH_MAX_LIST) {
        fprintf(stderr, "lsmkv-bench: more than %d benchmarks\n", BENCH_MAX_LIST);
        return false;
    }
    cfg->benchmarks[cfg->benchmark_count++] = canonical;
    return true;
}

static bool
add_engine(bench_config *cfg, const char *name)
{
    const bench_backend *backend = bench_backend_find(name);

    if (backend == NULL) {
        fprintf(stderr,
                "lsmkv-bench: unknown engine '%s' (built in: %s; leveldb and rocksdb need "
                "-DLSMKV_BENCH_COMPARE=ON)\n",
                name, bench_backend_names());
        return false;
    }
    if (cfg->engine_count == BENCH_MAX_LIST) {
        fprintf(stderr, "lsmkv-bench: more than %d engines\n", BENCH_MAX_LIST);
        return false;
    }
    cfg->engines[cfg->engine_count++] = backend;
    return true;
}

/* ---- one parser per flag ---------------------------------------------------- */

static bool
flag_benchmarks(const char *value, bench_config *cfg)
{
    cfg->benchmark_count = 0; /* a repeated flag replaces the list */
    return parse_list(value, cfg, add_benchmark);
}

static bool
flag_engine(const char *value, bench_config *cfg)
{
    cfg->engine_count = 0;
    return parse_list(value, cfg, add_engine);
}

static bool
flag_num(const char *value, bench_config *cfg)
{
    return parse_number(value, 1, BENCH_MAX_NUM, false, &cfg->num);
}

static bool
flag_reads(const char *value, bench_config *cfg)
{
    return parse_number(value, 1, BENCH_MAX_NUM, false, &cfg->reads);
}

static bool
flag_value_size(const char *value, bench_config *cfg)
{
    uint64_t v;

    if (!parse_number(value, 1, MAX_VALUE_SIZE, true, &v)) {
        return false;
    }
    cfg->value_size = (size_t)v;
    return true;
}

static bool
flag_db(const char *value, bench_config *cfg)
{
    cfg->db = value;
    return value[0] != '\0';
}

static bool
flag_sync(const char *value, bench_config *cfg)
{
    if (strcmp(value, "always") == 0) {
        cfg->sync_always = true;
    } else if (strcmp(value, "none") == 0) {
        cfg->sync_always = false;
    } else {
        return false;
    }
    return true;
}

static bool
flag_write_buffer_size(const char *value, bench_config *cfg)
{
    uint64_t v;

    if (!parse_number(value, MIN_WRITE_BUFFER, MAX_WRITE_BUFFER, true, &v)) {
        return false;
    }
    cfg->write_buffer_size = (size_t)v;
    return true;
}

static bool
flag_bloom_bits(const char *value, bench_config *cfg)
{
    uint64_t v;

    if (!parse_number(value, 0, 64, false, &v)) {
        return false;
    }
    cfg->bloom_bits = (int)v;
    return true;
}

static bool
flag_seed(const char *value, bench_config *cfg)
{
    return parse_number(value, 0, UINT64_MAX, false, &cfg->seed);
}

static bool
flag_repeat(const char *value, bench_config *cfg)
{
    uint64_t v;

    if (!parse_number(value, 1, BENCH_MAX_REPEAT, false, &v)) {
        return false;
    }
    cfg->repeat = (unsigned)v;
    return true;
}

/* db_bench's booleans are 0/1; true/false read better. */
static bool
parse_bool(const char *value, bool *out)
{
    if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0) {
        *out = true;
    } else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0) {
        *out = false;
    } else {
        return false;
    }
    return true;
}

static bool
flag_stats(const char *value, bench_config *cfg)
{
    return parse_bool(value, &cfg->stats);
}

/* A URL is checked by nng when it is used; here it only has to look like one. */
static bool
parse_url(const char *value, const char **out)
{
    if (strstr(value, "://") == NULL) {
        return false;
    }
    *out = value;
    return true;
}

static bool
flag_target(const char *value, bench_config *cfg)
{
    return parse_url(value, &cfg->target);
}

static bool
flag_compare_echo(const char *value, bench_config *cfg)
{
    return parse_url(value, &cfg->compare_echo);
}

static bool
flag_serve_echo(const char *value, bench_config *cfg)
{
    return parse_url(value, &cfg->serve_echo);
}

static bool
flag_threads(const char *value, bench_config *cfg)
{
    uint64_t v;

    if (!parse_number(value, 1, BENCH_MAX_THREADS, false, &v)) {
        return false;
    }
    cfg->threads = (unsigned)v;
    return true;
}

static bool
parse_u32(const char *value, uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t v;

    if (!parse_number(value, min, max, false, &v)) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool
flag_batch_size(const char *value, bench_config *cfg)
{
    return parse_u32(value, 1, BENCH_MAX_BATCH, &cfg->batch_size);
}

static bool
flag_page_size(const char *value, bench_config *cfg)
{
    return parse_u32(value, 1, BENCH_MAX_BATCH, &cfg->page_size);
}

static bool
flag_timeout_ms(const char *value, bench_config *cfg)
{
    return parse_u32(value, 1, 3600000, &cfg->timeout_ms);
}

/* `expect` is NULL when the parser prints its own, more precise, error;
 * `boolean` flags given without a value mean "true". */
static const struct flag {
    const char *name;
    flag_parse_fn parse;
    const char *expect;
    bool boolean;
} flags[] = {
    {"benchmarks", flag_benchmarks, NULL, false},
    {"engine", flag_engine, NULL, false},
    {"num", flag_num, "an integer from 1 to 9999999999999999", false},
    {"reads", flag_reads, "an integer from 1 to 9999999999999999", false},
    {"value_size", flag_value_size, "a size from 1 to 16M", false},
    {"db", flag_db, "a directory", false},
    {"sync", flag_sync, "always or none", false},
    {"write_buffer_size", flag_write_buffer_size, "a size from 64K to 1G (K/M/G suffixes)", false},
    {"bloom_bits", flag_bloom_bits, "an integer from 0 to 64", false},
    {"seed", flag_seed, "an unsigned 64-bit integer", false},
    {"repeat", flag_repeat, "an integer from 1 to 1000", false},
    {"stats", flag_stats, "1, 0, true or false", true},
    {"target", flag_target, "a server URL such as tcp://127.0.0.1:7420", false},
    {"threads", flag_threads, "an integer from 1 to 1024", false},
    {"compare-echo", flag_compare_echo, "an echo server URL such as tcp://127.0.0.1:7421", false},
    {"serve-echo", flag_serve_echo, "a URL to listen on such as tcp://127.0.0.1:7421", false},
    {"timeout_ms", flag_timeout_ms, "milliseconds from 1 to 3600000", false},
    {"batch_size", flag_batch_size, "an integer from 1 to 10000", false},
    {"page_size", flag_page_size, "an integer from 1 to 10000", false},
};

#define FLAG_COUNT (sizeof(flags) / sizeof(flags[0]))

/* ---- the command line -------------------------------------------------------- */

void
bench_flags_usage(FILE *out)
{
    fprintf(out,
            "usage: lsmkv-bench [--flag=value ...]\n"
            "\n"
            "  --benchmarks=LIST        workloads to run, in order; default:\n"
            "                           %s\n"
            "                           known: %s\n"
            "  --engine=LIST            engines to compare, each in a child process and in\n"
            "                           DIR/<engine> (default lsmkv; built in: %s)\n"
            "  --num=N                  entries written by the fills (default 1000000)\n"
            "  --reads=N                operations of the reads (default: num)\n"
            "  --value_size=N           bytes per value (default 100)\n"
            "  --db=DIR                 parent directory; DIR/<engine> is deleted first\n"
            "                           (default /tmp/lsmkv-bench)\n"
            "  --sync=always|none       sync every write, not only fillsync's (default none)\n"
            "  --write_buffer_size=N    memtable / write buffer size (default 4M)\n"
            "  --bloom_bits=N           bloom filter bits per key, 0 disables (default 10)\n"
            "  --seed=N                 seed of the keys and values (default 301)\n"
            "  --repeat=N               run the engine list N times, interleaved, and print\n"
            "                           a summary of medians (default 1)\n"
            "  --stats                  print each engine's own statistics after every\n"
            "                           workload (also --stats=0|1)\n"
            "  --threads=N              threads sharing every workload's operations, each\n"
            "                           with its own handle / client (default 1)\n"
            "  --batch_size=N           keys per request of batchput and multiget\n"
            "                           (default 100)\n"
            "  --page_size=N            the most pairs per page of scan (default 1000)\n"
            "\n"
            "over RPC (engine rpc; --db, --write_buffer_size and --bloom_bits do not apply):\n"
            "  --target=URL             run the workloads against the lsmkv-server at URL\n"
            "                           through the C client (selects --engine=rpc)\n"
            "  --compare-echo=URL       also run the echo workload against the echo server\n"
            "                           at URL and print each workload's throughput and p99\n"
            "                           against echo's of the same run\n"
            "  --serve-echo=URL         only serve a bare nng req/rep echo on URL until\n"
            "                           SIGINT or SIGTERM (the other flags are ignored)\n"
            "  --timeout_ms=N           deadline of every call (default 10000)\n"
            "  --sync=always|none       over RPC: ask for it on every write; without the\n"
            "                           flag writes use the server's --sync setting\n"
            "\n"
            "  --help                   this text ('-' and '_' are the same in flag names)\n",
            DEFAULT_BENCHMARKS, bench_workloads_names(), bench_backend_names());
}

static void
set_defaults(bench_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->num = 1000000;
    cfg->value_size = 100;
    cfg->db = "/tmp/lsmkv-bench";
    cfg->write_buffer_size = (size_t)4 << 20;
    cfg->bloom_bits = 10;
    cfg->seed = 301;
    cfg->repeat = 1;
    cfg->threads = 1;
    cfg->timeout_ms = 10000;
    cfg->batch_size = 100;
    cfg->page_size = 1000;
    flag_benchmarks(DEFAULT_BENCHMARKS, cfg);
    flag_engine("lsmkv", cfg);
}

/* Whether the `len` bytes at `given` spell `name`, '-' and '_' alike. */
static bool
name_matches(const char *name, const char *given, size_t len)
{
    if (strlen(name) != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char a = name[i] == '-' ? '_' : name[i];
        char b = given[i] == '-' ? '_' : given[i];

        if (a != b) {
            return false;
        }
    }
    return true;
}

/* Applies one `--name=value` argument; prints the error and returns false. */
static bool
apply_flag(const char *arg, bench_config *cfg)
{
    const char *eq = strchr(arg, '=');
    size_t name_len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg) - 2;

    for (size_t i = 0; i < FLAG_COUNT; i++) {
        const struct flag *f = &flags[i];

        if (!name_matches(f->name, arg + 2, name_len)) {
            continue;
        }
        if (strcmp(f->name, "sync") == 0) {
            cfg->sync_given = true;
        }
        if (eq == NULL && !f->boolean) {
            fprintf(stderr, "lsmkv-bench: --%s needs a value: --%s=...\n", f->name, f->name);
            return false;
        }
        const char *value = eq != NULL ? eq + 1 : "1";

        if (f->parse(value, cfg)) {
            return true;
        }
        if (f->expect != NULL) {
            fprintf(stderr, "lsmkv-bench: bad value '%s' for --%s: expected %s\n", value, f->name,
                    f->expect);
        }
        return false;
    }
    fprintf(stderr, "lsmkv-bench: unknown flag '%s' (try --help)\n", arg);
    return false;
}

static bool
listed(const char *const *names, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* The rules between flags, once all are read; prints the error. */
static bool
check_combination(bench_config *cfg, bool engine_given)
{
    const char *engine_names[BENCH_MAX_LIST];

    if (cfg->target != NULL && !engine_given) {
        flag_engine("rpc", cfg);
    }
    for (size_t i = 0; i < cfg->engine_count; i++) {
        engine_names[i] = cfg->engines[i]->name;
    }
    if (listed(engine_names, cfg->engine_count, "rpc") && cfg->target == NULL) {
        fprintf(stderr, "lsmkv-bench: engine rpc needs --target=URL (lsmkv-server's address)\n");
        return false;
    }
    if (cfg->target != NULL && !listed(engine_names, cfg->engine_count, "rpc")) {
        fprintf(stderr, "lsmkv-bench: --target is for engine rpc, which --engine leaves out\n");
        return false;
    }
    if (cfg->compare_echo != NULL &&
        !listed(cfg->benchmarks, cfg->benchmark_count, bench_workloads_find("echo"))) {
        if (cfg->benchmark_count == BENCH_MAX_LIST) {
            fprintf(stderr, "lsmkv-bench: more than %d benchmarks\n", BENCH_MAX_LIST);
            return false;
        }
        memmove(&cfg->benchmarks[1], &cfg->benchmarks[0],
                cfg->benchmark_count * sizeof(cfg->benchmarks[0]));
        cfg->benchmarks[0] = bench_workloads_find("echo");
        cfg->benchmark_count++;
    }
    for (size_t i = 0; i < cfg->engine_count; i++) {
        for (size_t j = 0; j < cfg->benchmark_count; j++) {
            const char *why = bench_workloads_unsupported(cfg->benchmarks[j], cfg->engines[i]);

            if (why != NULL) {
                fprintf(stderr, "lsmkv-bench: engine %s cannot run %s: %s\n", cfg->engines[i]->name,
                        cfg->benchmarks[j], why);
                return false;
            }
        }
    }
    if (listed(cfg->benchmarks, cfg->benchmark_count, "echo") &&
        bench_config_echo_url(cfg) == NULL) {
        fprintf(stderr,
                "lsmkv-bench: the echo workload needs --compare-echo=URL or --target=URL\n");
        return false;
    }
    return true;
}

int
bench_flags_parse(int argc, char **argv, bench_config *cfg)
{
    bool reads_given = false;
    bool engine_given = false;

    set_defaults(cfg);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            bench_flags_usage(stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0' || arg[2] == '=') {
            fprintf(stderr, "lsmkv-bench: unexpected argument '%s' (try --help)\n", arg);
            return 2;
        }
        if (!apply_flag(arg, cfg)) {
            return 2;
        }
        reads_given |= strncmp(arg, "--reads=", 8) == 0;
        engine_given |= strncmp(arg, "--engine=", 9) == 0;
    }
    if (!reads_given) {
        cfg->reads = cfg->num;
    }
    if (cfg->serve_echo != NULL) {
        return 0;
    }
    return check_combination(cfg, engine_given) ? 0 : 2;
}
