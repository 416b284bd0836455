/*
 * lsmkv-server: parse flags, open the store, serve until SIGINT or SIGTERM,
 * answer what is in flight, close the store, exit 0.
 *
 * Exit codes: 0 after a clean stop (and for --help, --version); 1 when it
 * cannot start (store locked by another process, address in use, store
 * unreadable) or the store reports an error at close; 2 for bad flags.
 */
#include "config.h"
#include "log.h"
#include "rpc.h"
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void
log_settings(const config *cfg, const logger *lg)
{
    const lsmkv_options *o = &cfg->store;
    log_info(lg,
             "lsmkv-server %s starting: data dir %s, sync %s, memtable %zu bytes, compression "
             "%s, block cache %zu bytes, max key %zu bytes, max value %zu bytes, max message "
             "%zu bytes, %d workers, io model %s, log level %s",
             lsmkv_version(), cfg->data_dir, config_sync_name(o->sync), o->memtable_bytes,
             config_compression_name(o->compression), o->block_cache_bytes, o->max_key_bytes,
             o->max_value_bytes, cfg->max_message_bytes, cfg->workers,
             config_io_model_name(cfg->io_model), config_log_level_name(o->log_level));
    for (int i = 0; i < cfg->listen_count; i++) {
        log_info(lg, "listen address %s", cfg->listen[i]);
    }
    if (cfg->max_message_bytes < CONFIG_DEFAULT_MAX_MESSAGE) {
        log_warn(lg, "--max-message-size %zu is below the largest key and value the store takes",
                 cfg->max_message_bytes);
    }
}

static int
open_store(const config *cfg, lsmkv **db)
{
    lsmkv_error err = {0};
    int rc = lsmkv_open(cfg->data_dir, &cfg->store, db, &err);
    if (rc == LSMKV_BUSY) {
        fprintf(stderr,
                "lsmkv-server: the data directory %s is locked by another process (is another "
                "lsmkv-server running on it?)\n",
                cfg->data_dir);
    } else if (rc != LSMKV_OK) {
        fprintf(stderr, "lsmkv-server: cannot open the store in %s: %s\n", cfg->data_dir,
                err.message);
    }
    return rc;
}

/*
 * Serves until SIGINT or SIGTERM and returns the signal, with every request
 * received answered and the server stopped (*srv_out, still to be freed);
 * returns 0 if the server could not start.
 */
static int
serve(const config *cfg, rpc *r, const logger *lg, const sigset_t *stop_signals, server **srv_out)
{
    server_options so = {
        .urls = cfg->listen,
        .url_count = cfg->listen_count,
        .max_message_bytes = cfg->max_message_bytes,
        .workers = cfg->workers,
        .io_model = cfg->io_model,
        .log = lg,
    };
    server *srv;
    lsmkv_error err = {0};
    if (server_start(&so, r, &srv, &err) != LSMKV_OK) {
        fprintf(stderr, "lsmkv-server: %s\n", err.message);
        return 0;
    }
    int sig = 0;
    while (sigwait(stop_signals, &sig) != 0) {
    }
    log_info(lg, "received %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(srv);
    *srv_out = srv;
    return sig;
}

int
main(int argc, char **argv)
{
    config cfg;
    lsmkv_error err = {0};
    if (config_parse(&cfg, argc, argv, &err) != LSMKV_OK) {
        fprintf(stderr, "lsmkv-server: %s\n", err.message);
        fprintf(stderr, "usage: lsmkv-server [FLAGS]; 'lsmkv-server --help' lists them\n");
        return 2;
    }
    if (cfg.help || cfg.version) {
        cfg.help ? config_usage(stdout) : config_print_version(stdout);
        return 0;
    }
    /* Block the stop signals before any thread exists, so every thread (the
     * engine's, nng's, ours) inherits the mask and sigwait alone receives them.
     * Their default disposition first: a shell without job control starts
     * background commands with SIGINT ignored, and an ignored signal is
     * discarded, never reaching sigwait. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    logger lg = {.level = cfg.store.log_level};
    log_settings(&cfg, &lg);
    lsmkv *db;
    if (open_store(&cfg, &db) != LSMKV_OK) {
        return 1;
    }
    rpc_options ro = {
        .max_key_bytes = cfg.store.max_key_bytes,
        .max_value_bytes = cfg.store.max_value_bytes,
        .max_batch_bytes = cfg.store.max_batch_bytes,
        .max_message_bytes = cfg.max_message_bytes,
        .log = &lg,
    };
    rpc *r = rpc_new(db, &ro);
    server *srv = NULL;
    int sig = serve(&cfg, r, &lg, &stop_signals, &srv);
    /* Nothing touches the store once the server has stopped: close it first,
     * then tear down the transport. */
    rpc_free(r);
    int rc = lsmkv_close(db);
    if (rc != LSMKV_OK) {
        log_error(&lg, "closing the store reported %s", lsmkv_status_str(rc));
    } else if (sig != 0) {
        log_info(&lg, "store closed");
    }
    server_free(srv);
    if (sig == 0 || rc != LSMKV_OK) {
        return 1; /* the server did not start (the reason is printed), or close failed */
    }
    log_info(&lg, "exiting");
    return 0;
}
