/*
 * Power-loss simulation for tests: what file.c's calls made durable, and the
 * rollback to it (the model is in file.h). Files are tracked by path; a
 * change to a directory entry waits in an ordered list until its directory
 * is synced. Every file_power_loss_* record runs under the tracker's lock,
 * which file.c holds across the recorded syscall.
 */
#include "file_power_loss.h"

#include "file.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file written while tracking: how many of its bytes would survive. */
typedef struct tracked_file {
    char *path;
    uint64_t synced;
} tracked_file;

typedef enum change_kind {
    CHANGE_CREATE, /* path created (a file) */
    CHANGE_MKDIR,  /* path created (a directory) */
    CHANGE_RENAME, /* from renamed to path */
    CHANGE_REMOVE, /* path removed */
} change_kind;

/* A directory change not yet made durable by a sync of its directory. */
typedef struct dir_change {
    change_kind kind;
    char *path;
    char *from;   /* CHANGE_RENAME only */
    bool had_old; /* a rename over an existing name, or a removal: path held old */
    buffer old;   /* the durable bytes path held before */
} dir_change;

struct file_power_tracker {
    pthread_mutex_t mutex; /* guards everything below; held across tracked syscalls */
    bool powered_off;
    tracked_file *files;
    size_t file_count, file_cap;
    dir_change *changes; /* oldest first */
    size_t change_count, change_cap;
};

file_power_tracker *file_power_loss_tracker;

int
file_power_loss_lock(void)
{
    file_power_tracker *t = file_power_loss_tracker;
    pthread_mutex_lock(&t->mutex);
    if (t->powered_off) {
        pthread_mutex_unlock(&t->mutex);
        return EIO;
    }
    return 0;
}

void
file_power_loss_unlock(void)
{
    file_power_tracker *t = file_power_loss_tracker;
    pthread_mutex_unlock(&t->mutex);
}

/* ---- the record ---------------------------------------------------------------- */

/* path without trailing slashes, in out[PATH_MAX]: the form directories are compared in. */
static void
normalize_dir(const char *dir, char *out)
{
    snprintf(out, PATH_MAX, "%s", dir);
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/') {
        out[--len] = '\0';
    }
}

/* Is path dir itself or below it? */
static bool
path_under(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == '\0');
}

static tracked_file *
tracked_find(const char *path)
{
    file_power_tracker *t = file_power_loss_tracker;
    for (size_t i = 0; i < t->file_count; i++) {
        if (strcmp(t->files[i].path, path) == 0) {
            return &t->files[i];
        }
    }
    return NULL;
}

static void
tracked_set(const char *path, uint64_t synced)
{
    file_power_tracker *t = file_power_loss_tracker;
    tracked_file *f = tracked_find(path);
    if (f == NULL) {
        if (t->file_count == t->file_cap) {
            t->file_cap = t->file_cap ? t->file_cap * 2 : 16;
            t->files = xrealloc(t->files, t->file_cap * sizeof(*f));
        }
        f = &t->files[t->file_count++];
        f->path = xstrdup(path);
    }
    f->synced = synced;
}

/* Forgets path: from now on it counts as durable whole (or is gone). */
static void
tracked_drop(const char *path)
{
    file_power_tracker *t = file_power_loss_tracker;
    tracked_file *f = tracked_find(path);
    if (f != NULL) {
        free(f->path);
        *f = t->files[--t->file_count];
    }
}

/*
 * Reads what of path would survive a power cut now into out: its synced
 * prefix if tracked, else the whole file. false if path is not a regular file.
 */
bool
file_power_loss_durable_bytes(const char *path, buffer *out)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return false;
    }
    uint64_t len = (uint64_t)st.st_size;
    tracked_file *f = tracked_find(path);
    if (f != NULL && f->synced < len) {
        len = f->synced;
    }
    buffer_clear(out);
    buffer_reserve(out, (size_t)len);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, out->data, (size_t)len, 0) : -1;
    if (fd >= 0) {
        close(fd);
    }
    out->len = n > 0 ? (size_t)n : 0;
    return true;
}

