#!/usr/bin/env bash
# clients_vs_c.sh — round-trip throughput of the Python and Node clients
# against the C client's, on one lsmkv-server, at 1 and at many concurrent
# callers: what each language costs on top of the same server and nng.
#
#   tools/bench/clients_vs_c.sh [BUILD_DIR]        (default: build)
#
# It starts lsmkv-server on a free loopback port with an empty temporary
# directory (--sync none), then REPEAT rounds; each round runs, for each
# concurrency K in CONCURRENCY, one after the other so that a noisy phase of a
# shared machine hits all three:
#
#   lsmkv-bench --target=URL --threads=K --benchmarks=fillrandom,readrandom --num=NUM
#   /usr/bin/python3 -m lsmkv.bench --url URL --threads K --op put|get --seconds RUN_SECONDS
#   node client/node/bench.js --url URL --concurrency K --op put|get --seconds RUN_SECONDS
#
# and prints, per concurrency and operation, the median requests/sec of each
# client and the median over rounds of each client's ratio to the C client's
# figure of the same round (with the lowest and highest round's ratio). The C client's K threads each have their own
# client; the Python client's K threads share one client (their calls share
# one connection); the Node client keeps K calls outstanding on one client.
#
# Environment: REPEAT (default 3), CONCURRENCY (default "1 16"), RUN_SECONDS
# (per Python/Node run, default 4), NUM (C client's operations per workload
# at one thread, default 30000; twice that from 2 threads), KEEP_LOG=1 (print
# the tools' own lines too).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
pydir=$build/client/python
repeat=${REPEAT:-3}
concurrency=${CONCURRENCY:-1 16}
seconds=${RUN_SECONDS:-4}
num=${NUM:-30000}

require_built "$build"
[ -f "$pydir/lsmkv/v1/kv_pb2.py" ] || { echo "clients_vs_c.sh: $pydir/lsmkv not built" >&2; exit 2; }
[ -d "$root/client/node/node_modules/protobufjs" ] || {
    echo "clients_vs_c.sh: run npm ci --ignore-scripts in client/node first (./tools/dev.sh does)" >&2
    exit 2
}

make_work_dir
# shellcheck disable=SC2119 # free_port takes a port to avoid only when there is one
url=tcp://127.0.0.1:$(free_port)
start_lsmkv_server "$url" none

echo "lsmkv-server $url (--sync none); values of 100 bytes; $repeat rounds;" \
    "$(machine_load)"

# figures (bench_lib.sh): "client op K" -> the req/s of every round
declare -A ratios # the same keys -> the ratios to C of every round, one a line

log() {
    if [ "${KEEP_LOG:-0}" = 1 ]; then echo "$1" >&2; fi
}

# run_c K: C client's fillrandom (put) and readrandom (get) ops/sec.
run_c() {
    local k=$1 n=$num out
    [ "$k" -gt 1 ] && n=$((num * 2))
    out=$("$bench" --target="$url" --threads="$k" --benchmarks=fillrandom,readrandom --num="$n" 2>&1) || {
        echo "$out" >&2
        exit 1
    }
    log "$out"
    add "c put $k" "$(echo "$out" | sed -nE 's/^fillrandom *:.*; +([0-9.]+) ops\/sec.*/\1/p')"
    add "c get $k" "$(echo "$out" | sed -nE 's/^readrandom *:.*; +([0-9.]+) ops\/sec.*/\1/p')"
}

# run_lang LANG OP K: one Python or Node run's req/s.
run_lang() {
    local lang=$1 op=$2 k=$3 out
    if [ "$lang" = python ]; then
        out=$(PYTHONPATH=$pydir /usr/bin/python3 -m lsmkv.bench --url "$url" --threads "$k" \
            --op "$op" --seconds "$seconds" 2>&1) || { echo "$out" >&2; exit 1; }
    else
        out=$(cd "$root/client/node" && node bench.js --url "$url" --concurrency "$k" \
            --op "$op" --seconds "$seconds" 2>&1) || { echo "$out" >&2; exit 1; }
    fi
    log "$out"
    add "$lang $op $k" "$(echo "$out" | sed -nE 's/.*: ([0-9.]+) req\/s.*/\1/p')"
}

for round in $(seq "$repeat"); do
    for k in $concurrency; do
        run_c "$k"
        for lang in python node; do
            for op in put get; do
                run_lang "$lang" "$op" "$k"
                # This round's ratio: the last figure of each list.
                c=$(printf "%s" "${figures["c $op $k"]}" | tail -n1)
                x=$(printf "%s" "${figures["$lang $op $k"]}" | tail -n1)
                ratios["$lang $op $k"]+=$(awk -v x="$x" -v c="$c" 'BEGIN { printf "%.3f", x / c }')$'\n'
            done
        done
    done
    echo "round $round of $repeat done" >&2
done

# "0.71x (0.60-0.83)": the median ratio and the range over rounds.
ratio() { printf "%s" "$1" | sort -g | awk '{a[NR] = $1} END {
    printf "%.2fx (%.2f-%.2f)", a[int((NR + 1) / 2)], a[1], a[NR] }'; }

echo
echo "median req/s over $repeat rounds; ratio to the C client: median (lowest-highest round)"
printf "%-4s %3s %8s %8s %-20s %8s %-20s\n" op K "C" Python "Python / C" Node "Node / C"
for k in $concurrency; do
    for op in put get; do
        printf "%-4s %3s %8.0f %8.0f %-20s %8.0f %-20s\n" "$op" "$k" \
            "$(med "c $op $k")" \
            "$(med "python $op $k")" "$(ratio "${ratios["python $op $k"]}")" \
            "$(med "node $op $k")" "$(ratio "${ratios["node $op $k"]}")"
    done
done
