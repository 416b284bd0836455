#!/usr/bin/env bash
# vs_redis.sh — lsmkv-server's keys/sec over RPC next to redis-server's
# requests/sec as redis-benchmark measures them, at the same concurrency, on
# this machine: the figure of the ordered-reads-and-batches issue (target:
# with batches of 100 keys per request, over 5x the keys/sec redis-benchmark
# reaches on SET/GET without pipelining).
#
#   tools/bench/vs_redis.sh [BUILD_DIR]        (default: build)
#
# Redis is only a yardstick here, never a dependency of lsmkv: install it for
# the measurement (Debian: apt-get install redis-server redis-tools).
#
# It starts, each on a free loopback port, redis-server without persistence
# (--save '' --appendonly no) and lsmkv-server on an empty temporary
# directory (--sync none: acknowledged once the OS has the log's bytes), then
# REPEAT times, alternating so a noisy phase of a shared machine hits both:
#
#   redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n REDIS_REQUESTS \
#                   -c CLIENTS -d VALUE_SIZE -r NUM -q     (no pipelining)
#   lsmkv-bench --target=URL --threads=CLIENTS --value_size=VALUE_SIZE \
#               --num=NUM --benchmarks=fillrandom,readrandom[,batchput,multiget]
#
# and prints the medians: keys/sec of lsmkv's single-key Put and Get (one key
# per request, like SET and GET) and, when lsmkv-bench has them, of its
# batchput and multiget workloads (BATCH keys per request), each against
# redis SET or GET requests/sec. -r NUM makes redis-benchmark use random keys
# from the same number of keys as lsmkv-bench (without -r every request
# would hit one key).
#
# Environment: REPEAT (default 3), CLIENTS (default 16), VALUE_SIZE (default
# 100), NUM (keys, default 200000), REDIS_REQUESTS (per test, default
# 200000), BATCH (keys per batch request, default 100), SERVER_ARGS (more
# lsmkv-server flags, e.g. "--io-model callbacks"), KEEP_LOG=1 (print
# the tools' own output too).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

build=${1:-build}
repeat=${REPEAT:-3}
clients=${CLIENTS:-16}
value=${VALUE_SIZE:-100}
num=${NUM:-200000}
redis_requests=${REDIS_REQUESTS:-200000}
batch=${BATCH:-100}

require_built "$build"
for bin in redis-server redis-benchmark redis-cli; do
    command -v "$bin" >/dev/null || {
        echo "vs_redis.sh: $bin not found (Debian: apt-get install redis-server redis-tools)" >&2
        exit 2
    }
done

# The batch workloads come with the Batch and MultiGet RPCs.
workloads=fillrandom,readrandom
batch_flags=()
if "$bench" --help | grep -qw batchput; then
    workloads=$workloads,batchput,multiget
    batch_flags=(--batch_size="$batch")
fi

make_work_dir

redis_port=$(free_port)
lsmkv_port=$(free_port "$redis_port")
lsmkv_url=tcp://127.0.0.1:$lsmkv_port

mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work/redis" --daemonize no --logfile "$work/redis.log" &
pids+=($!)
wait_for redis-server "${pids[-1]}" redis-cli -h 127.0.0.1 -p "$redis_port" ping
# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
start_lsmkv_server "$lsmkv_url" none ${SERVER_ARGS:-}

echo "$(redis-server --version | cut -d' ' -f1-3) on port $redis_port; lsmkv-server $lsmkv_url (--sync none)"
echo "$clients clients, values of $value bytes, $num keys, $repeat runs alternating;" \
    "$(machine_load)"

for run in $(seq "$repeat"); do
    out=$(redis-benchmark -h 127.0.0.1 -p "$redis_port" -t set,get -n "$redis_requests" \
        -c "$clients" -d "$value" -r "$num" -q 2>&1 | tr '\r' '\n')
    [ "${KEEP_LOG:-0}" = 1 ] && echo "$out" | grep "requests per second"
    add redis_set "$(echo "$out" | sed -n 's/^ *SET: \([0-9.]*\) requests per second.*/\1/p')"
    add redis_get "$(echo "$out" | sed -n 's/^ *GET: \([0-9.]*\) requests per second.*/\1/p')"

    out=$("$bench" --target="$lsmkv_url" --threads="$clients" --value_size="$value" \
        --num="$num" --benchmarks="$workloads" "${batch_flags[@]}" 2>&1) || {
        echo "$out" >&2
        exit 1
    }
    [ "${KEEP_LOG:-0}" = 1 ] && echo "$out"
    # "name : X micros/op; Y ops/sec; ..." and, for batches, "... Z keys/sec ..."
    for w in ${workloads//,/ }; do
        line=$(echo "$out" | grep "^$w *:")
        if [[ $line == *keys/sec* ]]; then
            add "$w" "$(echo "$line" | sed -E 's/.* ([0-9.]+) keys\/sec.*/\1/')"
        else
            add "$w" "$(echo "$line" | sed -E 's/.*; +([0-9.]+) ops\/sec.*/\1/')"
        fi
    done
    echo "run $run of $repeat done" >&2
done

row() { # LABEL KEYS_PER_REQUEST NAME REDIS_NAME
    local ours theirs
    ours=$(med "$3")
    theirs=$(med "$4")
    awk -v l="$1" -v k="$2" -v o="$ours" -v t="$theirs" -v r="${4#redis_}" 'BEGIN {
        printf "%-30s %8s %12.0f   redis %s %10.0f   %6.2fx\n", l, k, o, toupper(r), t, o / t }'
}

echo
printf "%-30s %8s %12s   %-16s %10s   %7s\n" "lsmkv workload ($clients threads)" "keys/req" \
    "keys/sec" "redis (-c $clients)" "req/sec" "ratio"
row "Put (fillrandom)" 1 fillrandom redis_set
row "Get (readrandom)" 1 readrandom redis_get
if [[ $workloads == *batchput* ]]; then
    row "Batch of puts (batchput)" "$batch" batchput redis_set
    row "MultiGet (multiget)" "$batch" multiget redis_get
else
    echo "(batchput and multiget need the Batch and MultiGet RPCs: not in this lsmkv-bench yet)"
fi
