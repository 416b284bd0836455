/*
 * Power-loss tracking, the side file.c calls: file.h documents the model and
 * the functions tests use (file_power_loss_begin/simulate/end). Internal to
 * file.c and file_power_loss.c; no other component includes this.
 *
 * Every call that changes a file brackets its syscall with
 * file_power_loss_enter/leave and, while inside and only if it succeeded,
 * records its effect with one of the functions below. With tracking off
 * (production) the bracket costs one NULL check and records nothing.
 */
#ifndef LSMKV_ENGINE_FILE_POWER_LOSS_H
#define LSMKV_ENGINE_FILE_POWER_LOSS_H

#include "buffer.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct file_power_tracker file_power_tracker;

/* NULL unless a test turned tracking on (set while no other thread runs). */
extern file_power_tracker *file_power_loss_tracker;

/* Takes the tracker's lock; if the power is off, releases it and returns EIO. */
int file_power_loss_lock(void);
void file_power_loss_unlock(void);

static inline bool
file_power_loss_tracking(void)
{
    return file_power_loss_tracker != NULL;
}

/* 0 with the lock held (tracking on) or nothing held (off); EIO: power off. */
static inline int
file_power_loss_enter(void)
{
    return file_power_loss_tracking() ? file_power_loss_lock() : 0;
}

static inline void
file_power_loss_leave(void)
{
    if (file_power_loss_tracking()) {
        file_power_loss_unlock();
    }
}

/* ---- records: tracking on, lock held, right after the syscall succeeded ------- */

/* file_writer_open made path (existed: it was there, and is now truncated). */
void file_power_loss_opened(const char *path, bool existed);
/* path's first size bytes are durable (an fsync, or a truncate and fsync). */
void file_power_loss_synced(const char *path, uint64_t size);
/* from was renamed over to; old holds to's durable bytes if had_old (taken over). */
void file_power_loss_renamed(const char *from, const char *to, bool had_old, buffer *old);
/* path was removed; old holds its durable bytes (taken over). */
void file_power_loss_removed(const char *path, buffer *old);
/* Directory path was created. */
void file_power_loss_created_dir(const char *path);
/* dir was fsynced: the changes of its entries are durable. */
void file_power_loss_dir_synced(const char *dir);

/* Reads what of path would survive a cut now; false if it is no regular file. */
bool file_power_loss_durable_bytes(const char *path, buffer *out);

/* ---- helpers file.c lends the simulation -------------------------------------- */

/* The directory holding path ("." if none) into out[PATH_MAX]; trailing
 * slashes do not count ("a/b/" is in "a"). */
void file_parent_dir(const char *path, char *out);
/* write(2) until all of data is written; returns 0 or the errno. */
int file_write_all_raw(int fd, const uint8_t *data, size_t len);

#endif
