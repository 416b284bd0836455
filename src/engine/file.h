/*
 * Every file syscall the engine makes goes through here: a buffered
 * append-only writer, a positional reader, and directory operations. This is
 * the seam where tests inject faults (see file_set_fault_hook). Every function
 * retries EINTR and short writes, and names the file in its error message.
 */
#ifndef LSMKV_ENGINE_FILE_H
#define LSMKV_ENGINE_FILE_H

#include "buffer.h"
#include "lsmkv/lsmkv.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- fault injection (tests only) ------------------------------------------ */

typedef enum file_op {
    FILE_OP_OPEN,  /* creating or opening a file */
    FILE_OP_WRITE, /* handing bytes to the OS */
    FILE_OP_SYNC,  /* fdatasync of a file */
    FILE_OP_READ,
    FILE_OP_RENAME,
    FILE_OP_REMOVE,
    FILE_OP_TRUNCATE,
    FILE_OP_SYNC_DIR,
} file_op;

/* Called before each operation; returns an errno value to fail it with, or 0. */
typedef int (*file_fault_fn)(void *ctx, file_op op, const char *path);

/* Installs (or with NULL removes) the process-wide hook. Not for production. */
void file_set_fault_hook(file_fault_fn fn, void *ctx);

/*
 * Short writes, as a disk that fills up in the middle of a write: called
 * before each write handed to the OS (after the fault hook let it through),
 * with its length. Returning n < len writes only the first n bytes for real
 * and then fails the write with *error (an errno value; ENOSPC if left 0);
 * returning len or more lets the write through whole.
 */
typedef size_t (*file_short_write_fn)(void *ctx, const char *path, size_t len, int *error);

/* Installs (or with NULL removes) the process-wide short-write hook. Not for production. */
void file_set_short_write_hook(file_short_write_fn fn, void *ctx);

/* ---- power-loss simulation (tests only) -------------------------------------
 *
 * While tracking is on, this layer remembers what a power cut would keep, and
 * file_power_loss_simulate rolls a directory tree back to exactly that. The
 * model is what POSIX promises (and ext4 or xfs keep), nothing more:
 *
 *  - Data. A file keeps its bytes up to its size at its last
 *    file_writer_sync or file_truncate; bytes appended since are lost. A file
 *    (re)opened with file_writer_open counts as empty until it is synced.
 *    Files that existed when tracking began, or that this layer never wrote,
 *    count as synced whole. (The engine only appends to and truncates files,
 *    so "the first n bytes" describes every state a file can be in.)
 *  - Names. A creation (file_writer_open, file_mkdir), a rename
 *    (file_rename, file_write_atomic) or a removal (file_remove) changes a
 *    directory, and survives only once that directory is synced with
 *    file_sync_dir (for a rename: the directory of the new name). Syncing a
 *    file does not make its name durable. Undoing a change: a created file
 *    or directory disappears (a directory with everything in it); a renamed
 *    file goes back to its old name, and the new name gets back what it held
 *    before (if anything); a removed file comes back with its durable bytes.
 *  - The cut. file_power_loss_simulate stops the machine: from then on
 *    every call that would change a file (open for writing, write, sync,
 *    rename, remove, truncate, directory sync, mkdir) fails with EIO and
 *    changes nothing, until file_power_loss_end. So a store still running
 *    when the power goes can write nothing more; close it (its calls fail),
 *    end tracking, and open it again as after a reboot. Every tracked call
 *    holds the tracker's lock across its syscall, so the cut falls wholly
 *    before or wholly after each call, whatever thread makes it; the cut may
 *    be made from inside a fault hook (the hooked call then fails with EIO).
 *
 * With seed 0 every unsynced byte and every unsynced directory change is
 * lost (the harshest outcome). With another seed, chosen pseudo-randomly
 * from it, each file keeps a prefix of its unsynced tail (pages written back
 * before the cut), and the oldest few unsynced directory changes survive in
 * the order they were made (a journal committed up to some point).
 *
 * Not modelled: bytes persisted out of order or as garbage; directory
 * changes made without this layer (the LOCK file, test code); ".", ".." or
 * symbolic links in names (directories are compared as the strings the
 * engine uses, "dir" for "dir/name"). Tracking costs a lock and some copying
 * per call: tests only. Production pays one NULL check per call.
 */

/* Starts tracking (power on, everything on disk now counts as durable). Call
 * while no store is open: no other thread may be inside this layer. */
void file_power_loss_begin(void);

/*
 * Rolls every file and directory under dir back to what would survive a power
 * cut now (see above), then turns the power off. LSMKV_INVALID_ARGUMENT if
 * tracking is off or the power is already off; an I/O code if the rollback
 * itself fails.
 */
int file_power_loss_simulate(const char *dir, uint64_t seed, lsmkv_error *err);

/* Stops tracking and turns the power back on. Call while no store is open. */
void file_power_loss_end(void);

/* ---- append-only writer ---------------------------------------------------- */

typedef struct file_writer file_writer;

