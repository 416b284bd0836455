#include "repl.h"

#include <stdlib.h>
#include <string.h>

void
repl_prompt(const char *url, char *buf, size_t size)
{
    const char *shown = url;
    if (strncmp(url, "tcp://", 6) == 0) {
        shown = url + 6;
    }
    snprintf(buf, size, "lsmkv %s> ", shown);
}

bool
repl_line(cli *c, const char *line, size_t len)
{
    cli_arg *args;
    size_t count;
    const char *error;
    if (!escape_split_line(line, len, &args, &count, &error)) {
        output_error(&c->output, LSMKV_CLIENT_INVALID_ARGUMENT, error);
        return true;
    }
    bool go_on = true;
    if (count > 0 && (escape_arg_is(&args[0], "quit") || escape_arg_is(&args[0], "exit"))) {
        go_on = false;
    } else {
        commands_run(c, args, count);
    }
    escape_args_free(args, count);
    fflush(c->output.out);
    return go_on;
}

int
repl_run(cli *c, FILE *in, bool prompt)
{
    c->interactive = true;
    c->output.raw = false;
    c->output.err = c->output.out;
    char prompt_text[512];
    repl_prompt(c->url, prompt_text, sizeof(prompt_text));
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (prompt) {
            fputs(prompt_text, c->output.out);
            fflush(c->output.out);
        }
        ssize_t n = getline(&line, &cap, in);
        if (n < 0) {
            if (prompt) {
                fputc('\n', c->output.out);
            }
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            n--;
        }
        if (!repl_line(c, line, (size_t)n)) {
            break;
        }
    }
    free(line);
    return CLI_EXIT_OK;
}
