# bench_lib.sh — the shell helpers of the measurement scripts in tools/bench
# (rpc_vs_echo.sh, vs_redis.sh, clients_vs_c.sh): the build's binaries, a
# temporary work directory whose cleanup stops the processes a script
# started, free loopback ports, waiting for a server to come up, lsmkv-server
# on an empty directory, and medians of the figures of several runs.
#
# Sourced by those bash scripts (after their `set -euo pipefail`), never run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
#
# Messages start with the name of the script that sources it.
# shellcheck shell=bash

bench_name=${0##*/}

# require_built BUILD: sets server, bench and cli to BUILD's lsmkv-server,
# lsmkv-bench and lsmkv-cli; exits 2 if one of them is not built.
require_built() {
    local bin
    server=$1/src/server/lsmkv-server
    bench=$1/tools/bench/lsmkv-bench
    cli=$1/client/lsmkv-cli
    for bin in "$server" "$bench" "$cli"; do
        [ -x "$bin" ] || {
            echo "$bench_name: $bin not found: build first (ninja -C $1)" >&2
            exit 2
        }
    done
}

# make_work_dir: a new temporary directory in $work. At exit every process
# whose pid the script added to pids is stopped (TERM) and waited for, so
# no server outlives the script, and then $work is removed.
make_work_dir() {
    work=$(mktemp -d)
    pids=()
    trap cleanup EXIT
}

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}

# port_open PORT: whether something accepts connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port [NOT]: a loopback port nothing listens on (and not NOT), below
# the kernel's ephemeral range: a port there may be the local end of some
# connection (other tests', the clients'), which no check here can see and
# which makes a server's bind fail. A server that still finds its port taken
# refuses to start, and wait_for says so.
free_port() {
    local port low=32768
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    [ "$low" -gt 11024 ] || low=32768
    while :; do
        port=$((10000 + RANDOM % (low - 10000)))
        [ "$port" != "${1:-}" ] || continue
        if ! port_open "$port"; then
            echo "$port"
            return
        fi
    done
}

# wait_for NAME PID CHECK...: returns once the command CHECK succeeds; exits
# 1 (printing the logs in $work) if PID exits first, or after about 10 s.
wait_for() {
    local name=$1 pid=$2
    shift 2
    for _ in $(seq 200); do
        "$@" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || {
            echo "$bench_name: $name exited" >&2
            cat "$work"/*.log >&2
            exit 1
        }
        sleep 0.05
    done
    echo "$bench_name: $name did not come up" >&2
    exit 1
}

# start_lsmkv_server URL SYNC [FLAG...]: lsmkv-server listening on URL, on
# the empty directory $work/data, with --sync SYNC, more flags FLAG and its
# log in $work/server.log; returns once it answers lsmkv-cli, with its pid
# in server_pid (and in pids).
start_lsmkv_server() {
    local url=$1 sync=$2
    shift 2
    "$server" --listen "$url" --data-dir "$work/data" --sync "$sync" --log-level warn "$@" \
        2>"$work/server.log" &
    server_pid=$!
    pids+=("$server_pid")
    wait_for lsmkv-server "$server_pid" "$cli" -a "$url" -t 200 stats
}

# machine_load: "N cores; load average: L1 L5 L15", for the header of a
# result (a loaded machine explains a noisy figure).
machine_load() { echo "$(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# figures: NAME -> the figures of every run, one a line; add NAME FIGURE
# appends one.
declare -gA figures
add() { figures[$1]+="$2"$'\n'; }

# median: of the numbers on stdin, one a line, the middle one (the lower of
# the two middle ones of an even count); "-" if there are none.
median() { sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'; }

# med NAME: the median of figures[NAME].
med() { printf "%s" "${figures[$1]}" | median; }
