/*
 * Manifest: reads and atomically replaces the store's MANIFEST file, the
 * record of which SSTables are live and how much of the WAL they cover. The
 * file format is in proto/lsmkv/v1/manifest.proto (a checksummed header around
 * a protobuf-c encoded Manifest message). This is the only engine file that
 * uses generated protobuf-c code.
 */
#ifndef LSMKV_ENGINE_MANIFEST_H
#define LSMKV_ENGINE_MANIFEST_H

#include "buffer.h"
#include "lsmkv/lsmkv.h"

#define MANIFEST_MAGIC          "LSMKVMAN"
#define MANIFEST_FORMAT_VERSION 1
#define MANIFEST_HEADER_BYTES   20
#define MANIFEST_CHECKSUM_SEED  UINT64_C(0x4d414e4946455354) /* "MANIFEST" */

typedef struct manifest_state {
    uint64_t next_file_number;
    uint64_t last_sequence;
    uint64_t log_number;
    size_t table_count;
    lsmkv_table_info *tables; /* owned, keys included */
} manifest_state;

void manifest_state_init(manifest_state *s);
/* Frees the tables; the struct itself is the caller's. */
void manifest_state_fini(manifest_state *s);

/* Encodes s (header included) into out, replacing its contents. */
void manifest_encode(const manifest_state *s, buffer *out);

/*
 * Decodes a whole manifest file's bytes into *out (which must be initialised
 * and is overwritten, on success only). LSMKV_CORRUPTION with a message on a
 * short or empty input, wrong magic, unknown version, bad checksum or protobuf
 * that does not parse, and on a table set that contradicts itself: a duplicate
 * table id, an id >= next_file_number, a level >= LSMKV_MAX_LEVELS, more
 * tombstones than entries, an empty key in a table with entries, or
 * min_key > max_key. `what` (e.g. the file path) starts the message.
 */
int manifest_decode(slice data, const char *what, manifest_state *out, lsmkv_error *err);

/*
 * Reads dir/MANIFEST. LSMKV_NOT_FOUND if the file does not exist (a new
 * store); LSMKV_CORRUPTION naming the file if it is empty or damaged.
 */
int manifest_read(const char *dir, manifest_state *out, lsmkv_error *err);

/*
 * Replaces dir/MANIFEST with s atomically (file.h: file_write_atomic): after a
 * failure or a crash, dir/MANIFEST is the old file or the new one, whole.
 * LSMKV_INVALID_ARGUMENT, writing nothing, if s breaks a rule manifest_decode
 * checks (a manifest the next open would reject); I/O codes otherwise.
 */
int manifest_write(const char *dir, const manifest_state *s, lsmkv_error *err);

#endif
