/*
 * commands — lsmkv-cli's command table and how a command line runs. One
 * table lists every command with its arguments, help and the KV method it
 * calls; --help, `help COMMAND`, argument checking and the prompt all read it,
 * and a unit test checks that every method of kv.proto's KV service has a
 * command, so the CLI cannot fall behind the contract.
 *
 * Exit codes (also the result of commands_run): 0 success, 1 the key of a
 * `get` (or a key of an `mget`) does not exist, 2 an error (bad usage, a
 * failed call).
 */
#ifndef LSMKV_CLI_COMMANDS_H
#define LSMKV_CLI_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "escape.h"
#include "lsmkv/client.h"
#include "output.h"

#define CLI_EXIT_OK     0
#define CLI_EXIT_ABSENT 1
#define CLI_EXIT_ERROR  2

#define CLI_DEFAULT_URL "tcp://127.0.0.1:7420"

/* The state of one lsmkv-cli run, shared by every command of a session. */
typedef struct cli {
    const char *url;
    uint32_t timeout_ms; /* of every call; 0: the library's default */
    bool interactive;    /* at the prompt: `-` is a literal value, not stdin */
    output output;
    FILE *in;             /* where `put KEY -` reads the value */
    lsmkv_client *client; /* opened by the first command that calls the server */
} cli;

/* Which options a command accepts (command.options). */
#define COMMAND_SYNC  1u /* --sync=MODE */
#define COMMAND_RANGE 2u /* --start S, --end E, --prefix P, --limit N, --keys-only */

/*
 * The options given on one command line, parsed by commands_run. Values are
 * borrowed from the arguments, taken literally (decoded from hex by the
 * command with --hex); an option not given is empty.
 */
typedef struct command_options {
    lsmkv_client_sync sync;
    cli_arg start;
    cli_arg end;
    cli_arg prefix;
    uint64_t limit; /* 0: none */
    bool keys_only;
} command_options;

/* A command: its name, the kv.proto method it calls (NULL: none), usage. */
typedef struct command {
    const char *name;
    const char *method;
    const char *usage; /* arguments, e.g. "KEY VALUE" */
    size_t min_args;
    size_t max_args;     /* SIZE_MAX: no limit */
    unsigned options;    /* COMMAND_* it accepts, besides --help */
    const char *summary; /* one line */
    const char *help;    /* more lines, each ending in \n */
    int (*run)(cli *c, const cli_arg *args, size_t count, const command_options *opts);
} command;

/* The table. */
size_t commands_count(void);
const command *commands_at(size_t index);
/* The command named `name`, or NULL. */
const command *commands_find(const cli_arg *name);

/*
 * Runs one command line: args[0] is the command's name, the rest its
 * arguments (taken literally, or as hex with --hex). `--help` prints the
 * command's help; `--` ends its options. Prints results and errors through
 * c->output and returns an exit code.
 */
int commands_run(cli *c, const cli_arg *args, size_t count);

/* The tool's help: usage, options, commands, exit codes, escapes. */
void commands_print_usage(FILE *out);
/* One command's usage and help. */
void commands_print_help(FILE *out, const command *cmd);

/* Closes the session's client, if one was opened. */
void commands_close(cli *c);

#endif
