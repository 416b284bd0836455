#!/bin/sh
# tools.bench_settle: lsmkv-bench's settle workload against the engine in a
# tiny configuration (64 KiB memtables, so writes flush and compact). settle
# must return only once lsmkv's background work is done, which lsmkv's own
# statistics printed right after it show: no full memtable waiting, no
# pending compaction. Its time and figures are not judged.
#
#   bench_settle.sh LSMKV_BENCH TMPDIR
set -u
bench=$1 tmp=$2
work=$(mktemp -d "$tmp/bench-settle-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

"$bench" --engine=lsmkv --db="$work/db" --num=50000 --write_buffer_size=65536 \
    --benchmarks=fillrandom,overwrite,settle,stats >"$work/out" 2>&1
status=$?
cat "$work/out"
[ "$status" -eq 0 ] || { echo "FAIL: lsmkv-bench exited $status"; exit 1; }
grep -Eq '^settle +: ' "$work/out" || { echo "FAIL: no settle line"; exit 1; }
# The space line after settle, then the stats workload's table.
after=$(sed -n '/^settle /,$p' "$work/out")
echo "$after" | grep -Eq '^disk: .*space amplification: [0-9.]+$' ||
    { echo "FAIL: no space line after settle"; exit 1; }
echo "$after" | grep -Eq ' 0 immutable ' || { echo "FAIL: a memtable still waits after settle"; exit 1; }
echo "$after" | grep -Eq 'pending compaction 0\.0 MiB' ||
    { echo "FAIL: compaction still pending after settle"; exit 1; }
echo "ok"