/* Appends a pending change; takes over *old's bytes (leaving it empty). */
static void
change_push(change_kind kind, const char *path, const char *from, bool had_old, buffer *old)
{
    file_power_tracker *t = file_power_loss_tracker;
    if (t->change_count == t->change_cap) {
        t->change_cap = t->change_cap ? t->change_cap * 2 : 16;
        t->changes = xrealloc(t->changes, t->change_cap * sizeof(*t->changes));
    }
    dir_change *c = &t->changes[t->change_count++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->path = xstrdup(path);
    c->from = from != NULL ? xstrdup(from) : NULL;
    c->had_old = had_old;
    buffer_init(&c->old);
    if (old != NULL) {
        buffer tmp = c->old;
        c->old = *old;
        *old = tmp;
    }
}

static void
change_fini(dir_change *c)
{
    free(c->path);
    free(c->from);
    buffer_fini(&c->old);
}

void
file_power_loss_opened(const char *path, bool existed)
{
    tracked_set(path, 0); /* new or truncated: nothing synced yet */
    if (!existed) {
        change_push(CHANGE_CREATE, path, NULL, false, NULL);
    }
}

void
file_power_loss_synced(const char *path, uint64_t size)
{
    tracked_set(path, size);
}

/* from's record (if any) becomes to's. */
static void
tracked_move(const char *from, const char *to)
{
    tracked_drop(to);
    tracked_file *f = tracked_find(from);
    if (f != NULL) {
        free(f->path);
        f->path = xstrdup(to);
    }
}

void
file_power_loss_renamed(const char *from, const char *to, bool had_old, buffer *old)
{
    tracked_move(from, to);
    change_push(CHANGE_RENAME, to, from, had_old, old);
}

void
file_power_loss_removed(const char *path, buffer *old)
{
    tracked_drop(path);
    change_push(CHANGE_REMOVE, path, NULL, true, old);
}

void
file_power_loss_created_dir(const char *path)
{
    change_push(CHANGE_MKDIR, path, NULL, false, NULL);
}

/* The changes in dir are durable now: forget them. */
void
file_power_loss_dir_synced(const char *dir)
{
    file_power_tracker *t = file_power_loss_tracker;
    char want[PATH_MAX], parent[PATH_MAX];
    normalize_dir(dir, want);
    size_t kept = 0;
    for (size_t i = 0; i < t->change_count; i++) {
        dir_change *c = &t->changes[i];
        file_parent_dir(c->path, parent);
        if (strcmp(parent, want) == 0) {
            change_fini(c);
        } else {
            t->changes[kept++] = *c;
        }
    }
    t->change_count = kept;
}

/* ---- the test API (file.h) ------------------------------------------------------- */

void
file_power_loss_begin(void)
{
    file_power_loss_end();
    file_power_tracker *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mutex, NULL);
    file_power_loss_tracker = t;
}

void
file_power_loss_end(void)
{
    file_power_tracker *t = file_power_loss_tracker;
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->file_count; i++) {
        free(t->files[i].path);
    }
    for (size_t i = 0; i < t->change_count; i++) {
        change_fini(&t->changes[i]);
    }
    free(t->files);
    free(t->changes);
    pthread_mutex_destroy(&t->mutex);
    free(t);
    file_power_loss_tracker = NULL;
}

/* ---- the simulation -------------------------------------------------------------- */

/* xorshift64*: the simulation's choices, repeatable from the caller's seed. */
static uint64_t
sim_random(uint64_t *state, uint64_t bound)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return bound == 0 ? 0 : (*state * UINT64_C(0x2545F4914F6CDD1D)) % bound;
}

static int
remove_tree_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Writes data as the whole of path (raw syscalls: the simulation is not the engine). */
static int
restore_file(const char *path, const buffer *data)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return errno;
    }
    int e = file_write_all_raw(fd, data->data, data->len);
    close(fd);
    return e;
}

