#include "commands.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch_input.h"
#include "xalloc.h"

/* A key or value as the server gets it: borrowed, or decoded from hex/stdin. */
typedef struct bytes {
    const uint8_t *data;
    size_t len;
    uint8_t *owned;
} bytes;

static int run_help(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_put(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_get(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_delete(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_flush(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_compact(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_stats(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_scan(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_batch(cli *c, const cli_arg *args, size_t count, const command_options *opts);
static int run_mget(cli *c, const cli_arg *args, size_t count, const command_options *opts);

#define SYNC_HELP                                                                                  \
    "  --sync=MODE  always: the server fsyncs its log before answering; none: it\n"                \
    "               answers once the OS has the bytes; default: the server's --sync\n"

static const command table[] = {
    {"put", "Put", "[--sync=MODE] KEY VALUE", 2, 2, COMMAND_SYNC, "set KEY to VALUE",
     "VALUE '-' reads the value from standard input, binary-safe (not at the prompt).\n" SYNC_HELP,
     run_put},
    {"get", "Get", "KEY", 1, 1, 0, "print the value of KEY",
     "When standard output is not a terminal the value's bytes are written as they\n"
     "are, with no newline added; on a terminal it is quoted, with escapes (\"a\\x00b\").\n"
     "Exit status 1 (and \"(nil)\" on a terminal) when KEY does not exist.\n",
     run_get},
    {"delete", "Delete", "[--sync=MODE] KEY", 1, 1, COMMAND_SYNC, "delete KEY",
     "Deleting a key that does not exist is not an error.\n" SYNC_HELP, run_delete},
    {"scan", "Scan", "[--prefix P] [--start S] [--end E] [--limit N] [--keys-only]", 0, 0,
     COMMAND_RANGE, "list keys (and values) in order",
     "Prints one line per key: KEY, a tab and VALUE (KEY alone with --keys-only),\n"
     "escaped as quoted values are but without the quotes (a tab in a key is \\t);\n"
     "hex digits with --hex; with --json one object {\"pairs\":[...],\"count\":N}.\n"
     "  --start S    from key S (inclusive)       --end E     up to E (exclusive)\n"
     "  --prefix P   only keys beginning with P (combined with --start and --end)\n"
     "  --limit N    at most N pairs in all (default: the whole range)\n"
     "  --keys-only  leave the values out\n"
     "The range is read in pages, each at its own point in time: a long scan is not\n"
     "one snapshot of the store.\n",
     run_scan},
    {"batch", "Batch", "[--sync=MODE]", 0, 0, COMMAND_SYNC,
     "apply puts and deletes from stdin, all or none",
     "Reads one operation per line from standard input, then applies them all at\n"
     "once (atomically), or none if any line or operation is bad:\n"
     "  put KEY VALUE\n"
     "  del KEY\n"
     "Lines are split as at the prompt (\"double quotes\" with \\xHH escapes, 'single\n"
     "quotes'); with --hex KEY and VALUE are hex digits. Blank lines and lines\n"
     "starting with # are skipped. Not available at the prompt.\n" SYNC_HELP,
     run_batch},
    {"mget", "MultiGet", "KEY [KEY...]", 1, SIZE_MAX, 0, "print the values of several keys",
     "Reads every key at one point in time and prints one line per key: its value\n"
     "quoted, with escapes (hex with --hex), or (nil). Exit status 1 when any of\n"
     "the keys does not exist. At most 10000 keys.\n",
     run_mget},
    {"flush", "Flush", "", 0, 0, 0, "write the memtable to an SSTable",
     "Waits until every write acknowledged before is in an SSTable, and prints the\n"
     "table written (none when the memtable was empty).\n",
     run_flush},
    {"compact", "Compact", "", 0, 0, 0, "compact every SSTable",
     "A full, manual compaction: drops shadowed versions and tombstones. A big store\n"
     "may need a longer deadline (-t).\n",
     run_compact},
    {"stats", "Stats", "", 0, 0, 0, "print the server's counters",
     "Memtable, SSTables per level, operations, write amplification, stalls, cache,\n"
     "uptime and version; with --json every field of kv.proto's StatsResponse.\n",
     run_stats},
    {"help", NULL, "[COMMAND]", 0, 1, 0, "list the commands, or explain one", "", run_help},
};

#define TABLE_SIZE (sizeof(table) / sizeof(table[0]))

size_t
commands_count(void)
{
    return TABLE_SIZE;
}

const command *
commands_at(size_t index)
{
    return index < TABLE_SIZE ? &table[index] : NULL;
}

const command *
commands_find(const cli_arg *name)
{
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        if (escape_arg_is(name, table[i].name)) {
            return &table[i];
        }
    }
    return NULL;
}

/* ---- help ------------------------------------------------------------------------------ */

void
commands_print_help(FILE *out, const command *cmd)
{
    fprintf(out, "Usage: %s%s%s  (%s)\n%s", cmd->name, *cmd->usage ? " " : "", cmd->usage,
            cmd->summary, cmd->help);
    if (cmd->method != NULL) {
        fprintf(out, "Calls /lsmkv.v1.KV/%s.\n", cmd->method);
    }
}

static void
print_command_list(FILE *out)
{
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s %s", table[i].name, table[i].usage);
        fprintf(out, "  %-32s %s\n", head, table[i].summary);
    }
}

void
commands_print_usage(FILE *out)
{
    fputs("Usage: lsmkv-cli [OPTIONS] [COMMAND [ARGS...]]\n"
          "\n"
          "A command-line client for lsmkv-server. With no COMMAND it reads commands\n"
          "from an interactive prompt (one per line; \"help\", \"quit\").\n"
          "\n"
          "Options:\n"
          "  -a, --address URL  the server (default " CLI_DEFAULT_URL ", or $LSMKV_URL);\n"
          "                     tcp://HOST:PORT or ipc:///PATH\n"
          "  -t, --timeout MS   deadline of each call in milliseconds (default 5000)\n"
          "      --json         print results as JSON\n"
          "  -x, --hex          keys and values are given as hex digits, and printed so\n"
          "  -h, --help         this help; COMMAND --help or help COMMAND explains one\n"
          "  -V, --version      print the version\n"
          "\n"
          "Commands:\n",
          out);
    print_command_list(out);
    fputs("\n"
          "Keys and values on the command line are taken literally; use --hex for\n"
          "binary ones, and -- before a key that starts with \"--\". At the prompt,\n"
          "\"double quotes\" group words and understand \\xHH \\n \\r \\t \\a \\b \\\\ \\\",\n"
          "'single quotes' group words as they are. Values are printed quoted with\n"
          "non-printable bytes escaped (\"a\\x00b\"), except by get when standard output\n"
          "is not a terminal: then its raw bytes, with no newline added.\n"
          "\n"
          "Exit status: 0 success; 1 get (or mget) found no such key; 2 an error (usage,\n"
          "no connection, deadline exceeded, or an error status from the server).\n",
          out);
}

static int
unknown_command(cli *c, const cli_arg *name)
{
    char *message = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&message, &size);
    if (f == NULL) {
        abort();
    }
    fputs("unknown command ", f);
    escape_write(f, name->data, name->len > 40 ? 40 : name->len, true);
    fputs(name->len > 40 ? "... (try 'help')" : " (try 'help')", f);
    fclose(f);
    output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT, message);
    free(message);
    return CLI_EXIT_ERROR;
}

static int
run_help(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    if (count == 0) {
        fputs("Commands:\n", c->output.out);
        print_command_list(c->output.out);
        if (c->interactive) {
            fprintf(c->output.out, "  %-32s %s\n", "quit", "leave (also exit, end of input)");
        }
        fputs("Type help COMMAND for details.\n", c->output.out);
        return CLI_EXIT_OK;
    }
    const command *cmd = commands_find(&args[0]);
    if (cmd == NULL) {
        return unknown_command(c, &args[0]);
    }
    commands_print_help(c->output.out, cmd);
    return CLI_EXIT_OK;
}

/* ---- running a command ---------------------------------------------------------------- */

static int
usage_error(cli *c, const command *cmd, const char *what)
{
    char message[256];
    snprintf(message, sizeof(message), "%s for '%s' (usage: %s %s)", what, cmd->name, cmd->name,
             cmd->usage);
    output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT, message);
    return CLI_EXIT_ERROR;
}

static bool
parse_sync(const char *mode, lsmkv_client_sync *sync)
{
    static const char *const names[] = {"default", "always", "none"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(mode, names[i]) == 0) {
            *sync = (lsmkv_client_sync)i;
            return true;
        }
    }
    return false;
}

/* parse_option's results besides an exit code. */
#define OPTION_TAKEN   (-1)
#define OPTION_UNKNOWN (-2)

/*
 * Whether args[*i] is the option `name` with a value, given as "--name=V" or
 * "--name V" (then *i moves past V). *value borrows the value; its data is
 * NULL when the value is missing.
 */
static bool
value_option(const cli_arg *args, size_t count, size_t *i, const char *name, cli_arg *value)
{
    const cli_arg *a = &args[*i];
    size_t n = strlen(name);
    if (escape_arg_is(a, name)) {
        *value = *i + 1 < count ? args[++*i] : (cli_arg){0};
        return true;
    }
    if (a->len > n && memcmp(a->data, name, n) == 0 && a->data[n] == '=') {
        *value = (cli_arg){.data = a->data + n + 1, .len = a->len - n - 1};
        return true;
    }
    return false;
}

/* --limit's value: decimal digits, at least 1. */
static bool
parse_limit(const cli_arg *value, uint64_t *limit)
{
    uint64_t v = 0;
    for (size_t i = 0; i < value->len; i++) {
        unsigned digit = (unsigned)value->data[i] - '0';
        if (digit > 9 || v > (UINT64_MAX - digit) / 10) {
            return false;
        }
        v = v * 10 + digit;
    }
    *limit = v;
    return value->len > 0 && v > 0;
}

/* One of scan's range options at args[*i]. */
static int
parse_range_option(cli *c, const command *cmd, const cli_arg *args, size_t count, size_t *i,
                   command_options *opts)
{
    static const char *const names[] = {"--start", "--end", "--prefix"};
    cli_arg *targets[] = {&opts->start, &opts->end, &opts->prefix};
    cli_arg value;
    for (int k = 0; k < 3; k++) {
        if (value_option(args, count, i, names[k], &value)) {
            if (value.data == NULL) {
                char what[64];
                snprintf(what, sizeof(what), "%s needs a value", names[k]);
                return usage_error(c, cmd, what);
            }
            *targets[k] = value;
            return OPTION_TAKEN;
        }
    }
    if (value_option(args, count, i, "--limit", &value)) {
        if (value.data == NULL || !parse_limit(&value, &opts->limit)) {
            return usage_error(c, cmd, "--limit takes a number of pairs, 1 or more");
        }
        return OPTION_TAKEN;
    }
    if (escape_arg_is(&args[*i], "--keys-only")) {
        opts->keys_only = true;
        return OPTION_TAKEN;
    }
    return OPTION_UNKNOWN;
}

/* The option at args[*i]: OPTION_TAKEN, OPTION_UNKNOWN or an exit code. */
static int
parse_option(cli *c, const command *cmd, const cli_arg *args, size_t count, size_t *i,
             command_options *opts)
{
    const char *arg = (const char *)args[*i].data;
    if ((cmd->options & COMMAND_SYNC) && strncmp(arg, "--sync=", 7) == 0 &&
        strlen(arg) == args[*i].len) {
        if (!parse_sync(arg + 7, &opts->sync)) {
            return usage_error(c, cmd, "--sync takes always, none or default");
        }
        return OPTION_TAKEN;
    }
    if (cmd->options & COMMAND_RANGE) {
        return parse_range_option(c, cmd, args, count, i, opts);
    }
    return OPTION_UNKNOWN;
}

/*
 * Takes the command's options off the front of its arguments. Returns -1 to
 * go on, or an exit code to stop with (after --help, or a bad option).
 */
static int
parse_options(cli *c, const command *cmd, const cli_arg *args, size_t count, size_t *first,
              command_options *opts)
{
    size_t i = 0;
    for (; i < count; i++) {
        if (args[i].len < 2 || memcmp(args[i].data, "--", 2) != 0) {
            break;
        }
        if (escape_arg_is(&args[i], "--")) {
            i++;
            break;
        }
        if (escape_arg_is(&args[i], "--help")) {
            commands_print_help(c->output.out, cmd);
            return CLI_EXIT_OK;
        }
        int rc = parse_option(c, cmd, args, count, &i, opts);
        if (rc == OPTION_UNKNOWN) {
            return usage_error(c, cmd, "unknown option");
        }
        if (rc != OPTION_TAKEN) {
            return rc;
        }
    }
    *first = i;
    return -1;
}

int
commands_run(cli *c, const cli_arg *args, size_t count)
{
    if (count == 0) {
        return CLI_EXIT_OK;
    }
    const command *cmd = commands_find(&args[0]);
    if (cmd == NULL) {
        return unknown_command(c, &args[0]);
    }
    size_t first = 0;
    command_options opts = {.sync = LSMKV_CLIENT_SYNC_DEFAULT};
    int stop = parse_options(c, cmd, args + 1, count - 1, &first, &opts);
    if (stop >= 0) {
        return stop;
    }
    size_t n = count - 1 - first;
    if (n < cmd->min_args || n > cmd->max_args) {
        return usage_error(c, cmd, "wrong number of arguments");
    }
    return cmd->run(c, args + 1 + first, n, &opts);
}

void
commands_close(cli *c)
{
    lsmkv_client_close(c->client);
    c->client = NULL;
}

/* ---- the server's commands ------------------------------------------------------------ */

static int
open_client(cli *c)
{
    if (c->client != NULL) {
        return CLI_EXIT_OK;
    }
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    if (c->timeout_ms > 0) {
        options.timeout_ms = c->timeout_ms;
    }
    lsmkv_client_error err;
    if (lsmkv_client_open(c->url, &options, &c->client, &err) != LSMKV_CLIENT_OK) {
        output_error(&c->output, err.code, err.message);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

static int
call_failed(cli *c, const lsmkv_client_error *err)
{
    output_error(&c->output, err->code, err->message);
    return CLI_EXIT_ERROR;
}

/* A key or value argument, decoded from hex with --hex. */
static bool
arg_bytes(cli *c, const cli_arg *arg, const char *what, bytes *out)
{
    *out = (bytes){.data = arg->data, .len = arg->len};
    if (!c->output.hex) {
        return true;
    }
    if (!escape_hex_decode(arg->data, arg->len, &out->owned, &out->len)) {
        char message[128];
        snprintf(message, sizeof(message), "the %s is not hex digits (--hex)", what);
        output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT, message);
        return false;
    }
    out->data = out->owned;
    return true;
}

/* Reads all of c->in, up to the client's largest message. */
static bool
read_stdin(cli *c, bytes *out)
{
    size_t cap = 64 << 10, len = 0, limit = LSMKV_CLIENT_DEFAULT_MAX_MESSAGE_SIZE;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            uint8_t *grown = realloc(buf, cap);
            if (grown == NULL) {
                abort();
            }
            buf = grown;
        }
        size_t n = fread(buf + len, 1, cap - len, c->in);
        len += n;
        if (len > limit) {
            free(buf);
            output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT,
                         "the value on standard input is over 32 MiB");
            return false;
        }
        if (n == 0) {
            break;
        }
    }
    if (ferror(c->in)) {
        free(buf);
        output_error(&c->output, LSMKV_CLIENT_UNAVAILABLE, "cannot read standard input");
        return false;
    }
    *out = (bytes){.data = buf, .len = len, .owned = buf};
    return true;
}

