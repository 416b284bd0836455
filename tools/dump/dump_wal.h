/*
 * Reading a whole WAL segment record by record with the engine's wal_reader,
 * decoding each record's write batch, and noting where the readable records
 * end. Whether a bad tail is an error is the caller's call: in the newest
 * segment it is what a crash leaves (recovery cuts it off), anywhere else it
 * is damage.
 */
#ifndef LSMKV_TOOLS_DUMP_WAL_H
#define LSMKV_TOOLS_DUMP_WAL_H

#include "dump_issues.h"
#include "lsmkv/lsmkv.h"
#include "slice.h"

typedef struct dump_wal_record {
    uint64_t offset;   /* of the record's header in the file */
    uint64_t length;   /* header and payload */
    slice payload;     /* the encoded write batch */
    bool batch_ok;     /* the payload decodes as a write batch */
    uint64_t sequence; /* batch header (0 if the payload is too short for one) */
    uint32_t count;
} dump_wal_record;

typedef struct dump_wal {
    uint64_t file_size;
    bool header_torn; /* shorter than a header, or zeros: reads as an empty segment */
    uint64_t records;
    uint64_t ops;
    uint64_t puts;
    uint64_t deletes;
    uint64_t min_sequence; /* over every op, when ops > 0 */
    uint64_t max_sequence;
    uint64_t valid_bytes;    /* where the readable records end */
    bool torn;               /* bytes from valid_bytes to the end do not read */
    uint64_t reserved_bytes; /* zeros after the records: space the writer reserved
                                and never wrote (a segment still open, or the
                                newest one after a crash); 0 otherwise */
    char tail_reason[512];
    dump_issues issues; /* records whose batch does not decode (errors) */
} dump_wal;

typedef void (*dump_wal_record_fn)(void *ctx, const dump_wal_record *record);

void dump_wal_init(dump_wal *w);
void dump_wal_fini(dump_wal *w);

/*
 * Reads the segment at path into w (freshly initialized), calling fn (may be
 * NULL) for every readable record. Returns what wal_reader_open returned:
 * LSMKV_CORRUPTION for a header that is not a WAL segment's, I/O codes if the
 * file does not read; LSMKV_OK otherwise, damage or not.
 */
int dump_wal_scan(const char *path, dump_wal_record_fn fn, void *ctx, dump_wal *w,
                  lsmkv_error *err);

#endif
