/*
 * lsmkv-server's command line: the flags, their defaults, their validation and
 * the --help text, all from one table in config.c. Parsing has no global state
 * (no getopt), so tests can parse as many command lines as they like.
 */
#ifndef LSMKV_SERVER_CONFIG_H
#define LSMKV_SERVER_CONFIG_H

#include "lsmkv/lsmkv.h"
#include "server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_DEFAULT_LISTEN   "tcp://127.0.0.1:7420"
#define CONFIG_DEFAULT_DATA_DIR "./lsmkv-data"
#define CONFIG_MAX_LISTEN       16
/* Enough requests in flight that concurrent writers share one WAL fsync. */
#define CONFIG_DEFAULT_WORKERS 32
#define CONFIG_MAX_WORKERS     1024
/* The largest message a client needs: the largest key (64 KiB) and value
 * (16 MiB) the store accepts, plus 64 KiB for the envelope and field headers. */
#define CONFIG_DEFAULT_MAX_MESSAGE ((64u << 10) + (16u << 20) + (64u << 10))

typedef struct config {
    const char *listen[CONFIG_MAX_LISTEN]; /* borrowed from argv (or the default) */
    int listen_count;
    const char *data_dir;     /* borrowed from argv (or the default) */
    lsmkv_options store;      /* sync, memtable size, compression, cache, log level */
    size_t max_message_bytes; /* NNG_OPT_RECVMAXSZ */
    int workers;
    server_io_model io_model; /* hidden --io-model, for measuring (server.h) */
    bool help;                /* --help: print config_usage and exit 0 */
    bool version;             /* --version: print config_print_version and exit 0 */
} config;

/*
 * Parses argv[1..argc-1] into *cfg, starting from the defaults. Returns LSMKV_OK,
 * or LSMKV_INVALID_ARGUMENT with a one-line message in err (unknown flag,
 * missing or invalid value). cfg keeps pointers into argv.
 */
int config_parse(config *cfg, int argc, char *const *argv, lsmkv_error *err);

/* The --help text. */
void config_usage(FILE *out);

/* The --version line(s): server, nng and protobuf-c versions. */
void config_print_version(FILE *out);

/*
 * Parses a byte count: decimal digits with an optional K, M or G suffix
 * (powers of 1024; "KiB"/"KB" spellings accepted, case-insensitive).
 * Returns false on anything else or on overflow.
 */
bool config_parse_bytes(const char *text, uint64_t *out);

const char *config_io_model_name(server_io_model model);
const char *config_sync_name(lsmkv_sync_mode mode);
const char *config_log_level_name(lsmkv_log_level level);
const char *config_compression_name(lsmkv_compression compression);

#endif
