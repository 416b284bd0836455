#include "file.h"

#include "file_power_loss.h"
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_WRITER_BUFFER_BYTES (64 * 1024)
/*
 * A mapped writer reserves its file in steps of this many bytes. The file's
 * size (what ls and du show) includes the reserved zeros, so a fixed step
 * bounds them; doubling steps left up to 4 MiB of zeros at the end of a
 * 4 MiB memtable's segment. Each step costs an fallocate and a new map.
 */
#define FILE_MAP_RESERVE_STEP (1024 * 1024)

/* The hooks are set by single-threaded test code before the store runs. */
static file_fault_fn fault_fn;
static void *fault_ctx;
static file_short_write_fn short_write_fn;
static void *short_write_ctx;

void
file_set_fault_hook(file_fault_fn fn, void *ctx)
{
    fault_ctx = ctx;
    fault_fn = fn;
}

void
file_set_short_write_hook(file_short_write_fn fn, void *ctx)
{
    short_write_ctx = ctx;
    short_write_fn = fn;
}

/* Returns the errno a test wants this operation to fail with, or 0. */
static int
fault_check(file_op op, const char *path)
{
    return fault_fn != NULL ? fault_fn(fault_ctx, op, path) : 0;
}

/*
 * Enters a call that changes files: the fault hook, then the power-loss
 * tracker (file_power_loss.h), whose lock is then held until file_power_loss_leave.
 * Returns 0, or the errno to fail the call with (no lock held then).
 */
static int
op_begin(file_op op, const char *path)
{
    int injected = fault_check(op, path);
    return injected != 0 ? injected : file_power_loss_enter();
}

/* ---- writer ----------------------------------------------------------------- */

struct file_writer {
    int fd;
    char *path;
    uint64_t size; /* bytes appended, including those still buffered */
    buffer pending;
    bool mapped;        /* file_writer_open_mapped: appends go through map */
    uint8_t *map;       /* bytes [map_start, reserved) of the file, or NULL */
    uint64_t map_start; /* a page boundary: the pages before it are no longer mapped */
    uint64_t reserved;  /* allocated; the file's size while mapped */
};

/* mapped: open for reading too, which a shared writable map needs. */
static int
open_writer(const char *path, bool exclusive, bool mapped, file_writer **out, lsmkv_error *err)
{
    int injected = op_begin(FILE_OP_OPEN, path);
    if (injected) {
        return status_set_errno(err, injected, "create %s", path);
    }
    bool existed = file_power_loss_tracking() && access(path, F_OK) == 0;
    int flags = (mapped ? O_RDWR : O_WRONLY) | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
    int fd = open(path, flags, 0644);
    int e = errno;
    if (fd >= 0 && file_power_loss_tracking()) {
        file_power_loss_opened(path, existed);
    }
    file_power_loss_leave();
    if (fd < 0) {
        return status_set_errno(err, e, "create %s", path);
    }
    file_writer *w = xcalloc(1, sizeof(*w));
    w->fd = fd;
    w->path = xstrdup(path);
    buffer_init(&w->pending);
    w->mapped = mapped;
    *out = w;
    return LSMKV_OK;
}

int
file_writer_open(const char *path, bool exclusive, file_writer **out, lsmkv_error *err)
{
    return open_writer(path, exclusive, false, out, err);
}

int
file_writer_open_mapped(const char *path, bool exclusive, file_writer **out, lsmkv_error *err)
{
    return open_writer(path, exclusive, true, out, err);
}

