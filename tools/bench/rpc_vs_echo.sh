#!/usr/bin/env bash
# rpc_vs_echo.sh — lsmkv-server's Put and Get against a bare nng req/rep echo
# at the same message size and concurrency: the figures of the service issue
# (target: Put and Get throughput at least 90% of the echo's, and p99 at most
# 1.2x the echo's, at 1, 16 and 64 client threads).
#
#   tools/bench/rpc_vs_echo.sh [BUILD_DIR]        (default: build)
#
# It starts lsmkv-server on an empty temporary directory (--sync none unless
# SYNC says otherwise) and an echo server (lsmkv-bench --serve-echo), each on
# a free loopback port, then for every thread count runs
#
#   lsmkv-bench --target=SERVER --compare-echo=ECHO --threads=N --repeat=R \
#               --benchmarks=echo,fillrandom,echo,readrandom,echo
#
# so each Put (fillrandom) and Get (readrandom) workload is bracketed by echo
# measurements of the same run, and prints one table of the ratios, each the
# median over the runs of workload / echo of the same run, with its range.
# The last column says whether the target is met by those medians. On a
# shared machine the CPU time each process spent per request (from /proc,
# which other load disturbs less than wall-clock rates) is printed too:
# lsmkv-server's, the echo server's and the client's (lsmkv-bench), which on
# a 2-core machine compete for the same cores.
#
# Environment: THREADS (default "1 16 64"), REPEAT (runs per thread count,
# default 5), NUM (operations per workload and run, default 20000),
# VALUE_SIZE (default 100), SYNC (the server's --sync, default none),
# SERVER_ARGS (more lsmkv-server flags, e.g. "--workers 64"), KEEP_LOG=1
# (print lsmkv-bench's full output too).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

build=${1:-build}
threads=${THREADS:-1 16 64}
repeat=${REPEAT:-5}
num=${NUM:-20000}
value=${VALUE_SIZE:-100}
sync=${SYNC:-none}

require_built "$build"
make_work_dir

# cpu_ticks PID: user + system clock ticks the process has used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# children_ticks: user + system ticks of this shell's waited-for children (the
# lsmkv-bench runs and their forked workers; the servers are still running)
children_ticks() { awk '{print $16 + $17}' /proc/$$/stat; }

server_port=$(free_port)
echo_port=$(free_port "$server_port")
server_url=tcp://127.0.0.1:$server_port
echo_url=tcp://127.0.0.1:$echo_port

# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
start_lsmkv_server "$server_url" "$sync" ${SERVER_ARGS:-}
"$bench" --serve-echo="$echo_url" 2>"$work/echo.log" &
echo_pid=$!
pids+=("$echo_pid")
wait_for "echo server" "$echo_pid" port_open "$echo_port"

echo "lsmkv-server $server_url (--sync $sync ${SERVER_ARGS:-}), echo $echo_url;" \
    "$num ops per workload, $repeat runs per thread count, values of $value bytes"
machine_load
echo

rows=()
cpu_lines=()
for t in $threads; do
    s0=$(cpu_ticks "$server_pid")
    e0=$(cpu_ticks "$echo_pid")
    c0=$(children_ticks)
    "$bench" --target="$server_url" --compare-echo="$echo_url" --threads="$t" \
        --num="$num" --value_size="$value" --repeat="$repeat" \
        --benchmarks=echo,fillrandom,echo,readrandom,echo >"$work/bench.out" 2>&1 || {
        cat "$work/bench.out" >&2
        echo "rpc_vs_echo.sh: lsmkv-bench failed at $t threads" >&2
        exit 1
    }
    c1=$(children_ticks)
    s1=$(cpu_ticks "$server_pid")
    e1=$(cpu_ticks "$echo_pid")
    out=$(cat "$work/bench.out")
    [ "${KEEP_LOG:-0}" = 1 ] && echo "$out"
    # Rows of lsmkv-bench's "Against echo" table: workload engine ops echo
    # ratio [range] p99 echo-p99 p99-ratio [range] (ranges from 2 runs on).
    while read -r line; do
        rows+=("$t $line")
    done < <(echo "$out" | awk '/^Against echo/ {on = 1; next} on && /^(fillrandom|readrandom) /')
    hz=$(getconf CLK_TCK)
    cpu_lines+=("$(awk -v t="$t" -v s=$((s1 - s0)) -v e=$((e1 - e0)) -v c=$((c1 - c0)) \
        -v hz="$hz" -v n="$num" -v r="$repeat" 'BEGIN {
            printf "%7d  lsmkv-server %6.1f us   echo server %6.1f us   lsmkv-bench (client) %6.1f us\n",
                t, s * 1e6 / hz / (2 * n * r), e * 1e6 / hz / (3 * n * r), c * 1e6 / hz / (5 * n * r) }')")
done

printf "%-7s %-4s %9s %9s  %-19s %9s %9s  %-19s %s\n" threads op "ops/sec" "echo" \
    "throughput/echo" "p99 us" "echo p99" "p99/echo" "target (>=0.90, <=1.20)"
for row in "${rows[@]}"; do
    echo "$row" | awk '{
        t = $1; op = $2 == "fillrandom" ? "Put" : "Get"; i = 4
        ops = $i; echo = $(i + 1); i += 2
        ratio = $i; i++
        if (substr($i, 1, 1) == "[") { ratio = ratio " " $i; i++ }
        p99 = $i; ep99 = $(i + 1); i += 2
        pratio = $i; i++
        if (substr($i, 1, 1) == "[") { pratio = pratio " " $i }
        met = (ratio + 0 >= 0.90 && pratio + 0 <= 1.20) ? "met" : "missed"
        printf "%-7s %-4s %9s %9s  %-19s %9s %9s  %-19s %s\n", t, op, ops, echo, ratio, p99,
            ep99, pratio, met
    }'
done
echo
echo "CPU time per request (user + system over all runs; the client's is per round trip, echo included):"
printf "%s\n" "${cpu_lines[@]}"
