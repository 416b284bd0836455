/*
 * SSTable builder: writes one table file (format in sstable_format.h) from
 * entries given in internal-key order, then fsyncs it. Making the file part of
 * the store is the manifest's job (sstable_manager.c), not the builder's.
 */
#ifndef LSMKV_ENGINE_SSTABLE_BUILDER_H
#define LSMKV_ENGINE_SSTABLE_BUILDER_H

#include "sstable_format.h"
#include "lsmkv/lsmkv.h"

typedef struct sstable_builder_options {
    size_t block_bytes;      /* data block target size */
    int bloom_bits_per_key;  /* 0: no bloom block */
    int compression;         /* data blocks: COMPRESSION_NONE, _LZ4 or _ZSTD (compression.h) */
    uint32_t format_version; /* 0: SSTABLE_FORMAT_VERSION; an older one only to test
                                that tables written before it are still read */
} sstable_builder_options;

typedef struct sstable_builder sstable_builder;

/* Creates path (it must not exist). */
int sstable_builder_open(const char *path, const sstable_builder_options *options,
                         sstable_builder **out, lsmkv_error *err);

/*
 * Adds one entry. internal_key must sort strictly after the previous one
 * (asserted). After an error the builder can only be abandoned.
 */
int sstable_builder_add(sstable_builder *b, slice internal_key, slice value, lsmkv_error *err);

uint64_t sstable_builder_entries(const sstable_builder *b);
/* Bytes the file would have if finished now (for splitting outputs). */
uint64_t sstable_builder_estimated_size(const sstable_builder *b);

/*
 * Writes the bloom, index and properties blocks and the footer, fsyncs and
 * closes the file, fills *props (may be NULL) and frees b. *props is
 * overwritten without being freed (pass it fresh from sstable_properties_init);
 * the caller then owns it and frees it with sstable_properties_fini. At least
 * one entry must have been added (else LSMKV_INVALID_ARGUMENT). On failure the
 * file is removed and b freed.
 */
int sstable_builder_finish(sstable_builder *b, sstable_properties *props, lsmkv_error *err);

/* Closes and removes the file, frees b. NULL is a no-op. */
void sstable_builder_abandon(sstable_builder *b);

#endif
