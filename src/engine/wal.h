/*
 * WAL: the write-ahead log. One segment file per memtable (filename.h); every
 * write batch is appended as one record before it is applied to the memtable.
 *
 * Segment layout:
 *   header  = "LSMKVWAL" (8 bytes) | fixed32 format version (1) | fixed32 0
 *   record* = fixed32 checksum | fixed32 length | payload[length]
 * checksum = checksum32(payload, length, WAL_CHECKSUM_SEED ^ length): it covers
 * the length too, so a damaged length is caught. Records are not split or
 * padded; a record may be as large as the largest batch.
 *
 * Durability: wal_writer_append hands bytes to the OS (a process crash loses
 * nothing appended); wal_writer_sync makes them survive power loss. The store
 * batches concurrent writers into one append and one sync (group commit).
 * Appends are copies into a shared memory map of the segment (file.h,
 * file_writer_open_mapped): no syscall per write. Space is reserved ahead, so
 * the open segment ends in zeros past its last record until
 * wal_writer_seal cuts them off.
 *
 * Recovery (wal_replay): records are replayed in order. A segment whose rest
 * is zeros ends there: in the newest segment that is space reserved and never
 * written (a crash before the seal), not a loss. Otherwise, in the newest
 * segment the first bad record is taken as a torn tail: the file is truncated
 * there and the dropped byte count is logged. In an older segment (which was
 * sealed and synced whole before the next one began) a bad record, or a zero
 * tail, is LSMKV_CORRUPTION naming the file and offset.
 */
#ifndef LSMKV_ENGINE_WAL_H
#define LSMKV_ENGINE_WAL_H

#include "buffer.h"
#include "log.h"
#include "lsmkv/lsmkv.h"

#define WAL_MAGIC          "LSMKVWAL"
#define WAL_FORMAT_VERSION 1
#define WAL_HEADER_BYTES   16
#define WAL_RECORD_HEADER  8
#define WAL_CHECKSUM_SEED  UINT64_C(0x57414c5245434f52) /* "WALRECOR" */

/* ---- writer ----------------------------------------------------------------- */

typedef struct wal_writer wal_writer;

/*
 * Creates a new segment at path (it must not exist), writes the header, and
 * fsyncs the file and its directory so the segment itself survives power loss.
 */
int wal_writer_open(const char *path, wal_writer **out, lsmkv_error *err);

/* Appends the framing of one record holding payload to out (no I/O). */
void wal_frame_record(buffer *out, slice payload);

/*
 * Copies already framed records (one or more wal_frame_record outputs) into
 * the segment in one append: no syscall, except every 512 KiB the start of
 * their writeback. After a failure the segment's tail is undefined: the caller
 * must not append again (the store turns read-only).
 */
int wal_writer_append(wal_writer *w, slice framed, lsmkv_error *err);

/* fdatasync: everything appended so far survives power loss. */
int wal_writer_sync(wal_writer *w, lsmkv_error *err);

/*
 * Ends the segment: cuts off the space reserved past its last record, then
 * syncs it. The store seals a segment before it creates the next one, so only
 * the newest segment can end in zeros (recovery relies on it).
 */
int wal_writer_seal(wal_writer *w, lsmkv_error *err);

/* Bytes in the segment, header included. */
uint64_t wal_writer_size(const wal_writer *w);

/* Closes (sealed first when sync is true) and frees w. NULL is a no-op. */
int wal_writer_close(wal_writer *w, bool sync, lsmkv_error *err);

/* ---- reader ----------------------------------------------------------------- */

typedef enum wal_read_result {
    WAL_READ_RECORD,    /* *payload holds the next record */
    WAL_READ_END,       /* clean end of the segment */
    WAL_READ_BAD,       /* a record that is cut short or fails its checksum */
    WAL_READ_UNWRITTEN, /* the rest of the file is zeros: reserved, never written */
} wal_read_result;

typedef struct wal_reader wal_reader;

/* Opens a segment for reading (the whole file is read into memory). A file
 * shorter than the header, or of zeros only, reads as an empty segment (a
 * segment torn at creation); a wrong magic or version is LSMKV_CORRUPTION. */
int wal_reader_open(const char *path, wal_reader **out, lsmkv_error *err);

/*
 * Reads the next record. payload stays valid until the reader is closed. On
 * WAL_READ_BAD, detail (if not NULL) says what is wrong and where, and the
 * reader stays at the bad record.
 */
wal_read_result wal_reader_next(wal_reader *r, slice *payload, lsmkv_error *detail);

/* Offset of the record last returned, or of the bad record / end. */
uint64_t wal_reader_offset(const wal_reader *r);
/* Size of the segment file. */
uint64_t wal_reader_file_size(const wal_reader *r);
void wal_reader_close(wal_reader *r);

/* ---- recovery --------------------------------------------------------------- */

/* Called for each record's payload in order; a non-OK return stops the replay. */
typedef int (*wal_record_fn)(void *ctx, slice payload, lsmkv_error *err);

typedef struct wal_replay_info {
    uint64_t records;
    uint64_t valid_bytes;   /* where the replay stopped */
    uint64_t dropped_bytes; /* torn tail cut off (newest segment only) */
} wal_replay_info;

/*
 * Replays the segment at path through fn (see the header comment for the
 * policy on bad records). is_newest: this is the newest segment, whose torn
 * tail is truncated away (logged as a warning through lg).
 */
int wal_replay(const char *path, bool is_newest, wal_record_fn fn, void *ctx, wal_replay_info *info,
               const logger *lg, lsmkv_error *err);

#endif
