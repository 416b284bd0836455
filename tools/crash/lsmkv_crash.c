/*
 * lsmkv-crash — kills a real lsmkv-server with SIGKILL over and over while
 * clients write to it, and checks after each restart that every write it
 * acknowledged is there and that nothing else is (in the manner of RocksDB's
 * db_crashtest). One round:
 *
 *   1. writers put and delete keys of their own ranges (crash_round.h), now
 *      and then several at once in an atomic Batch; a maintenance thread
 *      calls Flush and Compact;
 *   2. the server is killed after a number of acknowledged writes drawn from
 *      the seed, with calls in flight;
 *   3. it is restarted on the same data directory, and every key is read back
 *      and judged (crash_model.h): a loss is an acknowledged write that is not
 *      visible, a phantom a value that was never written, a torn batch one
 *      in flight at the kill that shows some of its ops and not others.
 *
 * After the last round the server is stopped with SIGTERM (it must exit 0)
 * and `lsmkv-dump verify` checks the closed directory (it must exit 0).
 * Exit status: 0 clean; 1 a loss, phantom, torn batch, failed call, unclean
 * stop or verify failure; 2 bad usage or a set-up failure.
 */
#include "crash_model.h"
#include "crash_rng.h"
#include "crash_process.h"
#include "crash_server.h"
#include "crash_round.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define START_TIMEOUT_MS  60000
#define STOP_TIMEOUT_MS   60000
#define VERIFY_TIMEOUT_MS 300000
#define MAX_SERVER_ARGS   8

typedef struct options {
    const char *server;
    const char *dump;
    const char *dir;
    const char *sync;
    uint32_t rounds;
    uint32_t writers;
    uint32_t keys;
    uint64_t seed;
    uint64_t ops;
    uint32_t max_filler;
    uint32_t flush_every;
    uint32_t batch_every;
    uint32_t timeout_ms;
    bool keep;
    bool quiet;
    const char *server_args[MAX_SERVER_ARGS + 1];
    int server_arg_count;
} options;

typedef struct totals {
    uint64_t puts, deletes, batches, batch_ops, flushes, compactions;
    uint64_t in_flight, applied, not_applied;
    uint64_t batches_in_flight, batches_applied;
    uint64_t maintenance_cut;
    uint64_t keys_checked;
    uint64_t losses, phantoms, torn, errors;
} totals;

static const char usage_text[] =
    "usage: lsmkv-crash [--server PATH] [--rounds N] [--writers W] [--seed S]\n"
    "                   [--sync always|none] [--dir D] [more flags]\n"
    "\n"
    "Starts lsmkv-server, has W writer threads put and delete keys (each its own\n"
    "range; one call in 8 an atomic Batch of 2-16 puts and deletes) while another\n"
    "calls Flush and Compact, kills the server with SIGKILL after a number of\n"
    "acknowledged writes drawn from the seed, restarts it on the same directory and\n"
    "checks every key: each acknowledged write must be visible (a key may instead\n"
    "show the one write its writer had in flight, and a batch in flight must show\n"
    "all its ops or none), and no value that was never written may appear. After\n"
    "the last round the server is stopped with SIGTERM and `lsmkv-dump verify`\n"
    "checks the directory.\n"
    "\n"
    "  --server PATH       lsmkv-server (default: beside this program or in the build tree)\n"
    "  --dump PATH         lsmkv-dump (default: likewise)\n"
    "  --rounds N          kill/restart rounds (default 10)\n"
    "  --writers W         writer threads (default 4)\n"
    "  --seed S            seeds the kill points and the writes (default 1)\n"
    "  --sync always|none  the server's --sync (default always)\n"
    "  --dir D             work here: D/data is the store (must be new or empty),\n"
    "                      D/server.log the server's output; kept (default: a temp\n"
    "                      directory, removed after a clean run)\n"
    "  --keys K            keys per writer (default 1000)\n"
    "  --ops N             the kill comes after 1..N acknowledged writes (default 2000)\n"
    "  --value-size N      values carry up to N filler bytes (default 200; <= 4096)\n"
    "  --flush-every N     Flush or Compact every ~N acknowledged writes (default 150)\n"
    "  --batch-every N     one write call in N is a Batch (default 8; 0: none)\n"
    "  --timeout-ms N      deadline of every call (default 30000)\n"
    "  --server-arg ARG    one more flag for lsmkv-server (repeatable)\n"
    "  --keep              keep the temp directory\n"
    "  --quiet             no line per round\n"
    "\n"
    "The server runs with a 64K memtable, a 128K level-1 target and 64K tables, so\n"
    "that flushes and compactions of several levels happen within a round.\n"
    "Exit status: 0 no loss, phantom or torn batch, clean stop, verify passed;\n"
    "1 otherwise; 2 bad usage or set-up failure.\n";