int
file_write_all_raw(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * The hooks before a write of len bytes: the fault hook, the short-write hook
 * (*allowed: how many bytes to really write) and the power-loss tracker, whose
 * lock is then held until write_end. Returns 0, or the errno to fail with.
 */
static int
write_begin(const char *path, size_t len, size_t *allowed, int *short_error)
{
    int injected = fault_check(FILE_OP_WRITE, path);
    if (injected) {
        return injected;
    }
    *allowed = len;
    *short_error = 0;
    if (short_write_fn != NULL) {
        size_t n = short_write_fn(short_write_ctx, path, len, short_error);
        *allowed = n < len ? n : len;
    }
    return file_power_loss_enter();
}

/* Leaves a write begun by write_begin; e: the errno of the write itself. */
static int
write_end(const char *path, size_t len, size_t allowed, int short_error, int e, lsmkv_error *err)
{
    file_power_loss_leave();
    if (e != 0) {
        return status_set_errno(err, e, "write %s", path);
    }
    if (allowed < len) {
        return status_set_errno(err, short_error != 0 ? short_error : ENOSPC,
                                "write %s: %zu of %zu bytes written", path, allowed, len);
    }
    return LSMKV_OK;
}

static int
write_fully(int fd, const char *path, const uint8_t *data, size_t len, lsmkv_error *err)
{
    size_t allowed;
    int short_error;
    int e = write_begin(path, len, &allowed, &short_error);
    if (e != 0) {
        return status_set_errno(err, e, "write %s", path);
    }
    e = file_write_all_raw(fd, data, allowed);
    return write_end(path, len, allowed, short_error, e, err);
}

static uint64_t
page_floor(uint64_t offset)
{
    return offset & ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
}

/* Unmaps the window of a mapped writer (its pages stay in the page cache). */
static void
unmap_window(file_writer *w)
{
    if (w->map != NULL) {
        munmap(w->map, (size_t)(w->reserved - w->map_start));
        w->map = NULL;
    }
}

/*
 * Makes room for the bytes up to `needed` and maps the file from the page
 * of the next append to the end of the reservation. The blocks are allocated
 * first (posix_fallocate): a full disk then fails here, with an error code,
 * rather than as a SIGBUS when a page is first written. Returns an errno.
 */
static int
reserve_mapped(file_writer *w, uint64_t needed)
{
    uint64_t start = page_floor(w->size);
    uint64_t end = needed > start ? needed : start + 1; /* at least a page to map */
    uint64_t reserve =
        (end + FILE_MAP_RESERVE_STEP - 1) / FILE_MAP_RESERVE_STEP * FILE_MAP_RESERVE_STEP;
    if (reserve < w->reserved) {
        reserve = w->reserved;
    }
    if (reserve > w->reserved) {
        int e = posix_fallocate(w->fd, 0, (off_t)reserve);
        if (e != 0) {
            return e;
        }
    }
    void *map = mmap(NULL, (size_t)(reserve - start), PROT_READ | PROT_WRITE, MAP_SHARED, w->fd,
                     (off_t)start);
    if (map == MAP_FAILED) {
        return errno;
    }
    unmap_window(w);
    w->map = map;
    w->map_start = start;
    w->reserved = reserve;
    return 0;
}

/*
 * Unmaps the whole pages before `end` (at most up to the last append), which
 * appends will not touch again. Writeback of a page still mapped must
 * write-protect it in the page table, one page at a time, each with a TLB
 * flush on every CPU the process runs on; that cost the writing thread about
 * a tenth of a random-write workload. Unmapping a run of pages flushes once.
 */
static void
unmap_finished_pages(file_writer *w, uint64_t end)
{
    uint64_t cut = page_floor(end < w->size ? end : w->size);
    if (w->map == NULL || cut <= w->map_start) {
        return;
    }
    if (cut >= w->reserved) {
        unmap_window(w);
        return;
    }
    munmap(w->map, (size_t)(cut - w->map_start));
    w->map += cut - w->map_start;
    w->map_start = cut;
}

/* A mapped writer's append: a copy into the page cache, no syscall. */
static int
append_mapped(file_writer *w, const uint8_t *data, size_t len, lsmkv_error *err)
{
    size_t allowed;
    int short_error;
    int e = write_begin(w->path, len, &allowed, &short_error);
    if (e != 0) {
        return status_set_errno(err, e, "write %s", w->path);
    }
    if (w->map == NULL || w->size + len > w->reserved) {
        e = reserve_mapped(w, w->size + len);
    }
    if (e == 0) {
        memcpy(w->map + (w->size - w->map_start), data, allowed);
        w->size += allowed;
    }
    return write_end(w->path, len, allowed, short_error, e, err);
}

int
file_writer_flush(file_writer *w, lsmkv_error *err)
{
    if (w->pending.len == 0) {
        return LSMKV_OK;
    }
    int rc = write_fully(w->fd, w->path, w->pending.data, w->pending.len, err);
    /* On failure the bytes are dropped either way: the caller must treat the
     * file as damaged past its last successful flush. */
    buffer_clear(&w->pending);
    return rc;
}

int
file_writer_append(file_writer *w, const void *data, size_t len, lsmkv_error *err)
{
    if (w->mapped) {
        return append_mapped(w, data, len, err);
    }
    w->size += len;
    if (w->pending.len + len <= FILE_WRITER_BUFFER_BYTES) {
        buffer_append(&w->pending, data, len);
        return LSMKV_OK;
    }
    int rc = file_writer_flush(w, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    if (len >= FILE_WRITER_BUFFER_BYTES) {
        return write_fully(w->fd, w->path, data, len, err);
    }
    buffer_append(&w->pending, data, len);
    return LSMKV_OK;
}

int
file_writer_sync(file_writer *w, lsmkv_error *err)
{
    int rc = file_writer_flush(w, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    int injected = op_begin(FILE_OP_SYNC, w->path);
    if (injected) {
        return status_set_errno(err, injected, "fsync %s", w->path);
    }
    /* On Linux fdatasync also writes back the pages a mapped writer dirtied. */
    int e = fdatasync(w->fd) != 0 ? errno : 0;
    struct stat st;
    if (e == 0 && file_power_loss_tracking() && fstat(w->fd, &st) == 0) {
        /* A mapped writer's reserved zeros are not bytes it wrote. */
        file_power_loss_synced(w->path, w->mapped ? w->size : (uint64_t)st.st_size);
    }
    file_power_loss_leave();
    if (e != 0) {
        return status_set_errno(err, e, "fsync %s", w->path);
    }
    return LSMKV_OK;
}

void
file_writer_start_writeback(file_writer *w, uint64_t offset, uint64_t len)
{
    if (w->mapped) {
        unmap_finished_pages(w, offset + len);
    }
    /* Advisory: a failure here shows up at the next sync, which waits for it. */
    (void)sync_file_range(w->fd, (off64_t)offset, (off64_t)len, SYNC_FILE_RANGE_WRITE);
}

uint64_t
file_writer_size(const file_writer *w)
{
    return w->size;
}

const char *
file_writer_path(const file_writer *w)
{
    return w->path;
}

int
file_writer_trim(file_writer *w, lsmkv_error *err)
{
    if (w->reserved == 0) {
        return LSMKV_OK;
    }
    unmap_window(w);
    w->reserved = 0;
    int injected = op_begin(FILE_OP_TRUNCATE, w->path);
    if (injected) {
        return status_set_errno(err, injected, "truncate %s", w->path);
    }
    int e = ftruncate(w->fd, (off_t)w->size) != 0 ? errno : 0;
    file_power_loss_leave();
    if (e != 0) {
        return status_set_errno(err, e, "truncate %s", w->path);
    }
    return LSMKV_OK;
}

int
file_writer_close(file_writer *w, lsmkv_error *err)
{
    if (w == NULL) {
        return LSMKV_OK;
    }
    int rc = file_writer_flush(w, err);
    int trim_rc = file_writer_trim(w, rc == LSMKV_OK ? err : NULL);
    rc = rc != LSMKV_OK ? rc : trim_rc;
    if (close(w->fd) != 0 && rc == LSMKV_OK) {
        rc = status_set_errno(err, errno, "close %s", w->path);
    }
    buffer_fini(&w->pending);
    free(w->path);
    free(w);
    return rc;
}

/* ---- reader ----------------------------------------------------------------- */

struct file_reader {
    int fd;
    uint64_t size;
    char *path;
    void *map; /* NULL until file_reader_map */
};

int
file_reader_open(const char *path, file_reader **out, lsmkv_error *err)
{
    int injected = fault_check(FILE_OP_OPEN, path);
    if (injected) {
        return status_set_errno(err, injected, "open %s", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return status_set_errno(err, errno, "open %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return status_set_errno(err, e, "stat %s", path);
    }
    file_reader *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    r->path = xstrdup(path);
    *out = r;
    return LSMKV_OK;
}

int
file_reader_read(file_reader *r, uint64_t offset, size_t len, uint8_t *dst, lsmkv_error *err)
{
    if (offset > r->size || len > r->size - offset) {
        return status_set(err, LSMKV_CORRUPTION,
                          "%s: read of %zu bytes at offset %llu runs past the end (%llu bytes)",
                          r->path, len, (unsigned long long)offset, (unsigned long long)r->size);
    }
    int injected = fault_check(FILE_OP_READ, r->path);
    if (injected) {
        return status_set_errno(err, injected, "read %s", r->path);
    }
    while (len > 0) {
        ssize_t n = pread(r->fd, dst, len, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return status_set_errno(err, errno, "read %s", r->path);
        }
        if (n == 0) {
            return status_set(err, LSMKV_CORRUPTION, "%s: unexpected end of file at offset %llu",
                              r->path, (unsigned long long)offset);
        }
        dst += n;
        offset += (uint64_t)n;
        len -= (size_t)n;
    }
    return LSMKV_OK;
}

int
file_reader_map(file_reader *r, const uint8_t **data, lsmkv_error *err)
{
    if (r->map == NULL) {
        int injected = fault_check(FILE_OP_READ, r->path);
        if (injected) {
            return status_set_errno(err, injected, "map %s", r->path);
        }
        void *map =
            r->size > 0 ? mmap(NULL, (size_t)r->size, PROT_READ, MAP_SHARED, r->fd, 0) : MAP_FAILED;
        if (map == MAP_FAILED) {
            return status_set_errno(err, r->size > 0 ? errno : EINVAL, "map %s", r->path);
        }
        r->map = map;
    }
    *data = r->map;
    return LSMKV_OK;
}

/* The most pages file_map_resident looks at: a few data blocks' worth. */
#define RESIDENT_MAX_PAGES 64

bool
file_map_resident(const uint8_t *data, size_t len)
{
    if (len == 0) {
        return true;
    }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t first = (uintptr_t)data & ~(page - 1);
    uintptr_t end = ((uintptr_t)data + len + page - 1) & ~(page - 1);
    size_t pages = (size_t)((end - first) / page);
    unsigned char vec[RESIDENT_MAX_PAGES];
    if (pages > RESIDENT_MAX_PAGES || mincore((void *)first, end - first, vec) != 0) {
        return false;
    }
    for (size_t i = 0; i < pages; i++) {
        if ((vec[i] & 1) == 0) {
            return false;
        }
    }
    return true;
}

uint64_t
file_reader_size(const file_reader *r)
{
    return r->size;
}

const char *
file_reader_path(const file_reader *r)
{
    return r->path;
}

void
file_reader_close(file_reader *r)
{
    if (r == NULL) {
        return;
    }
    if (r->map != NULL) {
        munmap(r->map, (size_t)r->size);
    }
    close(r->fd);
    free(r->path);
    free(r);
}

/* ---- whole files and directories ------------------------------------------- */

int
file_read_all(const char *path, buffer *out, lsmkv_error *err)
{
    file_reader *r;
    int rc = file_reader_open(path, &r, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    buffer_clear(out);
    buffer_reserve(out, (size_t)r->size);
    rc = file_reader_read(r, 0, (size_t)r->size, out->data, err);
    if (rc == LSMKV_OK) {
        out->len = (size_t)r->size;
    }
    file_reader_close(r);
    return rc;
}

static void
path_join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

int
file_write_atomic(const char *dir, const char *name, const char *temp_name, const void *data,
                  size_t len, lsmkv_error *err)
{
    char final_path[PATH_MAX], temp_path[PATH_MAX];
    path_join(final_path, sizeof(final_path), dir, name);
    path_join(temp_path, sizeof(temp_path), dir, temp_name);

    file_writer *w = NULL;
    int rc = file_writer_open(temp_path, false, &w, err);
    if (rc != LSMKV_OK) {
        return rc;
    }
    rc = file_writer_append(w, data, len, err);
    if (rc == LSMKV_OK) {
        rc = file_writer_sync(w, err);
    }
    int close_rc = file_writer_close(w, rc == LSMKV_OK ? err : NULL);
    if (rc == LSMKV_OK) {
        rc = close_rc;
    }
    if (rc == LSMKV_OK) {
        rc = file_rename(temp_path, final_path, err);
    }
    if (rc != LSMKV_OK) {
        file_remove(temp_path, NULL);
        return rc;
    }
    return file_sync_dir(dir, err);
}

int
file_rename(const char *from, const char *to, lsmkv_error *err)
{
    int injected = op_begin(FILE_OP_RENAME, to);
    if (injected) {
        return status_set_errno(err, injected, "rename %s to %s", from, to);
    }
    buffer old;
    buffer_init(&old);
    bool had_old = file_power_loss_tracking() && file_power_loss_durable_bytes(to, &old);
    int e = rename(from, to) != 0 ? errno : 0;
    if (e == 0 && file_power_loss_tracking()) {
        file_power_loss_renamed(from, to, had_old, &old);
    }
    file_power_loss_leave();
    buffer_fini(&old);
    if (e != 0) {
        return status_set_errno(err, e, "rename %s to %s", from, to);
    }
    return LSMKV_OK;
}

int
file_remove(const char *path, lsmkv_error *err)
{
    int injected = op_begin(FILE_OP_REMOVE, path);
    if (injected) {
        return status_set_errno(err, injected, "remove %s", path);
    }
    buffer old;
    buffer_init(&old);
    bool had_old = file_power_loss_tracking() && file_power_loss_durable_bytes(path, &old);
    int e = unlink(path) != 0 ? errno : 0;
    if (e == 0 && had_old) {
        file_power_loss_removed(path, &old);
    }
    file_power_loss_leave();
    buffer_fini(&old);
    if (e != 0 && e != ENOENT) {
        return status_set_errno(err, e, "remove %s", path);
    }
    return LSMKV_OK;
}

int
file_truncate(const char *path, uint64_t size, lsmkv_error *err)
{
    int injected = op_begin(FILE_OP_TRUNCATE, path);
    if (injected) {
        return status_set_errno(err, injected, "truncate %s", path);
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc = LSMKV_OK;
    if (fd < 0) {
        rc = status_set_errno(err, errno, "open %s", path);
    } else if (ftruncate(fd, (off_t)size) != 0) {
        rc = status_set_errno(err, errno, "truncate %s", path);
    } else if (fsync(fd) != 0) {
        rc = status_set_errno(err, errno, "fsync %s", path);
    } else if (file_power_loss_tracking()) {
        file_power_loss_synced(path, size);
    }
    if (fd >= 0) {
        close(fd);
    }
    file_power_loss_leave();
    return rc;
}

int
file_sync_dir(const char *dir, lsmkv_error *err)
{
    int injected = op_begin(FILE_OP_SYNC_DIR, dir);
    if (injected) {
        return status_set_errno(err, injected, "fsync directory %s", dir);
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = LSMKV_OK;
    if (fd < 0) {
        rc = status_set_errno(err, errno, "open directory %s", dir);
    } else if (fsync(fd) != 0) {
        rc = status_set_errno(err, errno, "fsync directory %s", dir);
    } else if (file_power_loss_tracking()) {
        file_power_loss_dir_synced(dir);
    }
    if (fd >= 0) {
        close(fd);
    }
    file_power_loss_leave();
    return rc;
}

void
file_parent_dir(const char *path, char *out)
{
    snprintf(out, PATH_MAX, "%s", path);
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/') {
        out[--len] = '\0';
    }
    char *slash = strrchr(out, '/');
    if (slash == NULL) {
        snprintf(out, PATH_MAX, ".");
        return;
    }
    while (slash > out && slash[-1] == '/') {
        slash--;
    }
    slash[slash == out ? 1 : 0] = '\0'; /* "/name" is in "/" */
}

/* Creates one directory (EEXIST is fine) and, if it was new, syncs its parent. */
static int
mkdir_one(const char *path, lsmkv_error *err)
{
    int injected = file_power_loss_enter();
    if (injected) {
        return status_set_errno(err, injected, "create directory %s", path);
    }
    int e = mkdir(path, 0755) != 0 ? errno : 0;
    if (e == 0 && file_power_loss_tracking()) {
        file_power_loss_created_dir(path);
    }
    file_power_loss_leave();
    if (e == EEXIST) {
        return LSMKV_OK;
    }
    if (e != 0) {
        return status_set_errno(err, e, "create directory %s", path);
    }
    char parent[PATH_MAX];
    file_parent_dir(path, parent);
    return file_sync_dir(parent, err);
}

int
file_mkdir(const char *dir, lsmkv_error *err)
{
    char path[PATH_MAX];
    if (*dir == '\0') {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the directory name is empty");
    }
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "directory name too long: %s", dir);
    }
    int rc = LSMKV_OK;
    for (char *p = path + 1; *p && rc == LSMKV_OK; p++) {
        if (*p != '/' || p[-1] == '/') {
            continue;
        }
        *p = '\0';
        rc = mkdir_one(path, err);
        *p = '/';
    }
    if (rc == LSMKV_OK) {
        rc = mkdir_one(path, err);
    }
    if (rc != LSMKV_OK) {
        return rc;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "%s exists and is not a directory", path);
    }
    return LSMKV_OK;
}

bool
file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int
file_list_dir(const char *dir, char ***names_out, size_t *count_out, lsmkv_error *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return status_set_errno(err, errno, "list directory %s", dir);
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            names = xrealloc(names, cap * sizeof(*names));
        }
        names[count++] = xstrdup(entry->d_name);
    }
    closedir(d);
    *names_out = names;
    *count_out = count;
    return LSMKV_OK;
}

void
file_list_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
}

int
file_lock(const char *path, int *fd_out, lsmkv_error *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return status_set_errno(err, errno, "open lock file %s", path);
    }
    /* flock, not fcntl: fcntl locks are per process, so a second open in the
     * same process would not be refused. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            return status_set(err, LSMKV_BUSY,
                              "%s is held: another process (or another open in this process) "
                              "is using this store",
                              path);
        }
        return status_set_errno(err, e, "lock %s", path);
    }
    *fd_out = fd;
    return LSMKV_OK;
}

void
file_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}