static int
run_put(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    bytes key = {0}, value = {0};
    bool ok = arg_bytes(c, &args[0], "key", &key);
    if (ok && !c->interactive && escape_arg_is(&args[1], "-")) {
        ok = read_stdin(c, &value);
    } else if (ok) {
        ok = arg_bytes(c, &args[1], "value", &value);
    }
    int rc = ok ? open_client(c) : CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK) {
        uint64_t sequence;
        lsmkv_client_error err;
        if (lsmkv_client_put(c->client, key.data, key.len, value.data, value.len, opts->sync,
                             &sequence, &err) == LSMKV_CLIENT_OK) {
            output_write_ok(&c->output, sequence);
        } else {
            rc = call_failed(c, &err);
        }
    }
    free(key.owned);
    free(value.owned);
    return rc;
}

static int
run_get(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    bytes key;
    if (!arg_bytes(c, &args[0], "key", &key)) {
        return CLI_EXIT_ERROR;
    }
    int rc = open_client(c);
    if (rc == CLI_EXIT_OK) {
        uint8_t *value;
        size_t len;
        bool found;
        lsmkv_client_error err;
        if (lsmkv_client_get(c->client, key.data, key.len, &value, &len, &found, &err) ==
            LSMKV_CLIENT_OK) {
            output_value(&c->output, found, value, len);
            lsmkv_client_free(value);
            rc = found ? CLI_EXIT_OK : CLI_EXIT_ABSENT;
        } else {
            rc = call_failed(c, &err);
        }
    }
    free(key.owned);
    return rc;
}