static void
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "lsmkv-crash: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n'lsmkv-crash --help' lists the flags\n");
    exit(2);
}

static uint64_t
parse_number(const char *flag, const char *text, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: '%%s' is not a number from %" PRIu64 " to %" PRIu64, flag,
                 lo, hi);
        usage_error(msg, text);
    }
    return v;
}

/* A file next to this program, or at a path relative to it (the build tree). */
static const char *
find_beside_self(const char *name, const char *build_relative)
{
    static char found[2][PATH_MAX];
    static int used;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        *slash = '\0';
        const char *candidates[2] = {name, build_relative};
        for (int i = 0; i < 2; i++) {
            char *out = found[used % 2];
            int len = snprintf(out, PATH_MAX, "%s/%s", self, candidates[i]);
            if (len < PATH_MAX && access(out, X_OK) == 0) {
                used++;
                return out;
            }
        }
    }
    return NULL;
}

/* Stores the value v of one flag that takes a value; exits on an unknown flag. */
static void
parse_value_flag(options *o, const char *flag, const char *v)
{
    if (strcmp(flag, "--server") == 0) {
        o->server = v;
    } else if (strcmp(flag, "--dump") == 0) {
        o->dump = v;
    } else if (strcmp(flag, "--dir") == 0) {
        o->dir = v;
    } else if (strcmp(flag, "--sync") == 0) {
        if (strcmp(v, "always") != 0 && strcmp(v, "none") != 0) {
            usage_error("--sync: '%s' is not always or none", v);
        }
        o->sync = v;
    } else if (strcmp(flag, "--rounds") == 0) {
        o->rounds = (uint32_t)parse_number(flag, v, 1, 1000000);
    } else if (strcmp(flag, "--writers") == 0) {
        o->writers = (uint32_t)parse_number(flag, v, 1, 256);
    } else if (strcmp(flag, "--keys") == 0) {
        o->keys = (uint32_t)parse_number(flag, v, 1, 1000000);
    } else if (strcmp(flag, "--seed") == 0) {
        o->seed = parse_number(flag, v, 0, UINT64_MAX);
    } else if (strcmp(flag, "--ops") == 0) {
        o->ops = parse_number(flag, v, 1, 100000000);
    } else if (strcmp(flag, "--value-size") == 0) {
        o->max_filler = (uint32_t)parse_number(flag, v, 0, CRASH_FILLER_MAX);
    } else if (strcmp(flag, "--flush-every") == 0) {
        o->flush_every = (uint32_t)parse_number(flag, v, 1, 100000000);
    } else if (strcmp(flag, "--batch-every") == 0) {
        o->batch_every = (uint32_t)parse_number(flag, v, 0, 100000000);
    } else if (strcmp(flag, "--timeout-ms") == 0) {
        o->timeout_ms = (uint32_t)parse_number(flag, v, 100, 3600000);
    } else if (strcmp(flag, "--server-arg") == 0) {
        if (o->server_arg_count == MAX_SERVER_ARGS) {
            usage_error("--server-arg: at most 8 (%s)", v);
        }
        o->server_args[o->server_arg_count++] = v;
    } else {
        usage_error("unknown flag '%s'", flag);
    }
}

