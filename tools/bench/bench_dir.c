/*
 * bench_dir — see bench_dir.h.
 */
#define _XOPEN_SOURCE 700 /* nftw */

#include "bench_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deep enough for any engine's layout; a deeper tree is not a database. */
#define MAX_DEPTH 16

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "lsmkv-bench: cannot remove %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Only ever called on the engine's own subdirectory <db>/<engine>, never <db>. */
void
bench_dir_remove_tree(const char *dir)
{
    struct stat st;

    if (lstat(dir, &st) != 0 && errno == ENOENT) {
        return;
    }
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "lsmkv-bench: cannot delete the database in %s\n", dir);
        exit(1);
    }
}

/* The engines create their own directory but not its parents. */
void
bench_dir_make_parents(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf)) {
        fprintf(stderr, "lsmkv-bench: bad database path '%s'\n", path);
        exit(1);
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') {
            continue;
        }
        char saved = buf[i];

        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "lsmkv-bench: cannot create %s: %s\n", buf, strerror(errno));
            exit(1);
        }
        buf[i] = saved;
    }
}

/* What a walk does with each regular file: sum sizes, or mix names and sizes into a hash. */
typedef struct dir_walk {
    int64_t bytes;
    uint64_t hash;
} dir_walk;

static void
walk_file(dir_walk *w, const char *name, const struct stat *st)
{
    w->bytes += (int64_t)st->st_size;
    /* FNV-1a over the name and the size: equal for an unchanged listing. */
    for (const char *c = name; *c != '\0'; c++) {
        w->hash = (w->hash ^ (uint8_t)*c) * 1099511628211ull;
    }
    w->hash = (w->hash ^ (uint64_t)st->st_size) * 1099511628211ull;
}

/*
 * Walks the directory open as `dir` (which it closes). Relative *at()
 * calls, so paths never need building; ENOENT means an engine deleted the
 * entry after readdir saw it, which is no error.
 */
static int
walk_dir(DIR *dir, int depth, dir_walk *w)
{
    struct dirent *de;
    int rc = 0;

    while (rc == 0 && (de = readdir(dir)) != NULL) {
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = errno == ENOENT ? 0 : -1;
        } else if (S_ISREG(st.st_mode)) {
            walk_file(w, de->d_name, &st);
        } else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
            int fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            DIR *sub = fd >= 0 ? fdopendir(fd) : NULL;

            if (sub != NULL) {
                rc = walk_dir(sub, depth + 1, w);
            } else {
                rc = errno == ENOENT ? 0 : -1;
                if (fd >= 0) {
                    close(fd);
                }
            }
        }
    }
    closedir(dir);
    return rc;
}

static int
walk(const char *dir, dir_walk *w)
{
    DIR *d = opendir(dir);

    *w = (dir_walk){.hash = 14695981039346656037ull};
    return d != NULL ? walk_dir(d, 0, w) : -1;
}

int64_t
bench_dir_disk_bytes(const char *dir)
{
    dir_walk w;

    return walk(dir, &w) == 0 ? w.bytes : -1;
}

uint64_t
bench_dir_fingerprint(const char *dir)
{
    dir_walk w;

    return walk(dir, &w) == 0 ? w.hash : 0;
}