static int
run_delete(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    bytes key;
    if (!arg_bytes(c, &args[0], "key", &key)) {
        return CLI_EXIT_ERROR;
    }
    int rc = open_client(c);
    if (rc == CLI_EXIT_OK) {
        uint64_t sequence;
        lsmkv_client_error err;
        if (lsmkv_client_delete(c->client, key.data, key.len, opts->sync, &sequence, &err) ==
            LSMKV_CLIENT_OK) {
            output_write_ok(&c->output, sequence);
        } else {
            rc = call_failed(c, &err);
        }
    }
    free(key.owned);
    return rc;
}

static int
run_flush(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    int rc = open_client(c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    lsmkv_client_table_list tables;
    lsmkv_client_error err;
    if (lsmkv_client_flush(c->client, &tables, &err) != LSMKV_CLIENT_OK) {
        return call_failed(c, &err);
    }
    output_tables(&c->output, &tables);
    lsmkv_client_table_list_fini(&tables);
    return CLI_EXIT_OK;
}

static int
run_compact(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    int rc = open_client(c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    lsmkv_client_compaction_result result;
    lsmkv_client_error err;
    if (lsmkv_client_compact(c->client, &result, &err) != LSMKV_CLIENT_OK) {
        return call_failed(c, &err);
    }
    output_compaction(&c->output, &result);
    lsmkv_client_compaction_result_fini(&result);
    return CLI_EXIT_OK;
}

static int
run_stats(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    int rc = open_client(c);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    lsmkv_client_stats stats;
    lsmkv_client_error err;
    if (lsmkv_client_get_stats(c->client, &stats, &err) != LSMKV_CLIENT_OK) {
        return call_failed(c, &err);
    }
    output_stats(&c->output, &stats);
    lsmkv_client_stats_fini(&stats);
    return CLI_EXIT_OK;
}

/* ---- scan, batch, mget --------------------------------------------------------------- */

typedef struct scan_printer {
    const output *output;
    bool keys_only;
    uint64_t count;
} scan_printer;

static bool
print_pair(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    scan_printer *p = ctx;
    output_scan_pair(p->output, p->count++, key, key_len, p->keys_only ? NULL : value, value_len);
    return true;
}

static int
run_scan(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    bytes start = {0}, end = {0}, prefix = {0};
    bool ok = arg_bytes(c, &opts->start, "start", &start) &&
              arg_bytes(c, &opts->end, "end", &end) &&
              arg_bytes(c, &opts->prefix, "prefix", &prefix);
    int rc = ok ? open_client(c) : CLI_EXIT_ERROR;
    if (rc == CLI_EXIT_OK) {
        lsmkv_client_range range = {
            .start = start.data,
            .start_len = start.len,
            .end = end.data,
            .end_len = end.len,
            .prefix = prefix.data,
            .prefix_len = prefix.len,
            .keys_only = opts->keys_only,
        };
        scan_printer printer = {.output = &c->output, .keys_only = opts->keys_only};
        lsmkv_client_error err;
        if (lsmkv_client_scan_each(c->client, &range, opts->limit, print_pair, &printer, NULL,
                                   &err) == LSMKV_CLIENT_OK) {
            output_scan_end(&c->output, printer.count);
        } else {
            rc = call_failed(c, &err); /* the pairs printed so far stay printed */
        }
    }
    free(start.owned);
    free(end.owned);
    free(prefix.owned);
    return rc;
}

static int
run_batch(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    if (c->interactive) {
        output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT,
                     "batch reads its operations from standard input, so it does not run at the "
                     "prompt; use: lsmkv-cli batch < FILE");
        return CLI_EXIT_ERROR;
    }
    batch_input input;
    char why[256];
    if (!batch_input_read(c->in, c->output.hex, LSMKV_CLIENT_DEFAULT_MAX_MESSAGE_SIZE, &input, why,
                          sizeof(why))) {
        output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT, why);
        return CLI_EXIT_ERROR;
    }
    int rc = open_client(c);
    if (rc == CLI_EXIT_OK) {
        uint64_t sequence;
        lsmkv_client_error err;
        if (lsmkv_client_batch(c->client, input.ops, input.count, opts->sync, &sequence, &err) ==
            LSMKV_CLIENT_OK) {
            output_batch_ok(&c->output, sequence, input.count);
        } else {
            rc = call_failed(c, &err);
        }
    }
    batch_input_fini(&input);
    return rc;
}

