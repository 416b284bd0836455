#!/usr/bin/env bash
# Measures lsmkv-server's two io models (--io-model=threads|callbacks) against
# a bare nng echo, with lsmkv-loadgen at 1, 16 and 64 concurrent clients.
# Each configuration is run REPEAT times, the models interleaved (the machine
# may be shared), and the median req/s is reported, with the server's CPU time
# (user + system, from /proc) per request, which a busy machine disturbs less.
#
#   tools/loadgen/measure_io_models.sh [BUILD_DIR]
#
# Environment: SECONDS_PER_RUN (default 3), REPEAT (default 3),
# CLIENTS (default "1 16 64"), SYNC (default none), VALUE_SIZE (default 100).
set -euo pipefail

build=${1:-build}
server=$build/src/server/lsmkv-server
loadgen=$build/tools/loadgen/lsmkv-loadgen
secs=${SECONDS_PER_RUN:-3}
repeat=${REPEAT:-3}
clients=${CLIENTS:-1 16 64}
sync=${SYNC:-none}
value=${VALUE_SIZE:-100}
port=$((20000 + RANDOM % 20000))
url=tcp://127.0.0.1:$port
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# run_load OP THREADS [--echo] -> prints req/s
run_load() {
    "$loadgen" --url "$url" --op "$1" --threads "$2" --seconds "$secs" --value-size "$value" \
        "${@:3}" | sed -E 's/.*: ([0-9]+) req\/s.*/\1/'
}

# cpu_ticks PID -> user + system clock ticks so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# one_model MODEL OP THREADS -> "req/s cpu-us-per-request" of one run against a fresh
# server; MODEL echo: the bare nng echo (lsmkv-loadgen --serve-echo) instead
one_model() {
    rm -rf "$work/data"
    if [ "$1" = echo ]; then
        "$loadgen" --url "$url" --serve-echo &
    else
        "$server" --listen "$url" --data-dir "$work/data" --sync "$sync" --io-model "$1" \
            --log-level warn 2>>"$work/server.log" &
    fi
    local pid=$!
    for _ in $(seq 100); do
        "$loadgen" --url "$url" --threads 1 --seconds 0.05 --op get >/dev/null 2>&1 && break
        sleep 0.05
    done
    if [ "$2" = get ] && [ "$1" != echo ]; then # most keys present
        run_load put 16 >/dev/null
    fi
    local before rate after
    before=$(cpu_ticks $pid)
    rate=$(run_load "$2" "$3")
    after=$(cpu_ticks $pid)
    kill -TERM $pid
    wait $pid
    echo "$rate $(echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / ($rate * $secs)" | bc)"
}

printf "%-4s %7s %8s %8s %9s %8s %8s %8s %8s %8s\n" op clients echo threads callbacks \
    thr/echo cb/echo echo-cpu thr-cpu cb-cpu
for op in put get; do
    for n in $clients; do
        e=() t=() c=() ec=() tc=() cc=()
        for _ in $(seq "$repeat"); do
            read -r rate cpu <<<"$(one_model echo "$op" "$n")"
            e+=("$rate") ec+=("$cpu")
            read -r rate cpu <<<"$(one_model threads "$op" "$n")"
            t+=("$rate") tc+=("$cpu")
            read -r rate cpu <<<"$(one_model callbacks "$op" "$n")"
            c+=("$rate") cc+=("$cpu")
        done
        em=$(printf "%s\n" "${e[@]}" | median)
        tm=$(printf "%s\n" "${t[@]}" | median)
        cm=$(printf "%s\n" "${c[@]}" | median)
        ecm=$(printf "%s\n" "${ec[@]}" | median)
        tcm=$(printf "%s\n" "${tc[@]}" | median)
        ccm=$(printf "%s\n" "${cc[@]}" | median)
        printf "%-4s %7d %8d %8d %9d %8.2f %8.2f %6dus %6dus %6dus\n" "$op" "$n" "$em" "$tm" \
            "$cm" "$(echo "$tm / $em" | bc -l)" "$(echo "$cm / $em" | bc -l)" "$ecm" "$tcm" "$ccm"
    done
done
