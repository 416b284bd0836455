/*
 * lsmkv-crash's child processes: spawned with their output appended to a
 * file, reaped with a deadline (on a pidfd where the kernel has them, so a
 * wait ends the moment the child exits).
 */
#ifndef LSMKV_TOOLS_CRASH_PROCESS_H
#define LSMKV_TOOLS_CRASH_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* Starts argv (argv[0] the program's path) with stdin from /dev/null and stdout
 * and stderr appended to out_path, every signal unblocked. Returns its pid, or 0
 * (with the reason on stderr). */
pid_t crash_process_spawn(const char *const *argv, const char *out_path);

/* Reaps pid within timeout_ms: its exit code, or 128 + the signal that ended it;
 * -1 if it still runs (it is left running). */
int crash_process_wait(pid_t pid, int timeout_ms);

/* Spawns argv and waits up to timeout_ms for it: its status as crash_process_wait
 * gives it, or -1 if it could not start or had to be killed. */
int crash_process_run(const char *const *argv, const char *out_path, int timeout_ms);

/* The last max_bytes of a file (from a line start) to stderr, indented. */
void crash_process_print_tail(const char *path, size_t max_bytes);

#endif
