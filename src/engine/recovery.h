/*
 * Recovery: at open, brings back every write the WAL holds that the
 * manifest's tables do not, then starts a fresh WAL segment.
 *
 * Segments numbered below the manifest's log_number are covered by tables and
 * deleted. The others are replayed oldest first, each into its own memtable
 * that is written to a level-0 table at once, with a manifest update that
 * moves log_number past the segment; then the segment is deleted. A crash
 * during recovery therefore repeats only the segments not yet covered. The
 * newest segment's torn tail is cut off (see wal.h); a bad record anywhere
 * else fails the open with LSMKV_CORRUPTION.
 */
#ifndef LSMKV_ENGINE_RECOVERY_H
#define LSMKV_ENGINE_RECOVERY_H

#include "log.h"
#include "sstable_manager.h"
#include "wal.h"

typedef struct recovery_result {
    wal_writer *wal;        /* the fresh segment writes go to */
    uint64_t wal_number;    /* its file number */
    uint64_t last_sequence; /* highest sequence in the store */
} recovery_result;

int recovery_run(const char *dir, sstable_manager *sm, const logger *lg, recovery_result *out,
                 lsmkv_error *err);

#endif
