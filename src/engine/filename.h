/*
 * The names of every file in a store directory, built and parsed in one place.
 *
 *   000123.wal    write-ahead log segment (one per memtable)
 *   000124.sst    SSTable
 *   MANIFEST      the live table set (proto/lsmkv/v1/manifest.proto)
 *   MANIFEST.tmp  a manifest being written; garbage if found at open
 *   LOCK          held (flock) while a process has the store open
 *
 * WAL segments and SSTables share one counter of file numbers.
 */
#ifndef LSMKV_ENGINE_FILENAME_H
#define LSMKV_ENGINE_FILENAME_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Capacity of every path buffer; the store refuses longer directory names. */
#define FILENAME_PATH_MAX      4096
#define FILENAME_DIR_MAX       (FILENAME_PATH_MAX - 64)
#define FILENAME_MANIFEST      "MANIFEST"
#define FILENAME_MANIFEST_TEMP "MANIFEST.tmp"
#define FILENAME_LOCK          "LOCK"

typedef enum file_kind {
    FILE_KIND_UNKNOWN,
    FILE_KIND_WAL,
    FILE_KIND_TABLE,
    FILE_KIND_MANIFEST,
    FILE_KIND_TEMP, /* MANIFEST.tmp or any *.tmp */
    FILE_KIND_LOCK,
} file_kind;

/* dir/NNNNNN.wal into out[FILENAME_PATH_MAX]. */
void filename_wal(char *out, const char *dir, uint64_t number);
/* dir/NNNNNN.sst into out[FILENAME_PATH_MAX]. */
void filename_table(char *out, const char *dir, uint64_t number);
/* dir/name into out[FILENAME_PATH_MAX]. */
void filename_join(char *out, const char *dir, const char *name);

/* What a directory entry is; *number is set for WAL and table files. */
file_kind filename_parse(const char *name, uint64_t *number);

#endif
