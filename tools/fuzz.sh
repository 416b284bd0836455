#!/usr/bin/env bash
# Fuzzing with libFuzzer (Debian's clang): builds one target of tests/fuzz with
# AddressSanitizer + UBSan in build-fuzz/ and runs it.
#
#   tools/fuzz.sh TARGET SECONDS   build fuzz_TARGET and run it for SECONDS on a
#                                  fresh copy of tests/fuzz/corpus/TARGET/
#   tools/fuzz.sh list             the targets
#   tools/fuzz.sh seeds            regenerate the seed corpora (make_seeds.c)
#
# A target is any tests/fuzz/fuzz_<name>.c, with its seeds in
# tests/fuzz/corpus/<name>/: adding one needs no change here (nor in CMake,
# see tests/fuzz/CMakeLists.txt). Each run works in build-fuzz/fuzz-runs/TARGET/:
# the grown corpus, the log, and the input of any crash (crash-*, leak-*,
# timeout-*, oom-*). Replay a crash with: build-fuzz/tests/fuzz/fuzz_TARGET FILE
#
# Environment: FUZZ_BUILD (build directory, default build-fuzz), FUZZ_FLAGS
# (more libFuzzer flags, e.g. "-max_len=65536"), CC (default clang).
# Exit status: 0 no crash, 1 a crash (its report is printed), 2 usage or build error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
fuzz_dir=$root/tests/fuzz

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

targets() {
    for source in "$fuzz_dir"/fuzz_*.c; do
        basename "$source" .c | sed 's/^fuzz_//'
    done
}

configure() {
    if ! command -v "${CC:-clang}" >/dev/null; then
        echo "fuzz.sh: ${CC:-clang} not found (apt-get install clang)" >&2
        exit 2
    fi
    CC=${CC:-clang} cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DLSMKV_FUZZ=ON -DLSMKV_SANITIZE=address,undefined -DLSMKV_WERROR=ON >/dev/null ||
        exit 2
}

build_target() {
    configure
    cmake --build "$build" --target "$1" >/dev/null || {
        echo "fuzz.sh: building $1 failed" >&2
        exit 2
    }
}

cmd_seeds() {
    build_target lsmkv_fuzz_seeds
    "$build/tests/fuzz/lsmkv_fuzz_seeds" "$fuzz_dir/corpus"
    echo "seeds written under $fuzz_dir/corpus:"
    for target in $(targets); do
        [ -d "$fuzz_dir/corpus/$target" ] &&
            echo "  $target: $(ls "$fuzz_dir/corpus/$target" | wc -l) files," \
                "$(cat "$fuzz_dir/corpus/$target"/* | wc -c) bytes"
    done
}

cmd_run() {
    local target=$1 seconds=$2
    [ -f "$fuzz_dir/fuzz_$target.c" ] || {
        echo "fuzz.sh: no target '$target' (tools/fuzz.sh list)" >&2
        exit 2
    }
    [[ $seconds =~ ^[0-9]+$ ]] || usage
    build_target "fuzz_$target"

    local work=$build/fuzz-runs/$target
    rm -rf "$work"
    mkdir -p "$work/corpus"
    if [ -d "$fuzz_dir/corpus/$target" ]; then
        cp "$fuzz_dir/corpus/$target"/* "$work/corpus/" 2>/dev/null || true
    fi
    local seeds
    seeds=$(ls "$work/corpus" | wc -l)

    echo "fuzzing $target for ${seconds}s ($seeds seeds; log: $work/log)"
    local status=0
    # shellcheck disable=SC2086
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
        "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$work/" ${FUZZ_FLAGS:-} \
        "$work/corpus" >"$work/log" 2>&1 || status=$?

    local execs rate grown
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    grown=$(ls "$work/corpus" | wc -l)
    echo "$target: ${execs:-?} executions (${rate:-?}/s), corpus $seeds -> $grown inputs"

    local findings
    findings=$(find "$work" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
    if [ -n "$findings" ] || [ "$status" -ne 0 ]; then
        echo "$target: FOUND A PROBLEM (libFuzzer exit status $status)"
        grep -E -A40 'ERROR: |runtime error|property violated|deadly signal' "$work/log" |
            head -60 || tail -40 "$work/log"
        for file in $findings; do
            echo "  input: $file (replay: $build/tests/fuzz/fuzz_$target $file)"
        done
        exit 1
    fi
    echo "$target: no crash"
}

case "${1:-}" in
list) targets ;;
seeds) cmd_seeds ;;
"" | -h | --help) usage ;;
*)
    [ $# -eq 2 ] || usage
    cmd_run "$1" "$2"
    ;;
esac