static void
parse_flags(int argc, char **argv, options *o)
{
    *o = (options){.sync = "always",
                   .rounds = 10,
                   .writers = 4,
                   .keys = 1000,
                   .seed = 1,
                   .ops = 2000,
                   .max_filler = 200,
                   .flush_every = 150,
                   .batch_every = 8,
                   .timeout_ms = 30000};
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "-h") == 0 || strcmp(flag, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        }
        if (strcmp(flag, "--keep") == 0 || strcmp(flag, "--quiet") == 0) {
            *(flag[2] == 'k' ? &o->keep : &o->quiet) = true;
            continue;
        }
        if (i + 1 == argc) {
            usage_error("'%s' needs a value (or is unknown)", flag);
        }
        parse_value_flag(o, flag, argv[++i]);
    }
    if (o->server == NULL) {
        o->server = find_beside_self("lsmkv-server", "../../src/server/lsmkv-server");
        if (o->server == NULL) {
            usage_error("%s", "cannot find lsmkv-server: give --server PATH");
        }
    }
    if (o->dump == NULL) {
        o->dump = find_beside_self("lsmkv-dump", "../dump/lsmkv-dump");
        if (o->dump == NULL) {
            usage_error("%s", "cannot find lsmkv-dump: give --dump PATH");
        }
    }
}

/* ---- the work directory ---------------------------------------------------------------- */

static bool
dir_is_empty_or_missing(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        return errno == ENOENT;
    }
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL) {
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    }
    closedir(d);
    return empty;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Removes a temp work dir after a clean run (or a set-up failure); says where a kept one is. */
static void
remove_work_dir(const options *o, bool temp, const char *work, bool removable)
{
    if (removable && temp && !o->keep) {
        nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        printf("work dir kept: %s (store in data/, server output in server.log)\n", work);
    }
}

