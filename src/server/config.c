/*
 * Command-line flags. Each flag is one row of `flags` below: its name, the
 * name of its value, the function that checks and stores the value, and its
 * --help line, so the help text cannot drift from what is parsed.
 */
#include "config.h"

#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The engine's accepted ranges (store.c options_validate), checked here too so
 * that a bad flag is a usage error (exit 2) rather than a failed open. */
#define MEMTABLE_MIN (64ull << 10)
#define MEMTABLE_MAX (1ull << 30)
#define TARGET_MIN   (64ull << 10) /* level1_target_bytes, sstable_target_bytes */
#define TARGET_MAX   (1ull << 40)
#define CACHE_MAX    (1ull << 40)
#define MESSAGE_MIN  (1ull << 10)
#define MESSAGE_MAX  (1ull << 30)

/* ---- names of enumerated values ------------------------------------------------- */

typedef struct name_value {
    const char *name;
    int value;
} name_value;

static const name_value sync_names[] = {
    {"always", LSMKV_SYNC_ALWAYS}, {"none", LSMKV_SYNC_NONE}, {NULL, 0}};
static const name_value log_level_names[] = {{"error", LSMKV_LOG_ERROR},
                                             {"warn", LSMKV_LOG_WARN},
                                             {"info", LSMKV_LOG_INFO},
                                             {"debug", LSMKV_LOG_DEBUG},
                                             {NULL, 0}};
static const name_value compression_names[] = {{"none", LSMKV_COMPRESSION_NONE},
                                               {"lz4", LSMKV_COMPRESSION_LZ4},
                                               {"zstd", LSMKV_COMPRESSION_ZSTD},
                                               {NULL, 0}};
static const name_value io_model_names[] = {
    {"callbacks", SERVER_IO_CALLBACKS}, {"threads", SERVER_IO_THREADS}, {NULL, 0}};

static const char *
name_of(const name_value *table, int value)
{
    for (; table->name != NULL; table++) {
        if (table->value == value) {
            return table->name;
        }
    }
    return "?";
}

/* Looks text up in table; on failure err lists the accepted names. */
static int
parse_name(const char *flag, const name_value *table, const char *text, int *out, lsmkv_error *err)
{
    char accepted[128] = "";
    for (const name_value *nv = table; nv->name != NULL; nv++) {
        if (strcmp(nv->name, text) == 0) {
            *out = nv->value;
            return LSMKV_OK;
        }
        size_t used = strlen(accepted);
        snprintf(accepted + used, sizeof(accepted) - used, "%s%s", used ? ", " : "", nv->name);
    }
    snprintf(err->message, sizeof(err->message), "--%s: '%s' is not one of: %s", flag, text,
             accepted);
    return err->code = LSMKV_INVALID_ARGUMENT;
}

const char *
config_io_model_name(server_io_model model)
{
    return name_of(io_model_names, model);
}

const char *
config_sync_name(lsmkv_sync_mode mode)
{
    return name_of(sync_names, mode);
}

const char *
config_log_level_name(lsmkv_log_level level)
{
    return name_of(log_level_names, level);
}

const char *
config_compression_name(lsmkv_compression compression)
{
    return name_of(compression_names, compression);
}

/* ---- numbers ---------------------------------------------------------------------- */

bool
config_parse_bytes(const char *text, uint64_t *out)
{
    if (!isdigit((unsigned char)text[0])) {
        return false; /* strtoull would accept spaces, signs and "0x" */
    }
    const char *p = text;
    uint64_t value = 0;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    unsigned shift = 0;
    switch (tolower((unsigned char)*p)) {
    case '\0':
        break;
    case 'k':
        shift = 10;
        break;
    case 'm':
        shift = 20;
        break;
    case 'g':
        shift = 30;
        break;
    default:
        return false;
    }
    if (shift != 0) {
        p++;
        if (strcasecmp(p, "") != 0 && strcasecmp(p, "b") != 0 && strcasecmp(p, "ib") != 0) {
            return false;
        }
        if (value > (UINT64_MAX >> shift)) {
            return false;
        }
        value <<= shift;
    }
    *out = value;
    return true;
}

