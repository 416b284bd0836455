#!/usr/bin/env bash
# lsmkv developer entry point. The two commands a new user needs:
#
#   ./tools/dev.sh run    install what is missing, build, start lsmkv-server on its
#                         defaults (tcp://127.0.0.1:7420, ./lsmkv-data); extra
#                         arguments go to lsmkv-server (see --help)
#   ./tools/dev.sh test   install what is missing, build, run the whole test suite:
#                         plain build (with a short crash-harness run), then
#                         AddressSanitizer+UBSan, then the concurrency tests
#                         under ThreadSanitizer, then every libFuzzer target of
#                         tests/fuzz for LSMKV_FUZZ_SECONDS each (clang build)
#
# Environment: JOBS (parallel build jobs, default: number of cores),
# LSMKV_SKIP_SANITIZERS=1 (test: plain build only, for quick local runs; no
# fuzzing either), LSMKV_FUZZ_SECONDS (default 30; 0 skips the fuzz step).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Debian 12 packages the build and tests need. The Python client uses
# Debian's python3-protobuf (seen by /usr/bin/python3) and protoc; the Node
# client needs node and npm, from Debian's nodejs/npm only when no node is
# installed already (a node from elsewhere comes with its own npm).
packages=(build-essential cmake ninja-build pkg-config
          libprotobuf-c-dev protobuf-c-compiler libnng-dev libcmocka-dev libxxhash-dev
          liblz4-dev libzstd-dev
          python3 python3-protobuf protobuf-compiler)
if ! command -v node >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local cmd="apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "Missing Debian packages. Install them with:" >&2
        echo "  sudo apt-get update && sudo $cmd" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    $cmd >/dev/null
}

# The Node client's npm packages, exactly as package-lock.json pins them.
# `npm ci` runs only when node_modules is missing or differs from the lock file
# (a copy of the lock file inside node_modules marks what was installed), so
# a set-up machine needs no network. Install scripts are not needed (no
# package builds native code) and are not run.
install_node_modules() {
    local dir=client/node stamp=client/node/node_modules/.lsmkv-package-lock.json
    if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        return 0
    fi
    say "npm ci in $dir"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
}

# build DIR [cmake args...]
build() {
    local dir=$1
    shift
    say "building in $dir"
    cmake -S . -B "$dir" -G Ninja -DLSMKV_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "${JOBS:-$(nproc)}"
}

# run_tests DIR [ctest args...]
run_tests() {
    local dir=$1
    shift
    say "testing in $dir $*"
    (cd "$dir" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@")
}

cmd_test() {
    install_missing
    install_node_modules
    build build
    run_tests build
    if [ "${LSMKV_SKIP_SANITIZERS:-0}" = 1 ]; then
        return 0
    fi
    build build-asan -DCMAKE_BUILD_TYPE=Debug -DLSMKV_SANITIZE=address,undefined
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_tests build-asan
    build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMKV_SANITIZE=thread
    TSAN_OPTIONS=halt_on_error=1 run_tests build-tsan -L concurrency
    fuzz_tests
    say "all tests passed"
}

# Every tests/fuzz/fuzz_<name>.c for LSMKV_FUZZ_SECONDS (CTest "fuzz.<name>"),
# built as tools/fuzz.sh builds them (clang, libFuzzer, ASan+UBSan, build-fuzz/).
fuzz_tests() {
    local seconds=${LSMKV_FUZZ_SECONDS:-30}
    [ "$seconds" = 0 ] && return 0
    command -v clang >/dev/null || packages+=(clang)
    install_missing
    local targets=()
    for source in tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$source" .c)")
    done
    say "building the fuzz targets in build-fuzz"
    CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLSMKV_FUZZ=ON \
        -DLSMKV_SANITIZE=address,undefined -DLSMKV_WERROR=ON \
        -DLSMKV_FUZZ_TEST_SECONDS="$seconds" >/dev/null
    cmake --build build-fuzz -j "${JOBS:-$(nproc)}" --target "${targets[@]}"
    local status=0
    run_tests build-fuzz -L fuzz || status=$?
    # Executions per target, from libFuzzer's final statistics.
    awk '/^[0-9]+\/[0-9]+ Test: / { name = $3 }
         /^stat::number_of_executed_units:/ { runs[name] = $2 }
         /^stat::average_exec_per_sec:/ { rate[name] = $2 }
         END { for (n in runs) printf "  %-22s %10d executions (%d/s)\n", n, runs[n], rate[n] }' \
        build-fuzz/Testing/Temporary/LastTest.log | sort >&2
    return "$status"
}

cmd_run() {
    install_missing
    install_node_modules
    build build
    say "starting lsmkv-server (Ctrl-C stops it)"
    exec ./build/src/server/lsmkv-server "$@"
}

case "${1:-}" in
run)
    shift
    cmd_run "$@"
    ;;
test) cmd_test ;;
*)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac
