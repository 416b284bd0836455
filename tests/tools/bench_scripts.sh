#!/bin/sh
# tools.bench_scripts and tools.bench_vs_redis: the measurement scripts of
# tools/bench in a tiny configuration against the build, so that a change to
# lsmkv-bench's output, to a flag or to a client cannot break them unnoticed.
# Each script must exit 0, print its table with one row of figures per
# workload, and leave nothing behind in TMPDIR (its cleanup stopped the
# servers it started and removed its work directory). The figures themselves
# are not judged: they depend on the machine and its load.
#
#   bench_scripts.sh BUILD_DIR TMPDIR SCRIPT...
#
# SCRIPT is rpc_vs_echo, clients_vs_c or vs_redis. Exits 77 (the tests'
# SKIP_RETURN_CODE) if vs_redis is asked for and redis-server or
# redis-benchmark is not installed.
set -u
build=$1 tmp=$2
shift 2
bench_dir=$(cd "$(dirname "$0")/../../tools/bench" && pwd) || exit 1

for script in "$@"; do
    if [ "$script" = vs_redis ]; then
        for bin in redis-server redis-benchmark; do
            command -v "$bin" >/dev/null || {
                echo "skipped: $bin is not installed (Debian: redis-server, redis-tools)"
                exit 77
            }
        done
    fi
done

work=$(mktemp -d "$tmp/bench-scripts-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmp"
failed=0

# run SCRIPT ENV...: runs tools/bench/SCRIPT.sh with ENV and a TMPDIR of its
# own, its output (stdout and stderr) in $work/out; fails if it exits non-zero.
run() {
    script=$1
    shift
    echo "== $* $script.sh $build"
    env TMPDIR="$work/tmp" KEEP_LOG=0 "$@" "$bench_dir/$script.sh" "$build" >"$work/out" 2>&1
    status=$?
    cat "$work/out"
    if [ "$status" -ne 0 ]; then
        fail "$script.sh exited $status"
    fi
    if [ -n "$(ls -A "$work/tmp")" ]; then
        fail "$script.sh left $(ls -A "$work/tmp") in TMPDIR"
        rm -rf "${work:?}"/tmp/*
    fi
    return "$status"
}

fail() {
    echo "FAIL: $1"
    failed=1
}

# expect SCRIPT REGEX: a line of its output matches the extended REGEX.
expect() {
    grep -Eq "$2" "$work/out" || fail "$1.sh printed no line matching: $2"
}

n='[0-9]+(\.[0-9]+)?'
range="\\[$n-$n\\]"

for script in "$@"; do
    case $script in
    rpc_vs_echo)
        # Two runs, so the ratios come with their ranges.
        run rpc_vs_echo THREADS=1 REPEAT=2 NUM=200 VALUE_SIZE=100 SYNC=none SERVER_ARGS= || continue
        for op in Put Get; do
            expect rpc_vs_echo "^1 +$op +$n +$n +$n $range +$n +$n +$n $range +(met|missed)\$"
        done
        expect rpc_vs_echo "^ +1 +lsmkv-server +$n us +echo server +$n us +lsmkv-bench \\(client\\) +$n us\$"
        ;;
    clients_vs_c)
        run clients_vs_c CONCURRENCY=1 REPEAT=1 RUN_SECONDS=0.5 NUM=200 || continue
        for op in put get; do
            expect clients_vs_c "^$op +1 +$n +$n +${n}x \\($n-$n\\) +$n +${n}x \\($n-$n\\) *\$"
        done
        ;;
    vs_redis)
        run vs_redis REPEAT=1 CLIENTS=1 NUM=200 REDIS_REQUESTS=200 VALUE_SIZE=100 BATCH=10 || continue
        expect vs_redis "^Put \\(fillrandom\\) +1 +$n +redis SET +$n +${n}x\$"
        expect vs_redis "^Get \\(readrandom\\) +1 +$n +redis GET +$n +${n}x\$"
        expect vs_redis "^Batch of puts \\(batchput\\) +10 +$n +redis SET +$n +${n}x\$"
        expect vs_redis "^MultiGet \\(multiget\\) +10 +$n +redis GET +$n +${n}x\$"
        ;;
    *)
        fail "unknown script $script"
        ;;
    esac
done

[ "$failed" = 0 ] && echo "ok: $* ran and printed their tables"
exit "$failed"