/*
 * Creates path for writing. exclusive: fail if it exists (O_EXCL); otherwise
 * an existing file is truncated. *out is set on success only.
 */
int file_writer_open(const char *path, bool exclusive, file_writer **out, lsmkv_error *err);

/*
 * Like file_writer_open, but appends are copied into a shared memory map of
 * the file rather than written with write(2): no syscall per append, and a
 * process crash still loses nothing appended (the pages belong to the OS).
 * Blocks are allocated ahead in steps of 1 MiB, so a full disk fails an
 * append with ENOSPC rather than killing the process with SIGBUS. Until
 * file_writer_trim or file_writer_close, the file ends in zeros past the last
 * append (less than 1 MiB of them): whoever reads it must take a zero tail
 * for its end.
 */
int file_writer_open_mapped(const char *path, bool exclusive, file_writer **out, lsmkv_error *err);

/* Buffers len bytes (large appends go straight to the OS). */
int file_writer_append(file_writer *w, const void *data, size_t len, lsmkv_error *err);

/* Hands every buffered byte to the OS (survives a process crash, not power loss). */
int file_writer_flush(file_writer *w, lsmkv_error *err);

/* Flushes, then fdatasync: the bytes survive power loss. */
int file_writer_sync(file_writer *w, lsmkv_error *err);

/*
 * Starts writing [offset, offset + len) of what was appended back to disk,
 * without waiting (sync_file_range): a later sync then has less left to do.
 * No durability promise by itself. Bytes still buffered are not included.
 * A mapped writer first unmaps the whole pages of the range that appends are
 * done with (the page cache keeps them), so writeback need not write-protect
 * them one by one.
 */
void file_writer_start_writeback(file_writer *w, uint64_t offset, uint64_t len);

/* Bytes appended so far, buffered or not. */
uint64_t file_writer_size(const file_writer *w);

const char *file_writer_path(const file_writer *w);

/*
 * A mapped writer: cuts off the zeros reserved past the last append (not
 * synced; appending later reserves again). Other writers: nothing to do.
 */
int file_writer_trim(file_writer *w, lsmkv_error *err);

/* Flushes (or trims) and closes; frees w whatever happens. NULL is a no-op. */
int file_writer_close(file_writer *w, lsmkv_error *err);

/* ---- positional reader ------------------------------------------------------ */

typedef struct file_reader file_reader;

int file_reader_open(const char *path, file_reader **out, lsmkv_error *err);

/*
 * Reads exactly len bytes at offset into dst; safe from many threads at once.
 * A range past the end of the file is LSMKV_CORRUPTION (the formats never point
 * there unless damaged).
 */
int file_reader_read(file_reader *r, uint64_t offset, size_t len, uint8_t *dst, lsmkv_error *err);

/*
 * Maps the whole file read-only (once; later calls return the same mapping,
 * which lives until the reader is closed). Reading mapped memory costs no
 * syscall or copy, but an I/O error or a file shrunk by someone else then
 * raises SIGBUS instead of an error code: the caller chooses.
 */
int file_reader_map(file_reader *r, const uint8_t **data, lsmkv_error *err);

/*
 * Whether every page of [data, data + len) inside a mapping is in memory
 * (mincore), so that reading it takes no disk I/O. False when it cannot tell
 * (a range of more than 64 pages, an error).
 */
bool file_map_resident(const uint8_t *data, size_t len);

uint64_t file_reader_size(const file_reader *r);
const char *file_reader_path(const file_reader *r);
void file_reader_close(file_reader *r);

/* ---- whole files and directories ------------------------------------------- */

/* Replaces *out's contents with the whole file. */
int file_read_all(const char *path, buffer *out, lsmkv_error *err);

/*
 * Replaces dir/name atomically: writes dir/temp_name, fsyncs it, renames it
 * over dir/name, fsyncs dir. A crash leaves either the old or the new file.
 */
int file_write_atomic(const char *dir, const char *name, const char *temp_name, const void *data,
                      size_t len, lsmkv_error *err);

int file_rename(const char *from, const char *to, lsmkv_error *err);
/* Removing a file that does not exist is OK. */
int file_remove(const char *path, lsmkv_error *err);
/* Truncates path to size and fsyncs it. */
int file_truncate(const char *path, uint64_t size, lsmkv_error *err);
int file_sync_dir(const char *dir, lsmkv_error *err);
/*
 * Creates dir (and missing parents), fsyncing the parent of each directory it
 * creates so that the new name survives power loss. An existing directory is OK.
 */
int file_mkdir(const char *dir, lsmkv_error *err);
bool file_exists(const char *path);

/* Names in dir (no "." or ".."); free with file_list_free. */
int file_list_dir(const char *dir, char ***names, size_t *count, lsmkv_error *err);
void file_list_free(char **names, size_t count);

/*
 * Takes an exclusive lock on path (created if missing): LSMKV_BUSY if another
 * open file description holds it, in this process or another. The lock lives
 * as long as *fd_out is open.
 */
int file_lock(const char *path, int *fd_out, lsmkv_error *err);
void file_unlock(int fd);

#endif
