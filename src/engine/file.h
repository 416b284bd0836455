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

/* ---- append-only writer ---------------------------------------------------- */

typedef struct file_writer file_writer;

/*
 * Creates path for writing. exclusive: fail if it exists (O_EXCL); otherwise
 * an existing file is truncated. *out is set on success only.
 */
int file_writer_open(const char *path, bool exclusive, file_writer **out, lsmkv_error *err);

/* Buffers len bytes (large appends go straight to the OS). */
int file_writer_append(file_writer *w, const void *data, size_t len, lsmkv_error *err);

/* Hands every buffered byte to the OS (survives a process crash, not power loss). */
int file_writer_flush(file_writer *w, lsmkv_error *err);

/* Flushes, then fdatasync: the bytes survive power loss. */
int file_writer_sync(file_writer *w, lsmkv_error *err);

/* Bytes appended so far, buffered or not. */
uint64_t file_writer_size(const file_writer *w);

const char *file_writer_path(const file_writer *w);

/* Flushes and closes; frees w whatever happens. NULL is a no-op. */
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
/* Creates dir (and missing parents). An existing directory is OK. */
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