/* Sets up *work (the base directory) and returns whether it is a temp one. */
static bool
make_work_dir(const options *o, char *work, size_t size)
{
    if (o->dir != NULL) {
        snprintf(work, size, "%s", o->dir);
        if (mkdir(work, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "lsmkv-crash: cannot create %s: %s\n", work, strerror(errno));
            exit(2);
        }
        char data[PATH_MAX];
        snprintf(data, sizeof(data), "%s/data", work);
        if (!dir_is_empty_or_missing(data)) {
            fprintf(stderr, "lsmkv-crash: %s is not empty: the check needs a new store\n", data);
            exit(2);
        }
        return false;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(work, size, "%s/lsmkv-crash-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(work) == NULL) {
        fprintf(stderr, "lsmkv-crash: mkdtemp %s: %s\n", work, strerror(errno));
        exit(2);
    }
    return true;
}

/* ---- interruption ------------------------------------------------------------------------ */

static crash_server *interrupted_server; /* the server to kill if we are stopped */

/* SIGINT, SIGTERM, SIGHUP: take the server down too, then die of the same signal. */
static void
on_stop_signal(int sig)
{
    if (interrupted_server != NULL) {
        crash_server_kill(interrupted_server);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
kill_server_on_stop_signals(crash_server *srv)
{
    interrupted_server = srv;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        sigaction(signals[i], &sa, NULL);
    }
}

/* ---- rounds ---------------------------------------------------------------------------- */

static void
print_check_failures(const crash_check_result *c)
{
    for (int i = 0; i < c->reported; i++) {
        fprintf(stderr, "  %s\n", c->report[i]);
    }
    uint64_t failures = c->losses + c->phantoms + c->torn;
    if (failures > (uint64_t)c->reported) {
        fprintf(stderr, "  ... and %" PRIu64 " more\n", failures - (uint64_t)c->reported);
    }
}

/* The first half of a round: writes until the kill; false unless the server died of it. */
static bool
write_and_kill(const options *o, uint32_t round, crash_model *m, crash_server *srv, totals *t,
               crash_round_result *r)
{
    crash_rng rng;
    crash_rng_init(&rng, o->seed, 0, round, 0);
    crash_round_config c = {
        .seed = o->seed,
        .round = round,
        .kill_after = 1 + crash_rng_below(&rng, o->ops),
        .flush_every = o->flush_every,
        .compact_percent = 25,
        .delete_percent = 25,
        .batch_every = o->batch_every,
        .timeout_ms = o->timeout_ms,
        .server = srv,
    };
    crash_round_run(m, &c, r);
    int status = crash_server_wait(srv, STOP_TIMEOUT_MS);
    t->puts += r->puts;
    t->deletes += r->deletes;
    t->batches += r->batches;
    t->batch_ops += r->batch_ops;
    t->flushes += r->flushes;
    t->compactions += r->compactions;
    t->in_flight += r->in_flight;
    t->batches_in_flight += r->batches_in_flight;
    t->maintenance_cut += r->maintenance_cut;
    t->errors += r->errors;
    if (r->errors > 0) {
        fprintf(stderr,
                "round %" PRIu32 ": %" PRIu64 " call(s) failed before the kill; first: %s\n", round,
                r->errors, r->first_error);
    }
    if (status != 128 + SIGKILL) {
        fprintf(stderr,
                "round %" PRIu32 ": the server ended with status %d, not by our SIGKILL; "
                "its log:\n",
                round, status);
        crash_process_print_tail(srv->log_path, 4000);
        return false;
    }
    return true;
}

/* The second half: every key read back and judged; false on any failure. */
static bool
check_after_restart(const options *o, uint32_t round, crash_model *m, const crash_server *srv,
                    totals *t, const crash_round_result *r)
{
    crash_check_result check;
    crash_round_check(m, srv->url, o->timeout_ms, &check);
    t->applied += check.applied;
    t->not_applied += check.not_applied;
    t->keys_checked += check.keys;
    t->losses += check.losses;
    t->phantoms += check.phantoms;
    t->torn += check.torn;
    t->batches_applied += check.batches_applied;
    t->errors += check.errors;
    uint64_t failures = check.losses + check.phantoms + check.torn + check.errors;
    if (!o->quiet) {
        printf(
            "round %" PRIu32 ": killed after %" PRIu64 " acknowledged writes (%" PRIu64
            " puts, %" PRIu64 " deletes, %" PRIu64 " batches; %" PRIu64 " flushes, %" PRIu64
            " compactions%s); %" PRIu64 " in flight (%" PRIu64
            " applied), batches among them %" PRIu64 " (%" PRIu64 " torn); %" PRIu64 " keys: %s\n",
            round, r->puts + r->deletes + r->batches, r->puts, r->deletes, r->batches, r->flushes,
            r->compactions, r->maintenance_cut ? ", one cut short" : "", r->in_flight,
            check.applied, check.batches, check.torn, check.keys, failures ? "FAILED" : "ok");
        fflush(stdout);
    }
    if (check.errors > 0) {
        fprintf(stderr, "round %" PRIu32 ": reading back failed: %s\n", round, check.first_error);
    }
    if (check.losses + check.phantoms + check.torn > 0) {
        fprintf(stderr,
                "round %" PRIu32 ": %" PRIu64 " loss(es), %" PRIu64 " phantom(s), %" PRIu64
                " torn batch(es):\n",
                round, check.losses, check.phantoms, check.torn);
        print_check_failures(&check);
    }
    return failures == 0;
}

/* One round: write, kill, restart, check. False if the run must stop. */
static bool
run_round(const options *o, uint32_t round, crash_model *m, crash_server *srv, totals *t)
{
    crash_round_result r;
    if (!write_and_kill(o, round, m, srv, t, &r)) {
        return false;
    }
    char err[512];
    if (!crash_server_start(srv, START_TIMEOUT_MS, err, sizeof(err))) {
        fprintf(stderr, "round %" PRIu32 ": restart failed: %s\n", round, err);
        crash_process_print_tail(srv->log_path, 4000);
        t->errors++;
        return false;
    }
    return check_after_restart(o, round, m, srv, t, &r) && r.errors == 0;
}

/* After the last round: SIGTERM must stop the server with exit 0, then lsmkv-dump verify. */
static bool
stop_and_verify(const options *o, crash_server *srv, const char *work, const char *data)
{
    bool ok = true;
    int status = crash_server_stop(srv, STOP_TIMEOUT_MS);
    if (status != 0) {
        fprintf(stderr, "lsmkv-server exited with status %d on SIGTERM (0 expected); its log:\n",
                status);
        crash_process_print_tail(srv->log_path, 4000);
        ok = false;
    }
    char out[PATH_MAX];
    snprintf(out, sizeof(out), "%s/verify.txt", work);
    unlink(out);
    const char *argv[] = {o->dump, "verify", data, NULL};
    int verify = crash_process_run(argv, out, VERIFY_TIMEOUT_MS);
    printf("lsmkv-dump verify: %s (exit %d)\n", verify == 0 ? "ok" : "FAILED", verify);
    if (verify != 0) {
        fprintf(stderr, "lsmkv-dump verify %s:\n", data);
        crash_process_print_tail(out, 8000);
        ok = false;
    }
    return ok;
}

static void
print_totals(const options *o, uint32_t rounds, const totals *t)
{
    printf("rounds: %" PRIu32 " (sync %s, %" PRIu32 " writers x %" PRIu32 " keys, seed %" PRIu64
           ")\n",
           rounds, o->sync, o->writers, o->keys, o->seed);
    printf("writes acknowledged: %" PRIu64 " (%" PRIu64 " puts, %" PRIu64 " deletes, %" PRIu64
           " batches of %" PRIu64 " ops); %" PRIu64 " flushes, %" PRIu64 " compactions (%" PRIu64
           " cut short by a kill)\n",
           t->puts + t->deletes + t->batches, t->puts, t->deletes, t->batches, t->batch_ops,
           t->flushes, t->compactions, t->maintenance_cut);
    printf("writes in flight at the kills: %" PRIu64 " (%" PRIu64 " found applied, %" PRIu64
           " not, %" PRIu64 " torn); batches among them: %" PRIu64 " (%" PRIu64 " applied whole)\n",
           t->in_flight, t->applied, t->not_applied, t->torn, t->batches_in_flight,
           t->batches_applied);
    printf("keys checked: %" PRIu64 "\n", t->keys_checked);
    printf("losses: %" PRIu64 ", phantoms: %" PRIu64 ", torn batches: %" PRIu64
           ", failed calls: %" PRIu64 "\n",
           t->losses, t->phantoms, t->torn, t->errors);
}

int
main(int argc, char **argv)
{
    options o;
    parse_flags(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    char work[PATH_MAX - 64], data[PATH_MAX], log_path[PATH_MAX];
    bool temp = make_work_dir(&o, work, sizeof(work));
    snprintf(data, sizeof(data), "%s/data", work);
    snprintf(log_path, sizeof(log_path), "%s/server.log", work);

    crash_server srv = {.binary = o.server, .data_dir = data, .log_path = log_path};
    const char *fixed[] = {"--sync",
                           o.sync,
                           "--memtable-size",
                           "64K",
                           "--level1-target-size",
                           "128K",
                           "--sstable-target-size",
                           "64K",
                           "--log-level",
                           "info"};
    int n = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        srv.args[n++] = fixed[i];
    }
    for (int i = 0; i < o.server_arg_count; i++) {
        srv.args[n++] = o.server_args[i];
    }
    printf("lsmkv-crash: %" PRIu32 " rounds, %" PRIu32 " writers x %" PRIu32 " keys, sync %s, "
           "seed %" PRIu64 ", kill after 1..%" PRIu64 " writes; work dir %s\n",
           o.rounds, o.writers, o.keys, o.sync, o.seed, o.ops, work);
    fflush(stdout);

    kill_server_on_stop_signals(&srv);
    char err[512];
    if (!crash_server_start(&srv, START_TIMEOUT_MS, err, sizeof(err))) {
        fprintf(stderr, "lsmkv-crash: cannot start the server: %s\n", err);
        crash_process_print_tail(log_path, 4000);
        remove_work_dir(&o, temp, work, true);
        return 2;
    }
    crash_model *m = crash_model_new(o.writers, o.keys, o.max_filler);
    totals t = {0};
    uint32_t round = 0;
    bool ok = true;
    while (ok && round < o.rounds) {
        ok = run_round(&o, ++round, m, &srv, &t);
    }
    if (srv.pid != 0) {
        ok &= stop_and_verify(&o, &srv, work, data);
    }
    print_totals(&o, round, &t);
    crash_model_free(m);
    remove_work_dir(&o, temp, work, ok);
    printf("%s\n", ok ? "PASSED" : "FAILED");
    return ok ? 0 : 1;
}