static int
parse_bytes_in(const char *flag, const char *text, uint64_t lo, uint64_t hi, uint64_t *out,
               lsmkv_error *err)
{
    uint64_t value;
    if (!config_parse_bytes(text, &value)) {
        snprintf(err->message, sizeof(err->message),
                 "--%s: '%s' is not a byte count (digits with an optional K, M or G suffix)", flag,
                 text);
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    if (value < lo || value > hi) {
        snprintf(err->message, sizeof(err->message),
                 "--%s: %s is out of range; it must be between %" PRIu64 " and %" PRIu64 " bytes",
                 flag, text, lo, hi);
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    *out = value;
    return LSMKV_OK;
}

/* ---- one setter per flag ------------------------------------------------------------ */

static int
set_listen(config *cfg, const char *value, lsmkv_error *err)
{
    const char *sep = strstr(value, "://");
    if (sep == NULL || sep == value || sep[3] == '\0') {
        snprintf(err->message, sizeof(err->message),
                 "--listen: '%s' is not an address like tcp://127.0.0.1:7420 or "
                 "ipc:///tmp/lsmkv.sock",
                 value);
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    for (int i = 0; i < cfg->listen_count; i++) {
        if (strcmp(cfg->listen[i], value) == 0) {
            snprintf(err->message, sizeof(err->message), "--listen: %s is given twice", value);
            return err->code = LSMKV_INVALID_ARGUMENT;
        }
    }
    if (cfg->listen_count == CONFIG_MAX_LISTEN) {
        snprintf(err->message, sizeof(err->message), "--listen: at most %d addresses",
                 CONFIG_MAX_LISTEN);
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    cfg->listen[cfg->listen_count++] = value;
    return LSMKV_OK;
}

static int
set_data_dir(config *cfg, const char *value, lsmkv_error *err)
{
    if (*value == '\0') {
        snprintf(err->message, sizeof(err->message), "--data-dir: the directory is empty");
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    cfg->data_dir = value;
    return LSMKV_OK;
}

static int
set_sync(config *cfg, const char *value, lsmkv_error *err)
{
    int v;
    int rc = parse_name("sync", sync_names, value, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.sync = (lsmkv_sync_mode)v;
    }
    return rc;
}

static int
set_memtable_size(config *cfg, const char *value, lsmkv_error *err)
{
    uint64_t v;
    int rc = parse_bytes_in("memtable-size", value, MEMTABLE_MIN, MEMTABLE_MAX, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.memtable_bytes = (size_t)v;
    }
    return rc;
}

static int
set_level1_target_size(config *cfg, const char *value, lsmkv_error *err)
{
    uint64_t v;
    int rc = parse_bytes_in("level1-target-size", value, TARGET_MIN, TARGET_MAX, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.level1_target_bytes = v;
    }
    return rc;
}

static int
set_sstable_target_size(config *cfg, const char *value, lsmkv_error *err)
{
    uint64_t v;
    int rc = parse_bytes_in("sstable-target-size", value, TARGET_MIN, TARGET_MAX, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.sstable_target_bytes = v;
    }
    return rc;
}

static int
set_max_message_size(config *cfg, const char *value, lsmkv_error *err)
{
    uint64_t v;
    int rc = parse_bytes_in("max-message-size", value, MESSAGE_MIN, MESSAGE_MAX, &v, err);
    if (rc == LSMKV_OK) {
        cfg->max_message_bytes = (size_t)v;
    }
    return rc;
}

static int
set_block_cache_size(config *cfg, const char *value, lsmkv_error *err)
{
    uint64_t v;
    int rc = parse_bytes_in("block-cache-size", value, 0, CACHE_MAX, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.block_cache_bytes = (size_t)v;
    }
    return rc;
}

static int
set_workers(config *cfg, const char *value, lsmkv_error *err)
{
    char *end;
    long v = isdigit((unsigned char)value[0]) ? strtol(value, &end, 10) : -1;
    if (v < 1 || v > CONFIG_MAX_WORKERS || *end != '\0') {
        snprintf(err->message, sizeof(err->message),
                 "--workers: '%s' is not a number between 1 and %d", value, CONFIG_MAX_WORKERS);
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    cfg->workers = (int)v;
    return LSMKV_OK;
}

static int
set_log_level(config *cfg, const char *value, lsmkv_error *err)
{
    int v;
    int rc = parse_name("log-level", log_level_names, value, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.log_level = (lsmkv_log_level)v;
    }
    return rc;
}

static int
set_compression(config *cfg, const char *value, lsmkv_error *err)
{
    int v;
    int rc = parse_name("compression", compression_names, value, &v, err);
    if (rc == LSMKV_OK) {
        cfg->store.compression = (lsmkv_compression)v;
    }
    return rc;
}

static int
set_io_model(config *cfg, const char *value, lsmkv_error *err)
{
    int v;
    int rc = parse_name("io-model", io_model_names, value, &v, err);
    if (rc == LSMKV_OK) {
        cfg->io_model = (server_io_model)v;
    }
    return rc;
}

static int
set_help(config *cfg, const char *value, lsmkv_error *err)
{
    cfg->help = true;
    return LSMKV_OK;
}

static int
set_version(config *cfg, const char *value, lsmkv_error *err)
{
    cfg->version = true;
    return LSMKV_OK;
}

/* ---- the table ---------------------------------------------------------------------- */

typedef struct flag {
    const char *name;       /* without the leading "--" */
    const char *value_name; /* NULL: the flag takes no value */
    int (*set)(config *cfg, const char *value, lsmkv_error *err);
    const char *help; /* NULL: hidden from --help */
} flag;

static const flag flags[] = {
    {"listen", "URL", set_listen,
     "address to serve on; repeat for several (default " CONFIG_DEFAULT_LISTEN
     "; ipc:///path works too)"},
    {"data-dir", "DIR", set_data_dir,
     "the store's directory (default " CONFIG_DEFAULT_DATA_DIR "; created if missing)"},
    {"sync", "always|none", set_sync,
     "always: fsync the log before acknowledging a write (default); none: leave it to the OS"},
    {"memtable-size", "BYTES", set_memtable_size,
     "flush the memtable to an SSTable at this size (default 4M; 64K to 1G)"},
    {"level1-target-size", "BYTES", set_level1_target_size,
     "size target of compaction level 1; each deeper level's is 10 times more (default "
     "16M; 64K to 1T)"},
    {"sstable-target-size", "BYTES", set_sstable_target_size,
     "largest SSTable a compaction writes (default 64M; 64K to 1T)"},
    {"max-message-size", "BYTES", set_max_message_size,
     "largest request accepted and response sent: larger requests are dropped unanswered, "
     "Scan pages are cut to fit (default 16512K: the largest key and value plus 64K)"},
    {"workers", "N", set_workers,
     "requests handled at once; concurrent writes share one fsync (default 32)"},
    {"log-level", "error|warn|info|debug", set_log_level, "log detail on stderr (default info)"},
    {"compression", "none|lz4|zstd", set_compression,
     "compression of SSTable blocks written from now on (default none)"},
    {"block-cache-size", "BYTES", set_block_cache_size,
     "memory for recently read blocks; 0 disables (default 8M)"},
    {"io-model", "callbacks|threads", set_io_model,
     "callbacks: answer Gets from memory and writes that need no wait on nng's threads, "
     "the rest on workers (default); threads: a thread per context for every request"},
    {"version", NULL, set_version, "print the version and exit"},
    {"help", NULL, set_help, "print this help and exit"},
};

#define FLAG_COUNT (sizeof(flags) / sizeof(flags[0]))

static const flag *
find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < FLAG_COUNT; i++) {
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) {
            return &flags[i];
        }
    }
    return NULL;
}

static void
config_defaults(config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    lsmkv_options_init(&cfg->store);
    cfg->store.log_level = LSMKV_LOG_INFO;
    cfg->data_dir = CONFIG_DEFAULT_DATA_DIR;
    cfg->max_message_bytes = CONFIG_DEFAULT_MAX_MESSAGE;
    cfg->workers = CONFIG_DEFAULT_WORKERS;
    cfg->io_model = SERVER_IO_CALLBACKS; /* measured the faster: server.h */
}

static int
usage_error(lsmkv_error *err, const char *fmt, const char *arg)
{
    snprintf(err->message, sizeof(err->message), fmt, arg);
    return err->code = LSMKV_INVALID_ARGUMENT;
}

/* Parses argv[*i] (and its value, advancing *i past it). */
static int
parse_one(config *cfg, int argc, char *const *argv, int *i, lsmkv_error *err)
{
    const char *arg = argv[*i];
    if (strcmp(arg, "-h") == 0) {
        cfg->help = true;
        return LSMKV_OK;
    }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        return usage_error(err, "unexpected argument '%s'", arg);
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    const flag *f = find_flag(name, name_len);
    if (f == NULL) {
        snprintf(err->message, sizeof(err->message), "unknown flag '--%.*s'", (int)name_len, name);
        return err->code = LSMKV_INVALID_ARGUMENT;
    }
    const char *value = NULL;
    if (f->value_name == NULL) {
        if (eq != NULL) {
            return usage_error(err, "--%s takes no value", f->name);
        }
    } else if (eq != NULL) {
        value = eq + 1;
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    } else {
        return usage_error(err, "--%s needs a value", f->name);
    }
    return f->set(cfg, value, err);
}

int
config_parse(config *cfg, int argc, char *const *argv, lsmkv_error *err)
{
    lsmkv_error local;
    if (err == NULL) {
        err = &local;
    }
    config parsed;
    config_defaults(&parsed);
    for (int i = 1; i < argc; i++) {
        int rc = parse_one(&parsed, argc, argv, &i, err);
        if (rc != LSMKV_OK) {
            return rc;
        }
    }
    if (parsed.listen_count == 0) {
        parsed.listen[parsed.listen_count++] = CONFIG_DEFAULT_LISTEN;
    }
    *cfg = parsed;
    return LSMKV_OK;
}

void
config_usage(FILE *out)
{
    fprintf(out, "usage: lsmkv-server [FLAGS]\n\n"
                 "Serves an lsmkv store over nng req/rep (proto/lsmkv/v1/rpc.proto).\n"
                 "SIGINT or SIGTERM stops it: requests in flight are answered, the store is\n"
                 "closed, and it exits 0. BYTES take a K, M or G suffix.\n\nflags:\n");
    for (size_t i = 0; i < FLAG_COUNT; i++) {
        if (flags[i].help == NULL) {
            continue;
        }
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", flags[i].name, flags[i].value_name ? " " : "",
                 flags[i].value_name ? flags[i].value_name : "");
        fprintf(out, "  %-36s %s\n", left, flags[i].help);
    }
}

void
config_print_version(FILE *out)
{
    fprintf(out, "lsmkv-server %s (nng %s, protobuf-c %s)\n", lsmkv_version(), nng_version(),
            protobuf_c_version());
}
