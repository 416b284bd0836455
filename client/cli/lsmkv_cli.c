/*
 * lsmkv-cli — the command-line client of lsmkv-server:
 *
 *     lsmkv-cli [-a URL] [-t TIMEOUT_MS] [--json] [-x] COMMAND [ARGS...]
 *     lsmkv-cli [-a URL]                      (an interactive prompt)
 *
 * This file only reads the global options and hands over to the command
 * table (commands.c) or the prompt (repl.c); see commands_print_usage for
 * the whole story.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "repl.h"

enum { OPT_JSON = 256 };

static bool
parse_timeout(const char *text, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v == 0 || v > UINT32_MAX || *text == '-') {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* Reads the global options into c; returns -1 to go on, or an exit status. */
static int
parse_options(int argc, char **argv, cli *c)
{
    static const struct option options[] = {
        {"address", required_argument, NULL, 'a'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, OPT_JSON},
        {"hex", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    /* "+": stop at the command, so that its own options stay its own. */
    while ((opt = getopt_long(argc, argv, "+a:t:xhV", options, NULL)) != -1) {
        switch (opt) {
        case 'a':
            c->url = optarg;
            break;
        case 't':
            if (!parse_timeout(optarg, &c->timeout_ms)) {
                fprintf(stderr, "lsmkv-cli: -t takes a number of milliseconds > 0, not '%s'\n",
                        optarg);
                return CLI_EXIT_ERROR;
            }
            break;
        case OPT_JSON:
            c->output.json = true;
            break;
        case 'x':
            c->output.hex = true;
            break;
        case 'h':
            commands_print_usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("lsmkv-cli %s\n", lsmkv_client_version());
            return CLI_EXIT_OK;
        default:
            fputs("Try 'lsmkv-cli --help'.\n", stderr);
            return CLI_EXIT_ERROR;
        }
    }
    return -1;
}

/* Runs the command given on the command line, its arguments taken literally. */
static int
run_command(cli *c, int argc, char **argv)
{
    cli_arg *args = calloc((size_t)argc, sizeof(*args));
    if (args == NULL) {
        abort();
    }
    for (int i = 0; i < argc; i++) {
        args[i] = escape_arg_copy(argv[i], strlen(argv[i]));
    }
    int rc = commands_run(c, args, (size_t)argc);
    escape_args_free(args, (size_t)argc);
    return rc;
}

int
main(int argc, char **argv)
{
    const char *env_url = getenv("LSMKV_URL");
    cli c = {
        .url = env_url && *env_url ? env_url : CLI_DEFAULT_URL,
        .in = stdin,
        .output = {.out = stdout, .err = stderr},
    };
    int rc = parse_options(argc, argv, &c);
    if (rc >= 0) {
        return rc;
    }
    if (optind < argc) {
        c.output.raw = !isatty(STDOUT_FILENO);
        rc = run_command(&c, argc - optind, argv + optind);
    } else {
        rc = repl_run(&c, stdin, isatty(STDIN_FILENO));
    }
    commands_close(&c);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "lsmkv-cli: cannot write standard output: %s\n", strerror(errno));
        rc = CLI_EXIT_ERROR;
    }
    return rc;
}
