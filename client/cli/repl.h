/*
 * repl — lsmkv-cli's interactive prompt, in the manner of redis-cli: one
 * command per line, split into arguments with quotes and escapes
 * (escape_split_line), run through the command table (commands_run), results
 * shown for people: "OK", quoted values, "(nil)", "(error) CODE: message".
 * `quit`, `exit` or the end of input leave. The prompt ("lsmkv
 * 127.0.0.1:7420> ") is shown only when the input is a terminal; lines are
 * read plainly, without line editing, to keep lsmkv-cli free of a readline
 * dependency.
 */
#ifndef LSMKV_CLI_REPL_H
#define LSMKV_CLI_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "commands.h"

/* The prompt for url into buf: "lsmkv HOST:PORT> " for tcp://, else "lsmkv URL> ". */
void repl_prompt(const char *url, char *buf, size_t size);

/*
 * Runs one line: splits it and runs the command. Returns false when the
 * line asks to leave (quit, exit).
 */
bool repl_line(cli *c, const char *line, size_t len);

/*
 * Reads and runs lines from `in` until the end of input or quit/exit, showing
 * the prompt before each line when `prompt`. Errors are written to the output
 * stream, in line with the results. Returns exit status 0.
 */
int repl_run(cli *c, FILE *in, bool prompt);

#endif
