/*
 * lsmkv-dump: the subcommands and what they share. Each reads store files
 * with the engine's own readers (sstable_reader, wal_reader, manifest_read),
 * never by parsing formats itself, and never writes to what it inspects.
 *
 * Exit status of every subcommand: DUMP_EXIT_CLEAN when nothing is damaged
 * (warnings allowed), DUMP_EXIT_DAMAGED when damage was found, DUMP_EXIT_USAGE
 * for a bad command line or an input that cannot be read at all.
 */
#ifndef LSMKV_TOOLS_DUMP_H
#define LSMKV_TOOLS_DUMP_H

#include <stdbool.h>
#include <stdint.h>

#define DUMP_EXIT_CLEAN   0
#define DUMP_EXIT_DAMAGED 1
#define DUMP_EXIT_USAGE   2

/* Bytes of a key or value shown unless --full. */
#define DUMP_PREVIEW_BYTES 64

typedef struct dump_options {
    const char *path; /* FILE or DIR */
    bool json;
    bool entries;   /* sst: list the entries (default); wal: list the ops (default) */
    bool blocks;    /* sst: list every data block */
    bool full;      /* never cut keys and values */
    uint64_t limit; /* sst: entries listed; wal: records listed (UINT64_MAX: all) */
} dump_options;

int dump_sst_command(const dump_options *o);
int dump_wal_command(const dump_options *o);
int dump_manifest_command(const dump_options *o);
int dump_verify_command(const dump_options *o);

#endif
