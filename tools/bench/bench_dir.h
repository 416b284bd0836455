/*
 * bench_dir — the database directories of lsmkv-bench: deleting an engine's
 * directory before a run, creating --db's parents, measuring how many
 * bytes an engine keeps on disk, and telling whether it is still writing.
 */
#ifndef LSMKV_TOOLS_BENCH_DIR_H
#define LSMKV_TOOLS_BENCH_DIR_H

#include <stdint.h>

/* rm -rf `dir` (absent is fine); prints the error and exits 1 on failure. */
void bench_dir_remove_tree(const char *dir);

/* mkdir -p `path`; prints the error and exits 1 on failure. */
void bench_dir_make_parents(const char *path);

/*
 * The sum of the sizes (st_size) of the regular files under `dir`,
 * recursively, not following symlinks; -1 when `dir` cannot be read. Files
 * an engine deletes during the walk (a compaction finishing) are skipped.
 */
int64_t bench_dir_disk_bytes(const char *dir);

/*
 * A hash of the names and sizes of the regular files under `dir`: it changes
 * while an engine writes or deletes files (0 when `dir` cannot be read).
 */
uint64_t bench_dir_fingerprint(const char *dir);

#endif /* LSMKV_TOOLS_BENCH_DIR_H */