/* Undoes one change that did not survive the cut. */
static int
undo_change(dir_change *c)
{
    file_power_tracker *t = file_power_loss_tracker;
    int e = 0;
    switch (c->kind) {
    case CHANGE_CREATE:
        e = unlink(c->path) != 0 && errno != ENOENT ? errno : 0;
        tracked_drop(c->path);
        break;
    case CHANGE_MKDIR:
        nftw(c->path, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
        for (size_t i = t->file_count; i-- > 0;) {
            if (path_under(t->files[i].path, c->path)) {
                tracked_drop(t->files[i].path);
            }
        }
        break;
    case CHANGE_RENAME:
        if (rename(c->path, c->from) != 0) {
            return errno;
        }
        tracked_move(c->path, c->from);
        e = c->had_old ? restore_file(c->path, &c->old) : 0;
        break;
    case CHANGE_REMOVE:
        e = restore_file(c->path, &c->old);
        tracked_drop(c->path);
        break;
    }
    return e;
}

/* Cuts every tracked file under dir to what survives (caller holds the lock). */
static int
drop_unsynced_bytes(const char *dir, uint64_t *rng, bool random)
{
    file_power_tracker *t = file_power_loss_tracker;
    for (size_t i = 0; i < t->file_count; i++) {
        tracked_file *f = &t->files[i];
        struct stat st;
        if (!path_under(f->path, dir) || stat(f->path, &st) != 0 ||
            (uint64_t)st.st_size <= f->synced) {
            continue;
        }
        uint64_t unsynced = (uint64_t)st.st_size - f->synced;
        uint64_t keep = f->synced + (random ? sim_random(rng, unsynced + 1) : 0);
        if (truncate(f->path, (off_t)keep) != 0) {
            return errno;
        }
    }
    return 0;
}

/*
 * Undoes the unsynced directory changes under dir, newest first, except the
 * `survivors` oldest ones; every change under dir is forgotten afterwards.
 */
static int
undo_changes(const char *dir, size_t survivors)
{
    file_power_tracker *t = file_power_loss_tracker;
    size_t count = 0;
    dir_change *mine = xcalloc(t->change_count + 1, sizeof(*mine));
    size_t kept = 0;
    for (size_t i = 0; i < t->change_count; i++) {
        if (path_under(t->changes[i].path, dir)) {
            mine[count++] = t->changes[i];
        } else {
            t->changes[kept++] = t->changes[i];
        }
    }
    t->change_count = kept;
    int e = 0;
    for (size_t i = count; i-- > 0;) {
        if (e == 0 && i >= survivors) {
            e = undo_change(&mine[i]);
        }
        change_fini(&mine[i]);
    }
    free(mine);
    return e;
}

int
file_power_loss_simulate(const char *dir, uint64_t seed, lsmkv_error *err)
{
    file_power_tracker *t = file_power_loss_tracker;
    if (t == NULL) {
        return status_set(err, LSMKV_INVALID_ARGUMENT, "power-loss tracking is off");
    }
    char root[PATH_MAX];
    normalize_dir(dir, root);
    pthread_mutex_lock(&t->mutex);
    if (t->powered_off) {
        pthread_mutex_unlock(&t->mutex);
        return status_set(err, LSMKV_INVALID_ARGUMENT, "the power is already off");
    }
    t->powered_off = true;
    uint64_t rng = seed ^ UINT64_C(0x9e3779b97f4a7c15);
    int e = drop_unsynced_bytes(root, &rng, seed != 0);
    size_t pending = 0;
    for (size_t i = 0; i < t->change_count; i++) {
        pending += path_under(t->changes[i].path, root);
    }
    size_t survivors = seed != 0 ? (size_t)sim_random(&rng, pending + 1) : 0;
    int undo_e = undo_changes(root, survivors);
    pthread_mutex_unlock(&t->mutex);
    e = e != 0 ? e : undo_e;
    if (e != 0) {
        return status_set_errno(err, e, "simulating power loss in %s", root);
    }
    return LSMKV_OK;
}
