/*
 * SSTable reader: one open table file. Opening reads and verifies the footer,
 * properties, index and bloom blocks and keeps them in memory; data blocks are
 * read with pread on demand (or found in a shared block cache) and verified
 * against their checksum, and decompressed, on every read from the file.
 * A checksum mismatch is LSMKV_CORRUPTION for that read only: the reader stays
 * usable for other keys. Safe for concurrent use by many threads.
 */
#ifndef LSMKV_ENGINE_SSTABLE_READER_H
#define LSMKV_ENGINE_SSTABLE_READER_H

#include "block_cache.h"
#include "internal_key.h"
#include "iterator.h"
#include "sstable_format.h"
#include "lsmkv/lsmkv.h"

typedef struct sstable_reader sstable_reader;

/* LSMKV_CORRUPTION (naming the file) if any metadata block or the footer is bad. */
int sstable_reader_open(const char *path, sstable_reader **out, lsmkv_error *err);
/* NULL is a no-op. */
void sstable_reader_free(sstable_reader *r);

/*
 * Reads data blocks through cache (shared; must outlive the reader), where
 * file_number names this table. Call before the reader is shared.
 */
void sstable_reader_set_cache(sstable_reader *r, block_cache *cache, uint64_t file_number);

/*
 * Reads data blocks from a memory map of the file from now on: no syscall
 * and no copy per block (an uncompressed block is used where it lies, its
 * checksum verified on its first use and trusted after, as a cached block
 * is), but an I/O error, or the file shrinking under the store, then ends
 * the process with SIGBUS instead of returning an error. Call before the
 * reader is shared.
 */
int sstable_reader_map(sstable_reader *r, lsmkv_error *err);

const sstable_properties *sstable_reader_properties(const sstable_reader *r);
const char *sstable_reader_path(const sstable_reader *r);

/* Bloom filter check; user_key_hash = hash64(user key). true if there is no filter. */
bool sstable_reader_may_contain(const sstable_reader *r, uint64_t user_key_hash);

/*
 * Finds the newest version of user_key with sequence <= snapshot. Consults the
 * bloom filter first (user_key_hash = hash64(user_key)). On LSMKV_OK,
 * result->found says whether a version (value or tombstone) was found; if so
 * type, sequence and value are set.
 */
int sstable_reader_get(sstable_reader *r, slice user_key, uint64_t user_key_hash, uint64_t snapshot,
                       lookup_result *result, lsmkv_error *err);

/* An iterator over every entry; r must outlive it. */
iterator *sstable_reader_iterator_new(sstable_reader *r);

/* The same for a one-pass scan (compaction): blocks it reads are not cached. */
iterator *sstable_reader_scan_iterator_new(sstable_reader *r);

/* ---- inspection (lsmkv-dump): the file's structure, block by block ---------- */

/* The footer's block handles, as verified at open. */
const sstable_footer *sstable_reader_footer(const sstable_reader *r);

/* The bloom filter block (bloom.h layout), valid as long as r; empty if none. */
slice sstable_reader_bloom(const sstable_reader *r);

/*
 * An iterator over the index block, one entry per data block in file order:
 * key = the block's last internal key, value = its handle (decode with
 * sstable_handle_decode). r must outlive it.
 */
iterator *sstable_reader_index_iterator_new(sstable_reader *r);

/*
 * Reads the block at h from the file (never from the cache or a map),
 * verifies its checksum and decompresses it: on success *contents (an
 * initialized buffer) is replaced by the block's entries and *compression
 * receives its trailer's compression byte. LSMKV_CORRUPTION saying what is
 * wrong (outside the file, checksum mismatch, does not decompress) naming
 * the file and the block's offset.
 */
int sstable_reader_read_block(sstable_reader *r, sstable_handle h, buffer *contents,
                              int *compression, lsmkv_error *err);

#endif