static int
run_mget(cli *c, const cli_arg *args, size_t count, const command_options *opts)
{
    bytes *keys = xcalloc(count, sizeof(*keys));
    const uint8_t **data = xcalloc(count, sizeof(*data));
    size_t *lens = xcalloc(count, sizeof(*lens));
    int rc = CLI_EXIT_OK;
    for (size_t i = 0; i < count && rc == CLI_EXIT_OK; i++) {
        rc = arg_bytes(c, &args[i], "key", &keys[i]) ? CLI_EXIT_OK : CLI_EXIT_ERROR;
        data[i] = keys[i].data;
        lens[i] = keys[i].len;
    }
    rc = rc == CLI_EXIT_OK ? open_client(c) : rc;
    if (rc == CLI_EXIT_OK) {
        lsmkv_client_value *values = xcalloc(count, sizeof(*values));
        lsmkv_client_error err;
        if (lsmkv_client_multi_get(c->client, count, data, lens, values, &err) == LSMKV_CLIENT_OK) {
            output_multi_get(&c->output, count, data, lens, values);
            for (size_t i = 0; i < count; i++) {
                rc = values[i].found ? rc : CLI_EXIT_ABSENT;
            }
        } else {
            rc = call_failed(c, &err);
        }
        lsmkv_client_values_fini(values, count);
        free(values);
    }
    for (size_t i = 0; i < count; i++) {
        free(keys[i].owned);
    }
    free(lens);
    free(data);
    free(keys);
    return rc;
}
