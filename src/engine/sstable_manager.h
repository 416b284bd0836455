/*
 * SSTable manager: owns the live set of SSTables and the manifest that
 * records it (the seed's SSTableManager, in C).
 *
 * Every change of the table set — a flushed memtable, a compaction — is one
 * manifest replacement: new files are written and fsynced first, the manifest
 * naming them is written atomically next, the in-memory version is swapped
 * last, and only then are replaced files deleted. A crash at any point leaves
 * a manifest that names complete files; files it does not name are removed at
 * the next open.
 *
 * Readers (get, iterators) take a reference to the current version under a
 * short mutex and do all I/O without locks.
 *
 * Compaction: with auto_compaction, a background thread (compaction_scheduler.h)
 * compacts whenever the picker (compaction_picker.h) finds a level due, and
 * writers are slowed, then stopped, while level 0 piles up
 * (sstable_manager_throttle). A manual
 * compaction merges everything into one level; it waits for a running
 * background compaction and runs alongside flushes and reads.
 *
 * Locks: `mutex` guards the current version pointer, the counters and the
 * background state; `install_mutex` serialises manifest writes (held across
 * that write only); `compaction_mutex` lets one compaction run at a time.
 * Order: compaction_mutex → install_mutex → mutex.
 */
#ifndef LSMKV_ENGINE_SSTABLE_MANAGER_H
#define LSMKV_ENGINE_SSTABLE_MANAGER_H

#include "iterator.h"
#include "log.h"
#include "sstable_builder.h"
#include "version.h"

#include <time.h>

typedef struct sstable_manager_options {
    const char *dir;
    sstable_builder_options builder;
    uint64_t target_file_bytes; /* the largest compaction output */
    bool create_if_missing;
    bool error_if_exists;
    bool auto_compaction;  /* run the background compaction thread */
    block_cache *blocks;   /* shared by every table; may be NULL; must outlive the manager */
    size_t max_open_files; /* 0: 1000 */
    bool mmap_reads;       /* read tables through memory maps */
    int level0_compaction_trigger;
    int level0_slowdown_trigger;
    int level0_stop_trigger;
    uint64_t level1_target_bytes;
    int level_size_ratio;
    const logger *log; /* must outlive the manager */
} sstable_manager_options;

typedef struct sstable_manager sstable_manager;

/*
 * Loads the manifest (writing an empty one for a new store), opens every
 * table, and deletes files the manifest does not name (orphan tables, temp
 * files). The caller must hold the store's lock. Errors: LSMKV_INVALID_ARGUMENT
 * (no store and !create_if_missing, or a store and error_if_exists);
 * LSMKV_CORRUPTION (damaged manifest, a named table missing or damaged, data
 * files but no manifest).
 */
int sstable_manager_open(const sstable_manager_options *options, sstable_manager **out,
                         lsmkv_error *err);
/*
 * Stops the background compaction (an unfinished one is abandoned: its
 * outputs are removed), closes every table and frees the manager. No other
 * call may be running. NULL is a no-op.
 */
void sstable_manager_close(sstable_manager *sm);

/* WAL segments numbered below this are covered by tables. */
uint64_t sstable_manager_log_number(sstable_manager *sm);
/* Every sequence number <= this is in the tables. */
uint64_t sstable_manager_last_sequence(sstable_manager *sm);

/* A file number never used before (WAL segments and tables share the counter). */
uint64_t sstable_manager_new_file_number(sstable_manager *sm);
/* Marks numbers <= number as used (recovery found such a file). */
void sstable_manager_reserve_file_number(sstable_manager *sm, uint64_t number);

/*
 * Flush: writes entries (a memtable's, in internal-key order) to a level-0
 * table and installs it together with the new WAL state: log_number (segments
 * below it are now covered) and last_sequence. With no entries, only the WAL
 * state is recorded. written (may be NULL) receives the table's metadata.
 */
int sstable_manager_add_sstable(sstable_manager *sm, iterator *entries, uint64_t log_number,
                                uint64_t last_sequence, lsmkv_table_list *written,
                                lsmkv_error *err);

/* Newest version of user_key at or below snapshot in any table (tombstones included). */
int sstable_manager_get(sstable_manager *sm, slice user_key, uint64_t snapshot,
                        lookup_result *result, lsmkv_error *err);

/* The current version, referenced: release with version_unref. */
version *sstable_manager_current(sstable_manager *sm);

/* An iterator over every entry of every table (a referenced version's merge). */
iterator *sstable_manager_iterator_new(sstable_manager *sm);

/*
 * Merges every table into non-overlapping tables of one level (the first
 * whose size target holds them all), dropping shadowed versions and
 * tombstones, while flushes and reads go on. result may be NULL.
 */
int sstable_manager_compact(sstable_manager *sm, lsmkv_compaction_result *result, lsmkv_error *err);

/*
 * Back-pressure for writers while level 0 piles up: returns at once below
 * level0_slowdown_trigger tables, after 1 ms below level0_stop_trigger, and
 * otherwise waits for compaction to bring level 0 down — or returns the
 * background compaction's error while it fails, or LSMKV_TIMED_OUT past the
 * deadline (CLOCK_MONOTONIC; NULL for none). A no-op without auto_compaction.
 */
int sstable_manager_throttle(sstable_manager *sm, const struct timespec *deadline,
                             lsmkv_error *err);

/* Whether sstable_manager_throttle would pause or wait now. */
bool sstable_manager_would_throttle(sstable_manager *sm);

/* Fills the SSTable and compaction fields of *stats (adding to the stall counters). */
void sstable_manager_stats(sstable_manager *sm, lsmkv_stats *stats);

#endif
